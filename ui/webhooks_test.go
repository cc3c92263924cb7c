package ui_test

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/webhook"
	"github.com/blueprints-hq/blueprints/webhook/webhooktest"
)

var (
	shownSecret = regexp.MustCompile(`<code class="secret">([^<]+)</code>`)
	hookRemove  = regexp.MustCompile(`action="([^"]+/webhooks/[0-9]+/remove)"`)
)

// TestWebhookSettings: a project's managers add, see and remove webhooks
// on its settings page, an organisation's owners on the organisation's
// webhooks page (its webhooks get the events of every project it owns);
// the secret is shown once and signs the deliveries; each webhook lists
// its latest deliveries with their status; bad input is refused with a
// message; others may not see or change them. The settings page is
// looked at in Chromium.
func TestWebhookSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--webhook-allow", "127.0.0.0/8", "--webhook-retry", "50ms"}})
	token := srv.AddUser(t, owner)
	srv.AddUser(t, "stranger")
	const pw = "a long enough password"
	srv.SetPassword(t, owner, pw)
	srv.SetPassword(t, "stranger", pw)
	if out, err := srv.Run(t, "org", "add", "acme", "--owner", owner); err != nil {
		t.Fatalf("org add: %v\n%s", err, out)
	}
	s := &site{srv: srv, token: token, work: t.TempDir()}
	dir := filepath.Join(s.work, "bracket")
	testenv.Git(t, "", "init", "-q", "-b", "main", dir)
	writePart(t, dir, "arm.stl", 200)
	s.commitAndPush(t, dir, "bracket", "First version")

	me, other := testenv.NewWebClient(t, srv.URL), testenv.NewWebClient(t, srv.URL)
	me.SignIn(owner, pw)
	other.SignIn("stranger", pw)
	const settings = "/" + owner + "/bracket/settings"
	const add = settings + "/webhooks"

	// Bad input names the problem and adds nothing.
	for what, form := range map[string]url.Values{
		"not http":  {"url": {"ftp://example.org/x"}, "events": {"push"}},
		"user info": {"url": {"https://user:pw@example.org/"}, "events": {"push"}},
		"no events": {"url": {"https://example.org/hook"}},
		"bad event": {"url": {"https://example.org/hook"}, "events": {"pull"}},
	} {
		code, body, _ := me.Post(settings, add, form)
		if code != 400 || !strings.Contains(body, `class="notice error"`) || strings.Contains(body, `class="webhook-url"`) {
			t.Errorf("%s: %d\n%s", what, code, between(body, "<main", "</main>"))
		}
	}
	// Someone who may read the project but not manage it.
	if code, _, _ := other.Do("GET", settings, nil, nil); code != 403 {
		t.Errorf("a stranger's settings page: %d, want 403", code)
	}
	if code, _, _ := other.Post("/", add, url.Values{"url": {"https://example.org/"}, "events": {"push"}}); code != 403 {
		t.Errorf("a stranger adds a webhook: %d, want 403", code)
	}

	// Added with a made secret, shown once.
	good := webhooktest.New(t, "")
	code, body, _ := me.Post(settings, add, url.Values{"url": {good.URL + "/good"}, "events": {"push", "catalog.done"}})
	m := shownSecret.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("add a webhook: %d, secret shown %v\n%s", code, m != nil, between(body, "<main", "</main>"))
	}
	secret := m[1]
	if _, again, _ := me.Do("GET", settings, nil, nil); strings.Contains(again, secret) {
		t.Errorf("the settings page shows the secret again")
	}
	// A receiver that fails every time: its delivery ends failed.
	bad := webhooktest.New(t, "", 500, 500, 500, 500, 500)
	if code, _, _ := me.Post(settings, add, url.Values{"url": {bad.URL + "/bad"}, "secret": {"my own"}, "events": {"push"}}); code != 200 {
		t.Fatalf("add the failing webhook: %d", code)
	}

	writePart(t, dir, "arm.stl", 300)
	commit := s.commitAndPush(t, dir, "bracket", "Longer arm")
	waitUntil(t, "the push at the good receiver", func() bool {
		for _, c := range good.Deliveries() {
			var p webhook.PushPayload
			if c.Event == "push" && json.Unmarshal(c.Body, &p) == nil && len(p.Updates) == 1 && p.Updates[0].New == commit {
				if !webhook.Verify(secret, c.Body, c.Signature) {
					t.Fatalf("the push delivery is not signed with the secret the page showed")
				}
				return true
			}
		}
		return false
	})
	waitUntil(t, "the settings page to show both deliveries' outcome", func() bool {
		_, body, _ := me.Do("GET", settings, nil, nil)
		return strings.Count(body, `delivery-delivered`) >= 1 && strings.Contains(body, `delivery-failed`)
	})
	_, body, _ = me.Do("GET", settings, nil, nil)
	for _, want := range []string{good.URL + "/good", bad.URL + "/bad", ">500<", ">200<", "answered 500"} {
		if !strings.Contains(body, want) {
			t.Errorf("the settings page lacks %q", want)
		}
	}
	if len(bad.Deliveries()) != 5 {
		t.Errorf("the failing receiver was called %d times, want 5", len(bad.Deliveries()))
	}
	if strings.Contains(body, "my own") {
		t.Errorf("the settings page shows a secret")
	}

	// The organisation's webhooks: every project of acme.
	const orgHooks = "/organisations/acme/webhooks"
	if code, _, _ := other.Do("GET", orgHooks, nil, nil); code != 403 {
		t.Errorf("a stranger's view of acme's webhooks: %d, want 403", code)
	}
	if _, page, _ := me.Do("GET", "/acme", nil, nil); !strings.Contains(page, `href="`+orgHooks+`"`) {
		t.Errorf("acme's page has no link to its webhooks for its owner")
	}
	if _, page, _ := other.Do("GET", "/acme", nil, nil); strings.Contains(page, orgHooks) {
		t.Errorf("acme's page links its webhooks for a stranger")
	}
	orgRecv := webhooktest.New(t, "")
	code, body, _ = me.Post(orgHooks, orgHooks, url.Values{"url": {orgRecv.URL + "/acme"}, "secret": {"org secret"}, "events": {"push"}})
	if code != 200 || !strings.Contains(body, orgRecv.URL+"/acme") {
		t.Fatalf("add acme's webhook: %d\n%s", code, between(body, "<main", "</main>"))
	}
	rig := filepath.Join(s.work, "rig")
	testenv.Git(t, "", "init", "-q", "-b", "main", rig)
	writePart(t, rig, "frame.stl", 150)
	testenv.Git(t, rig, "add", "-A")
	testenv.Git(t, rig, "commit", "-q", "-m", "Frame")
	testenv.Git(t, rig, "push", "-q", srv.Remote(owner, token, "acme", "rig"), "main")
	waitUntil(t, "acme/rig's push at acme's receiver", func() bool {
		for _, c := range orgRecv.Deliveries() {
			var p webhook.PushPayload
			if json.Unmarshal(c.Body, &p) == nil && p.Project == "acme/rig" {
				return webhook.Verify("org secret", c.Body, c.Signature) || t.Failed()
			}
		}
		return false
	})
	waitUntil(t, "acme's webhooks page to show the delivery", func() bool {
		_, body, _ := me.Do("GET", orgHooks, nil, nil)
		return strings.Contains(body, "<td>acme/rig</td>") && strings.Contains(body, "delivery-delivered")
	})
	for _, c := range good.Deliveries() {
		if strings.Contains(string(c.Body), "acme/rig") {
			t.Errorf("maker/bracket's webhook got acme/rig's event")
		}
	}

	// What it looks like, in a real browser signed in as the owner.
	b := testenv.StartChromium(t)
	ctx, cancel := b.Tab(t, 2*time.Minute)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
			return err
		}),
		chromedp.Navigate(srv.URL+"/login?next="+url.QueryEscape(settings)),
		chromedp.SendKeys("#login-name", owner),
		chromedp.SendKeys("#login-password", pw),
		chromedp.Submit("#login-password"),
		chromedp.WaitVisible("#webhooks"),
	)
	if err != nil {
		t.Fatalf("sign in and open the settings page in Chromium: %v", err)
	}
	checkNoCSPViolations(t, ctx)
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		saveScreenshot(t, "webhook-settings.png", shot)
	} else {
		t.Errorf("screenshot: %v", err)
	}

	// Removing: only a webhook of the page's own project or organisation.
	_, body, _ = me.Do("GET", orgHooks, nil, nil)
	orgRemove := hookRemove.FindStringSubmatch(body)
	_, body, _ = me.Do("GET", settings, nil, nil)
	projRemove := hookRemove.FindStringSubmatch(body)
	if orgRemove == nil || projRemove == nil {
		t.Fatal("no remove forms")
	}
	orgID := orgRemove[1][strings.LastIndex(orgRemove[1][:len(orgRemove[1])-len("/remove")], "/")+1 : len(orgRemove[1])-len("/remove")]
	if code, _, _ := me.Post(settings, settings+"/webhooks/"+orgID+"/remove", nil); code != 400 {
		t.Errorf("removing acme's webhook through maker/bracket: %d, want 400", code)
	}
	if code, _, _ := other.Post("/", orgRemove[1], nil); code != 403 {
		t.Errorf("a stranger removes acme's webhook: %d, want 403", code)
	}
	if code, body, _ := me.Post(settings, projRemove[1], nil); code != 200 || !strings.Contains(body, "Webhook removed.") || strings.Count(body, `class="webhook-url"`) != 1 {
		t.Errorf("remove a webhook: %d, %d left", code, strings.Count(body, `class="webhook-url"`))
	}
	if code, body, _ := me.Post(orgHooks, orgRemove[1], nil); code != 200 || strings.Contains(body, `class="webhook-url"`) {
		t.Errorf("remove acme's webhook: %d", code)
	}
}

// waitUntil polls cond for up to 90 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 90 s for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
