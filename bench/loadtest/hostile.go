package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// hostile is the attacker beside the load (issue 12): one account that
// pushes a tree bomb again and again, pushes parts built to cost a
// previewer facets × pixels, and holds slow connections open (slowloris:
// headers a line at a time, and LFS bodies a byte at a time). The targets
// for everyone else stay the same; its own figures say whether the server
// turned it away.
type hostile struct {
	user, token string
	bombRepo    string // a bare repository holding the bomb commit
	bombCommit  string
	heavy       string // a work tree of pathological parts
	heavyHead   string
	slow        int // slow connections held at once

	mu          sync.Mutex
	bombPushes  int
	bombRefused int    // refused with the limit named
	bombOutput  string // what git said to the first push
	slowOpened  int
	slowCut     int           // closed by the server
	slowHeld    time.Duration // longest a slow connection stayed open
	heavyErr    string        // why the pathological push went wrong
	heavyResult string        // what the catalog made of it
	heavyMet    bool
}

// Pathological parts: facets that each cover half the picture (2,000 took
// 11.5 s to draw, 8,000 took 60 s before parts had budgets), and copies of
// one such facet (a 1M-facet file git compresses to almost nothing).
var heavyParts = []struct {
	name     string
	facets   int
	distinct bool
	fails    bool // over its budget
}{
	{"overlap_2000.stl", 2000, true, true},
	{"overlap_8000.stl", 8000, true, true},
	{"copies_a.stl", 1_000_000, false, false},
	{"copies_b.stl", 1_000_001, false, false},
}

// newHostile builds the bomb (10 entries nested 6 deep: a million paths
// in seven objects) and the pathological work tree.
func newHostile(r *runner, s *site, slow int) *hostile {
	h := &hostile{user: "mallory", slow: slow}
	h.token = s.srv.AddUser(r, h.user)
	h.bombRepo = testenv.InitBare(r)
	h.bombCommit = testenv.TreeBomb(r, h.bombRepo, 10, 6)
	h.heavy = r.TempDir()
	for _, p := range heavyParts {
		var b bytes.Buffer
		if err := stlgen.WriteOverlapping(&b, p.facets, p.distinct); err != nil {
			r.Fatalf("write %s: %v", p.name, err)
		}
		if err := os.WriteFile(filepath.Join(h.heavy, p.name), b.Bytes(), 0o644); err != nil {
			r.Fatalf("write %s: %v", p.name, err)
		}
	}
	commit(r, s.git, h.heavy, "parts that cost a previewer facets × pixels")
	h.heavyHead = head(r, s.git, h.heavy)
	return h
}

// run attacks until deadline: the pathological push once, the bomb every
// few seconds, and h.slow slow connections at all times.
func (h *hostile) run(ctx context.Context, deadline time.Time, s *site) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, err := s.git.run(ctx, h.heavy, "push", "--quiet", s.remote(h.user, h.token, h.user, "heavy"), "main")
		if err != nil {
			h.mu.Lock()
			h.heavyErr = fmt.Sprintf("push: %v: %s", err, clip(out, 300))
			h.mu.Unlock()
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		remote := s.remote(h.user, h.token, h.user, "bomb")
		for time.Now().Before(deadline) && ctx.Err() == nil {
			out, err := s.git.run(ctx, h.bombRepo, "push", remote, h.bombCommit+":refs/heads/main")
			h.mu.Lock()
			h.bombPushes++
			if h.bombOutput == "" {
				h.bombOutput = out
			}
			if err != nil && strings.Contains(out, "max-push-paths") {
				h.bombRefused++
			}
			h.mu.Unlock()
			sleepUntil(ctx, deadline, 5*time.Second)
		}
	}()
	host := strings.TrimPrefix(s.base, "http://")
	lfsBatch := "/" + h.user + "/heavy.git/info/lfs/objects/batch"
	for i := range h.slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				h.slowConnection(ctx, deadline, host, lfsBatch, i%2 == 0)
			}
		}()
	}
	wg.Wait()
}

// slowConnection opens one connection and dribbles a request into it: a
// header line every few seconds, or (body) an LFS batch request's body a
// byte a second. It returns when the server closes it or at deadline.
func (h *hostile) slowConnection(ctx context.Context, deadline time.Time, host, lfsBatch string, body bool) {
	conn, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		sleepUntil(ctx, deadline, time.Second)
		return
	}
	defer conn.Close()
	opened := time.Now()
	h.mu.Lock()
	h.slowOpened++
	h.mu.Unlock()
	// The server's answer (if any) or its close ends the connection.
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, bufio.NewReader(conn))
		close(closed)
	}()
	var first string
	if body {
		first = "POST " + lfsBatch + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/vnd.git-lfs+json\r\nAccept: application/vnd.git-lfs+json\r\nContent-Length: 100000\r\n\r\n"
	} else {
		first = "GET / HTTP/1.1\r\nHost: " + host + "\r\n"
	}
	conn.Write([]byte(first))
	step, next := 3*time.Second, "X-Slow: 1\r\n"
	if body {
		step, next = time.Second, " "
	}
	tick := time.NewTicker(step)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			h.slowDone(time.Since(opened), true)
			return
		case <-ctx.Done():
			h.slowDone(time.Since(opened), false)
			return
		case <-tick.C:
			if !time.Now().Before(deadline) {
				h.slowDone(time.Since(opened), false)
				return
			}
			conn.SetWriteDeadline(time.Now().Add(step))
			if _, err := conn.Write([]byte(next)); err != nil {
				h.slowDone(time.Since(opened), true)
				return
			}
		}
	}
}

func (h *hostile) slowDone(held time.Duration, cut bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cut {
		h.slowCut++
	}
	h.slowHeld = max(h.slowHeld, held)
}

// finish waits (up to wait) for the catalog to be done with the
// pathological push and checks it: the parts over budget failed alone,
// with the budget named; the copies were catalogued.
func (h *hostile) finish(ctx context.Context, s *site, wait time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.heavyErr != "" {
		return
	}
	type detail struct {
		LatestCommit string `json:"latest_commit"`
		Catalog      struct {
			State    string `json:"state"`
			Pending  int    `json:"pending_jobs"`
			Failures []struct {
				Path  string `json:"path"`
				Error string `json:"error"`
			} `json:"failures"`
		} `json:"catalog"`
		Parts []struct {
			Path      string `json:"path"`
			Triangles int    `json:"triangles"`
		} `json:"parts"`
	}
	var d detail
	end := time.Now().Add(wait)
	for {
		d = detail{}
		res, err := http.Get(s.base + "/api/v1/projects/" + h.user + "/heavy")
		if err == nil {
			json.NewDecoder(res.Body).Decode(&d)
			res.Body.Close()
		}
		if d.LatestCommit == h.heavyHead && d.Catalog.State == "done" && d.Catalog.Pending == 0 {
			break
		}
		if time.Now().After(end) || ctx.Err() != nil {
			h.heavyResult = fmt.Sprintf("not catalogued %s after the load (state %q)", wait, d.Catalog.State)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	failed := map[string]string{}
	for _, f := range d.Catalog.Failures {
		failed[f.Path] = f.Error
	}
	parts := map[string]bool{}
	for _, p := range d.Parts {
		parts[p.Path] = p.Triangles > 0
	}
	h.heavyMet = true
	var notes []string
	for _, p := range heavyParts {
		switch {
		case p.fails && strings.Contains(failed[p.name], "budget"):
			notes = append(notes, p.name+" failed for its budget")
		case !p.fails && parts[p.name]:
			notes = append(notes, p.name+" catalogued")
		default:
			h.heavyMet = false
			notes = append(notes, fmt.Sprintf("%s: failure %q, catalogued %v", p.name, clip(failed[p.name], 120), parts[p.name]))
		}
	}
	h.heavyResult = strings.Join(notes, "; ")
}

// sleepUntil sleeps d, or less when ctx ends or deadline comes first.
func sleepUntil(ctx context.Context, deadline time.Time, d time.Duration) {
	d = min(d, time.Until(deadline))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
