package repo

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// Realm is the HTTP basic-auth realm named in WWW-Authenticate.
const Realm = "Blueprints"

// Viewer returns who the request's access token (basic auth or bearer)
// names; the anonymous viewer when it carries none. Credentials that are
// present but wrong return store.ErrBadCredentials; answer those with
// Challenge. Session cookies are never looked at: git's routes must not
// be reachable from a browser's session.
func (s *Server) Viewer(c echo.Context) (access.Viewer, error) {
	return s.tokens.Token(c)
}

// User returns the name of the user whose credentials the request
// carries, or "" for an anonymous request (see Viewer).
func (s *Server) User(c echo.Context) (string, error) {
	v, err := s.Viewer(c)
	return v.Name, err
}

// Authenticate returns the user the request's credentials name, with ok
// true only when credentials are present and valid.
func (s *Server) Authenticate(c echo.Context) (user string, ok bool) {
	u, err := s.User(c)
	return u, err == nil && u != ""
}

// Policy is the access policy git's routes ask; LFS asks the same one.
func (s *Server) Policy() *access.Policy { return s.policy }

// Challenge answers 401 with WWW-Authenticate, so git asks for (or its
// credential helper supplies) a user name and token.
func Challenge(c echo.Context, msg string) error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="`+Realm+`"`)
	return c.String(http.StatusUnauthorized, msg+"\n")
}

// notFound answers a project the viewer may not know of, exactly as a
// missing one: anonymous requests get a challenge (git sends credentials
// only after one, so a token can reach a private project; a missing
// project answers the same, so nothing leaks), signed-in ones 404.
func notFound(c echo.Context, v access.Viewer, owner, name string) error {
	if v.Anonymous() {
		return Challenge(c, "project "+owner+"/"+name+" not found, or you need to sign in (user name and access token)")
	}
	return c.String(http.StatusNotFound, "project "+owner+"/"+name+" not found\n")
}

// CanRead reports whether the viewer may clone, fetch and browse the
// project.
func (s *Server) CanRead(ctx context.Context, v access.Viewer, p store.Project) (bool, error) {
	return s.policy.Can(ctx, v, access.Read, p)
}

// CanPush reports whether the viewer may push to (and upload LFS objects
// into) the project.
func (s *Server) CanPush(ctx context.Context, v access.Viewer, p store.Project) (bool, error) {
	return s.policy.Can(ctx, v, access.Write, p)
}

// authError turns an error from Viewer into a response.
func authError(c echo.Context, err error) error {
	if errors.Is(err, store.ErrBadCredentials) {
		return Challenge(c, "bad user name or access token")
	}
	return err
}
