package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blueprints-hq/blueprints/internal/benchkit"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/search"
)

// Scale benchmark settings.
const (
	scaleClients = 16
	scaleWarmup  = 3 * time.Second
	scaleApply   = 20_000 // documents per Apply while building, as reindex does
)

// The kinds of query in the scale mix, in the order the table shows them.
var scaleKinds = []string{"word", "two words", "typo", "prefix", "build volume", "licence", "project", "sort by volume"}

// benchScale builds a search index of a million synthetic parts (names in
// every spelling the corpus uses), serves it with `blueprints serve`, and
// drives /api/v1/search with 16 clients and a query mix in which no query
// repeats, so that no cache answers. Beside it, in the same run: a plain
// Bleve index with the default mapping over the same documents, served by
// a small HTTP server (this program, started again as a separate process)
// that asks Bleve the same questions the plain way.
func benchScale(b *Bench) error {
	n := b.opt.scaleParts
	b.Logf("generating %d synthetic parts", n)
	docs := search.SyntheticParts(n, 1)

	// Our index, built as reindex builds it (and compacted at the end).
	data := b.TempDir()
	ourIndex := filepath.Join(data, "index.bleve")
	b.Logf("building our index (%d parts)", n)
	start := time.Now()
	idx, err := search.Open(ourIndex)
	if err != nil {
		return err
	}
	for i := 0; i < len(docs); i += scaleApply {
		if err := idx.Apply(context.Background(), docs[i:min(i+scaleApply, len(docs))], nil); err != nil {
			return err
		}
		if i%200_000 == 0 && i > 0 {
			b.Logf("  %d parts in %s", i, time.Since(start).Round(time.Second))
		}
	}
	// As the server's index follower does at the end of a bulk load.
	if err := idx.Compact(context.Background()); err != nil {
		return err
	}
	if err := idx.Close(); err != nil {
		return err
	}
	ourBuild := time.Since(start)

	// The plain Bleve index of the same documents.
	var peerIndex string
	var peerBuild time.Duration
	if b.opt.scalePeer {
		peerIndex = filepath.Join(b.TempDir(), "plain.bleve")
		b.Logf("building the plain Bleve index (%d parts)", n)
		start = time.Now()
		if err := buildPlainIndex(peerIndex, docs, func(i int) {
			b.Logf("  %d parts in %s", i, time.Since(start).Round(time.Second))
		}); err != nil {
			return err
		}
		peerBuild = time.Since(start)
	}

	queries := scaleQueries(docs, 400_000)
	docs = nil // the servers need the memory more

	b.Logf("serving our index; %d clients for %s", scaleClients, b.opt.scaleFor)
	srv := testenv.StartServer(b, testenv.Options{Data: data, Args: []string{"--log-level", "warn"}})
	checkTotal(b, srv.URL, n)
	ours := scaleLoad(b, srv.URL, queries, b.opt.scaleFor)
	ourRSS, err := benchkit.PeakRSS(srv.PID())
	if err != nil {
		return err
	}
	srv.Stop(b)

	if !b.opt.scalePeer {
		b.Logf("the plain Bleve peer is skipped (-scale-peer=false): no ratios")
		return scaleTable(n, len(queries), ourBuild, ourIndex, ours, ourRSS, nil)
	}
	b.Logf("serving the plain index; %d clients for %s", scaleClients, b.opt.scaleFor)
	peerURL, peerPID := startPlainServer(b, peerIndex)
	checkTotal(b, peerURL, n)
	peer := scaleLoad(b, peerURL, queries, b.opt.scaleFor)
	peerRSS, err := benchkit.PeakRSS(peerPID)
	if err != nil {
		return err
	}
	return scaleTable(n, len(queries), ourBuild, ourIndex, ours, ourRSS, &scalePeer{peerBuild, peerIndex, peer, peerRSS})
}

// scalePeer is what the plain Bleve peer did in the same run.
type scalePeer struct {
	build time.Duration
	index string
	res   scaleResult
	rss   int64
}

// scaleTable prints the scale section's table; without a peer (nil), its
// columns are left empty.
func scaleTable(n, queries int, ourBuild time.Duration, ourIndex string, ours scaleResult, ourRSS int64, p *scalePeer) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	lat := func(ds []time.Duration) string { return ms(pct(ds, 0.5)) + " / " + ms(pct(ds, 0.99)) }
	// peerCol and ratio give the peer's figure and ours ÷ its, or nothing
	// without a peer.
	peerCol := func(f func(*scalePeer) string) string {
		if p == nil {
			return "–"
		}
		return f(p)
	}
	ratio := func(ours float64, f func(*scalePeer) float64) string {
		if p == nil {
			return "–"
		}
		return Ratio(ours, f(p))
	}
	rows := [][]string{
		{fmt.Sprintf("index build, %dk parts", n/1000), dur(ourBuild), peerCol(func(p *scalePeer) string { return dur(p.build) }),
			ratio(ourBuild.Seconds(), func(p *scalePeer) float64 { return p.build.Seconds() }), "≤ 10 min"},
		{"index size on disk", mib(dirBytes(ourIndex)), peerCol(func(p *scalePeer) string { return mib(dirBytes(p.index)) }),
			ratio(float64(dirBytes(ourIndex)), func(p *scalePeer) float64 { return float64(dirBytes(p.index)) }), ""},
	}
	for _, k := range scaleKinds {
		o := ours.kinds[k]
		peerN := peerCol(func(p *scalePeer) string { return strconv.Itoa(len(p.res.kinds[k])) })
		rows = append(rows, []string{
			fmt.Sprintf("%s: p50 / p99 (%d / %s queries)", k, len(o), peerN),
			lat(o), peerCol(func(p *scalePeer) string { return lat(p.res.kinds[k]) }),
			ratio(pct(o, 0.99).Seconds(), func(p *scalePeer) float64 { return pct(p.res.kinds[k], 0.99).Seconds() }), "",
		})
	}
	rows = append(rows,
		[]string{"all queries: p50 / p99", lat(ours.all), peerCol(func(p *scalePeer) string { return lat(p.res.all) }),
			ratio(pct(ours.all, 0.99).Seconds(), func(p *scalePeer) float64 { return pct(p.res.all, 0.99).Seconds() }), "p99 ≤ 50 ms"},
		[]string{fmt.Sprintf("queries/s (%d clients, HTTP)", scaleClients), fmt.Sprintf("%.0f", ours.qps), peerCol(func(p *scalePeer) string { return fmt.Sprintf("%.0f", p.res.qps) }),
			peerCol(func(p *scalePeer) string { return fmt.Sprintf("%.2f×", ours.qps/p.res.qps) }), "≥ 1000"},
		[]string{"server peak RSS", mib(ourRSS), peerCol(func(p *scalePeer) string { return mib(p.rss) }),
			ratio(float64(ourRSS), func(p *scalePeer) float64 { return float64(p.rss) }), "≤ 2 GiB"},
		[]string{"failed requests", strconv.Itoa(ours.errors), peerCol(func(p *scalePeer) string { return strconv.Itoa(p.res.errors) }), "", "0"},
	)
	after := ours.load
	if p != nil {
		after = p.res.load
	}
	fmt.Printf("Machine: %s; load average before the run %s, after %s. Ratios are ours ÷ plain Bleve (below 1: ours is faster or smaller; above 1 for queries/s: ours serves more).\n", Machine(), ours.load, after)
	if p == nil {
		fmt.Printf("The plain Bleve peer was skipped (-scale-peer=false): these figures have no ratio and are for a development loop only.\n")
	}
	fmt.Printf("Each query text and filter set is asked once (%d distinct in the mix; none repeats), after a %s warm-up; the clients and the server share the machine.\n\n", queries, scaleWarmup)
	Table([]string{"search over a million parts", "Blueprints", "plain Bleve", "ratio", "target"}, rows)
	return nil
}

func dur(d time.Duration) string {
	if d >= time.Minute {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if i, err := d.Info(); err == nil {
				n += i.Size()
			}
		}
		return nil
	})
	return n
}

// checkTotal makes sure a server sees every part before it is measured.
func checkTotal(b *Bench, base string, n int) {
	var probe struct {
		Total int `json:"total"`
	}
	if code := benchGetJSON(b, http.DefaultClient, base+"/api/v1/search?kind=part&per_page=1", &probe); code != 200 || probe.Total != n {
		b.Fatalf("%s sees %d parts (status %d), want %d", base, probe.Total, code, n)
	}
}

// scaleQuery is one request of the mix and its kind.
type scaleQuery struct {
	kind, query string
}

// scaleQueries builds up to max distinct queries from the documents, of
// every kind in turn: words of part names (drawn by how often they occur,
// so common words come first), two neighbouring words of one name, a word
// with one letter dropped, the first letters of a word as a prefix, a word
// with a random build volume, a word with a licence, a project's parts
// (with or without a word), and a word sorted by volume. No query is in
// the mix twice; a kind whose distinct queries run out leaves the mix.
func scaleQueries(docs []search.Doc, max int) []scaleQuery {
	rng := rand.New(rand.NewPCG(16, 1_000_000))
	seen := map[string]bool{}
	words := func(d *search.Doc) []string {
		return strings.FieldsFunc(splitCamel(d.Name), func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		})
	}
	licenses := []string{"GPL-3.0", "MIT", "CERN-OHL-S-2.0", "CC-BY-SA-4.0", "GPL-2.0", "Apache-2.0"}
	byKind := make([][]scaleQuery, len(scaleKinds))
	perKind := max / len(scaleKinds)
	for k, kind := range scaleKinds {
		for misses := 0; len(byKind[k]) < perKind && misses < 20*perKind; {
			d := &docs[rng.IntN(len(docs))]
			ws := words(d)
			q := url.Values{}
			ok := len(ws) > 0
			var w string
			if ok {
				w = ws[rng.IntN(len(ws))]
			}
			switch {
			case !ok:
			case kind == "word":
				q.Set("q", w)
			case kind == "two words":
				if ok = len(ws) >= 2; ok {
					i := rng.IntN(len(ws) - 1)
					q.Set("q", ws[i]+" "+ws[i+1])
				}
			case kind == "typo":
				if ok = len(w) >= 5; ok {
					i := 1 + rng.IntN(len(w)-2)
					q.Set("q", w[:i]+w[i+1:])
				}
			case kind == "prefix":
				if ok = len(w) >= 3; ok {
					q.Set("q", w[:2+rng.IntN(len(w)-2)])
					q.Set("prefix", "1")
				}
			case kind == "build volume":
				q.Set("q", w)
				q.Set("max_x", strconv.Itoa(100+rng.IntN(300)))
				q.Set("max_y", strconv.Itoa(100+rng.IntN(300)))
				q.Set("max_z", strconv.Itoa(100+rng.IntN(300)))
			case kind == "licence":
				q.Set("q", w)
				q.Set("license", licenses[rng.IntN(len(licenses))])
			case kind == "project":
				if rng.IntN(2) == 0 {
					q.Set("q", w)
				}
				q.Set("project", d.Project)
			case kind == "sort by volume":
				q.Set("q", w)
				q.Set("kind", "part")
				q.Set("sort", "volume")
			}
			s := q.Encode()
			if !ok || seen[s] {
				misses++
				continue
			}
			seen[s] = true
			byKind[k] = append(byKind[k], scaleQuery{kind, s})
		}
	}
	var out []scaleQuery
	for i := 0; i < perKind; i++ {
		for k := range byKind {
			if i < len(byKind[k]) {
				out = append(out, byKind[k][i])
			}
		}
	}
	return out
}

// splitCamel lower-cases s with a space before each upper-case letter
// that follows a lower-case one.
func splitCamel(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range s {
		upper := r >= 'A' && r <= 'Z'
		if upper && prevLower {
			b.WriteByte(' ')
		}
		prevLower = r >= 'a' && r <= 'z'
		if upper {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// scaleResult is what one server did under the query mix.
type scaleResult struct {
	kinds  map[string][]time.Duration // latencies by kind, sorted
	all    []time.Duration            // sorted
	qps    float64
	errors int
	load   string // load average when the run started
}

// scaleLoad runs scaleClients clients, each taking the next unused query
// of the mix, for a warm-up and then for d, and returns the latencies of
// the measured part by kind.
func scaleLoad(b *Bench, base string, queries []scaleQuery, d time.Duration) scaleResult {
	res := scaleResult{kinds: map[string][]time.Duration{}, load: loadAverage()}
	tr := &http.Transport{MaxIdleConnsPerHost: scaleClients, MaxConnsPerHost: scaleClients}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var next atomic.Int64
	measureFrom := time.Now().Add(scaleWarmup)
	stopAt := measureFrom.Add(d)
	var mu sync.Mutex
	var wg sync.WaitGroup
	firstErr := ""
	measured := 0
	var lastDone time.Time
	for range scaleClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				now := time.Now()
				i := int(next.Add(1) - 1)
				if now.After(stopAt) || i >= len(queries) {
					return
				}
				q := queries[i]
				resp, err := c.Get(base + "/api/v1/search?" + q.query)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				took := time.Since(now)
				mu.Lock()
				if err != nil {
					res.errors++
					if firstErr == "" {
						firstErr = fmt.Sprintf("%s: %v", q.query, err)
					}
				} else if now.After(measureFrom) {
					res.kinds[q.kind] = append(res.kinds[q.kind], took)
					res.all = append(res.all, took)
					measured++
					lastDone = time.Now()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != "" {
		b.Logf("%d failed requests, the first: %s", res.errors, firstErr)
	}
	if int(next.Load()) >= len(queries) {
		b.Logf("the %d queries of the mix ran out before the time was up", len(queries))
	}
	if measured == 0 {
		b.Fatalf("no query succeeded against %s", base)
	}
	for _, l := range res.kinds {
		slices.Sort(l)
	}
	slices.Sort(res.all)
	res.qps = float64(measured) / lastDone.Sub(measureFrom).Seconds()
	return res
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(data))[0]
}

// startPlainServer starts this program again as the plain Bleve server on
// the index at path, and returns its URL and process id.
func startPlainServer(b *Bench, path string) (string, int) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatalf("find the bench binary: %v", err)
	}
	cmd := exec.Command(exe, "-serve-plain", path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatalf("plain server: %v", err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the plain server: %v", err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		b.Fatalf("plain server did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return "http://" + addr, cmd.Process.Pid
}
