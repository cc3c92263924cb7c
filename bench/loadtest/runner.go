package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// runner is the load test's testenv.T: the harness (server, users, git,
// S3) reports through it, and what it starts is stopped by cleanup.
type runner struct {
	dir   string
	start time.Time

	mu       sync.Mutex
	cleanups []func()
	temps    int
}

// fatal is what Fatalf panics with; guard turns it into exit status 2.
type fatal struct{ msg string }

func newRunner() (*runner, error) {
	dir, err := os.MkdirTemp("", "blueprints-loadtest-")
	if err != nil {
		return nil, fmt.Errorf("create temporary folder: %w", err)
	}
	r := &runner{dir: dir, start: time.Now()}
	r.Cleanup(func() { os.RemoveAll(dir) })
	return r, nil
}

// guard runs f, turning a Fatalf on this goroutine into status 2.
func (r *runner) guard(f func() int) (code int) {
	defer func() {
		if v := recover(); v != nil {
			ft, ok := v.(fatal)
			if !ok {
				r.cleanup()
				panic(v)
			}
			fmt.Fprintf(os.Stderr, "loadtest: %s\n", ft.msg)
			code = 2
		}
	}()
	return f()
}

func (r *runner) cleanup() {
	r.mu.Lock()
	cs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// Helper does nothing; it is part of testenv.T.
func (r *runner) Helper() {}

// Fatalf stops the run. Call it only from the goroutine running guard.
func (r *runner) Fatalf(format string, args ...any) {
	panic(fatal{fmt.Sprintf(format, args...)})
}

// Logf prints a progress line on stderr with the time since the start.
func (r *runner) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// Cleanup registers f to run when the load test ends.
func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// TempDir returns a new folder, removed when the load test ends.
func (r *runner) TempDir() string {
	r.mu.Lock()
	r.temps++
	d := filepath.Join(r.dir, fmt.Sprintf("t%04d", r.temps))
	r.mu.Unlock()
	if err := os.MkdirAll(d, 0o755); err != nil {
		r.Fatalf("create temporary folder: %v", err)
	}
	return d
}
