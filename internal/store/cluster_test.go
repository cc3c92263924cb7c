package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/render"
)

// TestJobLeases: a job whose node stops renewing is taken over by another
// node, the first node then learns it lost the job (it can neither renew,
// finish nor requeue it), a project's jobs still run one at a time and in
// order, and a restarted node takes back only its own jobs.
func TestJobLeases(t *testing.T) { eachStore(t, testJobLeases) }

func testJobLeases(t *testing.T, dsn string) {
	ctx := context.Background()
	// Two nodes: two stores (two pools) on one database.
	a, b := openTest(t, dsn), openTest(t, dsn)
	la := Lease{Node: "a", TTL: time.Hour}
	lb := Lease{Node: "b", TTL: time.Hour}
	zero := strings.Repeat("0", 40)
	x1, _ := a.EnqueueCatalogJob(ctx, "o/x", "refs/heads/main", zero, strings.Repeat("1", 40), 1)
	x2, _ := a.EnqueueCatalogJob(ctx, "o/x", "refs/heads/main", strings.Repeat("1", 40), strings.Repeat("2", 40), 1)

	j, ok, err := a.ClaimCatalogJob(ctx, Lease{Node: "a", TTL: -time.Second}) // a lease already run out: node a "died"
	if err != nil || !ok || j.ID != x1 || j.Node != "a" {
		t.Fatalf("a's claim: %+v %v %v", j, ok, err)
	}
	// b takes the dead node's job, not the project's next one.
	j, ok, err = b.ClaimCatalogJob(ctx, lb)
	if err != nil || !ok || j.ID != x1 || j.Node != "b" || j.Attempts != 2 {
		t.Fatalf("b's takeover: %+v %v %v; want job %d, attempt 2", j, ok, err, x1)
	}
	// While b's lease lives, nobody gets the project's second job.
	if j, ok, err := a.ClaimCatalogJob(ctx, la); ok || err != nil {
		t.Fatalf("a claimed %+v (%v) while b runs the project's first job", j, err)
	}
	for name, err := range map[string]error{
		"renew":  a.RenewCatalogJob(ctx, x1, la),
		"finish": a.FinishCatalogJob(ctx, x1, "a", ""),
		"retry":  a.RetryCatalogJob(ctx, x1, "a", "boom"),
	} {
		if !errors.Is(err, ErrLeaseLost) {
			t.Errorf("a's %s of the job b took over: %v, want ErrLeaseLost", name, err)
		}
	}
	if err := b.RenewCatalogJob(ctx, x1, lb); err != nil {
		t.Fatalf("b renews: %v", err)
	}
	// a restarts: it takes back nothing of b's.
	if n, err := a.RequeueRunningCatalogJobs(ctx, "a"); err != nil || n != 0 {
		t.Fatalf("a's restart requeued %d (%v), want 0", n, err)
	}
	if err := b.FinishCatalogJob(ctx, x1, "b", ""); err != nil {
		t.Fatal(err)
	}
	j, ok, err = a.ClaimCatalogJob(ctx, la)
	if err != nil || !ok || j.ID != x2 {
		t.Fatalf("next claim %+v %v %v, want job %d", j, ok, err, x2)
	}
	// b restarts: a's live job stays a's.
	if n, err := b.RequeueRunningCatalogJobs(ctx, "b"); err != nil || n != 0 {
		t.Fatalf("b's restart requeued %d (%v), want 0", n, err)
	}
	if err := a.RetryCatalogJob(ctx, x2, "a", "storage down"); err != nil {
		t.Fatal(err)
	}
	if j, ok, _ := b.ClaimCatalogJob(ctx, lb); !ok || j.ID != x2 || j.Error != "storage down" {
		t.Fatalf("retried job: %+v %v", j, ok)
	}
}

// TestClaimsAcrossNodes: many workers on three nodes claim at once; each
// job is claimed exactly once and no project ever has two jobs running.
func TestClaimsAcrossNodes(t *testing.T) { eachStore(t, testClaimsAcrossNodes) }

func testClaimsAcrossNodes(t *testing.T, dsn string) {
	ctx := context.Background()
	nodes := []*Store{openTest(t, dsn), openTest(t, dsn), openTest(t, dsn)}
	zero := strings.Repeat("0", 40)
	const projects, perProject = 6, 4
	for i := range perProject {
		for p := range projects {
			if _, err := nodes[0].EnqueueCatalogJob(ctx, fmt.Sprintf("o/p%d", p), "refs/heads/main", zero, fmt.Sprintf("%040d", i+1), 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	running := map[string]bool{}
	order := map[string][]string{}
	claims := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 9 {
		st := nodes[w%3]
		l := Lease{Node: fmt.Sprintf("n%d", w%3), TTL: time.Hour}
		wg.Go(func() {
			for idle := 0; idle < 50; {
				j, ok, err := st.ClaimCatalogJob(ctx, l)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					idle++
					time.Sleep(2 * time.Millisecond)
					continue
				}
				mu.Lock()
				if running[j.Project] {
					t.Errorf("two jobs of %s run at once", j.Project)
				}
				running[j.Project] = true
				claims[j.ID]++
				order[j.Project] = append(order[j.Project], j.New)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				running[j.Project] = false
				mu.Unlock()
				if err := st.FinishCatalogJob(ctx, j.ID, l.Node, ""); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(claims) != projects*perProject {
		t.Fatalf("%d jobs claimed, want %d", len(claims), projects*perProject)
	}
	for id, n := range claims {
		if n != 1 {
			t.Errorf("job %d claimed %d times", id, n)
		}
	}
	for p, news := range order {
		if !slices.IsSorted(news) {
			t.Errorf("%s's jobs ran out of order: %v", p, news)
		}
	}
}

// TestIndexLog: every catalogue change logs the documents it touches, in
// order, compacted by document; a metadata change that part documents
// carry logs every part; the log's id stays with the database.
func TestIndexLog(t *testing.T) { eachStore(t, testIndexLog) }

func testIndexLog(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	id, head, err := s.IndexLog(ctx)
	if err != nil || id == 0 || head != 0 {
		t.Fatalf("new log: id %d head %d %v", id, head, err)
	}
	part := func(path string) Part { return Part{Path: path, Blob: "b-" + path, Ref: "main", Commit: "c1"} }
	meta := ProjectMeta{Project: "o/x", Ref: "main", License: "MIT"}
	if err := s.ApplyCatalog(ctx, meta, []Part{part("a.stl"), part("b.stl")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyCatalog(ctx, ProjectMeta{Project: "o/y", Ref: "main"}, []Part{part("c.stl")}, nil); err != nil {
		t.Fatal(err)
	}
	// Same licence, one part replaced by another: b.stl deleted, d.stl new.
	if err := s.ApplyCatalog(ctx, meta, []Part{part("d.stl")}, []string{"b.stl"}); err != nil {
		t.Fatal(err)
	}
	changes := func(after int64) string {
		t.Helper()
		cs, err := s.IndexChanges(ctx, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		last := after
		for _, c := range cs {
			if c.Seq <= last {
				t.Fatalf("sequence numbers out of order: %v", cs)
			}
			last = c.Seq
			out = append(out, c.Project+":"+c.Path)
		}
		return strings.Join(out, " ")
	}
	// o/x's first change moved on: only a.stl stays where it was.
	if got, want := changes(0), "o/x:a.stl o/y: o/y:c.stl o/x: o/x:d.stl o/x:b.stl"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
	_, head, _ = s.IndexLog(ctx)
	// A new licence: every part document of the project changes.
	meta.License = "CERN-OHL-S-2.0"
	if err := s.ApplyCatalog(ctx, meta, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := changes(head), "o/x: o/x:a.stl o/x:d.stl"; got != want {
		t.Errorf("after a licence change: %q, want %q", got, want)
	}
	v1, _ := s.CatalogVersion(ctx)
	if err := s.ClearProjectCatalog(ctx, "o/y"); err != nil {
		t.Fatal(err)
	}
	v2, _ := s.CatalogVersion(ctx)
	if v1 == v2 {
		t.Errorf("catalog version %q unchanged by clearing a project", v1)
	}
	if got := changes(head + 3); got != "o/y: o/y:c.stl" {
		t.Errorf("after clearing o/y: %q", got)
	}
	got, err := s.CataloguedParts(ctx, "o/x", []string{"a.stl", "b.stl", "d.stl"})
	if err != nil || len(got) != 2 || got["a.stl"].Blob != "b-a.stl" || got["d.stl"].Path != "d.stl" {
		t.Errorf("CataloguedParts = %v, %v", got, err)
	}
	s2 := openTest(t, dsn)
	if id2, _, _ := s2.IndexLog(ctx); id2 != id {
		t.Errorf("log id changed from %d to %d on reopening", id, id2)
	}
}

// TestIndexLogOrderUnderConcurrency: writers on several nodes log at
// once; a reader that follows the log never sees a sequence number
// appear below one it has already passed.
func TestIndexLogOrderUnderConcurrency(t *testing.T) {
	eachStore(t, testIndexLogOrderUnderConcurrency)
}

func testIndexLogOrderUnderConcurrency(t *testing.T, dsn string) {
	ctx := context.Background()
	nodes := []*Store{openTest(t, dsn), openTest(t, dsn), openTest(t, dsn)}
	const writers, rounds = 6, 15
	if err := nodes[0].PutBlobPart(ctx, BlobPart{Blob: "b", Part: &render.Part{Triangles: 1}}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	seen := map[string]int64{} // document → last sequence number seen
	var readErr error
	done := make(chan struct{})
	go func() {
		// Follow the log as a node's follower does, until told to stop and
		// then until it is drained.
		defer close(done)
		var pos int64
		stopping := false
		for {
			select {
			case <-stop:
				stopping = true
			default:
			}
			cs, err := nodes[1].IndexChanges(ctx, pos, 50)
			if err != nil {
				readErr = err
				return
			}
			for _, c := range cs {
				seen[c.Project+":"+c.Path] = c.Seq
				pos = c.Seq
			}
			if stopping && len(cs) == 0 {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		st := nodes[w%3]
		wg.Go(func() {
			for r := range rounds {
				meta := ProjectMeta{Project: fmt.Sprintf("o/p%d", w), Ref: "main"}
				if err := st.ApplyCatalog(ctx, meta, []Part{{Path: fmt.Sprintf("r%d.stl", r), Blob: "b", Ref: "main", Commit: "c"}}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-done
	if readErr != nil {
		t.Fatal(readErr)
	}
	all, err := nodes[2].IndexChanges(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*(rounds+1) {
		t.Fatalf("log holds %d documents, want %d", len(all), writers*(rounds+1))
	}
	for _, c := range all {
		if got := seen[c.Project+":"+c.Path]; got != c.Seq {
			t.Errorf("follower saw %s:%s at %d, the log has it at %d: a change was skipped", c.Project, c.Path, got, c.Seq)
		}
	}
}

// TestLocks: a named lock is held by one holder at a time, across nodes;
// a waiter gets it when the holder releases it, or gives up with its
// context; on PostgreSQL a holder that dies (its connections close) frees
// the lock at once.
func TestLocks(t *testing.T) { eachStore(t, testLocks) }

func testLocks(t *testing.T, dsn string) {
	ctx := context.Background()
	a := openTest(t, dsn)
	b := a
	if a.Shared() {
		b = openTest(t, dsn) // another node
	}
	unlock, err := a.Lock(ctx, "push alice/x")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.TryLock(ctx, "push alice/x"); ok || err != nil {
		t.Fatalf("second holder of one lock: %v %v", ok, err)
	}
	other, ok, err := b.TryLock(ctx, "push alice/y")
	if !ok || err != nil {
		t.Fatalf("another name's lock: %v %v", ok, err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := b.Lock(short, "push alice/x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past the deadline: %v", err)
	}
	cancel()
	got := make(chan error, 1)
	go func() {
		u, err := b.Lock(ctx, "push alice/x")
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("the waiter got the lock while it was held (%v)", err)
	default:
	}
	unlock()
	unlock() // twice is harmless
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if !a.Shared() {
		return
	}
	// A node dies holding a lock: its sessions end, the lock is free.
	c := openTest(t, dsn)
	if _, err := c.Lock(ctx, "push alice/x"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	u, err := b.Lock(ctx, "push alice/x")
	if err != nil {
		t.Fatalf("lock of a closed node: %v", err)
	}
	u()
}

func TestRebind(t *testing.T) {
	d := dialect{name: Postgres}
	for in, want := range map[string]string{
		`SELECT a FROM t WHERE x = ? AND y IN (?, ?)`:           `SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)`,
		`SELECT '?' || ?, "we?ird" FROM t -- why?` + "\n" + `?`: `SELECT '?' || $1, "we?ird" FROM t -- why?` + "\n" + `$2`,
		`SELECT 'it''s ?', ?`:                                   `SELECT 'it''s ?', $1`,
		`SELECT 1`:                                              `SELECT 1`,
	} {
		if got := d.rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (dialect{name: SQLite}).rebind(`x = ?`); got != `x = ?` {
		t.Errorf("SQLite rebind changed the query: %q", got)
	}
}

func TestTranslateDDL(t *testing.T) {
	d := dialect{name: Postgres}
	got, err := d.translateDDL("001_x.sql", "-- INTEGER in a comment\nCREATE TABLE t (\n\tid INTEGER PRIMARY KEY,\n\tname TEXT NOT NULL UNIQUE COLLATE NOCASE, -- case\n\tblob BLOB,\n\tn INTEGER NOT NULL DEFAULT 0\n);")
	want := "\nCREATE TABLE t (\n\tid BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n\tname CITEXT NOT NULL UNIQUE, \n\tblob BYTEA,\n\tn BIGINT NOT NULL DEFAULT 0\n);"
	if err != nil || got != want {
		t.Errorf("translateDDL = %q, %v\nwant %q", got, err, want)
	}
	for _, bad := range []string{"INSERT OR IGNORE INTO t VALUES (1)", "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)", "CREATE INDEX i ON t (name COLLATE NOCASE)", "SELECT datetime('now')"} {
		if _, err := d.translateDDL("002_y.sql", bad); err == nil || !strings.Contains(err.Error(), "002_y.postgres.sql") {
			t.Errorf("translateDDL(%q): %v, want a refusal naming the twin file", bad, err)
		}
	}
}
