package repo

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/guard"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// Realm is the HTTP basic-auth realm named in WWW-Authenticate.
const Realm = "Blueprints"

// User returns the name (canonical case) of the user whose basic-auth
// credentials (user name and access token) the request carries, or "" for
// an anonymous request. Credentials that are present but wrong return
// store.ErrBadCredentials; answer those with Challenge. The outcome is
// recorded on the request for the failed-authentication throttle
// (guard.Verified); the secret is never logged or kept.
func (s *Server) User(c echo.Context) (string, error) {
	name, secret, ok := c.Request().BasicAuth()
	if !ok {
		return "", nil
	}
	u, err := s.store.Authenticate(c.Request().Context(), name, secret)
	if errors.Is(err, store.ErrBadCredentials) {
		guard.Verified(c, false)
	}
	if err != nil {
		return "", err
	}
	guard.Verified(c, true)
	return u.Name, nil
}

// Authenticate returns the user the request's credentials name, with ok
// true only when credentials are present and valid.
func (s *Server) Authenticate(c echo.Context) (user string, ok bool) {
	u, err := s.User(c)
	return u, err == nil && u != ""
}

// Challenge answers 401 with WWW-Authenticate, so git asks for (or its
// credential helper supplies) a user name and token.
func Challenge(c echo.Context, msg string) error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="`+Realm+`"`)
	return c.String(http.StatusUnauthorized, msg+"\n")
}

// CanRead reports whether user ("" for anonymous) may clone, fetch and
// browse the project. Every project is public.
func (s *Server) CanRead(user string, p store.Project) bool { return true }

// CanPush reports whether user may push to (and upload LFS objects into)
// the project: only its owner may.
func (s *Server) CanPush(user string, p store.Project) bool {
	return user != "" && strings.EqualFold(user, p.Owner)
}

// authError turns an error from User into a response.
func authError(c echo.Context, err error) error {
	if errors.Is(err, store.ErrBadCredentials) {
		return Challenge(c, "bad user name or access token")
	}
	return err
}
