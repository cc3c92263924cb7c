// Package catalog turns pushes into searchable parts and projects. A push
// to a project's default branch enqueues a durable job in the metadata
// store (PostReceive); a bounded pool of workers claims jobs, diffs the old
// and new trees with go-git, measures and renders each new STL file version
// once (keyed by git blob id or LFS object id, previews in storage.Blobs),
// reads the project's README, licence and okh.toml manifest, and writes
// parts and projects to the search index in one batch per job and to the
// store (parts, blob measurements, project metadata, per-file failures).
//
// Jobs survive a crash: running jobs found at Start are queued again, and
// a job can run twice without indexing anything twice (document ids are
// derived from project and path; the index is written before the store
// records the catalogued commit).
package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/scad"
	"github.com/blueprints-hq/blueprints/search"
	"github.com/blueprints-hq/blueprints/storage"
)

// ZeroID is the commit id git uses for "no commit" in ref updates.
const ZeroID = "0000000000000000000000000000000000000000"

// PreviewSize is the edge of the preview the catalog renders, in pixels.
const PreviewSize = 512

// Measurer measures a part file (STL, 3MF, OBJ) and draws its preview.
type Measurer interface {
	// Measure reads the part file from r (its kind is told by name's
	// extension, which is also used in errors), returns
	// its measurements and writes a PreviewSize PNG to png. An error means
	// the file itself is bad (it is recorded against the file).
	// For kinds other than STL it also writes the mesh as binary STL to
	// mesh, for the 3D viewer (which loads that one format).
	Measure(r io.Reader, name string, png, mesh io.Writer) (render.Part, error)
}

// Deps is what the catalog works with.
type Deps struct {
	Store *store.Store
	Blobs storage.Blobs
	Index search.Index
	// Repos is the folder of bare repositories, {Repos}/{owner}/{name}.git.
	Repos string
	// Measure measures and renders part files.
	Measure Measurer
	// SCAD builds OpenSCAD sources into parts; nil when the server has no
	// openscad program (then .scad files are listed, not built, and the
	// project page says so).
	SCAD *scad.Builder
	// BaseURL is the server's public URL ("http://127.0.0.1:8080"), used
	// in the lines shown to pushers.
	BaseURL string
	// Jobs is the most jobs run at a time (default 2).
	Jobs int
	// Measures is the most files measured at a time across jobs (default
	// GOMAXPROCS).
	Measures int
	// MaxFiles is the most STL files one job measures (default 20000);
	// files beyond it are reported as failures.
	MaxFiles int
	// MaxHistory is the most commits walked per job to date parts and to
	// measure the parts of intermediate commits (default 200).
	MaxHistory int
	// MaxAttempts is how often a job is tried before it is marked failed
	// (default 3).
	MaxAttempts int
	// Measured, when set, is called after each file version is measured
	// (from several goroutines at once), e.g. for a progress display.
	Measured func(project, path string)
	// Logger receives progress and errors; slog.Default() when nil.
	Logger *slog.Logger
}

// Meter hears about catalog jobs that ended for good: done, or failed
// after their retries (failed true), with how long their last run took
// (zero when the job was given up without running).
type Meter interface {
	JobFinished(failed bool, took time.Duration)
}

// SetMeter makes m hear how each job ends (for metrics). Call it before
// Start.
func (c *Catalog) SetMeter(m Meter) { c.meter = m }

// finished tells the Meter, if any, that a job ended.
func (c *Catalog) finished(failed bool, took time.Duration) {
	if c.meter != nil {
		c.meter.JobFinished(failed, took)
	}
}

// Catalog runs cataloguing jobs. Create it with New, then Start it.
type Catalog struct {
	d        Deps
	log      *slog.Logger
	baseURL  atomic.Pointer[string]
	meter    Meter
	measures chan struct{}
	wake     chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// indexMu serialises index batches with the store update that follows,
	// so two projects' jobs never interleave their writes.
	indexMu sync.Mutex
}

// New checks deps and returns a stopped Catalog.
func New(d Deps) (*Catalog, error) {
	if d.Store == nil || d.Blobs == nil || d.Index == nil || d.Measure == nil || d.Repos == "" {
		return nil, errors.New("new catalog: store, blobs, index, measurer and repository folder are all needed")
	}
	if d.Jobs <= 0 {
		d.Jobs = 2
	}
	if d.Measures <= 0 {
		d.Measures = runtime.GOMAXPROCS(0)
	}
	if d.MaxFiles <= 0 {
		d.MaxFiles = 20000
	}
	if d.MaxHistory <= 0 {
		d.MaxHistory = 200
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 3
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Catalog{
		d:        d,
		log:      log.With("component", "catalog"),
		measures: make(chan struct{}, d.Measures),
		wake:     make(chan struct{}, 1),
	}
	c.SetBaseURL(d.BaseURL)
	return c, nil
}

// SetBaseURL sets the server URL shown to pushers (known once the server
// listens).
func (c *Catalog) SetBaseURL(u string) {
	u = strings.TrimRight(u, "/")
	c.baseURL.Store(&u)
}

// Start requeues jobs a crash left running, queues a job for each project
// whose catalogue is behind its branch (Reconcile) and starts the workers.
// They run until Stop.
func (c *Catalog) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return errors.New("start catalog: already started")
	}
	n, err := c.d.Store.RequeueRunningCatalogJobs(ctx)
	if err != nil {
		return fmt.Errorf("start catalog: %w", err)
	}
	if n > 0 {
		c.log.Info("resuming interrupted catalog jobs", "jobs", n)
	}
	rctx, rcancel := context.WithTimeout(ctx, reconcileTimeout)
	if _, err := c.Reconcile(rctx); err != nil {
		c.log.Error("reconcile catalog with the repositories", "err", err)
	}
	rcancel()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	for i := 0; i < c.d.Jobs; i++ {
		c.wg.Add(1)
		go c.worker(ctx)
	}
	c.poke()
	return nil
}

// Run starts the catalog, waits until ctx ends and stops it: a background
// worker for internal/server.
func (c *Catalog) Run(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	c.Stop()
	return nil
}

// Stop stops the workers and waits for them. A job cut short stays in the
// queue and runs again at the next Start.
func (c *Catalog) Stop() {
	c.mu.Lock()
	cancel := c.cancel
	c.cancel = nil
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	c.wg.Wait()
}

func (c *Catalog) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Catalog) worker(ctx context.Context) {
	defer c.wg.Done()
	for {
		job, ok, err := c.d.Store.ClaimCatalogJob(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Error("claim catalog job", "err", err)
		}
		if ok {
			// Another worker may find more work while this one is busy.
			c.poke()
			c.handle(ctx, job)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-time.After(2 * time.Second):
		}
	}
}

func (c *Catalog) handle(ctx context.Context, job store.CatalogJob) {
	log := c.log.With("job", job.ID, "project", job.Project, "ref", job.Ref, "new", short(job.New))
	// Store updates after the job must happen even while stopping.
	bg := context.WithoutCancel(ctx)
	if job.Attempts > c.attemptLimit(job) {
		msg := fmt.Sprintf("gave up after %d attempts: %s", job.Attempts-1, job.Error)
		if interruptedOnly(job) {
			msg = fmt.Sprintf("gave up after %d attempts, each cut short by the server stopping or crashing; the next push or restart tries again", job.Attempts-1)
		}
		log.Error("catalog job failed", "err", msg)
		if err := c.d.Store.FinishCatalogJob(bg, job.ID, msg); err != nil {
			log.Error("finish catalog job", "err", err)
		} else {
			c.finished(true, 0)
		}
		return
	}
	start := time.Now()
	st, err := c.run(ctx, job)
	if ctx.Err() != nil {
		// Stopping: leave the job for the next start.
		if err := c.d.Store.RetryCatalogJob(bg, job.ID, interruptedByShutdown); err != nil {
			log.Error("requeue catalog job", "err", err)
		}
		return
	}
	if err != nil {
		log.Warn("catalog job failed; will retry", "attempt", job.Attempts, "err", err)
		if job.Attempts >= c.d.MaxAttempts {
			if err := c.d.Store.FinishCatalogJob(bg, job.ID, err.Error()); err != nil {
				log.Error("finish catalog job", "err", err)
			} else {
				c.finished(true, time.Since(start))
			}
			return
		}
		if err := c.d.Store.RetryCatalogJob(bg, job.ID, err.Error()); err != nil {
			log.Error("requeue catalog job", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(job.Attempts) * time.Second):
		}
		c.poke()
		return
	}
	if err := c.d.Store.FinishCatalogJob(bg, job.ID, ""); err != nil {
		log.Error("finish catalog job", "err", err)
		return
	}
	c.finished(false, time.Since(start))
	log.Info("catalogued", "parts", st.Parts, "measured", st.Measured, "failed", st.Failed, "deleted", st.Deleted, "took", time.Since(start).Round(time.Millisecond))
}

// attemptLimit is how many times job may be claimed. Attempts are counted
// when a job is claimed, so that a job which crashes the server is not
// tried forever; a job whose attempts were only ever cut short by the
// server stopping or crashing (it never failed on its own) gets more of
// them, as the crash was most likely not its doing.
func (c *Catalog) attemptLimit(job store.CatalogJob) int {
	if interruptedOnly(job) {
		return max(c.d.MaxAttempts, crashAttempts)
	}
	return c.d.MaxAttempts
}

// crashAttempts is how many times a job cut short only by stops and
// crashes runs.
const crashAttempts = 10

// interruptedByShutdown is the error a job stopped by a graceful shutdown
// is requeued with.
const interruptedByShutdown = "interrupted by shutdown"

// interruptedOnly reports whether every earlier attempt of job was cut
// short (by a crash, leaving no error, or by a shutdown) rather than
// failing.
func interruptedOnly(job store.CatalogJob) bool {
	return job.Error == "" || job.Error == interruptedByShutdown
}

// repoDir is the bare repository of project "owner/name".
func (c *Catalog) repoDir(project string) (string, error) {
	owner, name, ok := strings.Cut(project, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(project, `\`) || strings.Count(project, "/") != 1 ||
		owner == "." || owner == ".." || name == "." || name == ".." {
		return "", fmt.Errorf("bad project name %q", project)
	}
	return filepath.Join(c.d.Repos, owner, name+".git"), nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
