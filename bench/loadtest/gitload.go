package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
)

// gitter is a maker at work: it commits to its own project and pushes,
// sometimes with a new part, and clones and fetches, with the real git.
type gitter struct {
	id      int
	user    string
	token   string
	project *project
	work    string // the work tree it commits in and pushes from
	fetch   string // a second clone, fetched to check each push arrived
	git     gitRunner
	remote  func(user, token string) string
	rng     *rand.Rand
	pushed  string // the last commit a push reported accepted
	tmp     string
	parts   int
}

// newGitter lays out gitter i's first commit: a README, a notes file and
// one part. setUp pushes it with the others.
func newGitter(r *runner, s *site, i int, seed int64) *gitter {
	g := &gitter{
		id:    i,
		user:  fmt.Sprintf("gitter%d", i+1),
		git:   s.git,
		rng:   seeded(seed, 2, i),
		work:  r.TempDir(),
		tmp:   r.TempDir(),
		parts: 1,
	}
	g.project = &project{owner: g.user, name: "workbench", folders: []string{"parts"}, parts: []string{"parts/ring_000.stl"}}
	remote := s.remote
	g.remote = func(user, token string) string { return remote(user, token, g.user, "workbench") }
	readme := fmt.Sprintf("# Workbench of %s\n\nParts in progress, pushed by the load test.\n", g.user)
	if err := os.WriteFile(filepath.Join(g.work, "README.md"), []byte(readme), 0o644); err != nil {
		r.Fatalf("write README: %v", err)
	}
	if err := os.WriteFile(filepath.Join(g.work, "notes.md"), []byte("# Notes\n"), 0o644); err != nil {
		r.Fatalf("write notes: %v", err)
	}
	if err := g.writeRing(0); err != nil {
		r.Fatalf("%v", err)
	}
	commit(r, g.git, g.work, "start the workbench")
	g.pushed = head(r, g.git, g.work)
	g.project.commits = []string{g.pushed}
	return g
}

// cloneForFetch makes the second clone, after the first push.
func (g *gitter) cloneForFetch(r *runner) {
	g.fetch = filepath.Join(r.TempDir(), "fetch")
	if out, err := g.git.run(context.Background(), "", "clone", "--quiet", g.remote("", ""), g.fetch); err != nil {
		r.Fatalf("clone %s: %v\n%s", g.project.full(), err, out)
	}
}

func (g *gitter) writeRing(n int) error {
	file := filepath.Join(g.work, "parts", fmt.Sprintf("ring_%03d.stl", n))
	t := stlgen.Torus{Major: 20 + float64(g.rng.IntN(60)), Minor: 3 + float64(g.rng.IntN(8)), Triangles: 200 + g.rng.IntN(1000)}
	t.Center[2] = t.Minor
	var buf bytes.Buffer
	if err := t.Write(&buf); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return os.WriteFile(file, buf.Bytes(), 0o644)
}

// run works in a loop until deadline: commit and push, then a fetch (and
// a check that the push is there), a clone of its own project or a clone
// of another project, in turn.
func (g *gitter) run(ctx context.Context, deadline time.Time, s *site, rec *recorder) {
	for i := 1; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		if err := g.change(ctx, i); err != nil {
			// A local failure says nothing about the server; stop this
			// client and report it.
			rec.git(classPush, g.project.full()+" (local commit)", 0, err, "")
			return
		}
		start := time.Now()
		out, err := g.git.run(ctx, g.work, "push", "--quiet", g.remote(g.user, g.token), "main")
		rec.git(classPush, g.project.full(), time.Since(start), err, out)
		if err == nil {
			if h, err := g.git.run(ctx, g.work, "rev-parse", "HEAD"); err == nil {
				g.pushed = strings.TrimSpace(h)
			}
		}
		if !time.Now().Before(deadline) {
			return
		}
		switch i % 3 {
		case 0:
			g.fetchAndCheck(ctx, rec)
		case 1:
			g.clone(ctx, rec, g.project.full(), g.remote("", ""))
		case 2:
			p := s.projects[g.rng.IntN(len(s.projects))]
			g.clone(ctx, rec, p.full(), s.remote("", "", p.owner, p.name))
		}
	}
}

// change appends to the notes and, every fourth time, adds a part, then
// commits.
func (g *gitter) change(ctx context.Context, i int) error {
	f, err := os.OpenFile(filepath.Join(g.work, "notes.md"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open notes: %w", err)
	}
	_, err = fmt.Fprintf(f, "\n- change %d at %s\n", i, time.Now().Format(time.RFC3339Nano))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write notes: %w", err)
	}
	msg := fmt.Sprintf("notes, change %d", i)
	if i%4 == 0 {
		if err := g.writeRing(g.parts); err != nil {
			return err
		}
		msg = fmt.Sprintf("add ring %d", g.parts)
		g.parts++
	}
	for _, args := range [][]string{{"add", "-A"}, {"commit", "--quiet", "-m", msg}} {
		if out, err := g.git.run(ctx, g.work, args...); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, clip(out, 300))
		}
	}
	return nil
}

// fetchAndCheck fetches into the second clone and checks that the server
// has the commit the last accepted push sent.
func (g *gitter) fetchAndCheck(ctx context.Context, rec *recorder) {
	start := time.Now()
	out, err := g.git.run(ctx, g.fetch, "fetch", "--quiet", "origin")
	took := time.Since(start)
	if err == nil {
		var h string
		h, err = g.git.run(ctx, g.fetch, "rev-parse", "refs/remotes/origin/main")
		if err == nil && strings.TrimSpace(h) != g.pushed {
			err = fmt.Errorf("fetched main is %s but the last accepted push was %s", strings.TrimSpace(h), g.pushed)
		}
		out += h
	}
	rec.git(classFetch, g.project.full(), took, err, out)
}

// clone clones url into a new folder and removes it.
func (g *gitter) clone(ctx context.Context, rec *recorder, name, url string) {
	dir, err := os.MkdirTemp(g.tmp, "clone-")
	if err != nil {
		rec.git(classClone, name+" (local folder)", 0, err, "")
		return
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	out, err := g.git.run(ctx, "", "clone", "--quiet", url, filepath.Join(dir, "c"))
	rec.git(classClone, name, time.Since(start), err, out)
}
