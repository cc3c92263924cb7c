package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/blueprints-hq/blueprints/internal/benchkit"
)

// Request classes: what the figures are grouped by.
const (
	classPages   = "pages"       // home, project, tree, part, history, commit
	classSearch  = "search"      // the /search page
	classAPI     = "api"         // /api/v1/...
	classFiles   = "raw/preview" // raw downloads and preview images
	classPush    = "git push"
	classClone   = "git clone"
	classFetch   = "git fetch"
	maxFailures  = 20 // failed git operations kept with their output
	maxTransport = 10 // distinct transport errors kept
)

var classes = []string{classPages, classSearch, classAPI, classFiles, classPush, classClone, classFetch}

// gitFailure is a git operation that failed, with what git printed.
type gitFailure struct {
	op, target string
	took       time.Duration
	err        string
	output     string
}

// badRequest is one answer other than 2xx or 304, kept as an example.
type badRequest struct {
	status int
	url    string
	body   string
}

// recorder collects every request's latency and outcome. Clients record
// into it from many goroutines.
type recorder struct {
	mu        sync.Mutex
	latency   map[string][]time.Duration // successful requests, per class
	errors    map[string]int             // failed requests, per class
	statuses  map[int]int                // HTTP status of every browsing request (0: no answer)
	examples  map[int][]badRequest       // a few requests per non-OK status
	transport map[string]int             // transport errors by message
	failures  []gitFailure
	failedGit int
	slowest   map[string]slowRequest     // slowest request per class
	byRoute   map[string][]time.Duration // successful browsing requests per route
}

type slowRequest struct {
	url  string
	took time.Duration
}

func newRecorder() *recorder {
	return &recorder{
		latency:   map[string][]time.Duration{},
		errors:    map[string]int{},
		statuses:  map[int]int{},
		examples:  map[int][]badRequest{},
		transport: map[string]int{},
		slowest:   map[string]slowRequest{},
		byRoute:   map[string][]time.Duration{},
	}
}

// request records one HTTP request: status 0 with err when there was no
// answer. 2xx and 304 count as success.
func (r *recorder) request(class, url string, status int, took time.Duration, err error, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses[status]++
	ok := err == nil && (status/100 == 2 || status == 304)
	if !ok {
		r.errors[class]++
		if err != nil {
			if len(r.transport) < maxTransport || r.transport[err.Error()] > 0 {
				r.transport[err.Error()]++
			}
		} else if len(r.examples[status]) < 3 {
			r.examples[status] = append(r.examples[status], badRequest{status, url, clip(body, 300)})
		}
		return
	}
	r.latency[class] = append(r.latency[class], took)
	if took > r.slowest[class].took {
		r.slowest[class] = slowRequest{url, took}
	}
	route := routeOf(url)
	r.byRoute[route] = append(r.byRoute[route], took)
}

// routeOf names the page or file a request path asks for.
func routeOf(path string) string {
	p, _, _ := strings.Cut(path, "?")
	switch {
	case p == "/":
		return "home"
	case p == "/search":
		return "search page"
	case p == "/api/v1/search":
		return "API search"
	case p == "/api/v1/projects":
		return "API project list"
	case strings.HasPrefix(p, "/api/v1/projects/"):
		return "API project"
	case strings.HasPrefix(p, "/previews/"):
		return "preview (by hash)"
	}
	segs := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 4)
	if len(segs) < 3 {
		return "project"
	}
	switch segs[2] {
	case "tree":
		return "tree"
	case "blob":
		return "part"
	case "commits":
		return "history"
	case "commit":
		return "commit"
	case "raw":
		return "raw"
	case "preview":
		return "preview (by path)"
	}
	return "other"
}

// git records one git operation.
func (r *recorder) git(class, target string, took time.Duration, err error, output string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.latency[class] = append(r.latency[class], took)
		if took > r.slowest[class].took {
			r.slowest[class] = slowRequest{target, took}
		}
		return
	}
	r.errors[class]++
	r.failedGit++
	if len(r.failures) < maxFailures {
		r.failures = append(r.failures, gitFailure{class, target, took, err.Error(), tail(output, 15)})
	}
}

// percentiles returns the p-th percentiles (0–100) of ds, nearest rank.
func percentiles(ds []time.Duration, ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if len(ds) == 0 {
		return out
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	for i, p := range ps {
		rank := int(p/100*float64(len(s)) + 0.999999)
		out[i] = s[max(0, min(len(s)-1, rank-1))]
	}
	return out
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mib(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }

func sortedKeys[K int | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// table prints a Markdown table and the blank line that ends it.
func table(header []string, rows [][]string) {
	benchkit.Table(header, rows)
	fmt.Println()
}
