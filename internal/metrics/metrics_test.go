package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/version"
)

func TestSeries(t *testing.T) {
	m := New(Options{})
	m.ObserveRequest("/:owner/:project", "GET", 200, 3*time.Millisecond)
	m.ObserveRequest("/:owner/:project", "GET", 200, 300*time.Millisecond)
	m.ObserveRequest("/:owner/:project", "GET", 404, time.Millisecond)
	m.ObserveRequest("unmatched", "BREW", 405, time.Millisecond)
	m.Pushed(PushOK)
	m.Pushed(PushOK)
	m.Pushed(PushRejected)
	m.JobFinished(false, 2*time.Second)
	m.JobFinished(true, 0) // given up without running: counted, not timed
	m.LFSBytes(LFSIn, 1000)
	m.LFSBytes(LFSOut, 10)
	m.LFSBytes(LFSOut, 0)

	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"requests 200", testutil.ToFloat64(m.requests.WithLabelValues("/:owner/:project", "GET", "200")), 2},
		{"requests 404", testutil.ToFloat64(m.requests.WithLabelValues("/:owner/:project", "GET", "404")), 1},
		{"unknown method", testutil.ToFloat64(m.requests.WithLabelValues("unmatched", "other", "405")), 1},
		{"pushes ok", testutil.ToFloat64(m.pushes.WithLabelValues(PushOK)), 2},
		{"pushes rejected", testutil.ToFloat64(m.pushes.WithLabelValues(PushRejected)), 1},
		{"pushes error", testutil.ToFloat64(m.pushes.WithLabelValues(PushError)), 0},
		{"jobs done", testutil.ToFloat64(m.jobs.WithLabelValues(JobDone)), 1},
		{"jobs failed", testutil.ToFloat64(m.jobs.WithLabelValues(JobFailed)), 1},
		{"lfs in", testutil.ToFloat64(m.lfsBytes.WithLabelValues(LFSIn)), 1000},
		{"lfs out", testutil.ToFloat64(m.lfsBytes.WithLabelValues(LFSOut)), 10},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	body := scrape(t, m.Handler(""), "")
	for _, want := range []string{
		`blueprints_http_request_duration_seconds_bucket{method="GET",route="/:owner/:project",le="0.005"} 2`,
		`blueprints_http_request_duration_seconds_bucket{method="GET",route="/:owner/:project",le="0.5"} 3`,
		`blueprints_http_request_duration_seconds_count{method="GET",route="/:owner/:project"} 3`,
		`blueprints_catalog_job_duration_seconds_count 1`,
		`blueprints_catalog_job_duration_seconds_sum 2`,
		`blueprints_storage_errors_total{op="put"} 0`,
		"process_resident_memory_bytes ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("/", "GET", 200, time.Millisecond)
	m.Pushed(PushOK)
	m.JobFinished(false, time.Second)
	m.LFSBytes(LFSIn, 1)
	if b := m.Blobs(nil); b != nil {
		t.Fatalf("nil Metrics wrapped the store: %v", b)
	}
}

func TestToken(t *testing.T) {
	h := New(Options{}).Handler("s3cret")
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret2", "Basic czNjcmV0", "s3cret"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "blueprints_") {
			t.Errorf("Authorization %q: %d %q, want 401 without metrics", auth, rec.Code, rec.Body.String())
		}
	}
	if body := scrape(t, h, "Bearer s3cret"); !strings.Contains(body, "blueprints_git_pushes_total") {
		t.Errorf("with the token: no metrics in %q", body)
	}
}

// TestCatalogQueue reads the queue gauges from a real store as jobs are
// queued, claimed and finished.
func TestCatalogQueue(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := New(Options{Store: st})
	want := func(queued, running, failed int) {
		t.Helper()
		body := scrape(t, m.Handler(""), "")
		for state, n := range map[string]int{"queued": queued, "running": running, "failed": failed} {
			line := `blueprints_catalog_jobs{state="` + state + `"} ` + strconv.Itoa(n) + "\n"
			if !strings.Contains(body, line) {
				t.Errorf("scrape lacks %q", line)
			}
		}
	}
	want(0, 0, 0)
	zero := strings.Repeat("0", 40)
	for _, p := range []string{"a/one", "b/two", "c/three"} {
		if _, err := st.EnqueueCatalogJob(ctx, p, "refs/heads/main", zero, strings.Repeat("1", 40), 1); err != nil {
			t.Fatal(err)
		}
	}
	want(3, 0, 0)
	j1, _, err := st.ClaimCatalogJob(ctx, store.Lease{Node: "n", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	j2, _, err := st.ClaimCatalogJob(ctx, store.Lease{Node: "n", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want(1, 2, 0)
	if err := st.FinishCatalogJob(ctx, j1.ID, "n", ""); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishCatalogJob(ctx, j2.ID, "n", "bad part"); err != nil {
		t.Fatal(err)
	}
	want(1, 0, 1)

	// A store that fails leaves the other series in the scrape.
	st.Close()
	body := scrape(t, m.Handler(""), "")
	if strings.Contains(body, "blueprints_catalog_jobs{") || !strings.Contains(body, "blueprints_git_pushes_total") {
		t.Errorf("scrape with a closed store:\n%s", body)
	}
}

// scrape GETs h and returns the body, failing unless it is 200.
func scrape(t *testing.T, h http.Handler, auth string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, body)
	}
	return string(body)
}

// BenchmarkObserveRequest is the cost the request middleware adds to
// every request.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest("/:owner/:project/blob/:ref/*", "GET", 200, 3*time.Millisecond)
		}
	})
}

func TestBuildInfo(t *testing.T) {
	m := New(Options{Build: version.Info{Version: "v1.2.3", Commit: "0123456789abcdef", GoVersion: "go1.26.8"}})
	body := scrape(t, m.Handler(""), "")
	want := `blueprints_build_info{commit="0123456789ab",goversion="go1.26.8",version="v1.2.3"} 1`
	if !strings.Contains(body, want) {
		t.Errorf("scrape lacks %s", want)
	}
	if body := scrape(t, New(Options{}).Handler(""), ""); strings.Contains(body, "blueprints_build_info") {
		t.Errorf("build_info without a build")
	}
}
