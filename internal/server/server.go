// Package server is Blueprints' HTTP server: one Echo instance on the
// public address carrying every package's routes, plus a loopback-only
// listener for git's hook callbacks. Start and Shutdown run the listeners
// and background workers in an errgroup, with a bounded graceful shutdown:
// in-flight requests (pushes included) finish, new ones are refused.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/blueprints-hq/blueprints/internal/guard"
	"github.com/blueprints-hq/blueprints/internal/httpcache"
	"github.com/blueprints-hq/blueprints/internal/metrics"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
	"github.com/blueprints-hq/blueprints/ui"
	"github.com/blueprints-hq/blueprints/ui/api"
)

// Config is how the server listens and stops.
type Config struct {
	Addr            string        // public address, e.g. "127.0.0.1:8080"
	ShutdownTimeout time.Duration // how long in-flight requests may take to finish; 30s when zero
	Logger          *slog.Logger  // slog.Default() when nil
	// Guard sets trusted proxies, body limits and the failed-sign-in throttle.
	Guard guard.Config
	// MetricsToken, when set, is the bearer token GET /metrics needs;
	// when empty, /metrics is open. A failing /healthz details its checks
	// only to requests carrying it.
	MetricsToken string
	// IdleTimeout closes a kept-alive connection that sends no request for
	// this long; DefaultIdleTimeout when zero.
	IdleTimeout time.Duration
	// Drain is how long Shutdown keeps serving, with /healthz answering
	// 503 "draining", before it stops accepting requests: long enough for
	// a load balancer's health checks to take the node out, so that no
	// client is sent to a node that is closing. 0 stops at once.
	Drain time.Duration
}

// DefaultIdleTimeout is how long an idle kept-alive connection stays open.
const DefaultIdleTimeout = 60 * time.Second

// Deps are the parts the server wires together. Packages that add routes
// or background work get a field here and a line in routes.go.
type Deps struct {
	Store *store.Store
	Repos *repo.Server
	// Storage is the --storage setting ("fs" or "s3://BUCKET[/PREFIX]").
	Storage string
	// API serves /api/v1 (ui/api); nil leaves it out.
	API *api.API
	// UI serves the pages for people (ui); nil leaves them out.
	UI *ui.UI
	// LFS serves the Git LFS API (batch, transfers, verify, locks) under
	// /{owner}/{project}.git/info/lfs; nil leaves it out.
	LFS *lfs.Server
	// Workers run in the background from Start until Shutdown cancels
	// their context (after the HTTP listeners have drained).
	Workers []func(ctx context.Context) error
	// Metrics, when set, measures every request and is served on /metrics.
	Metrics *metrics.Metrics
	// Data is the data folder; /healthz fails when no file can be made in it.
	Data string
	// Index is the search index and IndexPath its folder; /healthz fails
	// when it cannot count its documents or the folder is gone.
	Index     IndexCounter
	IndexPath string
	// Follower, when set, feeds Index from the store's change log;
	// /healthz answers "catching up" until it has caught up once.
	Follower Follower
	// Blobs is the blob storage; /healthz fails when it does not answer.
	Blobs storage.Blobs
	// Network carries the routes of the network of servers: WebFinger,
	// NodeInfo, ActivityPub actors and inboxes (package federation) and
	// the mirror pages' forms; nil leaves them out.
	Network []Registrar
}

// Registrar is a package that adds routes.
type Registrar interface {
	Register(e *echo.Echo)
}

// IndexCounter is what /healthz asks of the search index.
type IndexCounter interface {
	Count() (uint64, error)
}

// Follower is what /healthz asks of the index's follower (catalog/follow).
type Follower interface {
	Ready() bool
	Progress() (position, head int64)
}

// Server is the running HTTP server.
type Server struct {
	// Echo carries the public routes; see routes.go.
	Echo *echo.Echo

	cfg      Config
	deps     Deps
	log      *slog.Logger
	public   *http.Server
	hooks    *http.Server
	addr     net.Addr
	group    *errgroup.Group
	cancel   context.CancelFunc
	serveErr chan error
	health   *health
	known    map[[2]string]bool // registered (method, route), for request metrics
	draining atomic.Bool        // Shutdown began: /healthz answers 503
}

// New builds the server and registers every route.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Store == nil || deps.Repos == nil {
		return nil, errors.New("new server: store and repos are required")
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{Echo: e, cfg: cfg, deps: deps, log: log}
	e.HTTPErrorHandler = s.httpError
	e.Use(s.measureRequests, s.recoverPanics, s.logRequests)
	guard.Install(e, cfg.Guard)
	// Compression sits inside the guard, so its headers and body limits
	// see every answer; git packs, LFS objects, archives and images are
	// left as they are (see httpcache.Gzip).
	e.Use(httpcache.Gzip)
	s.routes()
	return s, nil
}

// Start listens on the public address and on a loopback port for hooks,
// then serves in the background. It returns once both listen.
func (s *Server) Start(ctx context.Context) error {
	pub, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server running? pick another --addr)", s.cfg.Addr, err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pub.Close()
		return fmt.Errorf("listen for hooks on loopback: %w", err)
	}
	s.addr = pub.Addr()
	s.deps.Repos.SetHookURL("http://" + hl.Addr().String())
	pub = guard.LimitListener(pub, s.cfg.Guard.MaxConnsPerClient, s.cfg.Guard.TrustedProxies, s.log)
	// No whole-request timeouts: clones and pushes of large projects
	// stream for as long as they need. Slow headers are cut off here,
	// idle connections closed, and slow bodies and readers cut off by the
	// guard's deadlines (guard.Deadlines).
	s.public = &http.Server{
		Handler:           s.Echo,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.hooks = &http.Server{Handler: s.deps.Repos.HookHandler(), ReadHeaderTimeout: 10 * time.Second}

	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	g, gctx := errgroup.WithContext(wctx)
	s.group = g
	s.serveErr = make(chan error, 1)
	serve := func(srv *http.Server, l net.Listener) func() error {
		return func() error {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
	g.Go(serve(s.public, pub))
	g.Go(serve(s.hooks, hl))
	for _, w := range s.deps.Workers {
		g.Go(func() error {
			if err := w(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	go func() {
		// A listener or worker failing ends the server.
		<-gctx.Done()
		if wctx.Err() == nil {
			return
		}
		select {
		case s.serveErr <- context.Cause(gctx):
		default:
		}
	}()
	s.log.Info("serving", "addr", "http://"+s.addr.String(), "hooks", hl.Addr().String())
	return nil
}

// Addr is the public address the server listens on (after Start).
func (s *Server) Addr() net.Addr { return s.addr }

// Done is closed, with an error sent first, when a listener or worker
// fails on its own; serve stops the server then.
func (s *Server) Done() <-chan error { return s.serveErr }

// Shutdown stops accepting requests and lets in-flight ones (pushes
// included, with their hook callbacks) finish within the shutdown timeout,
// while it stops the workers. Requests still running at the deadline are
// cut; workers still running then are left behind (the process exits).
func (s *Server) Shutdown(ctx context.Context) error {
	if s.public == nil {
		return nil
	}
	if s.cfg.Drain > 0 && !s.draining.Load() {
		// Still serving, but failing health checks: the balancer stops
		// sending clients here before the listener closes.
		s.draining.Store(true)
		s.log.Info("draining: /healthz answers 503 while requests are still served", "for", s.cfg.Drain)
		select {
		case <-time.After(s.cfg.Drain):
		case <-ctx.Done():
		}
	}
	s.draining.Store(true)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	// Background work (catalog jobs: a part being measured) stops now,
	// beside the requests finishing: it resumes at the next start, and a
	// part being drawn must not hold the process past its deadline.
	s.cancel()
	var errs []error
	if err := s.public.Shutdown(ctx); err != nil {
		s.log.Warn("in-flight requests cut at shutdown deadline", "err", err)
		s.public.Close()
		errs = append(errs, fmt.Errorf("shut down http: %w", err))
	}
	// Hooks last: pushes that were in flight still need them.
	if err := s.hooks.Shutdown(ctx); err != nil {
		s.hooks.Close()
	}
	done := make(chan error, 1)
	go func() { done <- s.group.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			errs = append(errs, err)
		}
	case <-ctx.Done():
		s.log.Warn("background work still running at the shutdown deadline; stopping without it")
		errs = append(errs, errors.New("shut down: background work did not stop within the shutdown timeout"))
	}
	return errors.Join(errs...)
}

func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	msg := "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		msg = fmt.Sprint(he.Message)
	} else if errors.Is(err, context.Canceled) {
		return
	} else {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(code)
		return
	}
	if p := c.Request().URL.Path; p == "/api" || strings.HasPrefix(p, "/api/") {
		// API clients read JSON errors, as the API's own answers are.
		c.JSON(code, map[string]string{"error": msg})
		return
	}
	c.String(code, msg+"\n")
}

func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic in handler", "path", c.Request().URL.Path, "panic", r)
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelWarn
		}
		route := c.Path()
		if !s.known[[2]string{req.Method, route}] {
			route = "unmatched"
		}
		// The path, never the query string or headers: tokens travel in
		// Authorization, and a query may carry anything a client put there.
		// client is the address the sign-in throttle uses (the one a
		// trusted proxy names, or the TCP peer).
		s.log.Log(req.Context(), level, "request",
			"method", req.Method, "route", route, "path", req.URL.Path, "status", res.Status,
			"bytes", res.Size, "duration", time.Since(start).Round(time.Microsecond), "client", c.RealIP())
		return nil
	}
}
