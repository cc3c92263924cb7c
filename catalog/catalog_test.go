package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/catalog/follow"
	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/search"
	"github.com/blueprints-hq/blueprints/storage"
)

// fixture is a catalog over a real bare repository that a real git client
// pushes into (directly, without the server).
type fixture struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	blobs *storage.FS
	idx   *search.Bleve
	fol   *follow.Follower
	cat   *Catalog
	bare  string
	work  string
	head  string
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, nil) }

// newFixtureWith is newFixture with the catalog's Deps changed by change.
func newFixtureWith(t *testing.T, change func(*Deps)) *fixture {
	testenv.RequireTool(t, "git")
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := storage.NewFS(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := search.Open(filepath.Join(dir, "index.bleve"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	repos := filepath.Join(dir, "repos")
	bare := filepath.Join(repos, "alice", "demo.git")
	testenv.Git(t, "", "init", "--quiet", "--bare", "-b", "main", bare)
	p, err := st.CreateProject(ctx, "alice", "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetDefaultBranch(ctx, p.ID, "main"); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	testenv.Git(t, work, "init", "--quiet", "-b", "main")
	fol, err := follow.New(follow.Config{Store: st, Index: idx, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stopFollowing := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() { fol.Run(fctx); close(followed) }()
	t.Cleanup(func() { stopFollowing(); <-followed })
	deps := Deps{Store: st, Blobs: blobs, Indexed: fol.Sync, Node: "test", Repos: repos, Measure: RenderMeasurer{}, BaseURL: "http://example.test"}
	if change != nil {
		change(&deps)
	}
	cat, err := New(deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Stop)
	return &fixture{t: t, ctx: ctx, st: st, blobs: blobs, idx: idx, fol: fol, cat: cat, bare: bare, work: work, head: ZeroID}
}

func (f *fixture) copy(src, dst string) {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "corpus", src))
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(dst, data)
}

func (f *fixture) write(dst string, data []byte) {
	f.t.Helper()
	p := filepath.Join(f.work, dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// commit commits everything in the work tree.
func (f *fixture) commit(msg string) {
	f.t.Helper()
	testenv.Git(f.t, f.work, "add", "-A")
	testenv.Git(f.t, f.work, "commit", "--quiet", "-m", msg)
}

// push pushes main, queues the job the hook would queue, and waits until
// the catalog is idle.
func (f *fixture) push() {
	f.t.Helper()
	f.pushNoWait()
	f.wait()
}

// pushNoWait pushes main and queues the job the hook would queue.
func (f *fixture) pushNoWait() {
	f.t.Helper()
	testenv.Git(f.t, f.work, "push", "--quiet", "--force", f.bare, "main")
	head := strings.TrimSpace(testenv.Git(f.t, f.work, "rev-parse", "HEAD"))
	if _, err := f.st.EnqueueCatalogJob(f.ctx, "alice/demo", "refs/heads/main", f.head, head, 0); err != nil {
		f.t.Fatal(err)
	}
	f.head = head
	f.cat.poke()
}

func (f *fixture) wait() {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		n, err := f.st.PendingCatalogJobs(f.ctx, "")
		if err != nil {
			f.t.Fatal(err)
		}
		if pos, head := f.fol.Progress(); n == 0 && pos == head && f.fol.Ready() {
			// The index may lag a catalogue change by one poll: compare
			// with the log itself.
			if _, logHead, err := f.st.IndexLog(f.ctx); err == nil && logHead == pos {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("catalog jobs still pending, or the index behind the catalogue, after 60 s")
}

// indexed returns the indexed part paths of alice/demo and their docs.
func (f *fixture) indexed() map[string]search.Doc {
	f.t.Helper()
	res, err := f.idx.Search(f.ctx, search.Query{Project: "alice/demo", Kind: search.KindPart, PerPage: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]search.Doc{}
	for _, h := range res.Hits {
		out[h.Path] = h.Doc
	}
	if int(res.Total) != len(out) {
		f.t.Fatalf("total %d but %d distinct paths", res.Total, len(out))
	}
	return out
}

func keys[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestCatalogPushesRenamesDeletesAndFailures(t *testing.T) {
	f := newFixture(t)
	f.copy("prusa3d__Original-Prusa-i3/LICENSE", "LICENSE")
	f.copy("prusa3d__Original-Prusa-i3/README.excerpt.md", "README.md")
	f.copy("prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl", "stl/plug-aligner.stl")
	f.copy("prusa3d__Original-Prusa-i3/Printed-Parts/STL/endstop-block.stl", "stl/endstop-block.stl")
	f.copy("prusa3d__Original-Prusa-i3/Printed-Parts/STL/y-belt-idler.stl", "stl/y-belt-idler.STL")
	f.copy("uwo-fast__OpenAgriS3D/src/plant-pot/tests/pot_wall_snap.stl", "stl/pot_wall_snap.stl")
	f.write("stl/broken.stl", []byte("solid broken\n  facet normal 0 0 1\n    outer loop\n      vertex 0 0 0\n      vertex nonsense\n"))
	f.write("notes.txt", []byte("not a part"))
	f.commit("first")
	f.push()

	got := f.indexed()
	if want := "stl/endstop-block.stl,stl/plug-aligner.stl,stl/pot_wall_snap.stl,stl/y-belt-idler.STL"; keys(got) != want {
		t.Fatalf("indexed %s, want %s", keys(got), want)
	}
	d := got["stl/y-belt-idler.STL"]
	if d.Name != "y-belt-idler" || d.License != "GPL-2.0-only" || d.Ref != "main" || d.Commit != f.head || d.Part == nil || d.Part.Triangles == 0 {
		t.Errorf("doc %+v", d)
	}
	if _, err := f.blobs.Stat(f.ctx, "previews/"+d.Part.SHA256+"/512.png"); err != nil {
		t.Errorf("preview: %v", err)
	}
	fails, err := f.st.ProjectFailures(f.ctx, "alice/demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(fails) != 1 || fails[0].Path != "stl/broken.stl" || !strings.Contains(fails[0].Error, "broken.stl") {
		t.Errorf("failures %+v", fails)
	}
	meta, err := f.st.ProjectMeta(f.ctx, "alice/demo")
	if err != nil {
		t.Fatal(err)
	}
	if meta.Title != "Original Prusa i3 MK3S" || meta.License != "GPL-2.0-only" || meta.State != store.JobDone || meta.Parts != 4 || meta.Failed != 1 || meta.LatestCommit != f.head {
		t.Errorf("meta %+v", meta)
	}
	proj, err := f.idx.Search(f.ctx, search.Query{Kind: search.KindProject, Project: "alice/demo"})
	if err != nil || len(proj.Hits) != 1 || proj.Hits[0].Parts != 4 || proj.Hits[0].Name != "Original Prusa i3 MK3S" {
		t.Fatalf("project doc: %+v %v", proj.Hits, err)
	}
	keptUpdated := got["stl/pot_wall_snap.stl"].Updated
	keptCommit := got["stl/pot_wall_snap.stl"].Commit

	// Rename one, change one, delete one, fix the broken one, across two
	// commits in one push.
	time.Sleep(1100 * time.Millisecond) // commit times have one-second resolution
	os.MkdirAll(filepath.Join(f.work, "parts"), 0o755)
	testenv.Git(t, f.work, "mv", "stl/plug-aligner.stl", "parts/plug_aligner_v2.stl")
	f.commit("rename")
	firstOfPush := strings.TrimSpace(testenv.Git(t, f.work, "rev-parse", "HEAD"))
	f.copy("prusa3d__Original-Prusa-i3/Printed-Parts/STL/fs-cover-mmu2s.stl", "stl/endstop-block.stl")
	testenv.Git(t, f.work, "rm", "--quiet", "stl/y-belt-idler.STL")
	testenv.Git(t, f.work, "rm", "--quiet", "stl/broken.stl")
	f.write("okh.toml", []byte("name = \"Prusa\"\nlicense = \n"))
	f.commit("change and delete")
	f.push()
	meta, err = f.st.ProjectMeta(f.ctx, "alice/demo")
	if err != nil || meta.License != "GPL-2.0-only" || len(meta.Problems) != 1 || !strings.Contains(meta.Problems[0], "okh.toml: line 2") {
		t.Errorf("malformed manifest: meta %+v, %v", meta, err)
	}

	got = f.indexed()
	if want := "parts/plug_aligner_v2.stl,stl/endstop-block.stl,stl/pot_wall_snap.stl"; keys(got) != want {
		t.Fatalf("after second push indexed %s, want %s", keys(got), want)
	}
	if got["parts/plug_aligner_v2.stl"].Commit != firstOfPush {
		t.Errorf("renamed part dated by %s, want the commit that renamed it %s", got["parts/plug_aligner_v2.stl"].Commit, firstOfPush)
	}
	if got["stl/endstop-block.stl"].Part.Format != "binary" || got["stl/endstop-block.stl"].Commit != f.head {
		t.Errorf("changed part not re-measured: %+v", got["stl/endstop-block.stl"])
	}
	if p := got["stl/pot_wall_snap.stl"]; !p.Updated.Equal(keptUpdated) || p.Commit != keptCommit {
		t.Errorf("unchanged part was re-dated: %v %s, want %v %s", p.Updated, p.Commit, keptUpdated, keptCommit)
	}
	fails, _ = f.st.ProjectFailures(f.ctx, "alice/demo")
	if len(fails) != 0 {
		t.Errorf("failures after the fix: %+v", fails)
	}
	// The intermediate commit's versions are measured too.
	mid := strings.TrimSpace(testenv.Git(t, f.work, "rev-parse", firstOfPush+":stl/endstop-block.stl"))
	if bp, err := f.st.BlobPart(f.ctx, mid); err != nil || bp.Part == nil {
		t.Errorf("blob of the intermediate commit: %+v %v", bp, err)
	}

	// A job that runs again (as after a crash) changes nothing.
	before, _ := f.idx.Count()
	if _, err := f.st.EnqueueCatalogJob(f.ctx, "alice/demo", "refs/heads/main", ZeroID, f.head, 0); err != nil {
		t.Fatal(err)
	}
	f.cat.poke()
	f.wait()
	after, _ := f.idx.Count()
	if before != after || keys(f.indexed()) != "parts/plug_aligner_v2.stl,stl/endstop-block.stl,stl/pot_wall_snap.stl" {
		t.Errorf("re-run: %d docs before, %d after; %s", before, after, keys(f.indexed()))
	}

	// Deleting the branch empties the catalogue of the project.
	if _, err := f.st.EnqueueCatalogJob(f.ctx, "alice/demo", "refs/heads/main", f.head, ZeroID, 0); err != nil {
		t.Fatal(err)
	}
	f.cat.poke()
	f.wait()
	if got := f.indexed(); len(got) != 0 {
		t.Errorf("after branch deletion: %s", keys(got))
	}
}

func TestCatalogLFSAndSharedBlobs(t *testing.T) {
	f := newFixture(t)
	var stl bytes.Buffer
	if err := stlgen.WriteTorus(&stl, 2000, false); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stl.Bytes())
	oid := hex.EncodeToString(sum[:])
	if err := f.blobs.Put(f.ctx, lfs.BlobKey(oid), bytes.NewReader(stl.Bytes()), int64(stl.Len())); err != nil {
		t.Fatal(err)
	}
	proj, err := f.st.ProjectByName(f.ctx, "alice", "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.AddLFSObject(f.ctx, proj.ID, oid, int64(stl.Len())); err != nil {
		t.Fatal(err)
	}
	// Another project's object, in storage but not owned by this one: the
	// catalog reads LFS content only through the ownership check.
	var other bytes.Buffer
	stlgen.WriteTorus(&other, 700, false)
	otherSum := sha256.Sum256(other.Bytes())
	otherOID := hex.EncodeToString(otherSum[:])
	if err := f.blobs.Put(f.ctx, lfs.BlobKey(otherOID), bytes.NewReader(other.Bytes()), int64(other.Len())); err != nil {
		t.Fatal(err)
	}
	f.write("lfs/torus.stl", lfs.Pointer{OID: oid, Size: int64(stl.Len())}.Encode())
	f.write("plain/torus.stl", stl.Bytes())
	missing := strings.Repeat("ab", 32)
	f.write("lfs/missing.stl", lfs.Pointer{OID: missing, Size: 100}.Encode())
	f.write("lfs/not_ours.stl", lfs.Pointer{OID: otherOID, Size: int64(other.Len())}.Encode())
	f.commit("lfs")
	f.push()
	got := f.indexed()
	if keys(got) != "lfs/torus.stl,plain/torus.stl" {
		t.Fatalf("indexed %s", keys(got))
	}
	if got["lfs/torus.stl"].Blob != oid || got["lfs/torus.stl"].Part.SHA256 != oid || got["lfs/torus.stl"].Part.Triangles != got["plain/torus.stl"].Part.Triangles {
		t.Errorf("LFS part %+v", got["lfs/torus.stl"])
	}
	fails, _ := f.st.ProjectFailures(f.ctx, "alice/demo")
	if len(fails) != 2 || fails[0].Path != "lfs/missing.stl" || !strings.Contains(fails[0].Error, "LFS object") ||
		fails[1].Path != "lfs/not_ours.stl" || !strings.Contains(fails[1].Error, "is not on the server") {
		t.Errorf("failures %+v", fails)
	}
	// A missing object is not remembered as a bad file.
	for _, id := range []string{missing, otherOID} {
		if _, err := f.st.BlobPart(f.ctx, id); err == nil {
			t.Errorf("LFS object %s the project cannot read cached in blob_parts", id)
		}
	}
	var previews int
	f.blobs.List(f.ctx, "previews/", func(storage.Info) error { previews++; return nil })
	if previews != 1 {
		t.Errorf("%d previews for one content, want 1", previews)
	}
}

func TestPostReceiveLines(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		var b bytes.Buffer
		stlgen.WriteTorus(&b, 200+i*50, false)
		f.write(fmt.Sprintf("p%d.stl", i), b.Bytes())
	}
	f.commit("three")
	testenv.Git(t, f.work, "push", "--quiet", f.bare, "main", "main:refs/heads/other")
	head := strings.TrimSpace(testenv.Git(t, f.work, "rev-parse", "HEAD"))
	lines := f.cat.PostReceive(f.ctx, pushOf(f.bare, head))
	if len(lines) != 2 || lines[0] != "Blueprints: 3 parts queued for cataloguing" || lines[1] != "see http://example.test/alice/demo" {
		t.Fatalf("lines %q", lines)
	}
	f.wait()
	if n, _ := f.st.PendingCatalogJobs(f.ctx, ""); n != 0 {
		t.Fatalf("pending %d", n)
	}
	jobs, _ := f.st.CatalogJobs(f.ctx, "alice/demo", 10)
	if len(jobs) != 1 || jobs[0].State != store.JobDone {
		t.Errorf("jobs %+v (only the default branch is catalogued)", jobs)
	}
	if got := f.indexed(); len(got) != 3 {
		t.Errorf("indexed %s", keys(got))
	}
}

func pushOf(dir, head string) repo.Push {
	return repo.Push{
		Owner: "alice", Project: "demo", Pusher: "alice", DefaultBranch: "main", Dir: dir,
		Updates: []repo.RefUpdate{
			{Old: ZeroID, New: head, Ref: "refs/heads/main"},
			{Old: ZeroID, New: head, Ref: "refs/heads/other"},
		},
	}
}

// gatedBlobs holds every preview Put until open is closed.
type gatedBlobs struct {
	storage.Blobs
	open chan struct{}
}

func (g *gatedBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.HasPrefix(key, "previews/") {
		<-g.open
	}
	return g.Blobs.Put(ctx, key, r, size)
}

// countingMeasurer closes done after its n-th measure.
type countingMeasurer struct {
	Measurer
	n    atomic.Int32
	at   int32
	done chan struct{}
}

func (m *countingMeasurer) Measure(ctx context.Context, r io.Reader, name string, png, mesh io.Writer) (render.Part, error) {
	p, err := m.Measurer.Measure(ctx, r, name, png, mesh)
	if m.n.Add(1) == m.at {
		close(m.done)
	}
	return p, err
}

// Storing a preview waits on the disk (an fsync) or the network: the one
// measuring slot goes on to the next parts meanwhile, so the cores are not
// left idle, and what waits to be stored stays bounded.
func TestCatalogMeasuresWhileStoring(t *testing.T) {
	gate := &gatedBlobs{open: make(chan struct{})}
	measured := &countingMeasurer{Measurer: RenderMeasurer{}, at: 3, done: make(chan struct{})}
	f := newFixtureWith(t, func(d *Deps) {
		gate.Blobs = d.Blobs
		d.Blobs = gate
		d.Measure = measured
		d.Measures = 1 // two store slots
	})
	for i := range 4 {
		var stl bytes.Buffer
		stlgen.WriteTorus(&stl, 200+100*i, false)
		f.write(fmt.Sprintf("part %d.stl", i), stl.Bytes())
	}
	f.commit("four parts")
	f.pushNoWait()
	select {
	case <-measured.done:
	case <-time.After(60 * time.Second):
		close(gate.open)
		t.Fatalf("%d parts measured in 60 s while the first preview could not be stored: measuring waits for storing", measured.n.Load())
	}
	// Two outputs wait in the store slots and the third part holds the
	// measuring slot until one frees: the fourth is not measured yet.
	time.Sleep(200 * time.Millisecond)
	if n := measured.n.Load(); n != 3 {
		t.Errorf("%d parts measured while no preview could be stored; want 3 (one measuring slot, two store slots)", n)
	}
	close(gate.open)
	f.wait()
	if got := f.indexed(); len(got) != 4 {
		t.Fatalf("indexed %s, want all four parts", keys(got))
	}
}
