package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/webhook"
)

// receiver is a webhook endpoint on loopback that checks signatures and
// answers with the statuses it is told, in order (200 once they run out).
type receiver struct {
	*httptest.Server
	secret string
	mu     sync.Mutex
	got    []delivery
	answer []int
}

type delivery struct {
	event, guid string
	body        []byte
	signed      bool
	status      int
}

func newReceiver(t *testing.T, secret string, answers ...int) *receiver {
	r := &receiver{secret: secret, answer: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		status := 200
		if len(r.answer) > 0 {
			status, r.answer = r.answer[0], r.answer[1:]
		}
		r.got = append(r.got, delivery{
			event: req.Header.Get(webhook.HeaderEvent), guid: req.Header.Get(webhook.HeaderDelivery), body: body,
			signed: webhook.Verify(r.secret, body, req.Header.Get(webhook.HeaderSignature)), status: status,
		})
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

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

	good := newReceiver(t, "s3cret")
	if out, err := srv.Run(t, "webhook", "add", "maker/bracket", good.URL+"/hook", "--secret", "s3cret"); err != nil {
		t.Fatalf("webhook add: %v\n%s", err, out)
	}
	failing := newReceiver(t, "", 500, 503, 500)
	out, err := srv.Run(t, "webhook", "add", "maker/bracket", failing.URL, "--events", "push")
	if err != nil {
		t.Fatalf("webhook add: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	failing.secret = lines[len(lines)-1]

	push(t, srv, token, "bracket", dir, 300)
	// The first push's catalog.done may come too, if its job ended after
	// the webhook was added: wait for the second push's.
	var p webhook.PushPayload
	var cd webhook.CatalogPayload
	waitFor(t, "push and its catalog.done at the good receiver", func() bool {
		for _, d := range good.deliveries() {
			switch d.event {
			case "push":
				json.Unmarshal(d.body, &p)
			case "catalog.done":
				var c webhook.CatalogPayload
				if json.Unmarshal(d.body, &c) == nil && len(p.Updates) == 1 && c.Commit == p.Updates[0].New {
					cd = c
				}
			}
		}
		return cd.Commit != ""
	})
	for _, d := range good.deliveries() {
		if !d.signed {
			t.Errorf("%s delivery %s: signature does not verify", d.event, d.guid)
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
	waitFor(t, "4 attempts at the failing receiver", func() bool { return len(failing.deliveries()) >= 4 })
	ds := failing.deliveries()
	for i, d := range ds {
		if d.guid != ds[0].guid || d.event != "push" || !d.signed {
			t.Errorf("attempt %d: %s %s signed %v; want retries of one signed push delivery", i, d.event, d.guid, d.signed)
		}
	}
	waitFor(t, "the delivery recorded as delivered", func() bool {
		out, _ := srv.Run(t, "webhook", "list", "maker/bracket")
		return strings.Contains(out, "delivered  200  attempts 4")
	})
	list, _ := srv.Run(t, "webhook", "list", "maker/bracket")
	if strings.Contains(list, "s3cret") || strings.Contains(list, failing.secret) {
		t.Errorf("webhook list shows a secret:\n%s", list)
	}

	t.Run("refused without the allow list", func(t *testing.T) {
		plain := testenv.StartServer(t, testenv.Options{})
		token := plain.AddUser(t, "maker")
		dir := filepath.Join(t.TempDir(), "clamp")
		push(t, plain, token, "clamp", dir, 200)
		r := newReceiver(t, "x")
		// Receivers often put a token in the URL: it must not reach the log.
		if out, err := plain.Run(t, "webhook", "add", "maker/clamp", r.URL+"/hooks/T0KENinURL", "--secret", "x", "--events", "push"); err != nil {
			t.Fatalf("webhook add: %v\n%s", err, out)
		}
		push(t, plain, token, "clamp", dir, 300)
		waitFor(t, "the delivery recorded as failed", func() bool {
			out, _ := plain.Run(t, "webhook", "list", "maker/clamp")
			return strings.Contains(out, "failed") && strings.Contains(out, "loopback address")
		})
		if n := len(r.deliveries()); n != 0 {
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
