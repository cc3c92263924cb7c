package repo

import (
	"context"
	"errors"
	"io/fs"
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
// The server removes them at start, before it serves, whatever their age:
// no git of its own runs yet. A git the previous server left running (when
// only the server was killed) may hold one for a moment; removing it makes
// that git's ref update fail cleanly (its rename finds no lock), and its
// client, cut off when the server died, never saw it succeed. While it
// runs, the server removes locks older than StaleLockAge every
// LockSweepInterval, for gits killed on their own.
const (
	StaleLockAge      = time.Minute
	LockSweepInterval = 5 * time.Minute
)

// topLocks are the lock files git may leave at the top of a bare
// repository (refs take theirs under refs/).
var topLocks = []string{"HEAD.lock", "packed-refs.lock", "config.lock", "shallow.lock", "index.lock"}

// ClearStaleLocks removes the lock files git left in every repository
// (refs/**/*.lock and the top-level locks) whose last change is older than
// age, logging each, and returns how many it removed. A repository it
// cannot read is logged and skipped.
func (s *Server) ClearStaleLocks(ctx context.Context, age time.Duration) (int, error) {
	locks, err := s.staleLocks(ctx, age, true)
	return len(locks), err
}

// StaleLocks lists the git lock files ClearStaleLocks would remove, without
// removing them (blueprints doctor).
func (s *Server) StaleLocks(ctx context.Context, age time.Duration) ([]string, error) {
	return s.staleLocks(ctx, age, false)
}

func (s *Server) staleLocks(ctx context.Context, age time.Duration, remove bool) ([]string, error) {
	cutoff := time.Now().Add(-age)
	owners, err := os.ReadDir(s.root)
	if err != nil {
		return nil, err
	}
	var removed []string
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
			removed = append(removed, s.clearRepoLocks(filepath.Join(s.root, o.Name(), p.Name()), cutoff, remove)...)
		}
	}
	return removed, nil
}

// clearRepoLocks finds one repository's stale locks and, when remove is
// set, removes them; it returns those found (removed).
func (s *Server) clearRepoLocks(dir string, cutoff time.Time, remove bool) []string {
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
		s.log.Warn("look for stale git locks", "repo", dir, "err", err)
	}
	var removed []string
	for _, path := range stale {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() || fi.ModTime().After(cutoff) {
			continue
		}
		if !remove {
			removed = append(removed, path)
			continue
		}
		if err := os.Remove(path); err != nil {
			s.log.Warn("remove stale git lock", "file", path, "err", err)
			continue
		}
		s.log.Warn("removed a stale git lock left by a git that was killed; pushes to that ref work again", "file", path, "age", time.Since(fi.ModTime()).Round(time.Second).String())
		removed = append(removed, path)
	}
	return removed
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
