package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/catalog/follow"
	"github.com/blueprints-hq/blueprints/internal/metrics"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/search"
	"github.com/blueprints-hq/blueprints/storage"
)

// inProcess is a Server over a real store, repositories, index and blob
// folder in a temporary data folder, not listening: requests go straight
// to its Echo.
type inProcess struct {
	srv   *Server
	data  string
	st    *store.Store
	index *search.Bleve
}

func newInProcess(t *testing.T) *inProcess {
	return newInProcessWith(t, Config{MetricsToken: "t0ken"}, nil)
}

// newInProcessWith is newInProcess with cfg, and deps changed by mod.
func newInProcessWith(t *testing.T, cfg Config, mod func(*Deps, *store.Store, *search.Bleve)) *inProcess {
	t.Helper()
	testenv.RequireTool(t, "git")
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(data, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repos, err := repo.New(repo.Config{Data: data, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	indexPath := filepath.Join(data, "index.bleve")
	index, err := search.Open(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { index.Close() })
	blobs, err := storage.NewFS(filepath.Join(data, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	m := metrics.New(metrics.Options{Store: st})
	deps := Deps{
		Store: st, Repos: repos, Storage: "fs", Metrics: m,
		Data: data, Index: index, IndexPath: indexPath, Blobs: m.Blobs(blobs),
	}
	if mod != nil {
		mod(&deps, st, index)
	}
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return &inProcess{srv: srv, data: data, st: st, index: index}
}

func (p *inProcess) do(t *testing.T, method, path string, header ...string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	p.srv.Echo.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

// TestRequestMetrics: requests are counted under their route template,
// never their path; what no route matched is "unmatched".
func TestRequestMetrics(t *testing.T) {
	p := newInProcess(t)
	requests := []struct {
		method, path string
		code         int
	}{
		{"GET", "/healthz", 200},
		{"HEAD", "/healthz", 200},
		{"GET", "/alice/secret-project/info/refs?service=git-upload-pack", 401},
		{"GET", "/alice/secret-project/info/refs?service=git-upload-pack", 401},
		{"GET", "/alice/x/y/z/nothing/here", 404},
		{"DELETE", "/healthz", 405},
	}
	for _, r := range requests {
		if code, body := p.do(t, r.method, r.path); code != r.code {
			t.Fatalf("%s %s: %d %s, want %d", r.method, r.path, code, body, r.code)
		}
	}
	code, body := p.do(t, "GET", "/metrics", "Authorization", "Bearer t0ken")
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	for _, want := range []string{
		`blueprints_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`blueprints_http_requests_total{code="200",method="HEAD",route="/healthz"} 1`,
		`blueprints_http_requests_total{code="401",method="GET",route="/:owner/:project/info/refs"} 2`,
		`blueprints_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`blueprints_http_requests_total{code="405",method="DELETE",route="unmatched"} 1`,
		`blueprints_http_request_duration_seconds_count{method="GET",route="/:owner/:project/info/refs"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "secret-project") || strings.Contains(body, "nothing/here") {
		t.Errorf("a raw path became a label:\n%s", body)
	}
}

// TestHealthz: the answer is cached for about a second, then names each
// failing part: a data folder that is gone, a search index that is closed.
func TestHealthz(t *testing.T) {
	p := newInProcess(t)
	if code, body := p.do(t, "GET", "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthy: %d %q", code, body)
	}
	away := p.data + ".away"
	if err := os.Rename(p.data, away); err != nil {
		t.Fatal(err)
	}
	if code, _ := p.do(t, "GET", "/healthz"); code != 200 {
		t.Errorf("answer not reused within %s: %d", healthTTL, code)
	}
	time.Sleep(healthTTL + 100*time.Millisecond)
	code, body := p.do(t, "GET", "/healthz", "Authorization", "Bearer t0ken")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "data folder "+p.data+": create probe file") {
		t.Errorf("data folder gone, to the metrics token: %d %q", code, body)
	}
	// Anyone else learns what fails, not where the data lives.
	for _, auth := range []string{"", "Bearer wrong", "Basic dDBrZW4="} {
		code, body = p.do(t, "GET", "/healthz", "Authorization", auth)
		if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "data folder: failing\n") || strings.Contains(body, p.data) || strings.Contains(body, "probe") {
			t.Errorf("data folder gone, to %q: %d %q", auth, code, body)
		}
	}
	if err := os.Rename(away, p.data); err != nil {
		t.Fatal(err)
	}
	p.index.Close()
	time.Sleep(healthTTL + 100*time.Millisecond)
	code, body = p.do(t, "GET", "/healthz", "Authorization", "Bearer t0ken")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if code != http.StatusServiceUnavailable || len(lines) != 1 || !strings.HasPrefix(lines[0], "search index: count documents:") {
		t.Errorf("index closed: %d %q, want one line naming the search index", code, body)
	}
	if entries, _ := filepath.Glob(filepath.Join(p.data, ".healthz-*")); len(entries) > 0 {
		t.Errorf("probe files left behind: %v", entries)
	}
}

// TestHealthzCatchingUp: a node whose index has not yet caught up with
// the database's change log answers 503 "catching up" (the balancer skips
// it), then 200 once it has.
func TestHealthzCatchingUp(t *testing.T) {
	var f *follow.Follower
	p := newInProcessWith(t, Config{}, func(d *Deps, st *store.Store, index *search.Bleve) {
		ctx := context.Background()
		for _, name := range []string{"o/a", "o/b", "o/c"} {
			if err := st.ApplyCatalog(ctx, store.ProjectMeta{Project: name, Ref: "main"}, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if f, err = follow.New(follow.Config{Store: st, Index: index, Batch: 1}); err != nil {
			t.Fatal(err)
		}
		d.Follower = f
	})
	code, body := p.do(t, "GET", "/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "search index: catching up with the catalogue: change 0 of") {
		t.Fatalf("before catching up: %d %q", code, body)
	}
	if err := f.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(healthTTL + 100*time.Millisecond)
	if code, body := p.do(t, "GET", "/healthz"); code != 200 {
		t.Fatalf("after catching up: %d %q", code, body)
	}
}

// TestDrain: once Shutdown starts, /healthz answers 503 "draining" for the
// drain period while other requests are still served; then the listener
// closes.
func TestDrain(t *testing.T) {
	p := newInProcessWith(t, Config{Addr: "127.0.0.1:0", Drain: time.Second}, nil)
	if err := p.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + p.srv.Addr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("before: %d %q", code, body)
	}
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- p.srv.Shutdown(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "draining") {
		t.Errorf("while draining: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 {
		t.Errorf("other requests while draining: %d %q", code, body)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("stopped after %s, before the drain period ended", took)
	}
	if code, _ := get("/healthz"); code != 0 {
		t.Errorf("still answering after shutdown: %d", code)
	}
}
