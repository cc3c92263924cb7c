package repo

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Stale git locks. git takes a ref by creating "<ref>.lock" and renaming
// it into place; the lock lives for milliseconds. A git killed in between
// (the server's process group killed, an OOM kill) leaves the file behind,
// and every later push to that branch fails with "cannot lock ref ...:
// File exists" until someone removes it by hand.
//
// Who may remove a lock file is decided by the project's push lock
// (LockProject), which every node sharing the store honours and which
// every git that writes refs runs under: the sweep takes a repository's
// push lock (without waiting) before it looks at the repository's lock
// files, and leaves the repository alone when someone, on any node, holds
// it. While the sweep holds it no live git can be writing there, so a
// lock file found then belongs to a git that died: a killed node's push
// lock was released by PostgreSQL when its session ended.
//
// At start the server removes every such lock file, whatever its age. A
// git the previous server left running (when only the server was killed)
// may hold one for a moment; removing it makes that git's ref update fail
// cleanly (its rename finds no lock), and its client, cut off when the
// server died, never saw it succeed. While it runs, the server removes
// those older than StaleLockAge every LockSweepInterval, for gits killed
// on their own.
const (
	StaleLockAge      = time.Minute
	LockSweepInterval = 5 * time.Minute
)

// topLocks are the lock files git may leave at the top of a bare
// repository (refs take theirs under refs/).
var topLocks = []string{"HEAD.lock", "packed-refs.lock", "config.lock", "shallow.lock", "index.lock"}

// ClearStaleLocks removes the lock files git left in every repository
// (refs/**/*.lock and the top-level locks) whose last change is older than
// age, logging each, and returns how many it removed. A repository whose
// push lock another push (on any node) holds is skipped; so is one it
// cannot read, with a warning.
func (s *Server) ClearStaleLocks(ctx context.Context, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	owners, err := os.ReadDir(s.root)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, o := range owners {
		if !o.IsDir() {
			continue
		}
		projects, err := os.ReadDir(filepath.Join(s.root, o.Name()))
		if err != nil {
			s.log.Warn("look for stale git locks", "dir", filepath.Join(s.root, o.Name()), "err", err)
			continue
		}
		for _, p := range projects {
			if err := ctx.Err(); err != nil {
				return removed, err
			}
			if !p.IsDir() || !strings.HasSuffix(p.Name(), ".git") {
				continue
			}
			removed += s.clearRepoLocks(ctx, o.Name(), strings.TrimSuffix(p.Name(), ".git"), cutoff)
		}
	}
	return removed, nil
}

// clearRepoLocks removes one repository's stale locks, under its push lock.
func (s *Server) clearRepoLocks(ctx context.Context, owner, project string, cutoff time.Time) int {
	dir := filepath.Join(s.root, owner, project+".git")
	candidates := lockFiles(dir, s.log)
	if len(candidates) == 0 {
		return 0
	}
	unlock, ok, err := s.store.TryLock(ctx, PushLockName(owner, project))
	if err != nil {
		s.log.Warn("look for stale git locks: take the push lock", "repo", dir, "err", err)
		return 0
	}
	if !ok {
		s.log.Debug("a push holds the repository; its git locks are not stale", "repo", dir)
		return 0
	}
	defer unlock()
	removed := 0
	for _, path := range lockFiles(dir, s.log) {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() || fi.ModTime().After(cutoff) {
			continue
		}
		if err := os.Remove(path); err != nil {
			s.log.Warn("remove stale git lock", "file", path, "err", err)
			continue
		}
		s.log.Warn("removed a stale git lock left by a git that was killed; pushes to that ref work again", "file", path, "age", time.Since(fi.ModTime()).Round(time.Second).String())
		removed++
	}
	return removed
}

// lockFiles lists the lock files present in a repository.
func lockFiles(dir string, log *slog.Logger) []string {
	var stale []string
	for _, name := range topLocks {
		stale = append(stale, filepath.Join(dir, name))
	}
	err := filepath.WalkDir(filepath.Join(dir, "refs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".lock") {
			stale = append(stale, path)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("look for stale git locks", "repo", dir, "err", err)
	}
	var present []string
	for _, path := range stale {
		if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
			present = append(present, path)
		}
	}
	return present
}

// SweepLocks clears stale locks every LockSweepInterval until ctx ends; it
// is one of the server's workers.
func (s *Server) SweepLocks(ctx context.Context) error {
	t := time.NewTicker(LockSweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := s.ClearStaleLocks(ctx, StaleLockAge); err != nil && ctx.Err() == nil {
				s.log.Warn("look for stale git locks", "err", err)
			}
		}
	}
}

// StaleLocks lists the git lock files ClearStaleLocks would remove (older
// than age), without removing them (blueprints doctor, server stopped).
func (s *Server) StaleLocks(ctx context.Context, age time.Duration) ([]string, error) {
	cutoff := time.Now().Add(-age)
	owners, err := os.ReadDir(s.root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range owners {
		if !o.IsDir() {
			continue
		}
		projects, err := os.ReadDir(filepath.Join(s.root, o.Name()))
		if err != nil {
			return nil, err
		}
		for _, p := range projects {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			if !p.IsDir() || !strings.HasSuffix(p.Name(), ".git") {
				continue
			}
			for _, path := range lockFiles(filepath.Join(s.root, o.Name(), p.Name()), s.log) {
				if fi, err := os.Lstat(path); err == nil && !fi.ModTime().After(cutoff) {
					out = append(out, path)
				}
			}
		}
	}
	return out, nil
}
