package catalog

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/render"
)

// restart stops the catalog and starts it again, as a server restart does.
func (f *fixture) restart() {
	f.t.Helper()
	f.cat.Stop()
	if err := f.cat.Start(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	f.wait()
}

// A push whose post-receive hook never reached the server (it died after
// git updated the ref) is catalogued when the catalog starts again.
func TestReconcileCataloguesALostPush(t *testing.T) {
	f := newFixture(t)
	f.copy("prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl", "stl/plug-aligner.stl")
	f.commit("first")
	f.push()
	f.copy("prusa3d__Original-Prusa-i3/Printed-Parts/STL/endstop-block.stl", "stl/endstop-block.stl")
	f.commit("second, whose hook is lost")
	testenv.Git(t, f.work, "push", "--quiet", f.bare, "main")
	head := strings.TrimSpace(testenv.Git(t, f.work, "rev-parse", "HEAD"))

	f.restart()
	meta, err := f.st.ProjectMeta(f.ctx, "alice/demo")
	if err != nil {
		t.Fatal(err)
	}
	if meta.LatestCommit != head || meta.Parts != 2 || meta.State != store.JobDone {
		t.Fatalf("after restart: catalogued %s with %d parts (%s), want %s with 2", meta.LatestCommit, meta.Parts, meta.State, head)
	}
	if got := keys(f.indexed()); got != "stl/endstop-block.stl,stl/plug-aligner.stl" {
		t.Fatalf("indexed %s", got)
	}
	// In step now: another start queues nothing.
	f.restart()
	jobs, err := f.st.CatalogJobs(f.ctx, "alice/demo", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("%d jobs after a second restart, want 2 (the push and the catch-up)", len(jobs))
	}
}

// A job cut short by crashes more often than MaxAttempts still runs; one
// that failed on its own that often is given up.
func TestCrashesDoNotUseUpAttempts(t *testing.T) {
	f := newFixture(t)
	f.cat.Stop()
	f.copy("prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl", "stl/plug-aligner.stl")
	f.commit("first")
	testenv.Git(t, f.work, "push", "--quiet", f.bare, "main")
	head := strings.TrimSpace(testenv.Git(t, f.work, "rev-parse", "HEAD"))
	if _, err := f.st.EnqueueCatalogJob(f.ctx, "alice/demo", "refs/heads/main", ZeroID, head, 1); err != nil {
		t.Fatal(err)
	}
	// Three crashes while the job ran: claimed, never finished.
	for range 3 {
		if _, ok, err := f.st.ClaimCatalogJob(f.ctx, store.Lease{Node: "test", TTL: time.Hour}); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if _, err := f.st.RequeueRunningCatalogJobs(f.ctx, "test"); err != nil {
			t.Fatal(err)
		}
	}
	f.restart()
	meta, err := f.st.ProjectMeta(f.ctx, "alice/demo")
	if err != nil {
		t.Fatal(err)
	}
	if meta.State != store.JobDone || meta.LatestCommit != head {
		t.Fatalf("after three crashes: %s at %s (%s), want done at %s", meta.State, meta.LatestCommit, meta.Error, head)
	}

	// A job that failed (not crashed) MaxAttempts times is given up.
	f.cat.Stop()
	id, err := f.st.EnqueueCatalogJob(f.ctx, "alice/demo", "refs/heads/main", head, head, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.st.ClaimCatalogJob(f.ctx, store.Lease{Node: "test", TTL: time.Hour})
		if err := f.st.RetryCatalogJob(f.ctx, id, "test", "read LFS object: blob storage unavailable"); err != nil {
			t.Fatal(err)
		}
	}
	f.restart()
	jobs, err := f.st.CatalogJobs(f.ctx, "alice/demo", 1)
	if err != nil {
		t.Fatal(err)
	}
	if jobs[0].ID != id || jobs[0].State != store.JobFailed || !strings.Contains(jobs[0].Error, "gave up after 3 attempts: read LFS object") {
		t.Fatalf("job failing on its own: %+v", jobs[0])
	}
}

// panicMeasurer is a measurer with a bug that some file triggers.
type panicMeasurer struct{ next Measurer }

func (p panicMeasurer) Measure(ctx context.Context, r io.Reader, name string, png, mesh io.Writer) (render.Part, error) {
	if strings.Contains(name, "trigger") {
		var s []int
		_ = s[len(name)] // index out of range, as a reader bug would
	}
	return p.next.Measure(ctx, r, name, png, mesh)
}

// A measurer that panics on one file fails that file, not the server.
func TestMeasurerPanicFailsTheFileOnly(t *testing.T) {
	f := newFixture(t)
	f.cat.Stop()
	f.cat.d.Measure = panicMeasurer{next: RenderMeasurer{}}
	if err := f.cat.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.copy("prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl", "stl/plug-aligner.stl")
	f.copy("prusa3d__Original-Prusa-i3/Printed-Parts/STL/endstop-block.stl", "stl/trigger.stl")
	f.commit("first")
	f.push()
	if got := keys(f.indexed()); got != "stl/plug-aligner.stl" {
		t.Fatalf("indexed %s", got)
	}
	fails, err := f.st.ProjectFailures(f.ctx, "alice/demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(fails) != 1 || fails[0].Path != "stl/trigger.stl" || !strings.Contains(fails[0].Error, "internal error") {
		t.Fatalf("failures %+v", fails)
	}
}
