package auth

// Sign-in with an OpenID Connect provider (the authorization code flow).
//
// A browser leaving for the provider gets three secrets kept in the store
// (store.OIDCFlow) under a fourth, the state, which its cookie holds: the
// nonce the ID token must carry back, the PKCE code verifier (the provider
// saw only its S256 challenge), and where to go next. When the provider
// sends the browser back, the state in the address must equal the
// cookie's (so nobody can finish a sign-in they did not start in this
// browser) and is taken from the store once (so a replayed answer finds
// nothing). The code is exchanged with the verifier, and the ID token is
// verified against the provider's published keys: issuer, audience (our
// client id), expiry, signature and nonce. What comes out is an Identity:
// the issuer and subject that name one account.
//
// Secrets, codes and tokens are never logged; refusals are logged with
// their reason only.

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/blueprints-hq/blueprints/internal/store"
)

// Cookies and lifetimes of OpenID Connect sign-ins.
const (
	OIDCStateCookie  = "bp_oidc"        // the state of a sign-in at the provider
	OIDCSignupCookie = "bp_oidc_signup" // a verified first sign-in waiting for a user name

	// OIDCCallbackPath is where the provider sends browsers back; register
	// PUBLIC_URL + OIDCCallbackPath as the client's redirect URI.
	OIDCCallbackPath = "/login/oidc/callback"

	oidcStateTTL  = 10 * time.Minute
	oidcSignupTTL = 30 * time.Minute
	oidcTimeout   = 15 * time.Second
	oidcMaxAnswer = 1 << 20 // bytes of a discovery, keys or token answer
)

// Kinds of refusal of an OpenID Connect sign-in; Finish's errors wrap one.
var (
	// ErrOIDCUnavailable: the provider could not be reached or its
	// discovery document is wrong.
	ErrOIDCUnavailable = errors.New("the sign-in provider does not answer")
	// ErrOIDCState: the answer's state is unknown, already used, expired,
	// or was started in another browser.
	ErrOIDCState = errors.New("this sign-in was already used, has expired or was started in another browser")
	// ErrOIDCDenied: the provider said no (the person cancelled, say).
	ErrOIDCDenied = errors.New("the sign-in provider did not sign you in")
	// ErrOIDCToken: the code could not be exchanged, or the ID token failed
	// verification (signature, issuer, audience, expiry or nonce).
	ErrOIDCToken = errors.New("the sign-in provider's answer could not be verified")
)

// OIDCError is a refused sign-in: Kind is one of the ErrOIDC* errors,
// Reason says what exactly (for the log; it holds no secret).
type OIDCError struct {
	Kind   error
	Reason string
}

func (e *OIDCError) Error() string { return e.Kind.Error() + ": " + e.Reason }
func (e *OIDCError) Unwrap() error { return e.Kind }

func refuse(kind error, format string, args ...any) error {
	return &OIDCError{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// OIDCOptions configure sign-in with an OpenID Connect provider.
type OIDCOptions struct {
	// Issuer is the provider's issuer URL; its discovery document is read
	// from Issuer + "/.well-known/openid-configuration" on first use.
	Issuer       string
	ClientID     string
	ClientSecret string
	// Name is the provider's name on buttons ("Sign in with Name"); the
	// issuer's host when empty.
	Name string
	// Client makes the requests to the provider; nil means one with a 15 s
	// timeout and answers cut at 1 MiB.
	Client *http.Client
	// CallbackURL is the absolute address of OIDCCallbackPath for a
	// request; nil derives it from the request (scheme and Host).
	CallbackURL func(r *http.Request) string
	Logger      *slog.Logger
}

// OIDC signs people in with an OpenID Connect provider.
type OIDC struct {
	web  *Web
	opt  OIDCOptions
	name string
	log  *slog.Logger

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	style    oauth2.AuthStyle
}

// Identity is who the provider says signed in: Issuer and Subject name
// one account; Email and Name (the provider's preferred user name) are
// hints.
type Identity struct {
	Issuer, Subject, Email, Name string
}

// NewOIDC checks o and returns the provider's sign-in over w's sessions.
// The provider is not asked anything until the first sign-in, so a server
// starts while its provider is down.
func (w *Web) NewOIDC(o OIDCOptions) (*OIDC, error) {
	u, err := url.Parse(o.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("OpenID Connect issuer %q: want an absolute http(s) URL without query", o.Issuer)
	}
	if o.ClientID == "" {
		return nil, errors.New("OpenID Connect: a client id is required with an issuer")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: oidcTimeout, Transport: limitAnswers{http.DefaultTransport, oidcMaxAnswer}}
	}
	if o.CallbackURL == nil {
		o.CallbackURL = func(r *http.Request) string {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			return scheme + "://" + r.Host + OIDCCallbackPath
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	name := o.Name
	if name == "" {
		name = u.Host
	}
	return &OIDC{web: w, opt: o, name: name, log: o.Logger}, nil
}

// Name is the provider's name for buttons.
func (o *OIDC) Name() string { return o.name }

// Issuer is the configured issuer URL.
func (o *OIDC) Issuer() string { return o.opt.Issuer }

// discover reads the provider's discovery document once it answers.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, oauth2.AuthStyle, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, o.verifier, o.style, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.opt.Client), oidcTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.opt.Issuer)
	if err != nil {
		return nil, nil, 0, refuse(ErrOIDCUnavailable, "discovery at %s: %v", o.opt.Issuer, err)
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	p.Claims(&meta)
	// client_secret_basic is the default when the provider says nothing.
	style := oauth2.AuthStyleInHeader
	if len(meta.AuthMethods) > 0 && !slices.Contains(meta.AuthMethods, "client_secret_basic") && slices.Contains(meta.AuthMethods, "client_secret_post") {
		style = oauth2.AuthStyleInParams
	}
	o.provider, o.style = p, style
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.opt.ClientID})
	o.log.Info("OpenID Connect provider found", "issuer", o.opt.Issuer)
	return o.provider, o.verifier, o.style, nil
}

func (o *OIDC) config(r *http.Request, p *oidc.Provider, style oauth2.AuthStyle) *oauth2.Config {
	ep := p.Endpoint()
	ep.AuthStyle = style
	return &oauth2.Config{
		ClientID:     o.opt.ClientID,
		ClientSecret: o.opt.ClientSecret,
		Endpoint:     ep,
		RedirectURL:  o.opt.CallbackURL(r),
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
	}
}

// Begin starts a sign-in: it keeps f (Next, Invite or LinkUser) with a
// new state, nonce and PKCE verifier, sets the state cookie and returns
// the provider's address to send the browser to.
func (o *OIDC) Begin(c echo.Context, f store.OIDCFlow) (string, error) {
	r := c.Request()
	p, _, style, err := o.discover(r.Context())
	if err != nil {
		return "", err
	}
	state := newPresession()
	f.Kind, f.Nonce, f.Verifier = store.FlowStart, newPresession(), oauth2.GenerateVerifier()
	if err := o.web.store.SaveOIDCFlow(r.Context(), state, f, oidcStateTTL); err != nil {
		return "", err
	}
	o.web.setCookiePath(c, OIDCStateCookie, state, "/login/oidc", oidcStateTTL)
	return o.config(r, p, style).AuthCodeURL(state, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), nil
}

// Finish completes the sign-in the provider sent the browser back from:
// the state must be this browser's and unused, the code is exchanged
// with the PKCE verifier, and the ID token is verified. It returns who
// signed in and the flow Begin kept. Refusals are *OIDCError.
func (o *OIDC) Finish(c echo.Context) (Identity, store.OIDCFlow, error) {
	r := c.Request()
	q := r.URL.Query()
	state := q.Get("state")
	ck, _ := c.Cookie(OIDCStateCookie)
	o.web.setCookiePath(c, OIDCStateCookie, "", "/login/oidc", -1)
	if state == "" || ck == nil || !hmac.Equal([]byte(ck.Value), []byte(state)) {
		return Identity{}, store.OIDCFlow{}, refuse(ErrOIDCState, "the state is missing or not this browser's")
	}
	f, err := o.web.store.TakeOIDCFlow(r.Context(), store.FlowStart, state)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, store.OIDCFlow{}, refuse(ErrOIDCState, "no sign-in waits for this state (used already, or expired)")
	}
	if err != nil {
		return Identity{}, store.OIDCFlow{}, err
	}
	if e := q.Get("error"); e != "" {
		return Identity{}, f, refuse(ErrOIDCDenied, "the provider answered %s: %s", clip(e, 64), clip(q.Get("error_description"), 200))
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, f, refuse(ErrOIDCDenied, "the provider sent no code")
	}
	p, verifier, style, err := o.discover(r.Context())
	if err != nil {
		return Identity{}, f, err
	}
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), oauth2.HTTPClient, o.opt.Client), oidcTimeout)
	defer cancel()
	tok, err := o.config(r, p, style).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Identity{}, f, refuse(ErrOIDCToken, "the token endpoint answered %d %s: %s", re.Response.StatusCode, clip(re.ErrorCode, 64), clip(re.ErrorDescription, 200))
		}
		return Identity{}, f, refuse(ErrOIDCToken, "exchange the code: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, f, refuse(ErrOIDCToken, "the token endpoint sent no ID token")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, f, refuse(ErrOIDCToken, "%v", err)
	}
	if !hmac.Equal([]byte(idt.Nonce), []byte(f.Nonce)) {
		return Identity{}, f, refuse(ErrOIDCToken, "the ID token's nonce is not this sign-in's")
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
		Preferred     string `json:"preferred_username"`
	}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, f, refuse(ErrOIDCToken, "read the ID token's claims: %v", err)
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject, Name: clip(claims.Preferred, 100)}
	if claims.EmailVerified == nil || *claims.EmailVerified {
		id.Email = clip(claims.Email, 320)
	}
	if id.Subject == "" {
		return Identity{}, f, refuse(ErrOIDCToken, "the ID token names no subject")
	}
	return id, f, nil
}

// HoldSignup keeps a verified identity that no account has yet, with
// f's invitation and next path, until the person picks a user name
// (PendingSignup, EndSignup).
func (o *OIDC) HoldSignup(c echo.Context, id Identity, f store.OIDCFlow) error {
	secret := newPresession()
	p := store.OIDCFlow{Kind: store.FlowSignup, Next: f.Next, Invite: f.Invite, Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, Name: id.Name}
	if err := o.web.store.SaveOIDCFlow(c.Request().Context(), secret, p, oidcSignupTTL); err != nil {
		return err
	}
	o.web.setCookiePath(c, OIDCSignupCookie, secret, "/signup", oidcSignupTTL)
	return nil
}

// PendingSignup returns the identity HoldSignup kept for this browser, if
// any (ok false when none, or when it expired).
func (o *OIDC) PendingSignup(c echo.Context) (store.OIDCFlow, bool, error) {
	ck, err := c.Cookie(OIDCSignupCookie)
	if err != nil || ck.Value == "" {
		return store.OIDCFlow{}, false, nil
	}
	f, err := o.web.store.OIDCFlowBySecret(c.Request().Context(), store.FlowSignup, ck.Value)
	if errors.Is(err, store.ErrNotFound) {
		return store.OIDCFlow{}, false, nil
	}
	return f, err == nil, err
}

// EndSignup forgets this browser's pending identity.
func (o *OIDC) EndSignup(c echo.Context) error {
	o.web.setCookiePath(c, OIDCSignupCookie, "", "/signup", -1)
	if ck, err := c.Cookie(OIDCSignupCookie); err == nil && ck.Value != "" {
		return o.web.store.DeleteOIDCFlow(c.Request().Context(), ck.Value)
	}
	return nil
}

func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// limitAnswers cuts every answer's body at max bytes: a read past it
// fails, so a provider cannot make the server read without end.
type limitAnswers struct {
	next http.RoundTripper
	max  int64
}

func (l limitAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := l.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	res.Body = &limitedBody{rc: res.Body, left: l.max}
	return res, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 && err != nil {
			return 0, err // the end came in time
		}
		return 0, fmt.Errorf("answer larger than %d bytes", oidcMaxAnswer)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
