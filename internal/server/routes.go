package server

import (
	"time"

	"github.com/labstack/echo/v4"
)

// routes registers every public route. Packages add their line here.
func (s *Server) routes() {
	s.health = &health{checks: s.healthChecks(), log: s.log}
	s.Echo.GET("/healthz", s.healthz)
	s.Echo.HEAD("/healthz", s.healthz)
	if s.deps.Metrics != nil {
		s.Echo.GET("/metrics", echo.WrapHandler(s.deps.Metrics.Handler(s.cfg.MetricsToken)))
	}
	s.deps.Repos.Register(s.Echo)
	if s.deps.API != nil {
		s.deps.API.Register(s.Echo)
	}
	if s.deps.LFS != nil {
		s.deps.LFS.Register(s.Echo)
	}
	for _, r := range s.deps.Network {
		r.Register(s.Echo)
	}
	if s.deps.UI != nil {
		s.deps.UI.Register(s.Echo)
	}
	s.known = knownRoutes(s.Echo)
}

// knownRoutes is the set of registered (method, route template) pairs, to
// tell a request Echo routed from one it only answered with 404 or 405.
func knownRoutes(e *echo.Echo) map[[2]string]bool {
	known := map[[2]string]bool{}
	for _, r := range e.Routes() {
		known[[2]string{r.Method, r.Path}] = true
	}
	return known
}

// measureRequests records every request's route, method, status and
// duration in the metrics. It runs outermost, so it handles the error
// itself (as logRequests does) to see the status the client got.
func (s *Server) measureRequests(next echo.HandlerFunc) echo.HandlerFunc {
	if s.deps.Metrics == nil {
		return next
	}
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if !s.known[[2]string{c.Request().Method, route}] {
			route = "unmatched"
		}
		s.deps.Metrics.ObserveRequest(route, c.Request().Method, c.Response().Status, time.Since(start))
		return nil
	}
}
