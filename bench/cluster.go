package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/render"
)

// Cluster benchmark settings.
const (
	clusterParts      = 40
	rebuildParts      = 20000 // catalogued parts a joining node indexes from the database
	freshnessRounds   = 20
	freshnessP99Goal  = 2 * time.Second
	clusterPageFactor = 1.5 // page p95 through HAProxy on PostgreSQL ÷ one SQLite node's
)

// benchCluster measures three nodes on PostgreSQL behind HAProxy beside one
// node on SQLite, in the same run: time to first byte of the pages under
// 16 clients through the balancer and from the single node, and how soon
// a part catalogued on one node is found by searches on the two others.
func benchCluster(b *Bench) error {
	testenv.RequireTool(b, "git")
	b.Logf("starting PostgreSQL, versitygw, three nodes and HAProxy, and one SQLite node")
	c := testenv.StartCluster(b, testenv.ClusterOptions{Args: []string{"--log-level", "warn"}})
	single := testenv.StartServer(b, testenv.Options{Args: []string{"--log-level", "warn"}})
	clusterToken := c.Nodes[0].AddUser(b, "bench")
	singleToken := single.AddUser(b, "bench")

	work := b.TempDir()
	testenv.Git(b, work, "init", "-q", "-b", "main")
	for i := range clusterParts {
		var buf bytes.Buffer
		t := stlgen.Torus{Major: 20 + float64(i), Minor: 4 + float64(i%7), Center: [3]float64{0, 0, 4 + float64(i%7)}, Triangles: 2000 + 40*i}
		if err := t.Write(&buf); err != nil {
			return err
		}
		dir := filepath.Join(work, "parts", fmt.Sprintf("group_%d", i/10))
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("bracket_%03d_ring.stl", i)), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	os.WriteFile(filepath.Join(work, "README.md"), []byte("# Rings\n\nA benchmark project.\n"), 0o644)
	testenv.Git(b, work, "add", "-A")
	testenv.Git(b, work, "commit", "-q", "-m", "rings")
	testenv.Git(b, work, "push", "-q", c.Remote("bench", clusterToken, "bench", "rings"), "main")
	testenv.Git(b, work, "push", "-q", single.Remote("bench", singleToken, "bench", "rings"), "main")
	for _, u := range []string{c.URL, single.URL} {
		if err := waitCatalog(u+"/bench/rings", 5*time.Minute); err != nil {
			return err
		}
	}

	pages := []struct{ name, path string }{
		{"home", "/"},
		{"search", "/search?q=bracket+ring"},
		{"search API, a new query each time", "/api/v1/search?q=bracket+ring&min_volume=%d"},
		{"project (40 parts)", "/bench/rings"},
		{"part", "/bench/rings/blob/main/parts/group_1/bracket_012_ring.stl"},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: pageClients, MaxConnsPerHost: pageClients, DisableCompression: true}, Timeout: 30 * time.Second}
	var rows [][]string
	worst := 0.0
	for _, p := range pages {
		// The balancer, one node on PostgreSQL without it, one SQLite node.
		var p95 [3]time.Duration
		for k, base := range []string{c.URL, c.Nodes[0].URL, single.URL} {
			url := func(i int) string {
				if strings.Contains(p.path, "%d") {
					return base + fmt.Sprintf(p.path, i+1)
				}
				return base + p.path
			}
			ttfb, _, err := loadPage(client, url)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			p95[k] = percentile(ttfb, 95)
		}
		r := float64(p95[0]) / float64(p95[2])
		worst = max(worst, r)
		verdict := "ok"
		if r > clusterPageFactor {
			verdict = "over target"
		}
		rows = append(rows, []string{p.name, ms(p95[0]), ms(p95[1]), ms(p95[2]), Ratio(float64(p95[0]), float64(p95[2])), fmt.Sprintf("≤ %.1f×", clusterPageFactor), verdict})
	}
	fmt.Printf("Time to first byte p95, %d clients, %d requests per page, loopback, %s, load average %s: three nodes on PostgreSQL behind HAProxy (deploy/haproxy.cfg) beside one node on SQLite, the same project on both; node1 asked directly shows what the balancer's hop costs.\n\n", pageClients, pageRequests, Machine(), loadAverage())
	Table([]string{"page", "cluster p95", "node1 direct p95", "one SQLite node p95", "ratio cluster ÷ SQLite", "target", ""}, rows)

	// Freshness: a part catalogued on node1, then found on node2 and node3.
	var lags, ends []time.Duration
	for i := range freshnessRounds {
		name := fmt.Sprintf("fresh_%02d_marker", i)
		var buf bytes.Buffer
		stlgen.WriteTorus(&buf, 200+i, false)
		os.MkdirAll(filepath.Join(work, "fresh"), 0o755)
		os.WriteFile(filepath.Join(work, "fresh", name+".stl"), buf.Bytes(), 0o644)
		testenv.Git(b, work, "add", "-A")
		testenv.Git(b, work, "commit", "-q", "-m", name)
		pushed := time.Now()
		testenv.Git(b, work, "push", "-q", c.Nodes[0].Remote("bench", clusterToken, "bench", "rings"), "main")
		q := url.Values{"q": {fmt.Sprintf("fresh %02d marker", i)}, "kind": {"part"}}
		onA, err := waitHit(c.Nodes[0].URL, q, time.Minute)
		if err != nil {
			return err
		}
		for _, n := range c.Nodes[1:] {
			at, err := waitHit(n.URL, q, time.Minute)
			if err != nil {
				return err
			}
			lags = append(lags, at.Sub(onA))
			ends = append(ends, at.Sub(pushed))
		}
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
	p99 := percentile(lags, 99)
	verdict := "ok"
	if p99 > freshnessP99Goal {
		verdict = "over target"
	}
	fmt.Printf("\nCross-node search freshness, %d parts pushed to node1, each searched for on node2 and node3 (polled every 5 ms):\n\n", freshnessRounds)
	Table([]string{"from", "to", "p50", "p99", "target p99", ""}, [][]string{
		{"searchable on node1", "searchable on node2/node3", ms(percentile(lags, 50)), ms(p99), ms(freshnessP99Goal), verdict},
		{"push acknowledged", "searchable on node2/node3", ms(percentile(ends, 50)), ms(percentile(ends, 99)), "", "reference"},
	})

	// A node joining: its index built from PostgreSQL.
	ctx := context.Background()
	st, err := store.Open(ctx, c.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	// A public project row: the index shows only documents of projects
	// that have one (their visibility and owner come from it).
	if _, err := st.CreateProject(ctx, "synthetic", "widgets"); err != nil {
		return err
	}
	if err := st.PutBlobPart(ctx, store.BlobPart{Blob: "synthetic", Part: &render.Part{Triangles: 12, Volume: 8, Size: [3]float64{2, 2, 2}}, Preview: "previews/synthetic/512.png"}); err != nil {
		return err
	}
	synth := make([]store.Part, rebuildParts)
	for i := range synth {
		synth[i] = store.Part{Path: fmt.Sprintf("bulk/widget_%05d.stl", i), Blob: "synthetic", Ref: "main", Commit: strings.Repeat("5", 40), Updated: time.Now()}
	}
	b.Logf("cataloguing %d synthetic parts in PostgreSQL", rebuildParts)
	if err := st.ApplyCatalog(ctx, store.ProjectMeta{Project: "synthetic/widgets", Title: "Widgets", Ref: "main", License: "MIT"}, synth, nil); err != nil {
		return err
	}
	_, head, err := st.IndexLog(ctx)
	if err != nil {
		return err
	}
	joinStart := time.Now()
	n := c.StartNode(b, "node4", true)
	for {
		res, err := http.Get(n.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(joinStart) > 10*time.Minute {
			return fmt.Errorf("node4 did not catch up in 10 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(joinStart)
	size := dirSize(filepath.Join(n.Data, "index.bleve"))
	fmt.Printf("\nA node joining with an empty index: %d documents in the change log (%d parts), from process start to /healthz ok in %s (%.0f documents/s); its index on disk %.1f MiB, %.2f KB per document.\n",
		head, rebuildParts+clusterParts+freshnessRounds, took.Round(10*time.Millisecond), float64(head)/took.Seconds(), float64(size)/(1<<20), float64(size)/1024/float64(head))
	return nil
}

// waitHit polls a node's search API every 5 ms until q has a hit.
func waitHit(base string, q url.Values, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/api/v1/search?" + q.Encode())
		if err == nil {
			var body bytes.Buffer
			body.ReadFrom(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && strings.Contains(body.String(), `"kind":"part"`) {
				return time.Now(), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%s: no hit for %s after %s", base, q.Encode(), limit)
}
