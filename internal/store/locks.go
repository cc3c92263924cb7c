package store

// Named locks that every node sharing the database honours: pushes to one
// project take one, so two nodes never interleave a project's ref updates,
// and the git lock sweep takes the same one before it removes anything in
// that project's repository.
//
// On PostgreSQL a lock is a session-level advisory lock held on a
// connection set aside for it: when the node holding it dies, PostgreSQL
// ends the session and the lock is free at once, with no lease to wait
// for. Waiting polls pg_try_advisory_lock rather than blocking in
// pg_advisory_lock, so that only holders, never waiters, keep a
// connection. On SQLite (one node) the locks live in this process.

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"
)

// Lock waits until the lock called name is free, takes it and returns the
// function that releases it. It gives up when ctx ends.
func (s *Store) Lock(ctx context.Context, name string) (unlock func(), err error) {
	if s.Dialect() != Postgres {
		return s.locks.lock(ctx, name)
	}
	wait := 5 * time.Millisecond
	for {
		unlock, ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for lock %s: %w", name, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// TryLock takes the lock called name if it is free now; ok says whether
// it did.
func (s *Store) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	if s.Dialect() != Postgres {
		unlock, ok := s.locks.try(name)
		return unlock, ok, nil
	}
	conn, err := s.DB.sql.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	key := lockKey("lock " + name)
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	var once sync.Once
	held := &heldLock{}
	release := func() {
		once.Do(func() {
			s.held.Delete(held)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var released bool
			if err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&released); err != nil || !released {
				// Never hand a connection that may still hold the lock back
				// to the pool: closing the session frees it.
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
			conn.Close()
		})
	}
	held.release = release
	s.held.Store(held, true)
	return release, true, nil
}

// heldLock is a PostgreSQL lock this store holds, released by Close.
type heldLock struct{ release func() }

// releaseAll frees every lock still held (at Close: the node stops).
func (s *Store) releaseAll() {
	s.held.Range(func(k, _ any) bool {
		k.(*heldLock).release()
		return true
	})
}

// localLocks are named locks within one process (SQLite: one node). A
// channel per name rather than a mutex, so that waiting can give up when
// ctx ends.
type localLocks struct {
	mu    sync.Mutex
	locks map[string]*localLock
}

type localLock struct {
	ch    chan struct{}
	users int // holders and waiters; the entry goes when none is left
}

func newLocalLocks() *localLocks { return &localLocks{locks: map[string]*localLock{}} }

// enter registers a user of name's lock and returns it with the function
// that unregisters.
func (l *localLocks) enter(name string) (*localLock, func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lk := l.locks[name]
	if lk == nil {
		lk = &localLock{ch: make(chan struct{}, 1)}
		l.locks[name] = lk
	}
	lk.users++
	return lk, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if lk.users--; lk.users == 0 {
			delete(l.locks, name)
		}
	}
}

func (l *localLocks) lock(ctx context.Context, name string) (func(), error) {
	lk, leave := l.enter(name)
	select {
	case lk.ch <- struct{}{}:
		return release(lk, leave), nil
	case <-ctx.Done():
		leave()
		return nil, fmt.Errorf("wait for lock %s: %w", name, ctx.Err())
	}
}

func (l *localLocks) try(name string) (func(), bool) {
	lk, leave := l.enter(name)
	select {
	case lk.ch <- struct{}{}:
		return release(lk, leave), true
	default:
		leave()
		return nil, false
	}
}

func release(lk *localLock, leave func()) func() {
	var once sync.Once
	return func() { once.Do(func() { <-lk.ch; leave() }) }
}
