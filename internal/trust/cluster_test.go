package trust_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/ui/api"
)

// TestCluster runs Blueprints as deploy/ describes it: a real PostgreSQL,
// versitygw, three `blueprints serve` nodes sharing one repositories
// folder, and HAProxy in front with deploy/haproxy.cfg, and shows that
// the nodes act as one server: pushes through the balancer land on every
// node; two clients pushing to one project through two nodes lose no
// acknowledged update; a part catalogued on one node is found by searches
// on the others; killing nodes with SIGKILL loses nothing a client saw
// accepted, another node finishes the dead node's catalog jobs, and the
// catalogue converges to what reindex builds; a node whose index is wiped
// catches up from the database and answers searches only then, while the
// balancer sends searches elsewhere.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: PostgreSQL, S3, three nodes and HAProxy")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "git-lfs")
	// A short lease: the test waits for a dead node's jobs to be taken over.
	c := testenv.StartCluster(t, testenv.ClusterOptions{Env: []string{"BLUEPRINTS_JOB_LEASE=4s", "BLUEPRINTS_LOG_LEVEL=info"}})
	token := c.Nodes[0].AddUser(t, owner)
	defer func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", c.Logs())
		}
	}()

	t.Run("pushes through the balancer land on every node", func(t *testing.T) {
		// A push is three requests (git asks without credentials first),
		// so pushes one after the other would each send their POST to the
		// same node of the rotation: a request between them shifts it, as
		// other clients' requests do on a real server.
		for i := range 6 {
			if resp, err := c.Proxy.Get("/healthz"); err == nil {
				resp.Body.Close()
			}
			work := t.TempDir()
			mustGit(t, work, "init", "-q", "-b", "main")
			os.WriteFile(filepath.Join(work, "README.md"), []byte(fmt.Sprintf("# spread %d\n", i)), 0o644)
			mustGit(t, work, "add", "-A")
			mustGit(t, work, "commit", "-q", "-m", "first")
			mustGit(t, work, "push", "-q", c.Remote(owner, token, owner, fmt.Sprintf("spread%d", i)), "main")
		}
		served := 0
		var counts []int
		for _, n := range c.Nodes {
			k := pushesOK(t, n.URL)
			counts = append(counts, k)
			if k > 0 {
				served++
			}
		}
		if served < 2 {
			t.Errorf("6 pushes through HAProxy were served by %d node(s) (pushes per node %v); want them spread", served, counts)
		}
		t.Logf("pushes per node: %v", counts)
	})

	t.Run("two clients pushing to one project through two nodes lose nothing", func(t *testing.T) {
		concurrentPushes(t, c, token)
	})

	t.Run("a part catalogued on one node is found on the others", func(t *testing.T) {
		work := t.TempDir()
		mustGit(t, work, "init", "-q", "-b", "main")
		writeFileT(t, filepath.Join(work, "parts", "zebra_bracket.stl"), torusSTL(t, 180))
		mustGit(t, work, "add", "-A")
		mustGit(t, work, "commit", "-q", "-m", "a zebra bracket")
		mustGit(t, work, "push", "-q", c.Nodes[0].Remote(owner, token, owner, "zebra"), "main")
		q := url.Values{"q": {"zebra bracket"}, "kind": {"part"}}
		found := waitFound(t, c.Nodes[0].URL, q, 1, time.Minute)
		for i, n := range c.Nodes[1:] {
			at := waitFound(t, n.URL, q, 1, 30*time.Second)
			t.Logf("node%d found it %s after node1", i+2, at.Sub(found).Round(time.Millisecond))
		}
		// The pages too, the same on every node (the search page's cache
		// key follows each node's index).
		waitDrained(t, c.Nodes[0], []string{owner + "/zebra"})
		for _, p := range []string{"/search?q=zebra+bracket", "/" + owner + "/zebra", "/" + owner + "/zebra/blob/main/parts/zebra_bracket.stl"} {
			want := pageText(getBody(t, c.Nodes[0].URL+p), c.Nodes[0].Addr)
			if !strings.Contains(want, "bracket") {
				t.Errorf("node1's %s does not show the part:\n%s", p, want)
			}
			for i, n := range c.Nodes[1:] {
				if got := pageText(getBody(t, n.URL+p), n.Addr); got != want {
					t.Errorf("node%d's %s differs from node1's:\n%s\n---\n%s", i+2, p, got, want)
				}
			}
		}
	})

	t.Run("killed nodes lose nothing and their jobs are finished elsewhere", func(t *testing.T) {
		clusterCrashes(t, c, token)
	})

	t.Run("a node with a wiped index catches up before it answers searches", func(t *testing.T) {
		wipedNodeCatchesUp(t, c)
	})
}

// pushesOK reads blueprints_git_pushes_total{result="ok"} from a node.
func pushesOK(t *testing.T, base string) int {
	t.Helper()
	body := getBody(t, base+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, `blueprints_git_pushes_total{result="ok"}`) {
			n, _ := strconv.Atoi(strings.TrimSpace(line[strings.LastIndexByte(line, ' '):]))
			return n
		}
	}
	return 0
}

func getBody(t *testing.T, u string) string {
	t.Helper()
	resp, err := httpClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, b)
	}
	return string(b)
}

func writeFileT(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFound polls a node's search API until q has at least n hits and
// returns when.
func waitFound(t *testing.T, base string, q url.Values, n int, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var a api.SearchResult
		code, err := getJSON(base+"/api/v1/search?"+q.Encode(), &a)
		if err == nil && code == http.StatusOK && len(a.Hits) >= n {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: search %s has %d hits after %s (status %d, %v)", base, q.Encode(), len(a.Hits), limit, code, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// concurrentPushes: two clients commit and push to one project, one
// through node1 and the other through node2, at the same time; a push
// refused because the other got in first is fetched, rebased and pushed
// again, as a person would. Every push git reported accepted must be on
// the branch, and the repository must pass git fsck. A push may only be
// refused for being behind: two nodes writing the branch at once would
// show as git failing to take its lock.
func concurrentPushes(t *testing.T, c *testenv.Cluster, token string) {
	const project, rounds = "together", 8
	seed := t.TempDir()
	mustGit(t, seed, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(seed, "README.md"), []byte("# together\n"), 0o644)
	mustGit(t, seed, "add", "-A")
	mustGit(t, seed, "commit", "-q", "-m", "start")
	mustGit(t, seed, "push", "-q", c.Nodes[0].Remote(owner, token, owner, project), "main")

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for i, n := range c.Nodes[:2] {
		remote := n.Remote(owner, token, owner, project)
		work := filepath.Join(t.TempDir(), "w")
		mustGit(t, "", "clone", "-q", remote, work)
		wg.Go(func() {
			for r := range rounds {
				name := fmt.Sprintf("client%d-%d.txt", i, r)
				os.WriteFile(filepath.Join(work, name), []byte(name+"\n"), 0o644)
				if _, err := git(context.Background(), t, work, "add", "-A"); err != nil {
					t.Error(err)
					return
				}
				if out, err := git(context.Background(), t, work, "commit", "-q", "-m", name); err != nil {
					t.Errorf("commit: %v\n%s", err, out)
					return
				}
				for try := 0; ; try++ {
					out, err := git(context.Background(), t, work, "push", "origin", "main")
					if err == nil {
						head, _ := git(context.Background(), t, work, "rev-parse", "HEAD")
						mu.Lock()
						acked = append(acked, strings.TrimSpace(head))
						mu.Unlock()
						break
					}
					behind := strings.Contains(out, "[rejected]") || strings.Contains(out, "fetch first") || strings.Contains(out, "non-fast-forward") || strings.Contains(out, "failed to update ref")
					if !behind || strings.Contains(out, ".lock") || try > 30 {
						t.Errorf("client %d: push failed for another reason than being behind:\n%s", i, out)
						return
					}
					if out, err := git(context.Background(), t, work, "pull", "-q", "--rebase", "origin", "main"); err != nil {
						t.Errorf("client %d: pull --rebase: %v\n%s", i, err, out)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	bare := c.Nodes[0].RepoDir(owner, project)
	if out, err := git(context.Background(), t, bare, "fsck", "--strict", "--no-progress"); err != nil {
		t.Errorf("git fsck --strict: %v\n%s", err, out)
	}
	if len(acked) != 2*rounds {
		t.Errorf("%d pushes acknowledged, want %d", len(acked), 2*rounds)
	}
	for _, commit := range acked {
		if _, err := git(context.Background(), t, bare, "merge-base", "--is-ancestor", commit, "refs/heads/main"); err != nil {
			t.Errorf("acknowledged commit %s is not on main", commit)
		}
	}
}

// runningJob asks PostgreSQL which node runs a catalog job, if any.
func runningJob(t *testing.T, c *testenv.Cluster) (id, node string) {
	rows := c.PG.Query(t, c.DB, `SELECT id::text || ' ' || node FROM catalog_jobs WHERE state = 'running' ORDER BY id LIMIT 1`)
	if len(rows) == 0 {
		return "", ""
	}
	id, node, _ = strings.Cut(rows[0], " ")
	return id, node
}

// clusterCrashes is the crash test on three nodes behind HAProxy: makers
// push plain git, LFS objects and STL parts through the balancer while
// nodes are killed with SIGKILL, one at a time, sometimes the one running
// a catalog job, which another node must then finish. After each kill,
// with the clients paused, every push a client saw succeed is on its
// branch and fsck is clean; at the end, every node answers the same
// catalogue, and it is what reindex builds from the repositories.
func clusterCrashes(t *testing.T, c *testenv.Cluster, token string) {
	rounds := 4
	seed := uint64(time.Now().UnixNano())
	t.Logf("cluster crashes: %d rounds, seed %d", rounds, seed)
	rng := mrand.New(mrand.NewPCG(seed, 1))
	led := newLedger()
	clients, projects := newCrashClients(t, seed, led, func(project string) string { return c.Remote(owner, token, owner, project) })
	var gate sync.RWMutex
	stop := runClients(t, clients, led, &gate)
	defer stop()

	takenOver := 0
	for round := 1; round <= rounds && !t.Failed(); round++ {
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		victim := rng.IntN(len(c.Nodes))
		var jobID string
		if round%2 == 1 {
			// Kill the node running a catalog job.
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				id, node := runningJob(t, c)
				if id != "" {
					if k, err := strconv.Atoi(strings.TrimPrefix(node, "node")); err == nil && k >= 1 && k <= len(c.Nodes) {
						victim, jobID = k-1, id
						break
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		n := c.Nodes[victim]
		kinds := led.noteKill(jobID != "")
		n.Kill(t)
		killedAt := time.Now()
		led.killed()
		t.Logf("round %d: killed node%d (job %q running there) with %v in flight", round, victim+1, jobID, kinds)
		if jobID != "" {
			// Another node takes the job over once its lease (4 s here)
			// runs out: within 30 s of the death, the promise,
			// with room for a loaded machine.
			deadline := killedAt.Add(30 * time.Second)
			for {
				rows := c.PG.Query(t, c.DB, `SELECT state || ' ' || node FROM catalog_jobs WHERE id = `+jobID)
				if len(rows) == 1 && !strings.HasPrefix(rows[0], "running node"+strconv.Itoa(victim+1)) && !strings.HasPrefix(rows[0], "queued") {
					if strings.HasPrefix(rows[0], "running") || strings.HasPrefix(rows[0], "done") {
						takenOver++
						t.Logf("round %d: job %s of the dead node is now %s, %s after the kill", round, jobID, rows[0], time.Since(killedAt).Round(time.Millisecond))
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s of killed node%d not taken over within 30s of its death: %v", jobID, victim+1, rows)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		func() {
			gate.Lock()
			defer gate.Unlock()
			waitOrphans(t, n.Data)
			checkRepos(t, n, led)
		}()
		n.Start(t)
		led.restarted()
		checkObjects(t, c.Nodes[0], led, rng, false)
	}
	stop()
	if takenOver == 0 && !t.Failed() {
		t.Errorf("no kill landed on a node running a catalog job")
	}
	t.Logf("client operations ok %v, failed %v; kills during: %v", led.ok, led.bad, led.killedIn)
	if t.Failed() {
		return
	}
	for _, k := range []string{opPush, opLFS, opCatalog} {
		if led.ok[k] == 0 {
			t.Errorf("no %s operation ever succeeded", k)
		}
	}
	c.WaitUp(t)
	checkRepos(t, c.Nodes[0], led)
	checkObjects(t, c.Nodes[0], led, rng, true)
	waitDrained(t, c.Nodes[0], projects)
	before := sameEverywhere(t, c, projects)

	// Reindex with every node stopped; the others rebuild from the log.
	stopAll(t, c)
	if out, err := c.Nodes[0].Run(t, "reindex"); err != nil {
		t.Fatalf("blueprints reindex: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		n.Start(t)
	}
	c.WaitUp(t)
	waitDrained(t, c.Nodes[0], projects)
	after := sameEverywhere(t, c, projects)
	if diff := diffViews(before, after); diff != "" {
		t.Errorf("the catalogue after the crashes differs from what reindex builds:\n%s", diff)
	}
	t.Logf("catalogue converged on every node: %d projects, %d parts, %d searches compared", len(after.projects), len(after.parts), len(after.hits))
}

// sameEverywhere takes the catalogue's view from every node, once each
// node's index has caught up, and checks they are all the same.
func sameEverywhere(t *testing.T, c *testenv.Cluster, projects []string) view {
	t.Helper()
	var first view
	for i, n := range c.Nodes {
		waitIndexCaughtUp(t, c, n)
		v := catalogView(t, n)
		if i == 0 {
			first = v
			continue
		}
		if diff := diffViews(first, v); diff != "" {
			t.Errorf("node%d answers differently from node1:\n%s", i+1, diff)
		}
	}
	return first
}

// waitIndexCaughtUp waits until a node's search index holds the database's
// whole change log (its blueprints_index_position reaches the log's head).
func waitIndexCaughtUp(t *testing.T, c *testenv.Cluster, n *testenv.Server) {
	t.Helper()
	head := c.PG.Query(t, c.DB, `SELECT value::text FROM counters WHERE name = 'index_log'`)
	deadline := time.Now().Add(time.Minute)
	for {
		if pos := indexPosition(n); len(head) == 1 && pos == head[0] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: index at %q, log head %v after a minute", n.URL, indexPosition(n), head)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// indexPosition reads blueprints_index_position from a node's /metrics.
func indexPosition(n *testenv.Server) string {
	resp, err := httpClient.Get(n.URL + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "blueprints_index_position "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return strconv.FormatInt(int64(f), 10)
			}
		}
	}
	return ""
}

// stopAll stops every node at once (each drains first).
func stopAll(t *testing.T, c *testenv.Cluster) {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Go(func() { n.Stop(t) })
	}
	wg.Wait()
}

// wipedNodeCatchesUp adds thousands of catalogued parts to the database
// (so that building an index takes a while), waits for the nodes to
// index them, then stops node3, deletes its index and starts it again.
// From its first answer on, node3's /healthz says "catching up" with 503
// and its searches answer 503, never a partial result, until its index
// holds the whole log; HAProxy keeps it out meanwhile, and searches
// through the balancer always answer in full.
func wipedNodeCatchesUp(t *testing.T, c *testenv.Cluster) {
	ctx := context.Background()
	st, err := store.Open(ctx, c.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const parts = 3000
	// A public project row: the index shows only documents of projects
	// that have one (their visibility and owner come from it).
	if _, err := st.CreateProject(ctx, "synthetic", "widgets"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutBlobPart(ctx, store.BlobPart{Blob: "synthetic", Part: &render.Part{Triangles: 12, Volume: 8, Size: [3]float64{2, 2, 2}}, Preview: "previews/synthetic/512.png"}); err != nil {
		t.Fatal(err)
	}
	rows := make([]store.Part, parts)
	for i := range rows {
		rows[i] = store.Part{Path: fmt.Sprintf("bulk/widget_%04d.stl", i), Blob: "synthetic", Ref: "main", Commit: strings.Repeat("5", 40), Updated: time.Now()}
	}
	if err := st.ApplyCatalog(ctx, store.ProjectMeta{Project: "synthetic/widgets", Title: "Widgets", Ref: "main", License: "MIT"}, rows, nil); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"q": {"widget"}, "kind": {"part"}, "per_page": {"1"}}
	total := func(base string) (int, uint64) {
		var a api.SearchResult
		code, err := getJSON(base+"/api/v1/search?"+q.Encode(), &a)
		if err != nil {
			return 0, 0
		}
		return code, a.Total
	}
	for _, n := range c.Nodes {
		waitIndexCaughtUp(t, c, n)
		if code, n := total(n.URL); code != 200 || n != parts {
			t.Fatalf("before the wipe: %d, %d widgets", code, n)
		}
	}

	n3 := c.Nodes[2]
	n3.Stop(t)
	if err := os.RemoveAll(filepath.Join(n3.Data, "index.bleve")); err != nil {
		t.Fatal(err)
	}
	// Searches through the balancer, all the while.
	var balancer struct {
		sync.Mutex
		answers, bad int
		first        string
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			code, n := total(c.URL)
			balancer.Lock()
			balancer.answers++
			if code != 200 || n != parts {
				balancer.bad++
				if balancer.first == "" {
					balancer.first = fmt.Sprintf("%d with %d widgets", code, n)
				}
			}
			balancer.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	})
	n3.Launch(t)
	var catchingUp, refused, early int
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(n3.URL + "/healthz")
		if err != nil {
			time.Sleep(5 * time.Millisecond) // not listening yet
			if time.Now().After(deadline) {
				t.Fatalf("node3 never answered")
			}
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, n := total(n3.URL)
		switch {
		case code == http.StatusServiceUnavailable:
			refused++
		case code == 200 && n != parts:
			early++
			t.Errorf("node3 answered a search with %d of %d widgets before catching up", n, parts)
		}
		if resp.StatusCode == http.StatusOK {
			break
		}
		if strings.Contains(string(body), "catching up") {
			catchingUp++
		}
		if time.Now().After(deadline) {
			t.Fatalf("node3 not healthy after 2 minutes: %s", body)
		}
	}
	if catchingUp == 0 || refused == 0 {
		t.Errorf("node3 never said it was catching up (%d healthz, %d searches refused)", catchingUp, refused)
	}
	if code, n := total(n3.URL); code != 200 || n != parts {
		t.Errorf("node3 once healthy: %d with %d widgets", code, n)
	}
	c.WaitUp(t)
	close(done)
	wg.Wait()
	if balancer.bad > 0 || balancer.answers == 0 {
		t.Errorf("searches through HAProxy while node3 caught up: %d of %d not answered in full (first: %s)", balancer.bad, balancer.answers, balancer.first)
	}
	if !strings.Contains(n3.Log(), "catching up") || !strings.Contains(n3.Log(), "caught up") {
		t.Errorf("node3's log does not show its progress:\n%s", n3.Log())
	}
	t.Logf("node3 caught up: /healthz said catching up %d times, %d searches refused; %d searches through HAProxy all answered in full", catchingUp, refused, balancer.answers)
}

// torusSTL is a binary STL torus of about n triangles.
func torusSTL(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := stlgen.WriteTorus(&b, n, false); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestClusterRollingRestart runs the load test (bench/loadtest) through
// HAProxy in front of three nodes while every node is restarted in turn,
// as an upgrade does: no client may see a 5xx, a request without an
// answer, or a failed git operation. Nodes drain before they stop
// (/healthz answers 503 until HAProxy's checks take them out). The load
// test's latency targets are left out here (the machine runs other tests
// beside it); `make loadtest LOADTEST_FLAGS=-cluster` checks them.
func TestClusterRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: the load test against three nodes")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "haproxy")
	testenv.RequirePostgres(t)
	cmd := exec.Command("go", "run", "./bench/loadtest", "-cluster", "-rolling", "-latency=false",
		"-duration", "32s", "-parts", "60", "-browsers", "8", "-gitters", "2", "-think", "300ms")
	cmd.Dir = testenv.ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("load test with a rolling restart: %v\n%s", err, out)
	}
	text := string(out)
	for i := 1; i <= 3; i++ {
		if !strings.Contains(text, fmt.Sprintf("node%d: stopped in", i)) {
			t.Errorf("node%d was not restarted during the load", i)
		}
	}
	if !strings.Contains(text, "Every target met.") {
		t.Errorf("the load test did not meet its targets:\n%s", text)
	}
	if i := strings.Index(text, "### Targets"); i >= 0 {
		t.Logf("%s", text[i:])
	}
}

// TestDeployFiles checks what deploy/ ships for operators with the tools
// that read them: the systemd unit with systemd-analyze verify (its
// ExecStart pointed at the binary under test, the rest as shipped) and
// without a warning, its hardening in place, the sysusers file with
// systemd-sysusers into a scratch root, and the HAProxy configuration with
// haproxy -c (the cluster tests run it for real).
func TestDeployFiles(t *testing.T) {
	testenv.RequireTool(t, "systemd-analyze")
	testenv.RequireTool(t, "systemd-sysusers")
	testenv.RequireTool(t, "haproxy")
	deploy := filepath.Join(testenv.ModuleRoot(t), "deploy")
	unit, err := os.ReadFile(filepath.Join(deploy, "blueprints.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=blueprints", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n", "KillSignal=SIGTERM", "ExecStart=/usr/local/bin/blueprints serve"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("blueprints.service lacks %q", want)
		}
	}
	dir := t.TempDir()
	tested := strings.Replace(string(unit), "ExecStart=/usr/local/bin/blueprints", "ExecStart="+testenv.Binary(t), 1)
	path := filepath.Join(dir, "blueprints.service")
	if err := os.WriteFile(path, []byte(tested), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify blueprints.service: %v\n%s", err, out)
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	out, err = exec.Command("systemd-sysusers", "--root="+root, filepath.Join(deploy, "blueprints.sysusers")).CombinedOutput()
	passwd, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil || !strings.Contains(string(passwd), "blueprints:x:") {
		t.Errorf("systemd-sysusers blueprints.sysusers: %v\n%s\npasswd:\n%s", err, out, passwd)
	}
	cmd := exec.Command("haproxy", "-c", "-f", filepath.Join(deploy, "haproxy.cfg"))
	cmd.Env = append(os.Environ(), "BLUEPRINTS_LISTEN=127.0.0.1:1", "BLUEPRINTS_NODE1=127.0.0.1:2", "BLUEPRINTS_NODE2=127.0.0.1:3", "BLUEPRINTS_NODE3=127.0.0.1:4", "HAPROXY_RUN="+dir, "HAPROXY_LOG=stdout")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("haproxy -c deploy/haproxy.cfg: %v\n%s", err, out)
	}
	env, err := os.ReadFile(filepath.Join(deploy, "blueprints.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	// Every variable in the example is a flag's twin that serve knows.
	help, _ := exec.Command(testenv.Binary(t), "serve", "--help").CombinedOutput()
	for _, line := range strings.Split(string(env), "\n") {
		name, _, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") || !strings.HasPrefix(name, "BLUEPRINTS_") {
			continue
		}
		if !strings.Contains(string(help), name) {
			t.Errorf("blueprints.env.example sets %s, which blueprints serve does not read", name)
		}
	}
}
