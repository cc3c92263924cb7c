package ui

import (
	"context"
	"sync"
	"time"
)

// pageCache keeps rendered pages and README HTML under keys that name
// everything they were made from (commit ids, catalog update times), so an
// entry is never wrong, only old; the time limit bounds how stale the
// relative times on a page ("5 minutes ago") may get. Bounded in entries
// and in bytes.
type pageCache struct {
	mu       sync.Mutex
	m        map[string]cachedPage
	max      int
	maxBytes int
	bytes    int
	building map[string]chan struct{} // keys whose page a request is making
}

type cachedPage struct {
	body    []byte
	expires time.Time
}

func newPageCache(max, maxBytes int) *pageCache {
	return &pageCache{m: make(map[string]cachedPage), max: max, maxBytes: maxBytes, building: make(map[string]chan struct{})}
}

func (pc *pageCache) get(key string) ([]byte, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.m[key]
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	return e.body, true
}

func (pc *pageCache) put(key string, body []byte, ttl time.Duration) {
	if len(body) > pc.maxBytes/8 {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if old, ok := pc.m[key]; ok {
		pc.bytes -= len(old.body)
		delete(pc.m, key)
	}
	if len(pc.m) >= pc.max || pc.bytes+len(body) > pc.maxBytes {
		// Drop expired entries, then any, until there is room: map order
		// is random enough for a cache this small.
		now := time.Now()
		for k, e := range pc.m {
			if now.After(e.expires) {
				pc.bytes -= len(e.body)
				delete(pc.m, k)
			}
		}
		for k, e := range pc.m {
			if len(pc.m) < pc.max && pc.bytes+len(body) <= pc.maxBytes {
				break
			}
			pc.bytes -= len(e.body)
			delete(pc.m, k)
		}
	}
	pc.m[key] = cachedPage{body: body, expires: time.Now().Add(ttl)}
	pc.bytes += len(body)
}

// buildWait bounds how long a request waits for another one making the
// same page before making it itself.
const buildWait = 5 * time.Second

// claim answers from the cache, or makes the caller the one request that
// builds key's page: concurrent requests for a missing page wait for it
// instead of all building it at once (the home page after each push, say).
// A caller that gets hit false must call release once it has put the page
// or given up; the waiters then look again.
func (pc *pageCache) claim(ctx context.Context, key string) (body []byte, hit bool, release func()) {
	deadline := time.NewTimer(buildWait)
	defer deadline.Stop()
	for {
		if body, ok := pc.get(key); ok {
			return body, true, nil
		}
		pc.mu.Lock()
		wait, busy := pc.building[key]
		if !busy {
			done := make(chan struct{})
			pc.building[key] = done
			pc.mu.Unlock()
			var once sync.Once
			return nil, false, func() {
				once.Do(func() {
					pc.mu.Lock()
					delete(pc.building, key)
					pc.mu.Unlock()
					close(done)
				})
			}
		}
		pc.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, func() {}
		case <-deadline.C:
			return nil, false, func() {}
		}
	}
}
