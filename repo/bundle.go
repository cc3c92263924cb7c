package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// ErrEmpty is returned by Bundle for a repository with no refs yet.
var ErrEmpty = errors.New("repository has no refs")

// Bundle writes every ref of owner/project and the objects they reach to
// the git bundle file out. git lists the refs once and packs what they
// reach, so the bundle is the repository as of one moment, whatever pushes
// arrive meanwhile (a ref git is updating is read before or after the
// update, never half-way). It runs outside the server too (backup).
func (s *Server) Bundle(ctx context.Context, owner, project, out string) error {
	dir, err := s.safePath(owner, project)
	if err != nil {
		return err
	}
	if !s.hasRefs(ctx, dir) {
		return ErrEmpty
	}
	cmd := exec.CommandContext(ctx, s.git, "--git-dir", dir, "bundle", "create", "--quiet", out, "--all")
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bundle %s/%s: %v: %s", owner, project, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// Unbundle makes the repository of an existing project row from a bundle
// Bundle wrote: a fresh bare repository with the bundle's refs, HEAD on
// the project's default branch and the server's hooks pinned (restore).
// Any folder already there is replaced. An empty bundle path makes an
// empty repository (a project that had no refs yet).
func (s *Server) Unbundle(ctx context.Context, owner, project, defaultBranch, bundle string) error {
	dir, err := s.safePath(owner, project)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := s.initBare(ctx, dir); err != nil {
		return err
	}
	run := func(args ...string) error {
		out, err := exec.CommandContext(ctx, s.git, append([]string{"--git-dir", dir}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("restore %s/%s: git %s: %v: %s", owner, project, args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if bundle == "" {
		return s.pinHooks(ctx, dir)
	}
	if err := run("bundle", "verify", "--quiet", bundle); err != nil {
		return err
	}
	if err := run("fetch", "--quiet", "--no-write-fetch-head", bundle, "+refs/*:refs/*"); err != nil {
		return err
	}
	if defaultBranch != "" {
		if err := run("symbolic-ref", "HEAD", "refs/heads/"+defaultBranch); err != nil {
			return err
		}
	}
	return s.pinHooks(ctx, dir)
}
