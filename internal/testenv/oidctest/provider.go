// Package oidctest runs a real OpenID Connect provider on a loopback port
// for tests: zitadel's op package serves discovery, the provider's keys,
// the authorize and token endpoints, and signs ID tokens; this package
// gives it what a provider keeps (clients, users, authorization requests,
// a signing key, all in memory) and a login page a browser fills in.
//
// A test can make the provider misbehave as a hostile or broken one
// would: sign ID tokens for another audience, with a key it does not
// publish, or already expired. Everything it starts is stopped at the
// test's cleanup.
package oidctest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// T is what the provider needs from a test (testing.TB satisfies it).
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Mode is how the provider misbehaves.
type Mode int

const (
	Honest        Mode = iota
	WrongAudience      // ID tokens are issued to another client (their audience)
	BadSignature       // ID tokens are signed with a key the provider does not publish
	Expired            // ID tokens have expired when issued
	WrongNonce         // ID tokens carry a nonce the client did not send
)

// User is a person the provider signs in.
type User struct {
	Subject  string
	Username string // preferred_username; also what the login page asks
	Email    string
}

// Provider is a running OpenID Connect provider with one confidential
// client (ClientID, ClientSecret).
type Provider struct {
	URL          string // the issuer, "http://127.0.0.1:PORT"
	ClientID     string
	ClientSecret string

	store *memory
	srv   *http.Server
}

// Start starts a provider on a free loopback port.
func Start(t T) *Provider {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("oidc provider key: %v", err)
	}
	rogue, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("oidc provider key: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidc provider: listen: %v", err)
	}
	p := &Provider{URL: "http://" + l.Addr().String(), ClientID: "blueprints-test", ClientSecret: randomString()}
	p.store = &memory{
		key: key, rogue: rogue, kid: "key-1",
		client:   &client{id: p.ClientID, secret: p.ClientSecret, loginURL: p.URL + "/login?id="},
		users:    map[string]User{},
		requests: map[string]*authRequest{},
		codes:    map[string]string{},
	}
	var crypto [32]byte
	rand.Read(crypto[:])
	provider, err := op.NewOpenIDProvider(p.URL, &op.Config{CryptoKey: crypto, CodeMethodS256: true}, p.store, op.WithAllowInsecure())
	if err != nil {
		l.Close()
		t.Fatalf("oidc provider: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", p.login)
	mux.Handle("/", provider)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.srv.Shutdown(ctx)
	})
	return p
}

// AddUser lets u sign in.
func (p *Provider) AddUser(u User) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.users[u.Username] = u
}

// AllowRedirect registers a redirect URI of the client.
func (p *Provider) AllowRedirect(uri string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.client.redirects = append(p.store.client.redirects, uri)
}

// Misbehave sets how ID tokens issued from now on are wrong.
func (p *Provider) Misbehave(m Mode) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.mode = m
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Test ID · sign in</title>
<style>body{font-family:sans-serif;max-width:360px;margin:80px auto;color:#222}input,button{font-size:16px;padding:8px;width:100%;box-sizing:border-box;margin:6px 0}</style></head>
<body><h1>Test ID</h1><p>Sign in to continue to {{.Client}}.</p>{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login"><input type="hidden" name="id" value="{{.ID}}">
<label for="username">User name</label><input id="username" name="username" autofocus required>
<button id="continue" type="submit">Continue</button></form></body></html>`))

// login is the provider's own sign-in page: it asks a user name (no
// password: these are test users), then hands the authorization request
// back to op, which sends the browser to the client with a code.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("id")
	p.store.mu.Lock()
	req, ok := p.store.requests[id]
	p.store.mu.Unlock()
	if !ok {
		http.Error(w, "no such authorization request", http.StatusBadRequest)
		return
	}
	view := struct{ ID, Client, Error string }{ID: id, Client: req.clientID}
	if r.Method == http.MethodPost {
		p.store.mu.Lock()
		u, known := p.store.users[r.FormValue("username")]
		if known {
			req.subject, req.done, req.authTime = u.Subject, true, time.Now()
		}
		p.store.mu.Unlock()
		if known {
			http.Redirect(w, r, p.URL+"/authorize/callback?id="+url.QueryEscape(id), http.StatusFound)
			return
		}
		view.Error = "No such user."
		w.WriteHeader(http.StatusUnauthorized)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	loginPage.Execute(w, view)
}

func randomString() string {
	var b [18]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// memory is what the provider keeps: op.Storage.
type memory struct {
	mu         sync.Mutex
	key, rogue *ecdsa.PrivateKey
	kid        string
	mode       Mode
	client     *client
	users      map[string]User // by user name
	requests   map[string]*authRequest
	codes      map[string]string // code → request id
}

var errNotFound = errors.New("not found")

// otherClient is the client a WrongAudience provider mixes ours up with.
const otherClient = "some-other-client"

func (m *memory) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := &authRequest{id: randomString(), clientID: r.ClientID, redirectURI: r.RedirectURI, state: r.State, nonce: r.Nonce,
		scopes: r.Scopes, responseType: r.ResponseType, responseMode: r.ResponseMode}
	if r.CodeChallenge != "" {
		a.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	switch m.mode {
	case WrongAudience:
		// The request is filed under another client, whose ID tokens
		// name it (and only it) as their audience.
		a.clientID = otherClient
	case WrongNonce:
		a.nonce = randomString()
	}
	m.requests[a.id] = a
	return a, nil
}

func (m *memory) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (m *memory) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.requests[m.codes[code]]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (m *memory) SaveAuthCode(_ context.Context, id, code string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.codes[code] = id
	return nil
}

func (m *memory) DeleteAuthRequest(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.requests, id)
	for c, r := range m.codes {
		if r == id {
			delete(m.codes, c)
		}
	}
	return nil
}

func (m *memory) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return randomString(), time.Now().Add(time.Hour), nil
}

func (m *memory) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("refresh tokens are not issued")
}

func (m *memory) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (m *memory) TerminateSession(context.Context, string, string) error { return nil }

func (m *memory) RevokeToken(context.Context, string, string, string) *oidc.Error { return nil }

func (m *memory) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// signingKey signs with the published key, or (BadSignature) with a
// rogue key under the published key's id.
type signingKey struct {
	kid string
	key *ecdsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.kid }

type publicKey struct {
	kid string
	key *ecdsa.PublicKey
}

func (k publicKey) ID() string                         { return k.kid }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }
func (m *memory) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

func (m *memory) SigningKey(context.Context) (op.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mode == BadSignature {
		return signingKey{m.kid, m.rogue}, nil
	}
	return signingKey{m.kid, m.key}, nil
}

func (m *memory) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{m.kid, &m.key.PublicKey}}, nil
}

func (m *memory) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id != m.client.id && (id != otherClient || m.mode != WrongAudience) {
		return nil, errNotFound
	}
	c := *m.client
	c.redirects = slices.Clone(m.client.redirects)
	switch m.mode {
	case Expired:
		c.lifetime = -time.Hour
	case WrongAudience:
		c.id = otherClient
	}
	return &c, nil
}

func (m *memory) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != m.client.id || secret != m.client.secret {
		return errors.New("wrong client credentials")
	}
	return nil
}

func (m *memory) userBySubject(subject string) (User, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.Subject == subject {
			return u, true
		}
	}
	return User{}, false
}

func (m *memory) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, subject, _ string, scopes []string) error {
	u, ok := m.userBySubject(subject)
	if !ok {
		return errNotFound
	}
	info.Subject = u.Subject
	for _, s := range scopes {
		switch s {
		case oidc.ScopeProfile:
			info.PreferredUsername, info.Name = u.Username, u.Username
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, true
		}
	}
	return nil
}

func (m *memory) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, _, subject, _ string) error {
	return m.SetUserinfoFromScopes(ctx, info, subject, "", []string{oidc.ScopeProfile, oidc.ScopeEmail})
}

func (m *memory) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not supported")
}

func (m *memory) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (m *memory) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile is not supported")
}

func (m *memory) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile is not supported")
}

func (m *memory) Health(context.Context) error { return nil }

// authRequest is one authorization request (op.AuthRequest).
type authRequest struct {
	id, clientID, redirectURI, state, nonce, subject string
	scopes                                           []string
	audience                                         []string
	responseType                                     oidc.ResponseType
	responseMode                                     oidc.ResponseMode
	challenge                                        *oidc.CodeChallenge
	done                                             bool
	authTime                                         time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// client is the one confidential web client (op.Client).
type client struct {
	id, secret, loginURL string
	redirects            []string
	lifetime             time.Duration // of ID tokens; 0: an hour
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirects }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string           { return c.loginURL + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration {
	if c.lifetime != 0 {
		return c.lifetime
	}
	return time.Hour
}
func (c *client) DevMode() bool { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// String describes the provider for logs.
func (p *Provider) String() string { return fmt.Sprintf("OpenID Connect provider at %s", p.URL) }
