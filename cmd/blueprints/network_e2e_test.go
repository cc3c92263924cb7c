package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/federation/ap/aptest"
	"github.com/blueprints-hq/blueprints/federation/httpsig"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/ui/api"
	"github.com/blueprints-hq/blueprints/ui/api/apitest"
)

const loopback = "127.0.0.0/8"

var (
	openAPIOnce sync.Mutex
	openAPIDoc  *apitest.Validator
)

// openAPI is the validator of the API's OpenAPI document, loaded once.
func openAPI(t *testing.T) *apitest.Validator {
	openAPIOnce.Lock()
	defer openAPIOnce.Unlock()
	if openAPIDoc == nil {
		openAPIDoc = apitest.New(t, api.OpenAPI)
	}
	return openAPIDoc
}

// getJSON decodes the answer to GET u into v; API answers are checked
// against the OpenAPI document on the way.
func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(req.URL.Path, "/api/v1/") {
		openAPI(t).Check(t, req, resp.StatusCode, resp.Header, b)
	}
	if v != nil {
		json.Unmarshal(b, v)
	}
	return resp.StatusCode
}

func fetchBody(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitFor polls f until it holds, failing after a minute.
func waitFor(t *testing.T, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !f() {
		if time.Since(start) > 90*time.Second {
			t.Fatalf("%s: not within 90 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func catalogued(t *testing.T, s *testenv.Server, project, commit string) bool {
	var d api.ProjectDetail
	code := getJSON(t, s.URL+"/api/v1/projects/"+project, &d)
	return code == 200 && d.Catalog.State == "done" && d.Catalog.Pending == 0 && d.LatestCommit == commit
}

func headOf(t *testing.T, dir string) string {
	return strings.TrimSpace(testenv.Git(t, dir, "rev-parse", "HEAD"))
}

// tree reads every file of a work tree (not .git).
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && info.Name() == ".git" {
			return filepath.SkipDir
		}
		if !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out[rel], _ = os.ReadFile(p)
		}
		return nil
	})
	return out
}

func openStoreOf(t *testing.T, s *testenv.Server) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(s.Data, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestNetworkOfServers runs three Blueprints servers on loopback: A holds
// a project pushed with LFS, B mirrors it and follows it, C searches
// both. It covers issue 20's "what it must show", in order; A is killed
// last.
func TestNetworkOfServers(t *testing.T) {
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "git-lfs")
	A := testenv.StartServer(t, testenv.Options{Args: []string{"--outbound-allow", loopback}})
	B := testenv.StartServer(t, testenv.Options{Args: []string{"--outbound-allow", loopback, "--mirror-interval", "1h"}})
	aliceTok := A.AddUser(t, "alice")
	bobTok := B.AddUser(t, "bob")
	hostA := strings.TrimPrefix(A.URL, "http://")

	// Alice pushes a project with its parts in LFS.
	var project testenv.CorpusProject
	for _, p := range testenv.Corpus(t) {
		if p.Dir == "meltoner__agrofelis" {
			project = p
		}
	}
	work := testenv.CorpusWorkTree(t, project)
	testenv.Git(t, work, "lfs", "install", "--local")
	testenv.Git(t, work, "lfs", "track", "*.stl")
	testenv.Git(t, work, "add", ".")
	testenv.Git(t, work, "commit", "-q", "-m", "First version")
	testenv.Git(t, work, "remote", "add", "origin", A.Remote("alice", aliceTok, "alice", "tractor"))
	testenv.Git(t, work, "push", "-q", "-u", "origin", "main")
	first := headOf(t, work)
	if lfsFiles := strings.TrimSpace(testenv.Git(t, work, "lfs", "ls-files")); lfsFiles == "" {
		t.Fatal("the parts are not in LFS")
	}
	waitFor(t, "A catalogues alice/tractor", func() bool { return catalogued(t, A, "alice/tractor", first) })
	var partsA struct{ Parts []api.Part }
	getJSON(t, A.URL+"/api/v1/projects/alice/tractor", &partsA)
	if len(partsA.Parts) == 0 {
		t.Fatal("A catalogued no parts")
	}

	t.Run("documents", func(t *testing.T) {
		for kind, path := range map[string]string{
			"actor":          "/ap/projects/alice/tractor",
			"webfinger":      "/.well-known/webfinger?resource=" + url.QueryEscape("acct:alice..tractor@"+hostA),
			"nodeinfo-links": "/.well-known/nodeinfo",
			"nodeinfo":       "/ap/nodeinfo/2.1",
		} {
			code, body := fetchBody(t, A.URL+path)
			if code != 200 {
				t.Fatalf("%s: %d %s", path, code, body)
			}
			for _, err := range aptest.Check(kind, body) {
				t.Errorf("%s: %v", path, err)
			}
		}
		_, user := fetchBody(t, A.URL+"/ap/users/alice")
		for _, err := range aptest.Check("actor", user) {
			t.Errorf("user actor: %v", err)
		}
		// The first version's Create, with its Note, is in the outbox.
		var outbox struct {
			TotalItems   int               `json:"totalItems"`
			OrderedItems []json.RawMessage `json:"orderedItems"`
		}
		waitFor(t, "the first version is published", func() bool {
			getJSON(t, A.URL+"/ap/projects/alice/tractor/outbox", &outbox)
			return outbox.TotalItems == 1
		})
		for _, err := range aptest.Check("announce", outbox.OrderedItems[0]) {
			t.Errorf("announce: %v", err)
		}
		code, note := fetchBody(t, A.URL+"/ap/projects/alice/tractor/versions/"+first)
		if code != 200 {
			t.Fatalf("note: %d", code)
		}
		for _, err := range aptest.Check("note", note) {
			t.Errorf("note: %v\n%s", err, note)
		}
		if !bytes.Contains(note, []byte("parts added")) {
			t.Errorf("the note does not say what changed: %s", note)
		}
	})

	t.Run("mirror with LFS", func(t *testing.T) {
		out, err := B.Run(t, "mirror", "add", A.URL+"/alice/tractor.git", "bob/tractor", "--outbound-allow", loopback)
		if err != nil {
			t.Fatalf("mirror add: %v\n%s", err, out)
		}
		var refs, objects int
		if _, err := fmt.Sscanf(out, "bob/tractor: %d refs updated, %d LFS objects fetched", &refs, &objects); err != nil || refs != 1 || objects == 0 {
			t.Fatalf("mirror add said %q: want 1 ref and the LFS objects", out)
		}
		waitFor(t, "B catalogues its mirror", func() bool { return catalogued(t, B, "bob/tractor", first) })
		testenv.Git(t, "", "lfs", "install")
		clone := filepath.Join(t.TempDir(), "c")
		testenv.Git(t, "", "clone", "-q", B.URL+"/bob/tractor.git", clone)
		if headOf(t, clone) != first {
			t.Fatalf("B's clone is at %s, A's at %s", headOf(t, clone), first)
		}
		want, got := tree(t, work), tree(t, clone)
		for path, data := range want {
			if !bytes.Equal(got[path], data) {
				t.Errorf("%s differs between the pushed work tree and B's clone (%d vs %d bytes)", path, len(data), len(got[path]))
			}
		}
		if len(got) != len(want) {
			t.Errorf("B's clone has %d files, the work tree %d", len(got), len(want))
		}
		var partsB struct{ Parts []api.Part }
		getJSON(t, B.URL+"/api/v1/projects/bob/tractor", &partsB)
		if len(partsB.Parts) != len(partsA.Parts) {
			t.Fatalf("B has %d parts, A %d", len(partsB.Parts), len(partsA.Parts))
		}
		for i := range partsA.Parts {
			a, b := partsA.Parts[i], partsB.Parts[i]
			if a.Path != b.Path || a.Part == nil || b.Part == nil || a.Part.SHA256 != b.Part.SHA256 || a.Part.Volume != b.Part.Volume {
				t.Errorf("part %d: A %+v, B %+v", i, a, b)
			}
			_, pa := fetchBody(t, A.URL+"/alice/tractor/preview/main/"+a.Path+".png")
			_, pb := fetchBody(t, B.URL+"/bob/tractor/preview/main/"+b.Path+".png")
			if len(pa) == 0 || !bytes.Equal(pa, pb) {
				t.Errorf("preview of %s differs (%d vs %d bytes)", a.Path, len(pa), len(pb))
			}
		}
		// The page names its origin, licence and attribution.
		_, page := fetchBody(t, B.URL+"/bob/tractor")
		for _, want := range []string{"Mirror of", A.URL + "/alice/tractor.git", project.License} {
			if !bytes.Contains(page, []byte(want)) {
				t.Errorf("mirror page lacks %q", want)
			}
		}
		// Pushes to a mirror are refused, with the reason.
		out2, err := testenv.GitErr(t, work, "push", B.Remote("bob", bobTok, "bob", "tractor"), "main:refs/heads/other")
		if err == nil || !strings.Contains(out2, "is a mirror of") {
			t.Errorf("push to a mirror: %v\n%s", err, out2)
		}
		// A refresh that finds nothing new asks only for the refs.
		out, err = B.Run(t, "mirror", "refresh", "bob/tractor", "--outbound-allow", loopback)
		if err != nil || !strings.Contains(out, "is up to date") {
			t.Errorf("a refresh with nothing new: %v %s", err, out)
		}
	})

	t.Run("follow both ways, update refreshes the mirror", func(t *testing.T) {
		out, err := B.Run(t, "follow", "bob", "alice..tractor@"+hostA, "--mirror", "tractor-live", "--public-url", B.URL, "--outbound-allow", loopback)
		if err != nil {
			t.Fatalf("follow: %v\n%s", err, out)
		}
		stA, stB := openStoreOf(t, A), openStoreOf(t, B)
		ctx := context.Background()
		bob, _ := stB.UserByName(ctx, "bob")
		var followers struct {
			TotalItems int `json:"totalItems"`
		}
		// A checked B's signature on the Follow; B checked A's on the Accept.
		waitFor(t, "A records bob as a follower", func() bool {
			getJSON(t, A.URL+"/ap/projects/alice/tractor/followers", &followers)
			return followers.TotalItems == 1
		})
		waitFor(t, "B hears the Accept", func() bool {
			fs, _ := stB.FollowingOf(ctx, bob.ID)
			return len(fs) == 1 && fs[0].State == "accepted"
		})
		waitFor(t, "B's followed mirror is catalogued", func() bool { return catalogued(t, B, "bob/tractor-live", first) })

		// A's webhooks go through the same guard: --outbound-allow alone
		// lets this loopback receiver be reached.
		hooked := make(chan string, 4)
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case hooked <- r.Header.Get("X-Blueprints-Event"):
			default:
			}
		}))
		t.Cleanup(receiver.Close)
		if out, err := A.Run(t, "webhook", "add", "alice/tractor", receiver.URL, "--events", "push"); err != nil {
			t.Fatalf("webhook add: %v\n%s", err, out)
		}

		// A push to A reaches B's inbox as an Update; the mirror follows.
		os.WriteFile(filepath.Join(work, "NOTES.md"), []byte("second version\n"), 0o644)
		testenv.Git(t, work, "add", "NOTES.md")
		testenv.Git(t, work, "commit", "-q", "-m", "Second version")
		pushed := time.Now()
		testenv.Git(t, work, "push", "-q", "origin", "main")
		second := headOf(t, work)
		took := waitFor(t, "B's mirror refreshes after the Update", func() bool {
			return strings.TrimSpace(testenv.Git(t, "", "--git-dir", B.RepoDir("bob", "tractor-live"), "rev-parse", "main")) == second
		})
		t.Logf("push to A → B's mirror at the new commit: %s after the push returned (%s since it started); mirror interval 1h, so the Update did it", took.Round(time.Millisecond), time.Since(pushed).Round(time.Millisecond))
		select {
		case ev := <-hooked:
			if ev != "push" {
				t.Errorf("webhook event %q, want push", ev)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("A's webhook to a loopback receiver (allowed by --outbound-allow only) never came")
		}
		ds, _ := stA.APDeliveries(ctx, 20)
		sawUpdate := false
		for _, d := range ds {
			if strings.Contains(d.Body, `"type":"Update"`) && d.State == "sent" && strings.Contains(d.Inbox, strings.TrimPrefix(B.URL, "http://")) {
				sawUpdate = true
			}
		}
		if !sawUpdate {
			t.Errorf("A's deliveries hold no Update sent to B: %+v", ds)
		}

		// Refusals at A's inbox, with bob's real key and a forger's.
		privPEM, _, err := stB.ActorKey(ctx, store.UserActor(bob.ID), nil)
		if err != nil {
			t.Fatal(err)
		}
		bobKey, err := httpsig.ParsePrivateKeyPEM(privPEM)
		if err != nil {
			t.Fatal(err)
		}
		forger, _ := httpsig.NewKey()
		bobID := B.URL + "/ap/users/bob"
		inbox := A.URL + "/ap/projects/alice/tractor/inbox"
		follow := func() []byte {
			b, _ := json.Marshal(ap.Follow(bobID+"/follows/t"+fmt.Sprint(time.Now().UnixNano()), bobID, A.URL+"/ap/projects/alice/tractor"))
			return b
		}
		post := func(body []byte, key *rsa.PrivateKey, at time.Time, mutate func(*http.Request) []byte) (int, string) {
			req, _ := http.NewRequest("POST", inbox, bytes.NewReader(body))
			req.Header.Set("Content-Type", ap.ContentType)
			if err := httpsig.Sign(req, body, ap.KeyID(bobID), key, at); err != nil {
				t.Fatal(err)
			}
			if mutate != nil {
				nb := mutate(req)
				req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(nb)), int64(len(nb))
			}
			return send(t, req)
		}
		if code, msg := post(follow(), bobKey, time.Now(), nil); code != 202 {
			t.Fatalf("a well-signed Follow: %d %s", code, msg)
		}
		checks := []struct {
			name   string
			code   int
			reason string
			do     func() (int, string)
		}{
			{"forged signature", 401, "does not verify", func() (int, string) { return post(follow(), forger, time.Now(), nil) }},
			{"replayed (old date)", 401, "date outside", func() (int, string) { return post(follow(), bobKey, time.Now().Add(-3*time.Hour), nil) }},
			{"digest mismatch", 401, "digest", func() (int, string) {
				return post(follow(), bobKey, time.Now(), func(r *http.Request) []byte { return bytes.Replace(follow(), []byte("Follow"), []byte("Folloz"), 1) })
			}},
		}
		for _, c := range checks {
			code, msg := c.do()
			if code != c.code || !strings.Contains(strings.ToLower(msg), c.reason) {
				t.Errorf("%s: %d %s, want %d (%s)", c.name, code, msg, c.code, c.reason)
			}
		}
		// The same signed request sent twice: the second is a replay.
		body := follow()
		req, _ := http.NewRequest("POST", inbox, bytes.NewReader(body))
		httpsig.Sign(req, body, ap.KeyID(bobID), bobKey, time.Now())
		again := req.Clone(ctx)
		again.Body = io.NopCloser(bytes.NewReader(body))
		if code, msg := send(t, req); code != 202 {
			t.Fatalf("first send: %d %s", code, msg)
		}
		if code, msg := send(t, again); code != 401 || !strings.Contains(msg, "replayed") {
			t.Errorf("replay: %d %s", code, msg)
		}
		// A blocked server is refused.
		if out, err := A.Run(t, "block", B.URL, "--reason", "test"); err != nil {
			t.Fatal(err, out)
		}
		if code, msg := post(follow(), bobKey, time.Now(), nil); code != 403 || !strings.Contains(msg, "blocked") {
			t.Errorf("blocked server: %d %s", code, msg)
		}
		if out, err := A.Run(t, "unblock", B.URL); err != nil {
			t.Fatal(err, out)
		}
	})

	var C *testenv.Server
	var aProxy *hangingProxy
	var aURL string // A as C sees it
	top := t
	t.Run("federated search", func(t *testing.T) {
		garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"total": 3, "hits": [{"kind":"part","project":"x/y","url":"javascript:alert(1)"}], garbage`))
		}))
		t.Cleanup(garbage.Close)
		// C reaches A through a proxy that can make A hang.
		aProxy = startHangingProxy(top, A.Addr) // lives as long as C
		aURL = aProxy.URL
		C = testenv.StartServer(top, testenv.Options{Args: []string{"--outbound-allow", loopback, "--peers", aURL + "," + B.URL + "," + garbage.URL, "--search-deadline", "800ms"}})
		name := partsA.Parts[0].Name
		ask := func() api.NetworkResult {
			var res api.NetworkResult
			if code := getJSON(t, C.URL+"/api/v1/search?scope=network&q="+url.QueryEscape(name), &res); code != 200 {
				t.Fatalf("network search: %d", code)
			}
			return res
		}
		res := ask()
		from := map[string]int{}
		for _, h := range res.Hits {
			from[h.Server]++
			if !strings.HasPrefix(h.URL, h.Server+"/") {
				t.Errorf("hit %s of %s links to %s", h.Name, h.Server, h.URL)
			}
		}
		if from[aURL] == 0 || from[B.URL] == 0 {
			t.Fatalf("hits by server %v: want both A's and B's\n%+v", from, res)
		}
		// The answer holds this server's hits for this viewer: no shared
		// cache may give it to another.
		resp, err := http.Get(C.URL + "/api/v1/search?scope=network&q=" + url.QueryEscape(name))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if vary := strings.Join(resp.Header.Values("Vary"), ","); !strings.Contains(vary, "Authorization") || !strings.Contains(vary, "Cookie") {
			t.Errorf("network search answer varies by %q, want Authorization and Cookie", vary)
		}
		state := map[string]string{}
		for _, s := range res.Servers {
			state[s.Server] = s.State
		}
		if state[garbage.URL] != "error" || !res.Partial {
			t.Errorf("garbage peer: %v partial=%v", state, res.Partial)
		}
		// A hangs: connections to it are accepted, requests read, and
		// nothing ever answers.
		aProxy.Hang(true)
		start := time.Now()
		res = ask()
		took := time.Since(start)
		aProxy.Hang(false)
		state = map[string]string{}
		for _, s := range res.Servers {
			state[s.Server] = s.State
		}
		from = map[string]int{}
		for _, h := range res.Hits {
			from[h.Server]++
		}
		if state[aURL] != "timeout" || from[B.URL] == 0 || from[aURL] != 0 || !res.Partial {
			t.Errorf("while A hangs: states %v, hits %v", state, from)
		}
		t.Logf("network search while A hangs answered in %s (deadline 800 ms)", took.Round(time.Millisecond))
		// The search page shows the same, labelled.
		_, page := fetchBody(t, C.URL+"/search?scope=network&q="+url.QueryEscape(name))
		if !bytes.Contains(page, []byte(strings.TrimPrefix(B.URL, "http://"))) {
			t.Errorf("the search page does not name B")
		}
	})

	t.Run("pages in the browser", func(t *testing.T) {
		// carol signs in on B and follows alice's project with a mirror,
		// through the form, as a person would.
		const pw = "a long enough password"
		cmd := exec.Command(testenv.Binary(t), "user", "add", "carol", "--password-stdin", "--data", B.Data)
		cmd.Stdin = strings.NewReader(pw + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("user add carol: %v\n%s", err, out)
		}
		b := testenv.StartChromium(t)
		ctx, cancel := b.Tab(t, 2*time.Minute)
		defer cancel()
		err := chromedp.Do(ctx,
			chromedp.Navigate(B.URL+"/login"),
			chromedp.WaitVisible(`#login-name`),
			chromedp.SendKeys(`#login-name`, "carol"),
			chromedp.SendKeys(`#login-password`, pw),
			chromedp.Submit(`#login-password`),
			chromedp.WaitNotPresent(`#login-password`),
			chromedp.Navigate(B.URL+"/settings/following"),
			chromedp.WaitVisible(`#address`),
			chromedp.SendKeys(`#address`, "alice/tractor@"+hostA),
			chromedp.Click(`input[name=keep_mirror]`),
			chromedp.SendKeys(`#mirror`, "tractor"),
			chromedp.Submit(`#address`),
			chromedp.WaitVisible(`.notice.ok`),
		)
		if err != nil {
			t.Fatalf("follow through the form: %v", err)
		}
		stB := openStoreOf(t, B)
		carol, _ := stB.UserByName(context.Background(), "carol")
		waitFor(t, "carol's follow is accepted", func() bool {
			fs, _ := stB.FollowingOf(context.Background(), carol.ID)
			return len(fs) == 1 && fs[0].State == "accepted"
		})
		waitFor(t, "carol's mirror is catalogued", func() bool {
			var d api.ProjectDetail
			return getJSON(t, B.URL+"/api/v1/projects/carol/tractor", &d) == 200 && d.Catalog.State == "done" && d.Catalog.Pending == 0 && len(d.Parts) > 0
		})
		shots := []struct{ name, url, wait string }{
			{"network-following.png", B.URL + "/settings/following", `table.list`},
			{"mirror.png", B.URL + "/carol/tractor", `.mirror-of`},
			{"network-search.png", C.URL + "/search?scope=network&q=" + url.QueryEscape(partsA.Parts[0].Name), `.net-hit`},
		}
		for _, sh := range shots {
			if err := chromedp.Do(ctx, chromedp.Navigate(sh.url), chromedp.WaitVisible(sh.wait)); err != nil {
				t.Fatalf("%s: %v", sh.url, err)
			}
			shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			saveShot(t, sh.name, shot)
		}
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil || !strings.Contains(text, "this server") || !strings.Contains(text, strings.TrimPrefix(aURL, "http://")) {
			t.Errorf("the network search page does not name the servers: %v\n%s", err, text)
		}
	})

	t.Run("outgoing requests refused", func(t *testing.T) {
		out, err := B.Run(t, "mirror", "add", A.URL+"/alice/tractor.git", "bob/unguarded")
		if err == nil || !strings.Contains(out, "loopback") {
			t.Errorf("mirror of a loopback origin without --outbound-allow: %v\n%s", err, out)
		}
		l, lerr := net.Listen("tcp", "127.0.0.2:0")
		if lerr != nil {
			t.Skipf("no 127.0.0.2: %v", lerr)
		}
		l.Close()
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://"+l.Addr().String()+r.URL.RequestURI(), http.StatusFound)
		}))
		t.Cleanup(redirect.Close)
		out, err = B.Run(t, "mirror", "add", redirect.URL+"/alice/tractor.git", "bob/redirected", "--outbound-allow", "127.0.0.1/32")
		if err == nil || !strings.Contains(out, "127.0.0.2") {
			t.Errorf("mirror through a redirect to a refused address: %v\n%s", err, out)
		}
		out, err = B.Run(t, "follow", "bob", "alice@"+hostA, "--public-url", B.URL)
		if err == nil || !strings.Contains(out, "loopback") {
			t.Errorf("follow of a loopback server without --outbound-allow: %v\n%s", err, out)
		}
	})

	t.Run("A gone, B still serves", func(t *testing.T) {
		A.Kill(t)
		testenv.Git(t, "", "lfs", "install")
		clone := filepath.Join(t.TempDir(), "c")
		testenv.Git(t, "", "clone", "-q", B.URL+"/bob/tractor.git", clone)
		for path, data := range tree(t, work) {
			if path == "NOTES.md" {
				continue // the second version came after this mirror's refresh
			}
			if got, _ := os.ReadFile(filepath.Join(clone, path)); !bytes.Equal(got, data) {
				t.Errorf("%s differs in B's clone after A died", path)
			}
		}
		if code, _ := fetchBody(t, B.URL+"/bob/tractor"); code != 200 {
			t.Errorf("B's mirror page: %d", code)
		}
		var res struct {
			Hits []api.Hit `json:"hits"`
		}
		getJSON(t, B.URL+"/api/v1/search?q="+url.QueryEscape(partsA.Parts[0].Name), &res)
		found := false
		for _, h := range res.Hits {
			found = found || h.Project == "bob/tractor"
		}
		if !found {
			t.Errorf("B's search does not find the mirrored part: %+v", res.Hits)
		}
	})
}

// saveShot keeps a screenshot at half size: in the test's temp folder, or
// in testdata/screenshots with -screenshots.
func saveShot(t *testing.T, name string, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode screenshot %s: %v", name, err)
	}
	b := img.Bounds()
	small := image.NewRGBA(image.Rect(0, 0, b.Dx()/2, b.Dy()/2))
	for y := 0; y < b.Dy()/2; y++ {
		for x := 0; x < b.Dx()/2; x++ {
			var sum [4]uint32
			for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				r, g, bl, a := img.At(b.Min.X+2*x+d[0], b.Min.Y+2*y+d[1]).RGBA()
				sum[0], sum[1], sum[2], sum[3] = sum[0]+r, sum[1]+g, sum[2]+bl, sum[3]+a
			}
			small.Set(x, y, color.RGBA64{uint16(sum[0] / 4), uint16(sum[1] / 4), uint16(sum[2] / 4), uint16(sum[3] / 4)})
		}
	}
	dir := t.TempDir()
	if *keepScreenshots {
		dir = filepath.Join(testenv.ModuleRoot(t), "testdata", "screenshots")
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, small); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hangingProxy forwards TCP connections to a server until Hang; from then
// on it accepts connections and reads what comes but forwards nothing, so
// nothing answers: a peer that hangs.
type hangingProxy struct {
	URL  string
	to   string
	hung atomic.Bool
}

func startHangingProxy(t *testing.T, to string) *hangingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangingProxy{URL: "http://" + l.Addr().String(), to: to}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

// Hang makes every connection, open or new, go unanswered (or answered
// again, with false).
func (p *hangingProxy) Hang(on bool) { p.hung.Store(on) }

func (p *hangingProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(c, up)
		c.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 && !p.hung.Load() {
			if _, err := up.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}
