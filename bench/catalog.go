package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/search"
)

// Catalog benchmark settings.
const (
	catalogSynthParts = 100_000
	catalogBatch      = 1000 // documents per Apply, about one big project's push
	catalogClients    = 16
	catalogLoadFor    = 10 * time.Second
	catalogWarmup     = 2 * time.Second
)

// benchCatalog measures push-to-searchable time for the corpus, indexing
// throughput for 100k synthetic parts, and search latency and throughput
// over HTTP with 16 concurrent clients against `blueprints serve` holding
// that index (the load comes from this process, the server is another).
// There is no peer to run beside it; the table shows the targets.
func benchCatalog(b *Bench) error {
	var rows [][]string
	add := func(figure, ours, target string, met bool) {
		m := "yes"
		if !met {
			m = "NO"
		}
		rows = append(rows, []string{figure, ours, target, m})
	}

	// 1. Corpus push-to-searchable.
	b.Logf("pushing the corpus (5 projects, 34 parts)")
	pts, perProject := benchPushToSearchable(b)
	add("corpus push-to-searchable (5 pushes at once, previews included)", fmt.Sprintf("%.2f s", pts.Seconds()), "≤ 3 s", pts <= 3*time.Second)
	for _, p := range perProject {
		add("  "+p.name+" alone ("+fmt.Sprint(p.parts)+" parts)", fmt.Sprintf("%.2f s", p.took.Seconds()), "", true)
	}

	// 2. Indexing throughput.
	data := b.TempDir()
	b.Logf("indexing %d synthetic parts", catalogSynthParts)
	docs := search.SyntheticParts(catalogSynthParts, 1)
	idx, err := search.Open(filepath.Join(data, "index.bleve"))
	if err != nil {
		b.Fatalf("open index: %v", err)
	}
	start := time.Now()
	for i := 0; i < len(docs); i += catalogBatch {
		if err := idx.Apply(context.Background(), docs[i:min(i+catalogBatch, len(docs))], nil); err != nil {
			b.Fatalf("index: %v", err)
		}
	}
	took := time.Since(start)
	if err := idx.Close(); err != nil {
		b.Fatalf("close index: %v", err)
	}
	add(fmt.Sprintf("index %dk parts (batches of %d)", catalogSynthParts/1000, catalogBatch),
		fmt.Sprintf("%.1f s (%.0f parts/s)", took.Seconds(), float64(len(docs))/took.Seconds()), "< 60 s", took < 60*time.Second)

	// 3. Search over HTTP.
	b.Logf("serving the %dk-part index; %d clients for %s", catalogSynthParts/1000, catalogClients, catalogLoadFor)
	srv := testenv.StartServer(b, testenv.Options{Data: data, Args: []string{"--log-level", "warn"}})
	var probe struct {
		Total int `json:"total"`
	}
	if code := benchGetJSON(b, http.DefaultClient, srv.URL+"/api/v1/search?kind=part", &probe); code != 200 || probe.Total != catalogSynthParts {
		b.Fatalf("server sees %d parts (status %d), want %d", probe.Total, code, catalogSynthParts)
	}
	queries := benchQueries(docs, 500)
	p50, p99, qps, errs := benchLoad(b, srv.URL, queries)
	add(fmt.Sprintf("search p50 (%d clients, HTTP)", catalogClients), fmt.Sprintf("%.2f ms", catalogMS(p50)), "", true)
	add(fmt.Sprintf("search p99 (%d clients, HTTP)", catalogClients), fmt.Sprintf("%.2f ms", catalogMS(p99)), "< 25 ms", p99 < 25*time.Millisecond)
	add("search throughput", fmt.Sprintf("%.0f q/s", qps), "> 1000 q/s", qps > 1000)
	if errs > 0 {
		add("search errors", fmt.Sprint(errs), "0", false)
	}

	fmt.Printf("Machine: %s. Query mix: %d queries (words of part names, half with filters, some with typos or as prefixes).\n\n", Machine(), len(queries))
	Table([]string{"figure", "ours", "target", "met"}, rows)

	// 4. A whole machine, beside F3D rendering its files one at a time.
	fmt.Printf("\nLoad average before: %s.\n\n", loadAverage())
	Table([]string{"a whole machine", "Blueprints", "peer", "ratio", "target"}, benchMachine(b))
	fmt.Printf("\nLoad average after: %s.\n", loadAverage())
	return nil
}

func catalogMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func benchGetJSON(b *Bench, c *http.Client, u string, v any) int {
	resp, err := c.Get(u)
	if err != nil {
		b.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatalf("GET %s: %v", u, err)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			b.Fatalf("GET %s: %v: %.200s", u, err, body)
		}
	}
	return resp.StatusCode
}

type projectTiming struct {
	name  string
	parts int
	took  time.Duration
}

type benchProject struct {
	dir, name string
	parts     []string
	work      string
}

func benchCorpus(b *Bench) []*benchProject {
	var out []*benchProject
	for _, p := range testenv.Corpus(b) {
		work := testenv.CorpusWorkTree(b, p)
		testenv.Git(b, work, "add", "-A")
		testenv.Git(b, work, "commit", "--quiet", "-m", "import")
		out = append(out, &benchProject{dir: p.Dir, name: p.Name, parts: p.Parts, work: work})
	}
	return out
}

// waitSearchable polls until project (or every project when "") has want
// parts in the index and each hit's preview answers 200 (every page of
// hits is looked at), failing after within.
func waitSearchable(b *Bench, base, project string, want int, within time.Duration) {
	c := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(within)
	previewed := map[string]bool{}
	for time.Now().Before(deadline) {
		var urls []string
		total := -1
		for page := 1; ; page++ {
			var a struct {
				Total int `json:"total"`
				Hits  []struct {
					PreviewURL string `json:"preview_url"`
				} `json:"hits"`
			}
			q := url.Values{"kind": {"part"}, "per_page": {"100"}, "page": {fmt.Sprint(page)}}
			if project != "" {
				q.Set("project", project)
			}
			benchGetJSON(b, c, base+"/api/v1/search?"+q.Encode(), &a)
			total = a.Total
			for _, h := range a.Hits {
				urls = append(urls, h.PreviewURL)
			}
			// Until every part is found, the first page says enough
			// (and the server is asked for little beside its work).
			if a.Total != want || len(a.Hits) < 100 || page*100 >= a.Total {
				break
			}
		}
		if total == want && len(urls) == want && allAnswer(b, c, urls, previewed) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("%q not searchable with %d parts and their previews within %s", project, want, within)
}

// allAnswer reports whether every URL not yet in seen answers 200, adding
// those that do.
func allAnswer(b *Bench, c *http.Client, urls []string, seen map[string]bool) bool {
	for _, u := range urls {
		if seen[u] {
			continue
		}
		resp, err := c.Get(u) // absolute, as the API gives it
		if err != nil {
			b.Fatalf("preview: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return false
		}
		seen[u] = true
	}
	return true
}

func benchPushToSearchable(b *Bench) (time.Duration, []projectTiming) {
	projects := benchCorpus(b)
	total := 0
	for _, p := range projects {
		total += len(p.parts)
	}

	// All five at once, as after a busy minute.
	srv := testenv.StartServer(b, testenv.Options{Args: []string{"--log-level", "warn"}})
	token := srv.AddUser(b, "maker")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lastPush time.Time
	var pushErr error
	for _, p := range projects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := testenv.GitErr(b, p.work, "push", "--quiet", srv.Remote("maker", token, "maker", p.name), "main")
			mu.Lock()
			defer mu.Unlock()
			if err != nil && pushErr == nil {
				pushErr = fmt.Errorf("push %s: %v\n%s", p.name, err, out)
			}
			lastPush = time.Now()
		}()
	}
	wg.Wait()
	if pushErr != nil {
		b.Fatalf("%v", pushErr)
	}
	waitSearchable(b, srv.URL, "", total, 120*time.Second)
	all := time.Since(lastPush)
	srv.Stop(b)

	// Each alone, on a fresh server.
	var timings []projectTiming
	srv = testenv.StartServer(b, testenv.Options{Args: []string{"--log-level", "warn"}})
	token = srv.AddUser(b, "maker")
	for _, p := range projects {
		testenv.Git(b, p.work, "push", "--quiet", srv.Remote("maker", token, "maker", p.name), "main")
		start := time.Now()
		waitSearchable(b, srv.URL, "maker/"+p.name, len(p.parts), 120*time.Second)
		timings = append(timings, projectTiming{p.name, len(p.parts), time.Since(start)})
	}
	srv.Stop(b)
	return all, timings
}

// benchQueries builds a deterministic query mix from the documents'
// names: one or two words, sometimes with a typo, as a prefix, or with a
// build-volume, licence or volume filter.
func benchQueries(docs []search.Doc, n int) []string {
	rng := rand.New(rand.NewPCG(7, 11))
	licenses := []string{"GPL-3.0", "MIT", "CERN-OHL-S-2.0", "CC-BY-SA-4.0"}
	var out []string
	for len(out) < n {
		d := docs[rng.IntN(len(docs))]
		words := strings.FieldsFunc(strings.ToLower(d.Name), func(r rune) bool { return !(r >= 'a' && r <= 'z') })
		if len(words) == 0 {
			continue
		}
		q := url.Values{}
		text := words[rng.IntN(len(words))]
		switch rng.IntN(6) {
		case 0:
			if len(words) > 1 {
				text = words[0] + " " + words[1]
			}
		case 1:
			if len(text) > 4 {
				i := 1 + rng.IntN(len(text)-2)
				text = text[:i] + text[i+1:] // one letter dropped
			}
		case 2:
			if len(text) > 3 {
				text = text[:3]
				q.Set("prefix", "1")
			}
		}
		q.Set("q", text)
		switch rng.IntN(6) {
		case 0:
			q.Set("max_x", "250")
			q.Set("max_y", "210")
			q.Set("max_z", "210")
		case 1:
			q.Set("license", licenses[rng.IntN(len(licenses))])
		case 2:
			q.Set("min_volume", "1000")
			q.Set("max_volume", "200000")
		}
		if rng.IntN(10) == 0 {
			q.Set("kind", "part")
			q.Set("sort", "volume")
		}
		out = append(out, q.Encode())
	}
	return out
}

// benchLoad runs catalogClients clients, each sending the queries in turn
// with keep-alive, for a warm-up and then catalogLoadFor, and returns the
// latency percentiles and throughput of the measured part.
func benchLoad(b *Bench, base string, queries []string) (p50, p99 time.Duration, qps float64, errs int) {
	tr := &http.Transport{MaxIdleConnsPerHost: catalogClients, MaxConnsPerHost: catalogClients}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	measureFrom := time.Now().Add(catalogWarmup)
	stopAt := measureFrom.Add(catalogLoadFor)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for i := range catalogClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for n := i * 31; ; n++ {
				now := time.Now()
				if now.After(stopAt) {
					break
				}
				resp, err := c.Get(base + "/api/v1/search?" + queries[n%len(queries)])
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(now)
				if err != nil || resp.StatusCode != 200 {
					bad++
					continue
				}
				if now.After(measureFrom) {
					mine = append(mine, d)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lat) == 0 {
		b.Fatalf("no successful searches (%d errors)", errs)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return pct(0.50), pct(0.99), float64(len(lat)) / catalogLoadFor.Seconds(), errs
}
