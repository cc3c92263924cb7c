package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/render"
)

// testLease is a node's lease that lasts the whole test.
var testLease = Lease{Node: "node-a", TTL: time.Hour}

func TestCatalogQueue(t *testing.T) { eachStore(t, testCatalogQueue) }

func testCatalogQueue(t *testing.T, dsn string) {
	ctx := context.Background()
	s, path := openTest(t, dsn), dsn
	zero := "0000000000000000000000000000000000000000"
	a1, _ := s.EnqueueCatalogJob(ctx, "a/x", "refs/heads/main", zero, "1111111111111111111111111111111111111111", 3)
	a2, _ := s.EnqueueCatalogJob(ctx, "a/x", "refs/heads/main", "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222", 1)
	b1, _ := s.EnqueueCatalogJob(ctx, "b/y", "refs/heads/main", zero, "3333333333333333333333333333333333333333", 2)

	// Concurrent claims take each claimable job once; a project's second
	// job waits for its first.
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, ok, err := s.ClaimCatalogJob(ctx, testLease)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				claimed[j.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != 2 || claimed[a1] != 1 || claimed[b1] != 1 {
		t.Fatalf("claimed %v, want %d and %d once each", claimed, a1, b1)
	}
	m, err := s.ProjectMeta(ctx, "a/x")
	if err != nil || m.State != JobRunning || m.PendingJobs != 2 {
		t.Fatalf("meta %+v %v", m, err)
	}

	// A crash: reopen, running jobs come back.
	s.Close()
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, err := s2.RequeueRunningCatalogJobs(ctx, testLease.Node); err != nil || n != 2 {
		t.Fatalf("requeued %d, %v", n, err)
	}
	j, ok, _ := s2.ClaimCatalogJob(ctx, testLease)
	if !ok || j.ID != a1 || j.Attempts != 2 {
		t.Fatalf("claim after restart: %+v %v", j, ok)
	}
	if err := s2.FinishCatalogJob(ctx, a1, testLease.Node, ""); err != nil {
		t.Fatal(err)
	}
	j, ok, _ = s2.ClaimCatalogJob(ctx, testLease)
	if !ok || j.ID != a2 {
		t.Fatalf("next claim %+v %v, want job %d", j, ok, a2)
	}
	if err := s2.FinishCatalogJob(ctx, a2, testLease.Node, "boom"); err != nil {
		t.Fatal(err)
	}
	m, _ = s2.ProjectMeta(ctx, "a/x")
	if m.State != JobFailed || m.Error != "boom" || m.Queued != 1 {
		t.Errorf("meta after failure %+v", m)
	}
}

func TestCatalogParts(t *testing.T) { eachStore(t, testCatalogParts) }

func testCatalogParts(t *testing.T, dsn string) {
	ctx := context.Background()
	s, _ := openTest(t, dsn), dsn
	part := &render.Part{Triangles: 12, Format: "binary", Size: [3]float64{1, 2, 3}, SHA256: "ab"}
	if err := s.PutBlobPart(ctx, BlobPart{Blob: "b1", Part: part, Preview: "previews/ab/512.png"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlobPart(ctx, BlobPart{Blob: "b2", Error: "bad.stl: line 3: want vertex"}); err != nil {
		t.Fatal(err)
	}
	meta := ProjectMeta{Project: "a/x", Title: "X", License: "MIT", Tags: []string{"farm"}, Ref: "main", LatestCommit: "c1", ReadmeWords: "A knitting machine for bulky yarn."}
	err := s.ApplyCatalog(ctx, meta, []Part{
		{Path: "good.stl", Blob: "b1", Ref: "main", Commit: "c1"},
		{Path: "bad.stl", Blob: "b2", Ref: "main", Commit: "c1", Error: "bad.stl: line 3: want vertex"},
		{Path: "gone.stl", Blob: "b1", Ref: "main", Commit: "c1"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyCatalog(ctx, meta, nil, []string{"gone.stl"}); err != nil {
		t.Fatal(err)
	}
	parts, err := s.ProjectParts(ctx, "a/x")
	if err != nil || len(parts) != 2 || parts[1].Path != "good.stl" || parts[1].Measure == nil || parts[1].Measure.Triangles != 12 || parts[1].Preview == "" {
		t.Fatalf("parts %+v %v", parts, err)
	}
	fails, _ := s.ProjectFailures(ctx, "a/x")
	if len(fails) != 1 || fails[0].Path != "bad.stl" {
		t.Errorf("failures %+v", fails)
	}
	m, _ := s.ProjectMeta(ctx, "a/x")
	if m.Parts != 1 || m.Failed != 1 || m.License != "MIT" || len(m.Tags) != 1 || m.Title != "X" {
		t.Errorf("meta %+v", m)
	}
	got, err := s.BlobParts(ctx, []string{"b1", "b2", "b3"})
	if err != nil || len(got) != 2 || got["b2"].Error == "" || got["b1"].Part.Size[2] != 3 {
		t.Errorf("blob parts %+v %v", got, err)
	}
	// The README's words are kept for the index, not read with the rest.
	if words, err := s.ProjectReadmeWords(ctx, "a/x"); err != nil || words != meta.ReadmeWords {
		t.Errorf("README words %q, %v", words, err)
	}
	if m.ReadmeWords != "" {
		t.Errorf("ProjectMeta reads the README words back")
	}
	if _, err := s.ProjectReadmeWords(ctx, "a/none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("README words of a project never catalogued: %v", err)
	}
}

// TestPartsWithBlob checks the "same file used in" look-up, and that it
// reads the parts table through its blob index rather than scanning it.
func TestPartsWithBlob(t *testing.T) { eachStore(t, testPartsWithBlob) }

func testPartsWithBlob(t *testing.T, dsn string) {
	ctx := context.Background()
	s, _ := openTest(t, dsn), dsn
	for _, p := range []struct{ project, path, blob, err string }{
		{"b/y", "z.stl", "shared", ""},
		{"a/x", "idler.stl", "shared", ""},
		{"a/x", "copy/idler.stl", "shared", ""},
		{"a/x", "broken.stl", "shared", "cannot read"},
		{"c/z", "other.stl", "other", ""},
	} {
		meta := ProjectMeta{Project: p.project, Ref: "main"}
		if err := s.ApplyCatalog(ctx, meta, []Part{{Path: p.path, Blob: p.blob, Ref: "main", Commit: "c1", Error: p.err}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.PartsWithBlob(ctx, "shared", 10)
	if err != nil {
		t.Fatal(err)
	}
	var where []string
	for _, p := range got {
		where = append(where, p.Project+":"+p.Path)
	}
	if want := "a/x:copy/idler.stl a/x:idler.stl b/y:z.stl"; strings.Join(where, " ") != want {
		t.Errorf("PartsWithBlob = %v, want %s", where, want)
	}
	if got, _ := s.PartsWithBlob(ctx, "shared", 1); len(got) != 1 {
		t.Errorf("limit 1 gave %d", len(got))
	}
	if s.Dialect() != SQLite {
		return // PostgreSQL plans a table this small as a scan
	}
	var plan strings.Builder
	rows, err := s.DB.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT project, path, ref FROM parts WHERE blob = ? AND error = '' ORDER BY project, path LIMIT ?`, "shared", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	if !strings.Contains(plan.String(), "parts_blob") {
		t.Errorf("the look-up does not use the blob index:\n%s", plan.String())
	}
}

// TestProjectPart finds one part by path without listing the project.
func TestProjectPart(t *testing.T) { eachStore(t, testProjectPart) }

func testProjectPart(t *testing.T, dsn string) {
	ctx := context.Background()
	s, _ := openTest(t, dsn), dsn
	part := &render.Part{Triangles: 12, Format: "binary"}
	if err := s.PutBlobPart(ctx, BlobPart{Blob: "b1", Part: part, Preview: "previews/ab/512.png"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyCatalog(ctx, ProjectMeta{Project: "a/x", Ref: "main"}, []Part{{Path: "dir/idler.stl", Blob: "b1", Ref: "main", Commit: "c1"}}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.ProjectPart(ctx, "a/x", "dir/idler.stl")
	if err != nil || got.Measure == nil || got.Measure.Triangles != 12 || got.Preview == "" || got.Blob != "b1" {
		t.Fatalf("ProjectPart = %+v, %v", got, err)
	}
	if _, err := s.ProjectPart(ctx, "a/x", "idler.stl"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing part: %v, want ErrNotFound", err)
	}
}

// TestCatalogSummaries covers what pages and metrics read about the whole
// catalogue: job counts by state, a version that moves with each change,
// and the cover part of a project.
func TestCatalogSummaries(t *testing.T) { eachStore(t, testCatalogSummaries) }

func testCatalogSummaries(t *testing.T, dsn string) {
	ctx := context.Background()
	s, _ := openTest(t, dsn), dsn
	zero := "0000000000000000000000000000000000000000"
	s.EnqueueCatalogJob(ctx, "a/x", "refs/heads/main", zero, "1111111111111111111111111111111111111111", 1)
	s.EnqueueCatalogJob(ctx, "b/y", "refs/heads/main", zero, "2222222222222222222222222222222222222222", 1)
	if _, ok, err := s.ClaimCatalogJob(ctx, testLease); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	counts, err := s.CatalogJobCounts(ctx)
	if err != nil || counts[JobQueued] != 1 || counts[JobRunning] != 1 || counts[JobFailed] != 0 {
		t.Errorf("CatalogJobCounts = %v, %v; want one queued, one running", counts, err)
	}

	before, err := s.CatalogVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for blob, volume := range map[string]float64{"small": 10, "big": 900, "unseen": 5000} {
		preview := "previews/" + blob + "/512.png"
		if blob == "unseen" {
			preview = "" // no preview: never the cover
		}
		if err := s.PutBlobPart(ctx, BlobPart{Blob: blob, Part: &render.Part{Volume: volume}, Preview: preview}); err != nil {
			t.Fatal(err)
		}
	}
	if p, path, err := s.CoverPart(ctx, "a/x"); p != "" || path != "" || err != nil {
		t.Errorf("cover of an empty project = %q %q %v", p, path, err)
	}
	err = s.ApplyCatalog(ctx, ProjectMeta{Project: "a/x", Ref: "main"}, []Part{
		{Path: "a.stl", Blob: "small", Ref: "main", Commit: "c1"},
		{Path: "b.stl", Blob: "big", Ref: "main", Commit: "c1"},
		{Path: "c.stl", Blob: "unseen", Ref: "main", Commit: "c1"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.CatalogVersion(ctx)
	if err != nil || after == before {
		t.Errorf("CatalogVersion %q before and %q after a change (%v)", before, after, err)
	}
	if p, path, err := s.CoverPart(ctx, "a/x"); p != "previews/big/512.png" || path != "b.stl" || err != nil {
		t.Errorf("CoverPart = %q %q %v; want the big part", p, path, err)
	}

	pv, err := s.ProjectsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProject(ctx, "alice", "cart"); err != nil {
		t.Fatal(err)
	}
	if pv2, err := s.ProjectsVersion(ctx); err != nil || pv2 == pv {
		t.Errorf("ProjectsVersion %q before and %q after a new project (%v)", pv, pv2, err)
	}
}
