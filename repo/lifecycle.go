package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/blueprints-hq/blueprints/internal/store"
)

// MoveRepository moves p's bare repository to owner/name's place, under
// p's push lock (no push is half-way through it), and calls then, which
// records the move in the store; when then fails the folder is moved
// back. The destination must not exist.
func (s *Server) MoveRepository(ctx context.Context, p store.Project, owner, name string, then func(ctx context.Context) error) error {
	from, err := s.safePath(p.Owner, p.Name)
	if err != nil {
		return err
	}
	to, err := s.safePath(owner, name)
	if err != nil {
		return err
	}
	unlock, err := s.LockProject(ctx, p.Owner, p.Name)
	if err != nil {
		return err
	}
	defer unlock()
	if !strings.EqualFold(from, to) {
		unlockTo, err := s.LockProject(ctx, owner, name)
		if err != nil {
			return err
		}
		defer unlockTo()
		if _, err := os.Stat(to); err == nil {
			return fmt.Errorf("move %s to %s/%s: %w", p.FullName(), owner, name, store.ErrExists)
		}
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return fmt.Errorf("move %s: %w", p.FullName(), err)
	}
	moved := from != to
	if moved {
		if err := os.Rename(from, to); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("move repository of %s: %w", p.FullName(), err)
		}
	}
	if err := then(ctx); err != nil {
		if moved {
			if rerr := os.Rename(to, from); rerr != nil {
				s.log.Error("move repository back after a failed rename", "from", to, "to", from, "err", rerr)
			}
		}
		return err
	}
	// The old owner's folder may now be empty.
	os.Remove(filepath.Dir(from))
	return nil
}

// DeleteRepository removes p's bare repository, under its push lock.
func (s *Server) DeleteRepository(ctx context.Context, p store.Project) error {
	dir, err := s.safePath(p.Owner, p.Name)
	if err != nil {
		return err
	}
	unlock, err := s.LockProject(ctx, p.Owner, p.Name)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete repository of %s: %w", p.FullName(), err)
	}
	os.Remove(filepath.Dir(dir))
	return nil
}

// Branches lists the project's branches (short names).
func (s *Server) Branches(ctx context.Context, p store.Project) ([]string, error) {
	dir, err := s.safePath(p.Owner, p.Name)
	if err != nil {
		return nil, err
	}
	return s.branches(ctx, dir)
}

// SetHead makes branch (which must exist) the project's default branch:
// the repository's HEAD and the store's record.
func (s *Server) SetHead(ctx context.Context, p store.Project, branch string) error {
	dir, err := s.safePath(p.Owner, p.Name)
	if err != nil {
		return err
	}
	unlock, err := s.LockProject(ctx, p.Owner, p.Name)
	if err != nil {
		return err
	}
	defer unlock()
	if out, err := exec.CommandContext(ctx, s.git, "--git-dir", dir, "symbolic-ref", "HEAD", "refs/heads/"+branch).CombinedOutput(); err != nil {
		return fmt.Errorf("git symbolic-ref HEAD in %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return s.store.SetDefaultBranch(ctx, p.ID, branch)
}

// CreateRepository makes a new, empty project with its bare repository
// and the given visibility (a mirror, whose refs come from elsewhere).
// The owner must exist; a clash returns an error wrapping store.ErrExists.
func (s *Server) CreateRepository(ctx context.Context, owner, project, visibility string) (store.Project, error) {
	u, err := s.store.UserByName(ctx, owner)
	if err != nil {
		return store.Project{}, fmt.Errorf("create project %s/%s: owner: %w", owner, project, err)
	}
	p, err := s.create(ctx, u.Name, project)
	if err != nil {
		return store.Project{}, err
	}
	if visibility != store.Private {
		if err := s.store.SetVisibility(ctx, p.ID, visibility); err != nil {
			return p, err
		}
		p.Visibility = visibility
	}
	return p, nil
}
