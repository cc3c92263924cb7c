package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedPostgres()
	os.Exit(code)
}

func testThrottle(c *clock, recs ThrottleStore) *Throttle {
	return NewThrottle(ThrottleConfig{IPFailures: 3, UserFailures: 5, Window: time.Minute, Backoff: 10 * time.Second, MaxBackoff: 80 * time.Second, Store: recs, Now: c.now, Logger: quiet})
}
func refused(t *Throttle, ip, user string) bool { _, r := t.Check(ip, user); return r }

// eachRecords runs f with the throttle's records kept in memory, in
// SQLite and in PostgreSQL (the metadata store, as a server keeps them).
// open gives another store on the same database: another node.
func eachRecords(t *testing.T, f func(t *testing.T, recs ThrottleStore, open func() ThrottleStore)) {
	t.Run("memory", func(t *testing.T) { f(t, nil, nil) })
	eachStoredRecords(t, f)
}

// eachStoredRecords is eachRecords without the memory.
func eachStoredRecords(t *testing.T, f func(t *testing.T, recs ThrottleStore, open func() ThrottleStore)) {
	opener := func(t *testing.T, dsn string) func() ThrottleStore {
		return func() ThrottleStore {
			st, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		open := opener(t, filepath.Join(t.TempDir(), "blueprints.db"))
		f(t, open(), open)
	})
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() && os.Getenv("CI") != "true" {
			t.Skip("PostgreSQL is left out of -short runs")
		}
		open := opener(t, testenv.SharedPostgres(t).CreateDatabase(t))
		f(t, open(), open)
	})
}

func TestThrottleBacksOffPerAddress(t *testing.T) { eachRecords(t, testThrottleBacksOffPerAddress) }

func testThrottleBacksOffPerAddress(t *testing.T, recs ThrottleStore, _ func() ThrottleStore) {
	c := newClock()
	th := testThrottle(c, recs)
	for i := 0; i < 2; i++ {
		th.Failed("10.0.0.1", fmt.Sprint("u", i))
		if refused(th, "10.0.0.1", "x") {
			t.Fatalf("refused after %d failures, limit is 3", i+1)
		}
	}
	th.Failed("10.0.0.1", "u2")
	wait, r := th.Check("10.0.0.1", "anyone")
	if !r || wait != 10*time.Second {
		t.Fatalf("after 3 failures: refused %v for %s, want 10s", r, wait)
	}
	if refused(th, "10.0.0.2", "anyone") {
		t.Fatal("another address is refused too")
	}
	// Each failure after a refusal ends doubles the next one, up to the cap.
	for _, want := range []time.Duration{20, 40, 80, 80} {
		c.add(wait)
		if refused(th, "10.0.0.1", "x") {
			t.Fatalf("still refused after %s", wait)
		}
		th.Failed("10.0.0.1", fmt.Sprint("v", want))
		wait, r = th.Check("10.0.0.1", "x")
		if !r || wait != want*time.Second {
			t.Fatalf("refused %v for %s, want %ds", r, wait, want)
		}
	}
	// Quiet for a window after the refusal ends: forgotten, counts restart.
	c.add(wait + time.Minute + time.Second)
	th.Failed("10.0.0.1", "w")
	if refused(th, "10.0.0.1", "x") {
		t.Fatal("one failure after a quiet window refused the address again")
	}
}

func TestThrottleSuccessesNeverCount(t *testing.T) { eachRecords(t, testThrottleSuccessesNeverCount) }

func testThrottleSuccessesNeverCount(t *testing.T, recs ThrottleStore, _ func() ThrottleStore) {
	c := newClock()
	th := testThrottle(c, recs)
	for i := 0; i < 10000; i++ {
		th.Succeeded("127.0.0.1", fmt.Sprint("pusher", i%8))
		if refused(th, "127.0.0.1", fmt.Sprint("pusher", i%8)) {
			t.Fatalf("refused after %d successful sign-ins", i+1)
		}
		c.add(time.Millisecond)
	}
	// A success does not reset another client's penalty.
	for i := 0; i < 3; i++ {
		th.Failed("10.6.6.6", "alice")
	}
	th.Succeeded("10.0.0.9", "alice")
	th.Succeeded("10.6.6.6", "bob")
	if !refused(th, "10.6.6.6", "bob") || !refused(th, "10.6.6.6", "alice") {
		t.Fatal("a success from elsewhere, or for another user, lifted the address's refusal")
	}
}

func TestThrottleUserNameFromManyAddresses(t *testing.T) {
	eachRecords(t, testThrottleUserNameFromManyAddresses)
}

func testThrottleUserNameFromManyAddresses(t *testing.T, recs ThrottleStore, _ func() ThrottleStore) {
	c := newClock()
	th := testThrottle(c, recs)
	th.Succeeded("192.168.1.10", "alice") // alice's own machine
	for i := 0; i < 5; i++ {
		th.Failed(fmt.Sprintf("203.0.113.%d", i), "ALICE")
	}
	if !refused(th, "203.0.113.99", "alice") {
		t.Fatal("a user name guessed from 5 addresses is not refused from a new one")
	}
	if refused(th, "192.168.1.10", "Alice") {
		t.Fatal("the owner is locked out from the address she signed in from")
	}
	if refused(th, "203.0.113.99", "bob") {
		t.Fatal("another user name is refused")
	}
}

// TestThrottleSharedByNodes: with the records in the database, the nodes
// of a cluster are one throttle: failures add up whichever node counted
// them, a refusal on one is a refusal on all, and a sign-in on one exempts
// its address on the others. Records expire in the database too.
func TestThrottleSharedByNodes(t *testing.T) { eachStoredRecords(t, testThrottleSharedByNodes) }

func testThrottleSharedByNodes(t *testing.T, recs ThrottleStore, open func() ThrottleStore) {
	c := newClock()
	a, b, other := testThrottle(c, recs), testThrottle(c, open()), testThrottle(c, open())
	a.Failed("10.0.0.1", "x")
	b.Failed("10.0.0.1", "y")
	if refused(a, "10.0.0.1", "z") || refused(b, "10.0.0.1", "z") {
		t.Fatal("refused after 2 failures, limit is 3")
	}
	other.Failed("10.0.0.1", "z")
	for name, th := range map[string]*Throttle{"a": a, "b": b, "c": other} {
		if wait, r := th.Check("10.0.0.1", "anyone"); !r || wait != 10*time.Second {
			t.Errorf("node %s after 3 failures on three nodes: refused %v for %s, want 10s", name, r, wait)
		}
	}
	a.Succeeded("192.168.1.10", "alice")
	for i := range 5 {
		[]*Throttle{a, b, other}[i%3].Failed(fmt.Sprintf("203.0.113.%d", i), "alice")
	}
	if !refused(b, "203.0.113.99", "alice") {
		t.Error("a user name guessed through three nodes is not refused")
	}
	if refused(b, "192.168.1.10", "alice") {
		t.Error("alice signed in on node a, and node b locks her out from that address")
	}
	c.add(10 * time.Minute)
	other.Failed("10.9.9.9", "w") // forgets what expired
	for _, k := range []string{ipKey("10.0.0.1"), userKey("alice")} {
		got, err := recs.ThrottleRecords(context.Background(), []string{k})
		if err != nil || len(got) != 0 {
			t.Errorf("record %s outlived its window: %v %v", k, got, err)
		}
	}
}

func TestThrottleMemoryBounded(t *testing.T) {
	c := newClock()
	th := NewThrottle(ThrottleConfig{MaxKeys: 1000, Window: time.Minute, Now: c.now, Logger: quiet})
	for i := 0; i < 50000; i++ {
		th.Failed(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), fmt.Sprint("u", i))
	}
	if n := th.Len(); n > 1000 {
		t.Fatalf("%d keys remembered, cap is 1000", n)
	}
	// A huge user name costs no more than a short one.
	th.Failed("10.9.9.9", strings.Repeat("x", 1<<20))
	for k := range th.recs.(*memoryRecords).keys {
		if len(k) > 200 {
			t.Fatalf("a key of %d bytes is kept", len(k))
		}
	}
	// Expired records go when touched; the rest when the cap pushes them out.
	c.add(2 * time.Minute)
	th.Failed("10.255.255.255", "z")
	if refused(th, "10.0.0.1", "u1") {
		t.Fatal("an expired record still refuses")
	}
}

// server is an echo instance with the guard installed and three routes:
// one that authenticates like repo.Server.User (token "good"), a
// streaming one and a JSON one that reads its body.
func server(cfg Config) *echo.Echo {
	e := echo.New()
	if cfg.Throttle.Logger == nil {
		cfg.Throttle.Logger = quiet
	}
	Install(e, cfg)
	auth := func(c echo.Context) error {
		_, secret, ok := c.Request().BasicAuth()
		if !ok {
			return c.String(http.StatusOK, "anonymous\n")
		}
		Verified(c, secret == "good")
		if secret != "good" {
			return c.String(http.StatusUnauthorized, "bad user name or access token\n")
		}
		return c.String(http.StatusOK, "ok\n")
	}
	read := func(c echo.Context) error {
		n, err := io.Copy(io.Discard, c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, strconv.FormatInt(n, 10))
	}
	e.GET("/:owner/:project/info/refs", auth)
	e.POST("/:owner/:project/info/lfs/objects/batch", auth)
	e.POST("/:owner/:project/git-receive-pack", read)
	e.PUT("/:owner/:project/info/lfs/objects/:oid", read)
	e.POST("/api/echo", read)
	return e
}

func do(e *echo.Echo, method, target, remote string, body io.Reader, size int64, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = remote
	if size >= 0 {
		req.ContentLength = size
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func basic(user, secret string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, secret)
	return r.Header.Get("Authorization")
}

func TestMiddlewareRefusesAfterFailures(t *testing.T) {
	e := server(Config{Throttle: ThrottleConfig{IPFailures: 3}})
	refs := "/alice/p.git/info/refs?service=git-receive-pack"
	for i := 0; i < 3; i++ {
		// Forged X-Forwarded-For headers do not spread the failures over
		// several addresses: no proxy is trusted.
		rec := do(e, "GET", refs, "198.51.100.7:4000", nil, -1, "Authorization", basic("alice", "guess"), "X-Forwarded-For", fmt.Sprint("1.2.3.", i))
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, rec.Code)
		}
	}
	rec := do(e, "GET", refs, "198.51.100.7:4001", nil, -1, "Authorization", basic("alice", "good"), "X-Forwarded-For", "9.9.9.9")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "30" || !strings.Contains(rec.Body.String(), "too many failed sign-ins") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("4th attempt: %d Retry-After %q %q\n%s", rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Content-Type"), rec.Body)
	}
	rec = do(e, "POST", "/alice/p.git/info/lfs/objects/batch", "198.51.100.7:4002", strings.NewReader("{}"), 2, "Authorization", basic("alice", "good"), "Accept", "application/vnd.git-lfs+json")
	var msg struct{ Message string }
	if rec.Code != http.StatusTooManyRequests || json.Unmarshal(rec.Body.Bytes(), &msg) != nil || !strings.Contains(msg.Message, "try again in 30s") {
		t.Fatalf("LFS attempt: %d %s", rec.Code, rec.Body)
	}
	// Anonymous requests from the address, and other addresses, still work.
	if rec := do(e, "GET", refs, "198.51.100.7:4003", nil, -1); rec.Code != http.StatusOK {
		t.Fatalf("anonymous request from a refused address: %d", rec.Code)
	}
	if rec := do(e, "GET", refs, "198.51.100.8:4000", nil, -1, "Authorization", basic("bob", "good")); rec.Code != http.StatusOK {
		t.Fatalf("another address: %d", rec.Code)
	}
	// Routes that never check credentials count neither way.
	for i := 0; i < 10; i++ {
		if rec := do(e, "POST", "/api/echo", "198.51.100.9:1", strings.NewReader("x"), 1, "Authorization", basic("carol", "guess"), "Content-Type", "application/json"); rec.Code != http.StatusOK {
			t.Fatalf("unauthenticated route: %d", rec.Code)
		}
	}
	if rec := do(e, "GET", refs, "198.51.100.9:2", nil, -1, "Authorization", basic("carol", "good")); rec.Code != http.StatusOK {
		t.Fatalf("credentials ignored by a route counted as failures: %d", rec.Code)
	}
}

func TestTrustedProxies(t *testing.T) {
	proxies, err := ParseProxies("10.0.0.0/8, 192.0.2.1")
	if err != nil || len(proxies) != 2 {
		t.Fatalf("parse: %v %v", proxies, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.local", "1.2.3"} {
		if _, err := ParseProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	e := server(Config{TrustedProxies: proxies, Throttle: ThrottleConfig{IPFailures: 2}})
	refs := "/alice/p/info/refs?service=git-upload-pack"
	for i := 0; i < 2; i++ {
		do(e, "GET", refs, "192.0.2.1:1", nil, -1, "Authorization", basic("alice", "guess"), "X-Forwarded-For", "203.0.113.5")
	}
	// The client behind the proxy is refused; another client through the
	// same proxy is not.
	if rec := do(e, "GET", refs, "192.0.2.1:2", nil, -1, "Authorization", basic("alice", "good"), "X-Forwarded-For", "203.0.113.5"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("client behind proxy: %d, want 429", rec.Code)
	}
	if rec := do(e, "GET", refs, "192.0.2.1:3", nil, -1, "Authorization", basic("bob", "good"), "X-Forwarded-For", "203.0.113.6"); rec.Code != http.StatusOK {
		t.Fatalf("other client behind proxy: %d, want 200", rec.Code)
	}
	// An untrusted peer cannot choose its address with the header.
	for i := 0; i < 2; i++ {
		do(e, "GET", refs, "198.51.100.1:1", nil, -1, "Authorization", basic("dave", "guess"), "X-Forwarded-For", fmt.Sprint("203.0.113.", 50+i))
	}
	if rec := do(e, "GET", refs, "198.51.100.1:2", nil, -1, "Authorization", basic("dave", "good"), "X-Forwarded-For", "203.0.113.77"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("untrusted peer with forged header: %d, want 429", rec.Code)
	}
}

func TestBodyLimit(t *testing.T) {
	e := server(Config{MaxBody: 1000})
	big := strings.Repeat("x", 5000)
	for _, c := range []struct {
		method, path string
		size         int64 // -1: chunked, no Content-Length
		want         int
		body         string
	}{
		{"POST", "/api/echo", 5000, 413, "larger than 1000 bytes"},
		{"POST", "/api/echo", -1, 413, "larger than 1000 bytes"},
		{"POST", "/alice/p.git/info/lfs/objects/batch", 5000, 413, `"message":"request body is larger than 1000 bytes"`},
		{"POST", "/alice/p.git/git-receive-pack", 5000, 200, "5000"},
		{"POST", "/alice/p.git/git-receive-pack", -1, 200, "5000"},
		{"PUT", "/alice/p.git/info/lfs/objects/" + strings.Repeat("a", 64), 5000, 200, "5000"},
	} {
		var body io.Reader = strings.NewReader(big)
		if c.size < 0 {
			body = io.MultiReader(body) // hides the length from httptest
		}
		rec := do(e, c.method, c.path, "127.0.0.1:1", body, c.size, "Content-Type", "application/json")
		if rec.Code != c.want || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%s %s (%d bytes): %d %q, want %d %q", c.method, c.path, c.size, rec.Code, rec.Body, c.want, c.body)
		}
	}
	if rec := do(e, "POST", "/api/echo", "127.0.0.1:1", strings.NewReader(big[:1000]), 1000, "Content-Type", "application/json; charset=utf-8"); rec.Code != 200 || rec.Body.String() != "1000" {
		t.Errorf("body at the limit: %d %q", rec.Code, rec.Body)
	}
}

// TestRequireJSON: writes to the JSON endpoints (LFS batch, verify and
// locks; the API) must declare JSON, which a cross-site form cannot;
// other routes, and LFS object uploads, take any body.
func TestRequireJSON(t *testing.T) {
	e := server(Config{})
	e.POST("/:owner/:project/info/lfs/locks", func(c echo.Context) error { return c.String(http.StatusCreated, "locked") })
	for _, c := range []struct {
		path, ctype string
		want        int
	}{
		{"/alice/p.git/info/lfs/locks", "application/x-www-form-urlencoded", 415},
		{"/alice/p.git/info/lfs/locks", "text/plain", 415},
		{"/alice/p.git/info/lfs/locks", "multipart/form-data; boundary=x", 415},
		{"/alice/p.git/info/lfs/locks", "", 415},
		{"/alice/p.git/info/lfs/locks", "application/vnd.git-lfs+json", 201},
		{"/alice/p.git/info/lfs/locks", "application/vnd.git-lfs+json; charset=utf-8", 201},
		{"/alice/p.git/info/lfs/locks", "application/json", 201},
		{"/alice/p.git/info/lfs/objects/batch", "text/plain", 415},
		{"/api/echo", "application/x-www-form-urlencoded", 415},
		{"/api/echo", "application/json", 200},
		{"/alice/p.git/git-receive-pack", "application/x-git-receive-pack-request", 200},
	} {
		rec := do(e, "POST", c.path, "127.0.0.1:1", strings.NewReader(`{"path":"a.stl"}`), -1, "Content-Type", c.ctype)
		if rec.Code != c.want {
			t.Errorf("POST %s as %q: %d %s, want %d", c.path, c.ctype, rec.Code, rec.Body, c.want)
		}
		if rec.Code == 415 && strings.Contains(c.path, "/lfs/") && !strings.Contains(rec.Body.String(), `"message":"this endpoint takes JSON`) {
			t.Errorf("LFS refusal is not an LFS error: %s", rec.Body)
		}
	}
	if rec := do(e, "PUT", "/alice/p.git/info/lfs/objects/"+strings.Repeat("a", 64), "127.0.0.1:1", strings.NewReader("solid x"), 7, "Content-Type", "application/octet-stream"); rec.Code != 200 {
		t.Errorf("LFS upload: %d", rec.Code)
	}
}

func TestHeaders(t *testing.T) {
	e := server(Config{})
	rec := do(e, "GET", "/alice/p/info/refs", "127.0.0.1:1", nil, -1)
	for k, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "same-origin",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox",
	} {
		if got := rec.Header().Get(k); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

// TestPerClientBehindProxy: behind a trusted proxy every client shares its
// connections, so requests in flight are bounded per forwarded client.
func TestPerClientBehindProxy(t *testing.T) {
	proxies, _ := ParseProxies("192.0.2.1")
	e := echo.New()
	e.IPExtractor = IPExtractor(proxies)
	entered, release := make(chan struct{}, 10), make(chan struct{})
	e.Use(PerClient(3, proxies))
	e.GET("/hold", func(c echo.Context) error {
		entered <- struct{}{}
		<-release
		return c.String(http.StatusOK, "ok")
	})
	e.GET("/quick", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	var done []chan int
	for range 3 {
		ch := make(chan int, 1)
		done = append(done, ch)
		go func() { ch <- do(e, "GET", "/hold", "192.0.2.1:1", nil, -1, "X-Forwarded-For", "203.0.113.9").Code }()
		<-entered
	}
	rec := do(e, "GET", "/quick", "192.0.2.1:2", nil, -1, "X-Forwarded-For", "203.0.113.9")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("4th request in flight from one client behind the proxy: %d %v", rec.Code, rec.Header())
	}
	if rec := do(e, "GET", "/quick", "192.0.2.1:3", nil, -1, "X-Forwarded-For", "203.0.113.10"); rec.Code != http.StatusOK {
		t.Fatalf("another client behind the proxy: %d", rec.Code)
	}
	// Not through the proxy: the listener bounds those, not this.
	if rec := do(e, "GET", "/quick", "198.51.100.4:1", nil, -1, "X-Forwarded-For", "203.0.113.9"); rec.Code != http.StatusOK {
		t.Fatalf("a direct client naming the same address: %d", rec.Code)
	}
	close(release)
	for _, ch := range done {
		if code := <-ch; code != http.StatusOK {
			t.Fatalf("held request: %d", code)
		}
	}
	if rec := do(e, "GET", "/quick", "192.0.2.1:4", nil, -1, "X-Forwarded-For", "203.0.113.9"); rec.Code != http.StatusOK {
		t.Fatalf("after the held requests ended: %d", rec.Code)
	}
}
