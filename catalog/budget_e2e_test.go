package catalog_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/ui/api"
)

func overlapping(t *testing.T, n int, distinct bool) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := stlgen.WriteOverlapping(&b, n, distinct); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pushWork commits the files into a new repository and pushes it to
// maker/project, returning the commit.
func pushWork(t *testing.T, srv *testenv.Server, token, project string, files map[string][]byte) string {
	t.Helper()
	work := t.TempDir()
	testenv.Git(t, work, "init", "--quiet", "-b", "main")
	for p, data := range files {
		writeFile(t, filepath.Join(work, p), data)
	}
	head := commitAll(t, work, project)
	testenv.Git(t, work, "push", "--quiet", srv.Remote("maker", token, "maker", project), "main")
	return head
}

func failure(d api.ProjectDetail, path string) string {
	for _, f := range d.Catalog.Failures {
		if f.Path == path {
			return f.Error
		}
	}
	return ""
}

// TestPartBudgets pushes, beside ordinary parts, files that cost a naive
// previewer facets × pixels: 2,000 overlapping facets each covering half
// the picture (100 KB; it took 11.5 s to draw), and 400,000 copies of one
// such facet. The first fails alone, within its work budget, saying why;
// the copies are dropped as exact duplicates and the file is catalogued
// with its preview; the ordinary parts, and another project pushed just
// after, are catalogued beside them. A job run again (as after a crash)
// measures nothing: the failure is remembered, not tried again.
func TestPartBudgets(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: the real binary")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "maker")
	head := pushWork(t, srv, token, "mixed", map[string][]byte{
		"bad/overlap_2000.stl":  overlapping(t, 2000, true),
		"bad/copies_400k.stl":   overlapping(t, 400_000, false),
		"good/ring_small.stl":   torus(t, 600),
		"good/ring_medium.stl":  torus(t, 5000),
		"good/ring_large.stl":   torus(t, 40_000),
		"README.md":             []byte("# Mixed\n"),
		"docs/why_this_exists":  []byte("hostile parts beside good ones\n"),
		"good/more/ring_ok.stl": torus(t, 900),
	})
	other := pushWork(t, srv, token, "other", map[string][]byte{"ring.stl": torus(t, 1200)})

	d := waitCatalogued(t, srv, "maker/mixed", head)
	if msg := failure(d, "bad/overlap_2000.stl"); !strings.Contains(msg, "overlap_2000.stl: no preview: its 2000 facets overlap so much") || !strings.Contains(msg, "budget") {
		t.Errorf("2,000 overlapping facets: failure %q, want the preview's work budget named", msg)
	}
	if len(d.Catalog.Failures) != 1 {
		t.Errorf("failures %+v, want the overlapping file alone", d.Catalog.Failures)
	}
	parts := map[string]api.Part{}
	for _, p := range d.Parts {
		parts[p.Path] = p
	}
	for _, p := range []string{"good/ring_small.stl", "good/ring_medium.stl", "good/ring_large.stl", "good/more/ring_ok.stl"} {
		if parts[p].Part == nil {
			t.Errorf("%s not catalogued beside the hostile files: %+v", p, parts[p])
		}
	}
	if c := parts["bad/copies_400k.stl"]; c.Part == nil || c.Triangles != 400_000 || c.PreviewURL == "" {
		t.Errorf("400,000 copies of one facet: %+v, want measured and previewed", c)
	}
	// The API's preview URL is absolute.
	if code, _ := fetchStatus(t, parts["bad/copies_400k.stl"].PreviewURL); code != http.StatusOK {
		t.Errorf("preview of the copies: %d", code)
	}
	waitCatalogued(t, srv, "maker/other", other)

	// The same job again, as a crash would leave it: nothing to measure.
	st, err := store.Open(context.Background(), filepath.Join(srv.Data, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before := strings.Count(srv.Log(), "msg=catalogued")
	if _, err := st.EnqueueCatalogJob(context.Background(), "maker/mixed", "refs/heads/main", catalog.ZeroID, head, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for strings.Count(srv.Log(), "msg=catalogued") == before {
		if time.Now().After(deadline) {
			t.Fatalf("the job run again never ended:\n%s", srv.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	lines := strings.Split(srv.Log(), "\n")
	var last string
	for _, l := range lines {
		if strings.Contains(l, "msg=catalogued") && strings.Contains(l, "project=maker/mixed") {
			last = l
		}
	}
	if !strings.Contains(last, "measured=0") || !strings.Contains(last, "failed=1") {
		t.Errorf("the job run again: %s\nwant nothing measured (the failure remembered)", last)
	}
}

func fetchStatus(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	return res.StatusCode, res.Header.Get("Content-Type")
}

// TestPartTimeBudget: with a preview work budget too large to stop it, a
// part of 20,000 facets that each cover half the picture would take
// minutes to draw; within a time budget of 10 s (some hundred times what a
// small part needs, even on a machine busy with other work) it fails
// alone, with the time budget named, beside a small part that fits.
func TestPartTimeBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: the real binary")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--part-timeout", "10s", "--preview-budget", "1000000000"}})
	token := srv.AddUser(t, "maker")
	head := pushWork(t, srv, token, "long", map[string][]byte{
		"overlap_20000.stl": overlapping(t, 20_000, true),
		"tiny.stl":          []byte("solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n"),
	})
	d := waitCatalogued(t, srv, "maker/long", head)
	if msg := failure(d, "overlap_20000.stl"); !strings.Contains(msg, "overlap_20000.stl: not measured: it takes longer than this server's time budget for one part") {
		t.Errorf("20,000 overlapping facets in 10 s: failure %q", msg)
	}
	if len(d.Parts) != 1 || d.Parts[0].Path != "tiny.stl" || d.Parts[0].Part == nil {
		t.Errorf("parts %+v, want tiny.stl catalogued", d.Parts)
	}
}

// TestSlowPartsHoldNoOneBack: a project whose parts each take minutes to
// draw (80,000 overlapping facets, with a preview budget large enough to
// let them, one per measuring slot) does not hold back another project's
// push: its small part is catalogued while the slow parts are still being
// drawn. SIGTERM then stops the server within its shutdown timeout: the
// drawing is cancelled, and the job is left for the next start, not
// recorded as failed.
func TestSlowPartsHoldNoOneBack(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: the real binary")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--preview-budget", "1000000000", "--shutdown-timeout", "10s"}})
	token := srv.AddUser(t, "maker")
	slow := map[string][]byte{}
	// One per measuring slot (GOMAXPROCS), so that without a slot of its
	// own the other job would wait; at most 8, to keep the push small on
	// a big machine (where the test then shows less).
	for i := range min(max(2, runtime.NumCPU()), 8) {
		data := overlapping(t, 80_000, true)
		copy(data, fmt.Sprintf("slow part %d", i)) // distinct files, distinct blobs
		slow[fmt.Sprintf("overlap_%d.stl", i)] = data
	}
	pushWork(t, srv, token, "slow", slow)
	deadline := time.Now().Add(time.Minute)
	for {
		var d api.ProjectDetail
		getJSON(t, srv.URL+"/api/v1/projects/maker/slow", &d)
		if d.Catalog.State == "running" {
			break
		}
		if d.Catalog.State == "done" {
			t.Fatalf("the slow parts were drawn before the test could go on: %+v", d.Catalog)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never ran: %+v", d.Catalog)
		}
		time.Sleep(20 * time.Millisecond)
	}
	other := pushWork(t, srv, token, "other", map[string][]byte{"ring.stl": torus(t, 1200)})
	if d := waitCatalogued(t, srv, "maker/other", other); len(d.Parts) != 1 || d.Parts[0].Part == nil {
		t.Errorf("the other project's part: %+v", d.Parts)
	}
	var d api.ProjectDetail
	getJSON(t, srv.URL+"/api/v1/projects/maker/slow", &d)
	if d.Catalog.State != "running" {
		t.Fatalf("the slow project is %q, want still running (the test shows nothing then)", d.Catalog.State)
	}

	// The shutdown timeout is 10 s; 15 s only proves it does not hang.
	if !srv.Terminate(t, 15*time.Second) {
		t.Fatalf("SIGTERM during a part's drawing: the server did not stop within its shutdown timeout\n%s", srv.Log())
	}
	if !strings.Contains(srv.Log(), "msg=stopped") {
		t.Errorf("the server did not log its stop:\n%s", srv.Log())
	}
	st, err := store.Open(context.Background(), filepath.Join(srv.Data, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fails, _ := st.ProjectFailures(context.Background(), "maker/slow")
	jobs, _ := st.CatalogJobs(context.Background(), "maker/slow", 10)
	if len(fails) != 0 || len(jobs) != 1 || jobs[0].State != store.JobQueued {
		t.Errorf("after the stop: failures %+v, jobs %+v; want the job queued again, nothing failed\n%s", fails, jobs, srv.Log())
	}
}
