package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/search"
)

const sampleExposition = `# HELP blueprints_http_requests_total HTTP requests by route, method and status.
# TYPE blueprints_http_requests_total counter
blueprints_http_requests_total{code="200",method="GET",route="/"} 10
blueprints_http_requests_total{code="200",method="GET",route="/search"} 5
blueprints_http_requests_total{code="503",method="GET",route="/search"} 2
blueprints_http_requests_total{route="/:owner/:project",method="GET",code="200"} 3
# TYPE blueprints_http_request_duration_seconds histogram
blueprints_http_request_duration_seconds_bucket{method="GET",route="/search",le="0.01"} 4
blueprints_http_request_duration_seconds_bucket{method="GET",route="/search",le="0.1"} 6
blueprints_http_request_duration_seconds_bucket{method="GET",route="/search",le="+Inf"} 7
blueprints_http_request_duration_seconds_sum{method="GET",route="/search"} 0.3
blueprints_http_request_duration_seconds_count{method="GET",route="/search"} 7
blueprints_catalog_jobs{state="queued"} 3
blueprints_catalog_jobs{state="running"} 1
odd_label{path="a \"quoted\" \\ value, with } and ,"} 1.5e3 1700000000000
process_resident_memory_bytes 4.2e+07
`

func TestParseExposition(t *testing.T) {
	samples, err := parseExposition(strings.NewReader(sampleExposition))
	if err != nil {
		t.Fatal(err)
	}
	e := &exposition{samples: samples}
	if got := e.sum("blueprints_http_requests_total", "code", nil); got["200"] != 18 || got["503"] != 2 || len(got) != 2 {
		t.Errorf("requests by code = %v, want 200:18 503:2", got)
	}
	if got := e.sum("blueprints_http_requests_total", "", map[string]string{"route": "/search"})[""]; got != 7 {
		t.Errorf("/search requests = %v, want 7", got)
	}
	if got := e.sum("process_resident_memory_bytes", "", nil)[""]; got != 42e6 {
		t.Errorf("rss = %v", got)
	}
	if got := e.sum("odd_label", "path", nil); got[`a "quoted" \ value, with } and ,`] != 1500 {
		t.Errorf("escaped label: %v", got)
	}
	if !e.has("blueprints_catalog_jobs") || e.has("blueprints_git_pushes_total") {
		t.Error("has: wrong answer")
	}
	h := e.histograms("blueprints_http_request_duration_seconds", "route")["/search"]
	if len(h) != 3 || h[2].count != 7 || !math.IsInf(h[2].le, 1) {
		t.Fatalf("histogram = %v", h)
	}
	// Median: rank 3.5 of 7 lies in the first bucket, 0 to 10 ms.
	if q := quantile(0.5, h); math.Abs(q-0.00875) > 1e-9 {
		t.Errorf("p50 = %v, want 0.00875", q)
	}
	// p99: rank 6.93 lies in +Inf: the highest finite bound.
	if q := quantile(0.99, h); q != 0.1 {
		t.Errorf("p99 = %v, want 0.1", q)
	}
	later := []bucket{{0.01, 5}, {0.1, 9}, {math.Inf(1), 9}}
	if d := subtract(later, h); d[0].count != 1 || d[1].count != 3 || d[2].count != 2 {
		t.Errorf("subtract = %v", d)
	}
	if !math.IsNaN(quantile(0.5, nil)) {
		t.Error("quantile of nothing should be NaN")
	}
}

func TestParseExpositionRejectsMalformed(t *testing.T) {
	for _, bad := range []string{
		"name{a=\"b\" 1\n",
		"name{a=b} 1\n",
		"name\n",
		"name{a=\"b\"} one\n",
		"name 1 2 3\n",
	} {
		if _, err := parseExposition(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(ds, 50, 99, 100)
	want := []time.Duration{50 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("percentile %d = %s, want %s", i, got[i], want[i])
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("percentiles sorted its argument in place")
	}
	if p := percentiles(nil, 99)[0]; p != 0 {
		t.Errorf("percentile of nothing = %s", p)
	}
}

func TestNameWords(t *testing.T) {
	for name, want := range map[string]string{
		"[a]_idler_front_x2": "a idler front x",
		"xyJoint":            "xy joint",
		"FrontBracketLeft":   "front bracket left",
		"z-carriage-rear":    "z carriage rear",
	} {
		if got := strings.Join(nameWords(name), " "); got != want {
			t.Errorf("nameWords(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestRouteOf(t *testing.T) {
	for path, want := range map[string]string{
		"/":                                    "home",
		"/search?q=x":                          "search page",
		"/api/v1/search?q=x":                   "API search",
		"/api/v1/projects?page=2":              "API project list",
		"/api/v1/projects/a/b":                 "API project",
		"/previews/abc/512.png":                "preview (by hash)",
		"/a/b":                                 "project",
		"/a/b/tree/main/STLs":                  "tree",
		"/a/b/blob/main/x.stl":                 "part",
		"/a/b/commits/main":                    "history",
		"/a/b/commit/0123":                     "commit",
		"/a/b/raw/main/x.stl":                  "raw",
		"/a/b/preview/main/STLs/%5Ba%5D_x.png": "preview (by path)",
	} {
		if got := routeOf(path); got != want {
			t.Errorf("routeOf(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestQueriesParse checks that every search the browsers send is one the
// server accepts, so that the load measures searches, not 400s.
func TestQueriesParse(t *testing.T) {
	s := &site{
		words:    []string{"bracket", "idler", "front", "xy", "carriage"},
		licenses: []string{"MIT", "GPL-3.0"},
		cats:     []string{"tools"},
		projects: []*project{{owner: "voron", name: "printer-x-1"}},
	}
	b := &browser{s: s, rng: seeded(1, 1, 0)}
	filtered := 0
	for i := range 2000 {
		q := b.query(i%2 == 0)
		if _, err := search.ParseQuery(q); err != nil {
			t.Fatalf("query %q: %v", q.Encode(), err)
		}
		if len(q) > 1 {
			filtered++
		}
	}
	if filtered < 1000 {
		t.Errorf("only %d of 2000 queries have a filter, sort or paging", filtered)
	}
}
