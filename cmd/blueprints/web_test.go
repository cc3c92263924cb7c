package main

import (
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// browser is a person's browser seen one request at a time
// (testenv.WebClient: cookies, redirects not followed).
type browser struct {
	*testenv.WebClient
	t *testing.T
}

func newBrowser(t *testing.T, base string) *browser {
	return &browser{WebClient: testenv.NewWebClient(t, base), t: t}
}

func (b *browser) do(method, path string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	return b.Do(method, path, nil, form)
}

// csrf loads path and returns the CSRF token of its first form.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	return b.CSRF(path)
}

// signIn signs in with a password and checks where it leads.
func (b *browser) signIn(name, password string) {
	b.t.Helper()
	tok := b.csrf("/login")
	code, body, h := b.do("POST", "/login", url.Values{"_csrf": {tok}, "username": {name}, "password": {password}, "next": {"/settings"}})
	if code != 303 || h.Get("Location") != "/settings" {
		b.t.Fatalf("sign in as %s: %d %s %s", name, code, h.Get("Location"), body)
	}
}

// TestWebSignIn checks the web sign-in over HTTP: passwords, sessions that
// survive a restart and can be revoked, CSRF on every form, safe ?next=,
// the throttle on passwords, invitations, tokens made on the web, and that
// a session cookie never pushes.
func TestWebSignIn(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--registration", "invite"}})
	const pw = "correct horse battery"
	addWithPassword(t, srv, "ada", pw, "--admin")
	ada := newBrowser(t, srv.URL)

	// Forms without a CSRF token, or with another's, are refused.
	if code, _, _ := ada.do("POST", "/login", url.Values{"username": {"ada"}, "password": {pw}}); code != 403 {
		t.Errorf("sign-in without a CSRF token: %d, want 403", code)
	}
	other := newBrowser(t, srv.URL)
	stolen := other.csrf("/login")
	ada.csrf("/login")
	if code, _, _ := ada.do("POST", "/login", url.Values{"_csrf": {stolen}, "username": {"ada"}, "password": {pw}}); code != 403 {
		t.Errorf("sign-in with another visitor's CSRF token: %d, want 403", code)
	}
	// Wrong password: 401 and the form again.
	tok := ada.csrf("/login")
	if code, body, _ := ada.do("POST", "/login", url.Values{"_csrf": {tok}, "username": {"ada"}, "password": {"wrong password!"}}); code != 401 || !strings.Contains(body, "Wrong user name or password") {
		t.Errorf("wrong password: %d", code)
	}
	// ?next= only ever leads to a path on this server.
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "http:/evil"} {
		b := newBrowser(t, srv.URL)
		tok := b.csrf("/login")
		code, _, h := b.do("POST", "/login", url.Values{"_csrf": {tok}, "username": {"ada"}, "password": {pw}, "next": {next}})
		if code != 303 || h.Get("Location") != "/" {
			t.Errorf("next=%q: %d to %q, want 303 to /", next, code, h.Get("Location"))
		}
	}
	ada.signIn("ada", pw)
	code, body, h := ada.do("GET", "/settings", nil)
	if code != 200 || !strings.Contains(body, `href="/ada">ada</a>`) || !strings.Contains(body, "Sign out") {
		t.Fatalf("settings after sign-in: %d\n%s", code, body)
	}
	if !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Errorf("settings page may be cached: %q", h.Get("Cache-Control"))
	}
	for _, ck := range ada.Cookies(mustURL(srv.URL)) {
		if ck.Name == "bp_session" && len(ck.Value) < 30 {
			t.Errorf("session cookie too short: %q", ck.Value)
		}
	}

	// An invitation signs up one person.
	tok = ada.csrf("/settings/invites")
	_, body, _ = ada.do("POST", "/settings/invites", url.Values{"_csrf": {tok}})
	link := regexp.MustCompile(`/signup\?invite=[^<"]+`).FindString(body)
	if link == "" {
		t.Fatalf("no invitation link:\n%s", body)
	}
	link = strings.ReplaceAll(link, "&amp;", "&")
	if code, body, _ := newBrowser(t, srv.URL).do("GET", "/signup", nil); code != 200 || !strings.Contains(body, "invitation only") {
		t.Errorf("sign-up without an invitation: %d", code)
	}
	bob := newBrowser(t, srv.URL)
	tok = bob.csrf(link)
	inv, _ := url.Parse(link)
	for _, c := range []struct{ name, pw, msg string }{
		{"ADA", "another good password", "taken"},
		{"settings", "another good password", "reserved"},
		{"bob", "short pw", "at least"}, {"bob", "password123", "common"},
		{"bob", "qwertyuiop", "common"},
	} {
		code, body, _ := bob.do("POST", "/signup", url.Values{"_csrf": {tok}, "invite": {inv.Query().Get("invite")}, "username": {c.name}, "password": {c.pw}})
		if code != 400 || !strings.Contains(body, c.msg) {
			t.Errorf("sign up as %q with %q: %d, want 400 saying %q", c.name, c.pw, code, c.msg)
		}
	}
	code, _, h = bob.do("POST", "/signup", url.Values{"_csrf": {tok}, "invite": {inv.Query().Get("invite")}, "username": {"bob"}, "password": {"bob's own good password"}})
	if code != 303 || h.Get("Location") != "/bob" {
		t.Fatalf("sign up with the invitation: %d %s", code, h.Get("Location"))
	}
	if code, _, _ := newBrowser(t, srv.URL).do("GET", link, nil); code != 410 {
		t.Errorf("a used invitation: %d, want 410", code)
	}

	// A token made on the web pushes; the session cookie alone never does.
	tok = bob.csrf("/settings/tokens")
	_, body, _ = bob.do("POST", "/settings/tokens", url.Values{"_csrf": {tok}, "name": {"laptop"}, "scope": {"write"}, "expires": {"30d"}})
	secret := regexp.MustCompile(`bp_[a-z2-7]{40}`).FindString(body)
	if secret == "" {
		t.Fatalf("no token shown:\n%s", body)
	}
	work := commitWork(t, "a.txt", "a\n")
	testenv.Git(t, work, "push", "-q", srv.Remote("bob", secret, "bob", "cart"), "main")
	if code, _, _ := bob.do("GET", "/bob/cart.git/info/refs?service=git-receive-pack", nil); code != 401 {
		t.Errorf("push advertisement with only a session cookie: %d, want 401", code)
	}
	if code, body, _ := bob.do("GET", "/settings/tokens", nil); code != 200 || strings.Contains(body, secret) || !strings.Contains(body, "laptop") {
		t.Errorf("token list shows the secret or lacks the token: %d", code)
	}

	// Sessions survive a restart, are listed, and can be ended.
	srv.Stop(t)
	srv.Start(t)
	if code, body, _ := bob.do("GET", "/settings/sessions", nil); code != 200 || !strings.Contains(body, "this one") {
		t.Fatalf("session after restart: %d", code)
	}
	bob2 := newBrowser(t, srv.URL)
	bob2.signIn("bob", "bob's own good password")
	_, body, _ = bob.do("GET", "/settings/sessions", nil)
	ids := regexp.MustCompile(`/settings/sessions/(\d+)/revoke`).FindAllStringSubmatch(body, -1)
	if len(ids) != 1 {
		t.Fatalf("want one other session to revoke:\n%s", body)
	}
	tok = bob.csrf("/settings/sessions")
	if code, _, _ := bob.do("POST", "/settings/sessions/"+ids[0][1]+"/revoke", url.Values{"_csrf": {tok}}); code != 200 {
		t.Errorf("revoke session: %d", code)
	}
	if code, _, h := bob2.do("GET", "/settings", nil); code != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("revoked session still signed in: %d", code)
	}
	// Sign out: the cookie is worth nothing afterwards.
	tok = bob.csrf("/settings")
	if code, _, _ := bob.do("POST", "/logout", url.Values{}); code != 403 {
		t.Errorf("sign-out without CSRF: %d, want 403", code)
	}
	if code, _, _ := bob.do("POST", "/logout", url.Values{"_csrf": {tok}}); code != 303 {
		t.Errorf("sign-out: %d", code)
	}
	if code, _, _ := bob.do("GET", "/settings", nil); code != 303 {
		t.Errorf("settings after sign-out: %d, want a redirect to sign in", code)
	}

	// Guessing passwords is throttled like guessing tokens.
	mallory := newBrowser(t, srv.URL)
	tok = mallory.csrf("/login")
	last := 0
	for i := 0; i < 12 && last != 429; i++ {
		last, _, _ = mallory.do("POST", "/login", url.Values{"_csrf": {tok}, "username": {"ada"}, "password": {"guess number " + string(rune('a'+i))}})
	}
	if last != 429 {
		t.Errorf("12 wrong passwords: last answer %d, want 429", last)
	}
	if code, _, h := mallory.do("POST", "/login", url.Values{"_csrf": {tok}, "username": {"ada"}, "password": {pw}}); code != 429 || h.Get("Retry-After") == "" {
		t.Errorf("right password while throttled: %d, want 429 with Retry-After", code)
	}
}

// addWithPassword runs "blueprints user add NAME --password-stdin" with
// more flags, giving the password on standard input.
func addWithPassword(t *testing.T, srv *testenv.Server, name, password string, flags ...string) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), append([]string{"user", "add", name, "--password-stdin", "--data", srv.Data}, flags...)...)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add %s --password-stdin: %v\n%s", name, err, out)
	}
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}
