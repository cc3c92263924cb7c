// Package auth says who is asking: it identifies a request's viewer from
// an access token (HTTP basic auth with a user name, or a bearer token) or
// from a web session cookie, signs people in and out (passwords hashed with
// argon2id, sessions kept in the store, OpenID Connect in oidc.go), and
// guards forms with CSRF tokens.
//
// Data enters as requests (headers, cookies, form fields) and the store's
// accounts, tokens and sessions; it leaves as an access.Viewer, which the
// access policy judges, and as cookies. Authentication failures are told to
// the sign-in throttle (internal/guard) so that guessing does not pay.
// Which viewer may do what is never decided here: see package access.
package auth

import (
	"crypto/rand"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/guard"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// ErrBadCredentials is returned for credentials that are present but
// wrong (an unknown, revoked or expired token, a disabled account).
var ErrBadCredentials = store.ErrBadCredentials

// Tokens identifies requests by their access tokens.
type Tokens struct {
	store *store.Store
}

// NewTokens returns the token identifier over st.
func NewTokens(st *store.Store) *Tokens { return &Tokens{store: st} }

// tokenViewerKey memoises Token's answer on the request.
const tokenViewerKey = "auth.token.viewer"

type memo struct {
	v   access.Viewer
	err error
}

// Token returns the viewer whose access token the request carries: HTTP
// basic auth (user name and token, as git and git-lfs send) or
// "Authorization: Bearer TOKEN". No credentials is the anonymous viewer; a
// token of scope read gives a ReadOnly viewer. Credentials that are
// present but wrong return ErrBadCredentials (answer with a challenge).
// The outcome is told to the sign-in throttle (guard.Verified); the
// secret is never logged or kept. Cookies are ignored: git and LFS routes
// use Token, so a browser's session can never push.
func (t *Tokens) Token(c echo.Context) (access.Viewer, error) {
	if m, ok := c.Get(tokenViewerKey).(memo); ok {
		return m.v, m.err
	}
	v, err := t.token(c)
	c.Set(tokenViewerKey, memo{v, err})
	return v, err
}

func (t *Tokens) token(c echo.Context) (access.Viewer, error) {
	name, secret, ok := c.Request().BasicAuth()
	if !ok {
		var bearer bool
		secret, bearer = BearerToken(c.Request())
		if !bearer {
			return access.Viewer{}, nil
		}
	}
	a, err := t.store.AuthenticateToken(c.Request().Context(), name, secret)
	if errors.Is(err, store.ErrBadCredentials) {
		guard.Verified(c, false)
		return access.Viewer{}, ErrBadCredentials
	}
	if err != nil {
		return access.Viewer{}, err
	}
	guard.Verified(c, true)
	v := access.ViewerOf(a.User)
	v.ReadOnly = a.Scope != store.ScopeWrite
	return v, nil
}

// BearerToken returns the token of an "Authorization: Bearer bp_..."
// header. Other bearer tokens (the metrics token) are not ours.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get(echo.HeaderAuthorization)
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if !strings.HasPrefix(tok, store.TokenPrefix) {
		return "", false
	}
	return tok, true
}

// randRead fills b from the system's random source; it cannot fail on the
// platforms Go supports.
func randRead(b []byte) { rand.Read(b) }
