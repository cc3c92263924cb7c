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

	"github.com/blueprints-hq/blueprints/internal/metrics"
	"github.com/blueprints-hq/blueprints/storage"
)

// healthTTL is how long a /healthz answer is reused, so that frequent
// polling (load balancers, the test harness) costs next to nothing.
const healthTTL = time.Second

// healthTimeout bounds each check; a store that does not answer in time is
// as good as down.
const healthTimeout = 3 * time.Second

// healthCheck is one thing /healthz checks: its name starts the line that
// reports it failing to anyone; the detailed name (with the folder or
// bucket) and the error are for the log and the metrics token.
type healthCheck struct {
	name, detailed string
	public         bool // what is wrong names nothing private: anyone sees it
	check          func(ctx context.Context) error
}

// healthFailure is a failing check: the line anyone sees, and the one the
// log and the metrics token's holder see.
type healthFailure struct {
	public, detail string
}

// health runs the checks at most once per healthTTL and keeps the answer.
type health struct {
	checks []healthCheck
	log    *slog.Logger

	mu       sync.Mutex // held while checking, so concurrent polls share one run
	at       time.Time
	failures []healthFailure
}

// healthChecks are the checks the server's deps allow: the data folder
// takes a file, the metadata store answers a ping, the search index counts
// its documents and its folder is there, the blob storage answers.
func (s *Server) healthChecks() []healthCheck {
	d := s.deps
	var checks []healthCheck
	if d.Data != "" {
		checks = append(checks, healthCheck{name: "data folder", detailed: "data folder " + d.Data, check: func(context.Context) error { return probeFolder(d.Data) }})
	}
	checks = append(checks, healthCheck{name: "metadata store", detailed: "metadata store", check: func(ctx context.Context) error { return d.Store.DB.PingContext(ctx) }})
	if d.Index != nil {
		checks = append(checks, healthCheck{name: "search index", detailed: "search index", check: func(context.Context) error {
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
		checks = append(checks, healthCheck{name: "search index", detailed: "search index", public: true, check: func(context.Context) error {
			if d.Follower.Ready() {
				return nil
			}
			pos, head := d.Follower.Progress()
			return fmt.Errorf("catching up with the catalogue: change %d of %d", pos, head)
		}})
	}
	if d.Blobs != nil {
		checks = append(checks, healthCheck{name: "blob storage", detailed: "blob storage " + d.Storage, check: func(ctx context.Context) error { return storage.Check(ctx, d.Blobs) }})
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

// failing returns the failing checks, running them (in parallel) only
// when the last answer is older than healthTTL.
func (h *health) failing(ctx context.Context) []healthFailure {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && time.Since(h.at) < healthTTL {
		return h.failures
	}
	// A poller that gives up must not leave a cancelled answer for others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthTimeout)
	defer cancel()
	lines := make([]healthFailure, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
		wg.Go(func() {
			if err := c.check(ctx); err != nil {
				detail := c.detailed + ": " + strings.Join(strings.Fields(err.Error()), " ")
				lines[i] = healthFailure{public: c.name + ": failing", detail: detail}
				if c.public {
					lines[i].public = detail
				}
			}
		})
	}
	wg.Wait()
	var failures []healthFailure
	for _, l := range lines {
		if l.public != "" {
			failures = append(failures, l)
		}
	}
	switch {
	case len(failures) > 0 && len(h.failures) == 0:
		h.log.Warn("unhealthy", "failing", detailLines(failures))
	case len(failures) == 0 && len(h.failures) > 0:
		h.log.Info("healthy again")
	}
	h.failures, h.at = failures, time.Now()
	return failures
}

func detailLines(fs []healthFailure) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.detail
	}
	return out
}

// healthz answers 200 "ok" when every check passes, else 503 with one line
// per failing check; 503 "draining" once the server is stopping. Anyone
// learns which checks fail ("data folder: failing"); what is wrong, which
// names folders, buckets and hosts, goes only to a request with the
// metrics token (and to the log).
func (s *Server) healthz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		return c.String(http.StatusServiceUnavailable, "draining: this server is stopping\n")
	}
	failures := s.health.failing(c.Request().Context())
	if len(failures) == 0 {
		return c.String(http.StatusOK, "ok\n")
	}
	lines := make([]string, len(failures))
	detailed := s.cfg.MetricsToken != "" && metrics.Authorized(c.Request(), s.cfg.MetricsToken)
	for i, f := range failures {
		lines[i] = f.public
		if detailed {
			lines[i] = f.detail
		}
	}
	return c.String(http.StatusServiceUnavailable, strings.Join(lines, "\n")+"\n")
}
