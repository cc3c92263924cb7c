package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/guard"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// Cookie names. The session cookie holds a session's secret; the
// pre-session cookie, set on a signed-out visitor's first form, anchors
// the CSRF token of sign-in and sign-up forms (so a form cannot be posted
// from another site on a visitor's behalf, signing them in as someone
// else).
const (
	SessionCookie    = "bp_session"
	PreSessionCookie = "bp_pre"
	CSRFField        = "_csrf"        // the hidden form field
	CSRFHeader       = "X-CSRF-Token" // or this header, for scripts
)

// DefaultSessionTTL is how long a web session lasts after sign-in.
const DefaultSessionTTL = 30 * 24 * time.Hour

// WebOptions configure Web.
type WebOptions struct {
	Store  *store.Store
	Tokens *Tokens
	// Throttle counts failed password sign-ins with git's and the API's
	// failed tokens; nil counts nothing (tests).
	Throttle *guard.Throttle
	// SessionTTL is how long a session lasts; DefaultSessionTTL when zero.
	SessionTTL time.Duration
	// Secure says whether cookies get the Secure attribute; serve sets
	// it from --public-url (publicurl.Base.Secure: an https public URL, or
	// without one a request that came over TLS). Nil: when the request
	// came over TLS.
	Secure func(r *http.Request) bool
}

// Web is sign-in on the web: sessions in the store, their cookies, CSRF
// tokens and password sign-in.
type Web struct {
	store    *store.Store
	tokens   *Tokens
	throttle *guard.Throttle
	ttl      time.Duration
	secure   func(*http.Request) bool
	csrfKey  []byte
}

// NewWeb loads (or makes, the first time) the key CSRF tokens are signed
// with, so that forms keep working across restarts.
func NewWeb(ctx context.Context, o WebOptions) (*Web, error) {
	if o.Store == nil {
		return nil, errors.New("new web sign-in: no store")
	}
	key, err := o.Store.ServerSecret(ctx, "csrf")
	if err != nil {
		return nil, fmt.Errorf("new web sign-in: %w", err)
	}
	// Made now, not on the first failed sign-in: that one would otherwise
	// take longer than the rest and tell a missing account from a real one.
	dummyHash()
	w := &Web{store: o.Store, tokens: o.Tokens, throttle: o.Throttle, ttl: o.SessionTTL, secure: o.Secure, csrfKey: key}
	if w.tokens == nil {
		w.tokens = NewTokens(o.Store)
	}
	if w.ttl <= 0 {
		w.ttl = DefaultSessionTTL
	}
	if w.secure == nil {
		w.secure = func(r *http.Request) bool { return r.TLS != nil }
	}
	return w, nil
}

// Signed is a signed-in person on the web: their account and session.
type Signed struct {
	User    store.User
	Session store.Session
}

const signedKey = "auth.web.signed"

type signedMemo struct {
	s  *Signed
	ok bool
}

// Session returns the live session the request's cookie names, if any.
// An unknown or expired cookie is treated as none.
func (w *Web) Session(c echo.Context) (*Signed, error) {
	if m, ok := c.Get(signedKey).(signedMemo); ok {
		return m.s, nil
	}
	var s *Signed
	if ck, err := c.Cookie(SessionCookie); err == nil && ck.Value != "" {
		ses, u, err := w.store.SessionBySecret(c.Request().Context(), ck.Value)
		switch {
		case err == nil:
			s = &Signed{User: u, Session: ses}
		case errors.Is(err, store.ErrBadCredentials):
		default:
			return nil, err
		}
	}
	c.Set(signedKey, signedMemo{s, true})
	return s, nil
}

// Viewer is who is asking on a page or the API: an access token when the
// request carries one (Tokens.Token), otherwise the session's person,
// otherwise anonymous. Bad token credentials return ErrBadCredentials.
func (w *Web) Viewer(c echo.Context) (access.Viewer, error) {
	r := c.Request()
	if _, _, ok := r.BasicAuth(); ok {
		return w.tokens.Token(c)
	}
	if _, ok := BearerToken(r); ok {
		return w.tokens.Token(c)
	}
	s, err := w.Session(c)
	if err != nil || s == nil {
		return access.Viewer{}, err
	}
	return access.ViewerOf(s.User), nil
}

// SignIn starts a session for u (a new session id every time, so a
// cookie planted before sign-in is worth nothing after it) and sets its
// cookie. method is "password" or "oidc".
func (w *Web) SignIn(c echo.Context, u store.User, method string) error {
	r := c.Request()
	_, secret, err := w.store.CreateSession(r.Context(), store.NewSession{UserID: u.ID, Method: method, IP: c.RealIP(), UserAgent: r.UserAgent(), TTL: w.ttl})
	if err != nil {
		return err
	}
	w.setCookie(c, SessionCookie, secret, w.ttl)
	w.setCookie(c, PreSessionCookie, "", -1)
	c.Set(signedKey, nil)
	return nil
}

// SignOut ends the request's session and clears its cookie.
func (w *Web) SignOut(c echo.Context) error {
	s, err := w.Session(c)
	if err != nil {
		return err
	}
	if s != nil {
		if err := w.store.DeleteSession(c.Request().Context(), s.User.ID, s.Session.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	w.setCookie(c, SessionCookie, "", -1)
	c.Set(signedKey, signedMemo{nil, true})
	return nil
}

func (w *Web) setCookie(c echo.Context, name, value string, ttl time.Duration) {
	w.setCookiePath(c, name, value, "/", ttl)
}

// setCookiePath sets (ttl < 0: clears) a cookie sent only to path and
// below it.
func (w *Web) setCookiePath(c echo.Context, name, value, path string, ttl time.Duration) {
	ck := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   w.secure(c.Request()),
	}
	if ttl < 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(ttl / time.Second)
	}
	c.SetCookie(ck)
}

// CSRFToken is the token the request's forms must carry: an HMAC of the
// session's secret, or of a pre-session secret for a signed-out visitor
// (set now when the visitor has none).
func (w *Web) CSRFToken(c echo.Context) string {
	anchor := ""
	if ck, err := c.Cookie(SessionCookie); err == nil && ck.Value != "" {
		if s, _ := w.Session(c); s != nil {
			anchor = "s:" + ck.Value
		}
	}
	if anchor == "" {
		if ck, err := c.Cookie(PreSessionCookie); err == nil && len(ck.Value) >= 20 && len(ck.Value) <= 100 {
			anchor = "p:" + ck.Value
		} else if v, ok := c.Get(PreSessionCookie).(string); ok {
			anchor = "p:" + v
		} else {
			secret := strings.TrimPrefix(newPresession(), "")
			c.Set(PreSessionCookie, secret)
			w.setCookie(c, PreSessionCookie, secret, 24*time.Hour)
			anchor = "p:" + secret
		}
	}
	return w.sign(anchor)
}

func newPresession() string {
	var b [24]byte
	randRead(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (w *Web) sign(anchor string) string {
	m := hmac.New(sha256.New, w.csrfKey)
	m.Write([]byte("blueprints csrf\x00" + anchor))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether an unsafe request carries the CSRF token of
// its session (or pre-session) cookie, in the form field or the header.
func (w *Web) CheckCSRF(c echo.Context) bool {
	got := c.Request().Header.Get(CSRFHeader)
	if got == "" {
		got = c.FormValue(CSRFField)
	}
	if got == "" {
		return false
	}
	var anchors []string
	if ck, err := c.Cookie(SessionCookie); err == nil && ck.Value != "" {
		if s, _ := w.Session(c); s != nil {
			anchors = append(anchors, "s:"+ck.Value)
		}
	}
	if ck, err := c.Cookie(PreSessionCookie); err == nil && ck.Value != "" {
		anchors = append(anchors, "p:"+ck.Value)
	}
	for _, a := range anchors {
		if hmac.Equal([]byte(got), []byte(w.sign(a))) {
			return true
		}
	}
	return false
}

// RequireCSRF refuses, with 403, an unsafe request (anything but GET,
// HEAD and OPTIONS) without the CSRF token of its cookie. Every form
// route of the pages goes through it.
func (w *Web) RequireCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if !w.CheckCSRF(c) {
			return echo.NewHTTPError(http.StatusForbidden, "This form has expired or did not come from this site (no valid CSRF token). Go back, reload the page and try again.")
		}
		return next(c)
	}
}

// ErrThrottled is returned by Password while the address or user name is
// refused after too many failures; Wait says for how long.
type ErrThrottled struct{ Wait time.Duration }

func (e *ErrThrottled) Error() string {
	return fmt.Sprintf("too many failed sign-ins from this address or for this user name; try again in %s", e.Wait.Round(time.Second))
}

// Password checks a user name and password for the web sign-in form,
// through the same throttle as tokens: while refused it returns
// *ErrThrottled without checking. A wrong name or password, an account
// without a password, an organisation and a disabled account all return
// ErrBadCredentials, after the same work.
func (w *Web) Password(c echo.Context, name, password string) (store.User, error) {
	ip := c.RealIP()
	if w.throttle != nil {
		if wait, refused := w.throttle.Check(ip, name); refused {
			return store.User{}, &ErrThrottled{Wait: wait}
		}
	}
	u, hash, err := w.store.PasswordHash(c.Request().Context(), name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, err
	}
	ok := VerifyPassword(hash, password) && err == nil && u.Disabled == nil
	if !ok {
		if w.throttle != nil && name != "" {
			w.throttle.Failed(ip, name)
		}
		return store.User{}, ErrBadCredentials
	}
	if w.throttle != nil {
		w.throttle.Succeeded(ip, u.Name)
	}
	return u, nil
}

// SafeNext returns next when it is a path on this server ("/alice/x?y"),
// and "/" otherwise: never another host ("//evil", "https://evil",
// "/\\evil"), so ?next= cannot send anyone away.
func SafeNext(next string) string {
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") {
		return "/"
	}
	if strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\\\x00\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}
