package main

import (
	"flag"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/internal/testenv/oidctest"
)

var keepScreenshots = flag.Bool("screenshots", false, "write the browser tests' screenshots to testdata/screenshots")

// oidcServer is a blueprints server (registration by invitation) that
// signs people in with a real OpenID Connect provider on loopback.
func oidcServer(t *testing.T) (*testenv.Server, *oidctest.Provider) {
	t.Helper()
	p := oidctest.Start(t)
	srv := testenv.StartServer(t, testenv.Options{
		Args: []string{"--registration", "invite", "--oidc-issuer", p.URL, "--oidc-name", "Test ID"},
		// The client's id and secret come from the environment, as an
		// administrator would pass the secret.
		Env: []string{"BLUEPRINTS_OIDC_CLIENT_ID=" + p.ClientID, "BLUEPRINTS_OIDC_CLIENT_SECRET=" + p.ClientSecret},
	})
	p.AllowRedirect(srv.URL + "/login/oidc/callback")
	return srv, p
}

// oidcAway starts a sign-in with the provider at start (the sign-in
// page's button, or the settings' link button), signs in at the provider
// as username, and returns the address the provider sends the browser
// back to (the callback with its code and state), without visiting it.
func (b *browser) oidcAway(t *testing.T, start, username string) string {
	t.Helper()
	code, body, h := b.do("GET", start, nil)
	to := h.Get("Location")
	if code != 303 || !strings.Contains(to, "/authorize?") {
		t.Fatalf("GET %s: %d to %q, want the provider\n%s", start, code, to, body)
	}
	q := mustURL(to).Query()
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Errorf("the request to the provider lacks PKCE, nonce or state: %s", to)
	}
	// At the provider: its authorize endpoint, its login page, then back.
	for range 5 {
		res := b.get(t, to)
		switch {
		case res.StatusCode == 200 && strings.Contains(res.body, `name="username"`):
			id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(res.body)
			if id == nil {
				t.Fatalf("provider's login page without its request id:\n%s", res.body)
			}
			r, err := b.HTTP().PostForm(mustURL(to).Scheme+"://"+mustURL(to).Host+"/login", url.Values{"id": {id[1]}, "username": {username}})
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			to = r.Header.Get("Location")
		case res.StatusCode/100 == 3:
			to = res.Header.Get("Location")
		default:
			t.Fatalf("at the provider, GET %s: %d\n%s", to, res.StatusCode, res.body)
		}
		if strings.HasPrefix(to, b.Base+"/login/oidc/callback?") {
			return to
		}
	}
	t.Fatalf("the provider did not send the browser back (last %s)", to)
	return ""
}

type answer struct {
	*http.Response
	body string
}

// get requests an absolute URL (this server or another) with the
// browser's cookies, without following redirects.
func (b *browser) get(t *testing.T, u string) answer {
	t.Helper()
	if strings.HasPrefix(u, b.Base) {
		code, body, h := b.do("GET", strings.TrimPrefix(u, b.Base), nil)
		return answer{&http.Response{StatusCode: code, Header: h}, body}
	}
	res, err := b.HTTP().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return answer{res, string(data)}
}

// signedInAs says who the browser is signed in as ("" for nobody).
func (b *browser) signedInAs(t *testing.T) string {
	t.Helper()
	code, body, _ := b.do("GET", "/settings", nil)
	if code != 200 {
		return ""
	}
	m := regexp.MustCompile(`<h1>Settings <span class="muted">· ([^<]+)</span>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("settings page without a name:\n%s", body)
	}
	return m[1]
}

// TestOIDCSignIn signs people in with a real OpenID Connect provider
// (zitadel's op on loopback, signing ID tokens with its own key): a first
// sign-in with an invitation in Chromium, asking only for a user name;
// signing in again; linking a provider's sign-in to a password account
// and unlinking it; and refusals: a token for another audience, signed
// with a key the provider does not publish, expired, with another nonce;
// a replayed answer and one started in another browser; an identity no
// account has, without an invitation; a disabled account. Nothing secret
// reaches the server's log.
func TestOIDCSignIn(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv, p := oidcServer(t)
	p.AddUser(oidctest.User{Subject: "sub-grace-1906", Username: "grace", Email: "grace@example.org"})
	p.AddUser(oidctest.User{Subject: "sub-ada-1815", Username: "ada.l", Email: "ada@example.org"})
	p.AddUser(oidctest.User{Subject: "sub-stranger", Username: "stranger", Email: "s@example.org"})
	const pw = "correct horse battery"
	addWithPassword(t, srv, "ada", pw, "--admin")
	ada := newBrowser(t, srv.URL)
	ada.signIn("ada", pw)
	var secrets []string // codes and states the log must never hold

	t.Run("first sign-in with an invitation, in Chromium", func(t *testing.T) {
		tok := ada.csrf("/settings/invites")
		_, body, _ := ada.do("POST", "/settings/invites", url.Values{"_csrf": {tok}})
		invite := strings.ReplaceAll(regexp.MustCompile(`http://[^<"]+/signup\?invite=[^<"]+`).FindString(body), "&amp;", "&")
		if invite == "" {
			t.Fatalf("no invitation link:\n%s", body)
		}
		b := testenv.StartChromium(t)
		ctx, cancel := b.Tab(t, 2*time.Minute)
		defer cancel()
		read := func(a chromedp.Action[string]) string {
			t.Helper()
			v, err := chromedp.Run(ctx, a)
			if err != nil {
				t.Fatalf("read the page: %v", err)
			}
			return v
		}
		err := chromedp.Do(ctx,
			chromedp.Navigate(invite),
			chromedp.WaitVisible("#oidc-sign-up"),
			chromedp.Click("#oidc-sign-up"),
			// The provider's own page.
			chromedp.WaitVisible("#username"),
			chromedp.SendKeys("#username", "grace"),
			chromedp.Click("#continue"),
			// Back here: only a user name is missing, suggested from the
			// provider's preferred user name.
			chromedp.WaitVisible("#signup-name"),
		)
		if err != nil {
			t.Fatalf("sign up with the provider: %v\n%s", err, b.Describe())
		}
		name, at := read(chromedp.Value("#signup-name")), read(chromedp.Location())
		if name != "grace" || at != srv.URL+"/signup" {
			t.Errorf("sign-up form at %s suggests %q, want grace", at, name)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			testenv.SaveScreenshot(t, "signup-oidc.png", shot, *keepScreenshots)
		}
		err = chromedp.Do(ctx,
			chromedp.SetValue("#signup-name", "grace-h"),
			chromedp.Submit("#signup-name"),
			chromedp.WaitVisible(`.site-user a[href="/grace-h"]`),
		)
		if err != nil {
			t.Fatalf("create the account: %v\n%s", err, b.Describe())
		}
		at, bar := read(chromedp.Location()), read(chromedp.Text(".site-user"))
		if at != srv.URL+"/grace-h" || !strings.Contains(bar, "grace-h") {
			t.Errorf("after sign-up: at %s, account bar %q", at, bar)
		}
		// Signed out, the same identity signs straight in.
		err = chromedp.Do(ctx,
			chromedp.Click(`.site-user button`),
			chromedp.WaitVisible(`.site-user a[href^="/login"]`),
			chromedp.Navigate(srv.URL+"/login?next=/settings/sign-ins"),
			chromedp.WaitVisible("#oidc-sign-in"),
		)
		if err != nil {
			t.Fatalf("sign out: %v\n%s", err, b.Describe())
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			testenv.SaveScreenshot(t, "login-oidc.png", shot, *keepScreenshots)
		}
		err = chromedp.Do(ctx,
			chromedp.Click("#oidc-sign-in"),
			chromedp.WaitVisible("#username"),
			chromedp.SendKeys("#username", "grace"),
			chromedp.Click("#continue"),
			chromedp.WaitVisible(`.settings table`),
		)
		if err != nil {
			t.Fatalf("sign in again: %v\n%s", err, b.Describe())
		}
		at, linked := read(chromedp.Location()), read(chromedp.Text(".settings table"))
		if at != srv.URL+"/settings/sign-ins" || !strings.Contains(linked, "grace@example.org") || !strings.Contains(linked, "Test ID") || !strings.Contains(linked, p.URL) {
			t.Errorf("signed in again at %s; linked sign-ins: %q", at, linked)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			testenv.SaveScreenshot(t, "settings-sign-ins.png", shot, *keepScreenshots)
		}
		// The invitation is spent.
		if code, _, _ := newBrowser(t, srv.URL).do("GET", strings.TrimPrefix(invite, srv.URL), nil); code != 410 {
			t.Errorf("the invitation after use: %d, want 410", code)
		}
	})

	t.Run("an identity without an account and without an invitation", func(t *testing.T) {
		b := newBrowser(t, srv.URL)
		back := b.oidcAway(t, "/login/oidc?next=/", "stranger")
		secrets = append(secrets, mustURL(back).Query().Get("code"), mustURL(back).Query().Get("state"))
		res := b.get(t, back)
		if res.StatusCode != 403 || !strings.Contains(res.body, "No account on this server is linked") {
			t.Errorf("unknown identity: %d\n%s", res.StatusCode, between(res.body, "<main", "</main>"))
		}
		if who := b.signedInAs(t); who != "" {
			t.Errorf("signed in as %s", who)
		}
	})

	t.Run("link and unlink from the settings", func(t *testing.T) {
		back := ada.oidcAway(t, "/settings/sign-ins/link", "ada.l")
		res := ada.get(t, back)
		if res.StatusCode != 303 || res.Header.Get("Location") != "/settings/sign-ins?linked=1" {
			t.Fatalf("link: %d to %s", res.StatusCode, res.Header.Get("Location"))
		}
		_, body, _ := ada.do("GET", "/settings/sign-ins?linked=1", nil)
		if !strings.Contains(body, "Sign-in linked") || !strings.Contains(body, "ada@example.org") {
			t.Errorf("linked sign-ins:\n%s", between(body, "<main", "</main>"))
		}
		// The linked identity signs in as ada, in another browser.
		other := newBrowser(t, srv.URL)
		res = other.get(t, other.oidcAway(t, "/login/oidc?next=/ada", "ada.l"))
		if res.StatusCode != 303 || res.Header.Get("Location") != "/ada" || other.signedInAs(t) != "ada" {
			t.Errorf("sign in with the linked identity: %d to %s", res.StatusCode, res.Header.Get("Location"))
		}
		// grace's identity is hers: ada cannot link it too.
		res = ada.get(t, ada.oidcAway(t, "/settings/sign-ins/link", "grace"))
		if res.StatusCode != 409 || !strings.Contains(res.body, "already linked") {
			t.Errorf("link another account's identity: %d", res.StatusCode)
		}
		// Unlink: the identity no longer signs in.
		_, body, _ = ada.do("GET", "/settings/sign-ins", nil)
		id := regexp.MustCompile(`/settings/sign-ins/(\d+)/unlink`).FindStringSubmatch(body)
		if id == nil {
			t.Fatalf("no unlink button:\n%s", body)
		}
		if code, _, _ := ada.do("POST", "/settings/sign-ins/"+id[1]+"/unlink", url.Values{"_csrf": {ada.csrf("/settings/sign-ins")}}); code != 200 {
			t.Errorf("unlink: %d", code)
		}
		third := newBrowser(t, srv.URL)
		res = third.get(t, third.oidcAway(t, "/login/oidc", "ada.l"))
		if res.StatusCode != 403 || third.signedInAs(t) != "" {
			t.Errorf("sign in with an unlinked identity: %d", res.StatusCode)
		}
		// grace signs in with the provider only: she cannot unlink her
		// only way in.
		g := newBrowser(t, srv.URL)
		g.get(t, g.oidcAway(t, "/login/oidc", "grace"))
		_, body, _ = g.do("GET", "/settings/sign-ins", nil)
		id = regexp.MustCompile(`/settings/sign-ins/(\d+)/unlink`).FindStringSubmatch(body)
		if id == nil {
			t.Fatalf("grace has no unlink button:\n%s", body)
		}
		if code, body, _ := g.do("POST", "/settings/sign-ins/"+id[1]+"/unlink", url.Values{"_csrf": {g.csrf("/settings/sign-ins")}}); code != 400 || !strings.Contains(body, "Set a password first") {
			t.Errorf("unlink the only sign-in: %d", code)
		}
	})

	t.Run("replayed and cross-browser answers", func(t *testing.T) {
		b := newBrowser(t, srv.URL)
		back := b.oidcAway(t, "/login/oidc?next=/settings", "grace")
		secrets = append(secrets, mustURL(back).Query().Get("code"), mustURL(back).Query().Get("state"))
		// Another browser brought the answer (a link sent to a victim,
		// to sign them in as someone else): refused.
		victim := newBrowser(t, srv.URL)
		victim.csrf("/login")
		before := strings.Count(srv.Log(), "not this browser's")
		if res := victim.get(t, back); res.StatusCode != 400 || !strings.Contains(res.body, "started in another browser") || victim.signedInAs(t) != "" {
			t.Errorf("an answer brought by another browser: %d", res.StatusCode)
		}
		if strings.Count(srv.Log(), "not this browser's") <= before {
			t.Errorf("the answer of another browser was not refused for its state:\n%s", lastLines(srv.Log(), 5))
		}
		b2 := newBrowser(t, srv.URL)
		back = b2.oidcAway(t, "/login/oidc?next=/settings", "grace")
		secrets = append(secrets, mustURL(back).Query().Get("code"), mustURL(back).Query().Get("state"))
		if res := b2.get(t, back); res.StatusCode != 303 || b2.signedInAs(t) != "grace-h" {
			t.Fatalf("sign in: %d", res.StatusCode)
		}
		// The same answer again, in the same browser, with its state
		// cookie put back: the state was taken.
		b2.HTTP().Jar.SetCookies(mustURL(srv.URL+"/login/oidc/"), []*http.Cookie{{Name: "bp_oidc", Value: mustURL(back).Query().Get("state"), Path: "/login/oidc"}})
		b2.do("POST", "/logout", url.Values{"_csrf": {b2.csrf("/settings")}})
		before = strings.Count(srv.Log(), "used already")
		if res := b2.get(t, back); res.StatusCode != 400 || !strings.Contains(res.body, "already used") || b2.signedInAs(t) != "" {
			t.Errorf("a replayed answer: %d", res.StatusCode)
		}
		if strings.Count(srv.Log(), "used already") <= before {
			t.Errorf("the replayed answer was not refused for its spent state:\n%s", lastLines(srv.Log(), 5))
		}
	})

	t.Run("tokens the provider got wrong", func(t *testing.T) {
		defer p.Misbehave(oidctest.Honest)
		for _, c := range []struct {
			mode   oidctest.Mode
			name   string
			reason string
		}{
			{oidctest.WrongAudience, "another audience", "expected audience"},
			{oidctest.BadSignature, "a bad signature", "failed to verify signature"},
			{oidctest.Expired, "expired", "token is expired"},
			{oidctest.WrongNonce, "another nonce", "nonce"},
		} {
			p.Misbehave(c.mode)
			b := newBrowser(t, srv.URL)
			back := b.oidcAway(t, "/login/oidc", "grace")
			secrets = append(secrets, mustURL(back).Query().Get("code"), mustURL(back).Query().Get("state"))
			before := strings.Count(srv.Log(), c.reason)
			res := b.get(t, back)
			if res.StatusCode != 401 || !strings.Contains(res.body, "could not be verified") {
				t.Errorf("ID token with %s: %d\n%s", c.name, res.StatusCode, between(res.body, "<main", "</main>"))
			}
			if who := b.signedInAs(t); who != "" {
				t.Errorf("ID token with %s signed in %s", c.name, who)
			}
			// Refused for that reason, not another.
			if strings.Count(srv.Log(), c.reason) <= before {
				t.Errorf("ID token with %s: the log does not say %q:\n%s", c.name, c.reason, lastLines(srv.Log(), 5))
			}
		}
	})

	t.Run("a disabled account", func(t *testing.T) {
		if out, err := srv.Run(t, "user", "disable", "grace-h"); err != nil {
			t.Fatalf("user disable: %v\n%s", err, out)
		}
		defer srv.Run(t, "user", "enable", "grace-h")
		b := newBrowser(t, srv.URL)
		res := b.get(t, b.oidcAway(t, "/login/oidc", "grace"))
		if res.StatusCode != 403 || !strings.Contains(res.body, "disabled") || b.signedInAs(t) != "" {
			t.Errorf("disabled account: %d", res.StatusCode)
		}
	})

	// No secret in the log: the client's, nor any code or state.
	log := srv.Log()
	for _, s := range append(secrets, p.ClientSecret) {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("the server's log holds a secret (%.6s…)", s)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
