package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// routes registers every public route. Packages add their line here.
func (s *Server) routes() {
	s.Echo.GET("/healthz", s.health)
	s.Echo.HEAD("/healthz", s.health)
	s.deps.Repos.Register(s.Echo)
	if s.deps.API != nil {
		s.deps.API.Register(s.Echo)
	}
	if s.deps.LFS != nil {
		s.deps.LFS.Register(s.Echo)
	}
	if s.deps.UI != nil {
		s.deps.UI.Register(s.Echo)
	}
}

// health answers 200 when the metadata store answers.
func (s *Server) health(c echo.Context) error {
	if err := s.deps.Store.DB.PingContext(c.Request().Context()); err != nil {
		return c.String(http.StatusServiceUnavailable, "metadata store unavailable\n")
	}
	return c.String(http.StatusOK, "ok\n")
}
