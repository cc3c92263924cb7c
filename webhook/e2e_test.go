package webhook_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/webhook"
	"github.com/blueprints-hq/blueprints/webhook/webhooktest"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 60 s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func push(t *testing.T, srv *testenv.Server, token, project string, dir string, n int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		testenv.Git(t, "", "init", "-q", "-b", "main", dir)
	}
	f, err := os.Create(filepath.Join(dir, "part.stl"))
	if err != nil {
		t.Fatal(err)
	}
	stlgen.WriteTorus(f, n, false)
	f.Close()
	testenv.Git(t, dir, "add", "-A")
	testenv.Git(t, dir, "commit", "-q", "-m", "part with "+time.Now().String())
	testenv.Git(t, dir, "push", "-q", srv.Remote("maker", token, "maker", project), "main")
}

// TestWebhooks: a receiver on loopback (allowed by --webhook-allow) gets
// signed push and catalog.done events; a failing receiver gets retries
// until it answers; without the allow list the loopback receiver is
// refused and never called.
func TestWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--webhook-allow", "127.0.0.0/8", "--webhook-retry", "100ms", "--public-url", "https://blueprints.example.org"}})
	token := srv.AddUser(t, "maker")
	dir := filepath.Join(t.TempDir(), "bracket")
	push(t, srv, token, "bracket", dir, 200)

	good := webhooktest.New(t, "s3cret")
	if out, err := srv.Run(t, "webhook", "add", "maker/bracket", good.URL+"/hook", "--secret", "s3cret"); err != nil {
		t.Fatalf("webhook add: %v\n%s", err, out)
	}
	failing := webhooktest.New(t, "", 500, 503, 500)
	out, err := srv.Run(t, "webhook", "add", "maker/bracket", failing.URL, "--events", "push")
	if err != nil {
		t.Fatalf("webhook add: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	failingSecret := lines[len(lines)-1]

	push(t, srv, token, "bracket", dir, 300)
	// The first push's catalog.done may come too, if its job ended after
	// the webhook was added: wait for the second push's.
	var p webhook.PushPayload
	var cd webhook.CatalogPayload
	waitFor(t, "push and its catalog.done at the good receiver", func() bool {
		for _, d := range good.Deliveries() {
			switch d.Event {
			case "push":
				json.Unmarshal(d.Body, &p)
			case "catalog.done":
				var c webhook.CatalogPayload
				if json.Unmarshal(d.Body, &c) == nil && len(p.Updates) == 1 && c.Commit == p.Updates[0].New {
					cd = c
				}
			}
		}
		return cd.Commit != ""
	})
	for _, d := range good.Deliveries() {
		if !d.Signed {
			t.Errorf("%s delivery %s: signature does not verify", d.Event, d.GUID)
		}
	}
	if p.Project != "maker/bracket" || p.Pusher != "maker" || len(p.Updates) != 1 || p.URL != "https://blueprints.example.org/maker/bracket" {
		t.Errorf("push payload %+v", p)
	}
	if cd.State != "done" || cd.Parts != 1 || cd.Ref != "refs/heads/main" || cd.URL != "https://blueprints.example.org/maker/bracket" {
		t.Errorf("catalog.done payload %+v", cd)
	}

	// The failing receiver: 3 failures, then 200 on the 4th try of the
	// same delivery.
	waitFor(t, "4 attempts at the failing receiver", func() bool { return len(failing.Deliveries()) >= 4 })
	ds := failing.Deliveries()
	for i, d := range ds {
		if d.GUID != ds[0].GUID || d.Event != "push" || !webhook.Verify(failingSecret, d.Body, d.Signature) {
			t.Errorf("attempt %d: %s %s signed %v; want retries of one signed push delivery", i, d.Event, d.GUID, webhook.Verify(failingSecret, d.Body, d.Signature))
		}
	}
	waitFor(t, "the delivery recorded as delivered", func() bool {
		out, _ := srv.Run(t, "webhook", "list", "maker/bracket")
		return strings.Contains(out, "delivered  200  attempts 4")
	})
	list, _ := srv.Run(t, "webhook", "list", "maker/bracket")
	if strings.Contains(list, "s3cret") || strings.Contains(list, failingSecret) {
		t.Errorf("webhook list shows a secret:\n%s", list)
	}

	t.Run("refused without the allow list", func(t *testing.T) {
		plain := testenv.StartServer(t, testenv.Options{})
		token := plain.AddUser(t, "maker")
		dir := filepath.Join(t.TempDir(), "clamp")
		push(t, plain, token, "clamp", dir, 200)
		r := webhooktest.New(t, "x")
		// Receivers often put a token in the URL: it must not reach the log.
		if out, err := plain.Run(t, "webhook", "add", "maker/clamp", r.URL+"/hooks/T0KENinURL", "--secret", "x", "--events", "push"); err != nil {
			t.Fatalf("webhook add: %v\n%s", err, out)
		}
		push(t, plain, token, "clamp", dir, 300)
		waitFor(t, "the delivery recorded as failed", func() bool {
			out, _ := plain.Run(t, "webhook", "list", "maker/clamp")
			return strings.Contains(out, "failed") && strings.Contains(out, "loopback address")
		})
		if n := len(r.Deliveries()); n != 0 {
			t.Errorf("a refused receiver was called %d times", n)
		}
		if !strings.Contains(plain.Log(), "webhook refused") {
			t.Errorf("no refusal in the server log")
		}
		if strings.Contains(plain.Log(), "T0KENinURL") {
			t.Errorf("the server log shows the webhook URL's token:\n%s", plain.Log())
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, args := range [][]string{
			{"webhook", "add", "maker/bracket", "ftp://example.org/"},
			{"webhook", "add", "maker/bracket", "https://user:pw@example.org/"},
			{"webhook", "add", "maker/bracket", "https://example.org/", "--events", "pull"},
			{"webhook", "add", "maker/nothing", "https://example.org/"},
			{"webhook", "add", "bracket", "https://example.org/"},
			{"webhook", "remove", "999"},
		} {
			if out, err := srv.Run(t, args...); err == nil {
				t.Errorf("%v succeeded: %s", args, out)
			}
		}
	})
}
