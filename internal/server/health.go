package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/storage"
)

// healthTTL is how long a /healthz answer is reused, so that frequent
// polling (load balancers, the test harness) costs next to nothing.
const healthTTL = time.Second

// healthTimeout bounds each check; a store that does not answer in time is
// as good as down.
const healthTimeout = 3 * time.Second

// healthCheck is one thing /healthz checks: its name starts the line that
// reports it failing.
type healthCheck struct {
	name  string
	check func(ctx context.Context) error
}

// health runs the checks at most once per healthTTL and keeps the answer.
type health struct {
	checks []healthCheck
	log    *slog.Logger

	mu       sync.Mutex // held while checking, so concurrent polls share one run
	at       time.Time
	failures []string
}

// healthChecks are the checks the server's deps allow: the data folder
// takes a file, the metadata store answers a ping, the search index counts
// its documents and its folder is there, the blob storage answers.
func (s *Server) healthChecks() []healthCheck {
	d := s.deps
	var checks []healthCheck
	if d.Data != "" {
		checks = append(checks, healthCheck{"data folder " + d.Data, func(context.Context) error { return probeFolder(d.Data) }})
	}
	checks = append(checks, healthCheck{"metadata store", func(ctx context.Context) error { return d.Store.DB.PingContext(ctx) }})
	if d.Index != nil {
		checks = append(checks, healthCheck{"search index", func(context.Context) error {
			if _, err := d.Index.Count(); err != nil {
				return fmt.Errorf("count documents: %w", err)
			}
			if d.IndexPath == "" {
				return nil
			}
			st, err := os.Stat(d.IndexPath)
			if err != nil {
				return err
			}
			if !st.IsDir() {
				return fmt.Errorf("%s is not a folder", d.IndexPath)
			}
			return nil
		}})
	}
	if d.Follower != nil {
		checks = append(checks, healthCheck{"search index", func(context.Context) error {
			if d.Follower.Ready() {
				return nil
			}
			pos, head := d.Follower.Progress()
			return fmt.Errorf("catching up with the catalogue: change %d of %d", pos, head)
		}})
	}
	if d.Blobs != nil {
		checks = append(checks, healthCheck{"blob storage " + d.Storage, func(ctx context.Context) error { return storage.Check(ctx, d.Blobs) }})
	}
	return checks
}

// probeFolder creates and removes a small file in dir: the data folder is
// usable only if new files can be made there.
func probeFolder(dir string) error {
	f, err := os.CreateTemp(dir, ".healthz-*")
	if err != nil {
		return fmt.Errorf("create probe file: %w", err)
	}
	_, werr := f.WriteString("ok\n")
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("write probe file: %w", err)
	}
	return nil
}

// failing returns one line per failing check, running them (in parallel)
// only when the last answer is older than healthTTL.
func (h *health) failing(ctx context.Context) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && time.Since(h.at) < healthTTL {
		return h.failures
	}
	// A poller that gives up must not leave a cancelled answer for others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthTimeout)
	defer cancel()
	lines := make([]string, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
		wg.Go(func() {
			if err := c.check(ctx); err != nil {
				lines[i] = c.name + ": " + strings.Join(strings.Fields(err.Error()), " ")
			}
		})
	}
	wg.Wait()
	var failures []string
	for _, l := range lines {
		if l != "" {
			failures = append(failures, l)
		}
	}
	switch {
	case len(failures) > 0 && len(h.failures) == 0:
		h.log.Warn("unhealthy", "failing", failures)
	case len(failures) == 0 && len(h.failures) > 0:
		h.log.Info("healthy again")
	}
	h.failures, h.at = failures, time.Now()
	return failures
}

// healthz answers 200 "ok" when every check passes, else 503 with one line
// per failing check naming what is wrong; 503 "draining" once the server
// is stopping.
func (s *Server) healthz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		return c.String(http.StatusServiceUnavailable, "draining: this server is stopping\n")
	}
	failures := s.health.failing(c.Request().Context())
	if len(failures) > 0 {
		return c.String(http.StatusServiceUnavailable, strings.Join(failures, "\n")+"\n")
	}
	return c.String(http.StatusOK, "ok\n")
}
