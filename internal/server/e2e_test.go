package server_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// families is one scrape of /metrics, parsed.
type families map[string]*dto.MetricFamily

// scrape GETs /metrics (with a bearer token when not "") and parses it as
// the Prometheus text format.
func scrape(t *testing.T, srv *testenv.Server, token string) families {
	t.Helper()
	code, body := get(t, http.MethodGet, srv.URL+"/metrics", token)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// series returns the metrics of family name whose labels include want.
func (f families) series(name string, want map[string]string) []*dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, m)
		}
	}
	return out
}

// value sums the counters or gauges (or the histograms' counts) of family
// name whose labels include want; -1 when there is no such series.
func (f families) value(name string, want map[string]string) float64 {
	ms := f.series(name, want)
	if len(ms) == 0 {
		return -1
	}
	var sum float64
	for _, m := range ms {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func get(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with the blueprints binary; not in -short mode")
	}
	testenv.RequireTool(t, "git")
}

// TestMetricsEndToEnd pushes a corpus project and an LFS project, has a
// push refused twice (no right; a pre-receive check), clones, and reads
// what /metrics says about all of it.
func TestMetricsEndToEnd(t *testing.T) {
	skipShort(t)
	testenv.RequireTool(t, "git-lfs")
	srv := testenv.StartServer(t, testenv.Options{})
	alice := srv.AddUser(t, "alice")
	bob := srv.AddUser(t, "bob")

	var project testenv.CorpusProject
	for _, p := range testenv.Corpus(t) {
		if p.Dir == "meltoner__agrofelis" {
			project = p
		}
	}
	if project.Dir == "" {
		t.Fatal("corpus project meltoner__agrofelis is missing from testdata/corpus/MANIFEST.tsv")
	}
	work := testenv.CorpusWorkTree(t, project)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "parts")
	testenv.Git(t, work, "push", "-q", srv.Remote("alice", alice, "alice", "agrofelis"), "main")

	// Refused: bob may not push to alice's project.
	if out, err := testenv.GitErr(t, work, "push", srv.Remote("bob", bob, "alice", "agrofelis"), "main:other"); err == nil {
		t.Fatalf("bob pushed to alice's project:\n%s", out)
	}
	// Refused by the pre-receive check: an LFS pointer to an object the
	// server never received.
	ghost := "version https://git-lfs.github.com/spec/v1\noid sha256:" + strings.Repeat("ab", 32) + "\nsize 14\n"
	if err := os.WriteFile(filepath.Join(work, "ghost.stl"), []byte(ghost), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, work, "add", "ghost.stl")
	testenv.Git(t, work, "commit", "-q", "-m", "pointer without its object")
	if out, err := testenv.GitErr(t, work, "push", srv.Remote("alice", alice, "alice", "agrofelis"), "main"); err == nil {
		t.Fatalf("push of a pointer without its object succeeded:\n%s", out)
	}

	// An LFS push of one part, then a clone that downloads it.
	part, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "testdata", "corpus", project.Dir, project.Parts[0]))
	if err != nil {
		t.Fatal(err)
	}
	lfsWork := t.TempDir()
	testenv.Git(t, lfsWork, "lfs", "install", "--skip-repo")
	testenv.Git(t, lfsWork, "init", "-q", "-b", "main")
	testenv.Git(t, lfsWork, "lfs", "track", "*.stl")
	if err := os.WriteFile(filepath.Join(lfsWork, "part.stl"), part, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, lfsWork, "add", "-A")
	testenv.Git(t, lfsWork, "commit", "-q", "-m", "lfs part")
	testenv.Git(t, lfsWork, "push", "-q", srv.Remote("alice", alice, "alice", "lfs-part"), "main")
	clone := filepath.Join(t.TempDir(), "clone")
	testenv.Git(t, lfsWork, "clone", "-q", srv.Remote("", "", "alice", "lfs-part"), clone)
	if got, err := os.ReadFile(filepath.Join(clone, "part.stl")); err != nil || !bytes.Equal(got, part) {
		t.Fatalf("cloned LFS part differs (%d bytes, err %v)", len(got), err)
	}

	// Both projects catalogued: two jobs done, none queued or running.
	var f families
	waitFor(t, 60*time.Second, "two catalog jobs done and an empty queue", func() bool {
		f = scrape(t, srv, "")
		return f.value("blueprints_catalog_jobs_total", map[string]string{"result": "done"}) >= 2 &&
			f.value("blueprints_catalog_jobs", map[string]string{"state": "queued"}) == 0 &&
			f.value("blueprints_catalog_jobs", map[string]string{"state": "running"}) == 0
	})

	size := float64(len(part))
	checks := []struct {
		what      string
		got       float64
		low, high float64
	}{
		{"pushes ok", f.value("blueprints_git_pushes_total", map[string]string{"result": "ok"}), 2, 2},
		{"pushes rejected", f.value("blueprints_git_pushes_total", map[string]string{"result": "rejected"}), 2, 2},
		{"pushes error", f.value("blueprints_git_pushes_total", map[string]string{"result": "error"}), 0, 0},
		{"receive-pack requests", f.value("blueprints_http_requests_total", map[string]string{"route": "/:owner/:project/git-receive-pack", "method": "POST", "code": "200"}), 3, 3},
		{"bob's refused info/refs", f.value("blueprints_http_requests_total", map[string]string{"route": "/:owner/:project/info/refs", "method": "GET", "code": "403"}), 1, 1},
		{"upload-pack requests", f.value("blueprints_http_requests_total", map[string]string{"route": "/:owner/:project/git-upload-pack", "method": "POST"}), 1, 10},
		{"LFS uploads", f.value("blueprints_http_requests_total", map[string]string{"route": "/:owner/:project/info/lfs/objects/:oid", "method": "PUT", "code": "200"}), 1, 1},
		{"receive-pack latencies", f.value("blueprints_http_request_duration_seconds", map[string]string{"route": "/:owner/:project/git-receive-pack", "method": "POST"}), 3, 3},
		{"LFS bytes in", f.value("blueprints_lfs_bytes_total", map[string]string{"direction": "in"}), size, size},
		{"LFS bytes out", f.value("blueprints_lfs_bytes_total", map[string]string{"direction": "out"}), size, size},
		{"catalog jobs failed", f.value("blueprints_catalog_jobs_total", map[string]string{"result": "failed"}), 0, 0},
		{"catalog job durations", f.value("blueprints_catalog_job_duration_seconds", nil), 2, 10},
		{"storage errors", f.value("blueprints_storage_errors_total", nil), 0, 0},
		{"resident memory", f.value("process_resident_memory_bytes", nil), 10 << 20, 4 << 30},
	}
	for _, c := range checks {
		if c.got < c.low || c.got > c.high {
			t.Errorf("%s = %v, want %v..%v", c.what, c.got, c.low, c.high)
		}
	}
	for _, name := range []string{"blueprints_catalog_job_duration_seconds", "blueprints_http_request_duration_seconds"} {
		for _, m := range f.series(name, nil) {
			if h := m.GetHistogram(); h.GetSampleCount() > 0 && (h.GetSampleSum() <= 0 || h.GetSampleSum() > 600) {
				t.Errorf("%s %v: sum %v s for %d samples", name, m.GetLabel(), h.GetSampleSum(), h.GetSampleCount())
			}
		}
	}
	for _, m := range f.series("blueprints_http_requests_total", nil) {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && (strings.Contains(l.GetValue(), "alice") || strings.Contains(l.GetValue(), "agrofelis")) {
				t.Errorf("raw path as route label: %q", l.GetValue())
			}
		}
	}
}

// TestMetricsToken: with --metrics-token, /metrics needs the bearer token.
func TestMetricsToken(t *testing.T) {
	skipShort(t)
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--metrics-token", "let-me-see"}})
	for _, token := range []string{"", "wrong", "let-me-see-not"} {
		if code, body := get(t, http.MethodGet, srv.URL+"/metrics", token); code != http.StatusUnauthorized || strings.Contains(body, "blueprints_") {
			t.Errorf("token %q: %d %q, want 401 and no metrics", token, code, body)
		}
	}
	f := scrape(t, srv, "let-me-see")
	if f.value("blueprints_http_requests_total", map[string]string{"route": "/metrics", "code": "401"}) != 3 {
		t.Errorf("the refused scrapes are not counted as 401s on /metrics")
	}
	if code, _ := get(t, http.MethodGet, srv.URL+"/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz needs no token: got %d", code)
	}
}

// TestHealthzS3: /healthz fails naming the blob storage while S3 is down,
// and recovers when it is back.
func TestHealthzS3(t *testing.T) {
	skipShort(t)
	s3 := testenv.StartS3(t)
	srv := testenv.StartServer(t, testenv.Options{Storage: "s3://" + s3.Bucket, Env: s3.Env(), Args: []string{"--metrics-token", "ops"}})
	s3.Stop(t)
	var body string
	waitFor(t, 20*time.Second, "/healthz to fail with S3 stopped", func() bool {
		var code int
		code, body = get(t, http.MethodGet, srv.URL+"/healthz", "ops")
		return code == http.StatusServiceUnavailable
	})
	if lines := strings.Split(strings.TrimSpace(body), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "blob storage s3://"+s3.Bucket+": ") {
		t.Errorf("with S3 stopped /healthz says %q to the metrics token, want one line naming the blob storage", body)
	}
	if _, body := get(t, http.MethodGet, srv.URL+"/healthz", ""); body != "blob storage: failing\n" {
		t.Errorf("with S3 stopped /healthz says %q to anyone, want the check's name alone", body)
	}
	if code, _ := get(t, http.MethodHead, srv.URL+"/healthz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("HEAD /healthz with S3 stopped: %d", code)
	}
	if n := scrape(t, srv, "ops").value("blueprints_storage_errors_total", map[string]string{"op": "check"}); n < 1 {
		t.Errorf("failed S3 checks not counted as storage errors: %v", n)
	}
	s3.Start(t)
	waitFor(t, 20*time.Second, "/healthz to recover with S3 back", func() bool {
		code, _ := get(t, http.MethodGet, srv.URL+"/healthz", "")
		return code == http.StatusOK
	})
}

// TestHealthzDataFolder: /healthz fails naming the data folder while it
// cannot take new files (here: moved away), and recovers.
func TestHealthzDataFolder(t *testing.T) {
	skipShort(t)
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--metrics-token", "ops"}})
	away := srv.Data + ".away"
	if err := os.Rename(srv.Data, away); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Rename(away, srv.Data) })
	var body string
	waitFor(t, 10*time.Second, "/healthz to fail with the data folder gone", func() bool {
		var code int
		code, body = get(t, http.MethodGet, srv.URL+"/healthz", "ops")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "data folder "+srv.Data+": create probe file") {
		t.Errorf("with the data folder gone /healthz says %q to the metrics token", body)
	}
	// Anyone else is not shown the absolute data path.
	if code, body := get(t, http.MethodGet, srv.URL+"/healthz", ""); code != http.StatusServiceUnavailable || strings.Contains(body, srv.Data) || !strings.HasPrefix(body, "data folder: failing\n") {
		t.Errorf("with the data folder gone /healthz says %d %q to anyone", code, body)
	}
	if err := os.Rename(away, srv.Data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "/healthz to recover", func() bool {
		code, _ := get(t, http.MethodGet, srv.URL+"/healthz", "")
		return code == http.StatusOK
	})
}
