package follow

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/search"
)

func openIndex(t *testing.T) *search.Bleve {
	t.Helper()
	idx, err := search.Open(filepath.Join(t.TempDir(), "index.bleve"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	return idx
}

// docs lists the index's documents as "id license".
func docs(t *testing.T, idx search.Index) string {
	t.Helper()
	res, err := idx.Search(context.Background(), search.Query{PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range res.Hits {
		out = append(out, h.ID+" "+h.License)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// TestFollowerAppliesTheLog: the index holds what the catalogue holds,
// through additions, failures, deletions and a licence change; a new
// index built from the database at any batch size ends up the same, and
// answers searches only once it has caught up.
func TestFollowerAppliesTheLog(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, b := range []string{"b1", "b2"} {
		if err := st.PutBlobPart(ctx, store.BlobPart{Blob: b, Part: &render.Part{Triangles: 12, Volume: 1}, Preview: "previews/" + b}); err != nil {
			t.Fatal(err)
		}
	}
	// Documents exist only for projects in the store (the follower
	// stamps each with its project's visibility).
	if _, err := st.CreateProject(ctx, "o", "cart"); err != nil {
		t.Fatal(err)
	}
	meta := store.ProjectMeta{Project: "o/cart", Title: "Cart", Ref: "main", License: "MIT", LatestAt: time.Now()}
	part := func(path, blob, errText string) store.Part {
		return store.Part{Path: path, Blob: blob, Ref: "main", Commit: "c1", Error: errText}
	}
	idx := openIndex(t)
	f, err := New(Config{Store: st, Index: idx})
	if err != nil {
		t.Fatal(err)
	}
	step := func() {
		t.Helper()
		if _, err := f.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.ApplyCatalog(ctx, meta, []store.Part{part("axle.stl", "b1", ""), part("wheel.stl", "b2", ""), part("bad.stl", "b3", "not an STL file")}, nil); err != nil {
		t.Fatal(err)
	}
	step()
	if got, want := docs(t, idx), "part:o/cart:axle.stl MIT, part:o/cart:wheel.stl MIT, project:o/cart MIT"; got != want {
		t.Errorf("after the first job: %s, want %s", got, want)
	}
	// wheel.stl goes, the licence changes: every part document changes.
	meta.License = "CERN-OHL-S-2.0"
	if err := st.ApplyCatalog(ctx, meta, nil, []string{"wheel.stl"}); err != nil {
		t.Fatal(err)
	}
	step()
	if got, want := docs(t, idx), "part:o/cart:axle.stl CERN-OHL-S-2.0, project:o/cart CERN-OHL-S-2.0"; got != want {
		t.Errorf("after the second job: %s, want %s", got, want)
	}
	_, head, _ := st.IndexLog(ctx)
	if pos, _ := f.Progress(); pos != head {
		t.Errorf("index at %d, log at %d", pos, head)
	}
	res, _ := idx.Search(ctx, search.Query{Kind: search.KindProject})
	if len(res.Hits) != 1 || res.Hits[0].Parts != 1 || res.Hits[0].Name != "Cart" {
		t.Errorf("project document: %+v", res.Hits)
	}

	// A node with an empty index, reading one change at a time.
	fresh := openIndex(t)
	g, err := New(Config{Store: st, Index: fresh, Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	gated := g.Searcher(fresh)
	if _, err := gated.Search(ctx, search.Query{}); !errors.Is(err, search.ErrCatchingUp) {
		t.Fatalf("search before catching up: %v, want ErrCatchingUp", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { g.Run(runCtx); close(done) }()
	for deadline := time.Now().Add(30 * time.Second); !g.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the new index did not catch up")
		}
	}
	stop()
	<-done
	if pos, _ := g.Progress(); pos != head {
		t.Errorf("the new index is ready at %d, the log ends at %d", pos, head)
	}
	if got, want := docs(t, gated), docs(t, idx); got != want {
		t.Errorf("the new index holds %s, the first %s", got, want)
	}

	// A first catch-up that writes CompactAfter documents or more leaves
	// the index in one segment, and says so; one that writes fewer does
	// not compact.
	for _, after := range []int64{1, 1000} {
		var logged strings.Builder
		h := openIndex(t)
		c, err := New(Config{Store: st, Index: h, Batch: 1, CompactAfter: after, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		compacted := strings.Contains(logged.String(), "search index compacted")
		if n, _ := h.Segments(); after == 1 && (n != 1 || !compacted) {
			t.Errorf("CompactAfter 1: %d segments, logged %q", n, logged.String())
		}
		if after == 1000 && compacted {
			t.Errorf("CompactAfter 1000 compacted %d documents: %s", c.applied.Load(), logged.String())
		}
		if got, want := docs(t, h), docs(t, idx); got != want {
			t.Errorf("CompactAfter %d: the index holds %s, the first %s", after, got, want)
		}
	}

	// Sync waits for this node's index to hold the latest change.
	if err := st.ApplyCatalog(ctx, meta, []store.Part{part("wheel.stl", "b2", "")}, nil); err != nil {
		t.Fatal(err)
	}
	runCtx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { f.Run(runCtx); close(done) }()
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(docs(t, idx), "part:o/cart:wheel.stl") {
		t.Errorf("after Sync, wheel.stl is not searchable: %s", docs(t, idx))
	}
	stop()
	<-done

	// An index that followed another database does not belong here.
	other, err := store.Open(ctx, filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := Check(ctx, other, idx); !errors.Is(err, ErrOtherLog) {
		t.Errorf("index of another database: %v, want ErrOtherLog", err)
	}
	if err := Check(ctx, other, openIndex(t)); err != nil {
		t.Errorf("a new index belongs to any database: %v", err)
	}
}

// TestFollowerStampsVisibility: making a project private (or deleting
// it) reaches the index through the log: its documents are then found
// only by scopes that name it.
func TestFollowerStampsVisibility(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.PutBlobPart(ctx, store.BlobPart{Blob: "b1", Part: &render.Part{Triangles: 12, Volume: 1}, Preview: "previews/b1"})
	p, err := st.CreateProject(ctx, "Olivia", "rover")
	if err != nil {
		t.Fatal(err)
	}
	meta := store.ProjectMeta{Project: "Olivia/rover", Title: "Rover", Ref: "main", License: "MIT", LatestAt: time.Now()}
	if err := st.ApplyCatalog(ctx, meta, []store.Part{{Path: "gearbox.stl", Blob: "b1", Ref: "main", Commit: "c1"}}, nil); err != nil {
		t.Fatal(err)
	}
	idx := openIndex(t)
	f, err := New(Config{Store: st, Index: idx})
	if err != nil {
		t.Fatal(err)
	}
	count := func(scope search.Scope) uint64 {
		t.Helper()
		if _, err := f.Step(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := idx.Search(ctx, search.Query{Text: "gearbox", Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		return res.Total
	}
	if n := count(search.Scope{}); n != 1 {
		t.Fatalf("public part: %d hits for anyone, want 1", n)
	}
	if err := st.SetVisibility(ctx, p.ID, store.Private); err != nil {
		t.Fatal(err)
	}
	if n := count(search.Scope{}); n != 0 {
		t.Errorf("private part: %d hits for anyone, want 0", n)
	}
	if n := count(search.NewScope(false, []string{"olivia"}, nil)); n != 1 {
		t.Errorf("private part: %d hits for its owner, want 1", n)
	}
	if _, err := st.RenameProject(ctx, p.ID, "Olivia", "lander"); err != nil {
		t.Fatal(err)
	}
	if n := count(search.NewScope(true, nil, nil)); n != 1 {
		t.Errorf("after a rename: %d documents, want 1 (the old name's gone)", n)
	}
	if _, err := st.DeleteProjectAll(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(search.NewScope(true, nil, nil)); n != 0 {
		t.Errorf("after delete: %d documents, want 0", n)
	}
}
