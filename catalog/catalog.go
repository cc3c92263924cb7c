// Package catalog turns pushes into searchable parts and projects. A push
// to a project's default branch enqueues a durable job in the metadata
// store (PostReceive); a bounded pool of workers claims jobs, diffs the old
// and new trees with go-git, measures and renders each new STL file version
// once (keyed by git blob id or LFS object id, previews in storage.Blobs),
// reads the project's README, licence and okh.toml manifest, and records
// the result in the store in one transaction per job (parts, blob
// measurements, project metadata, per-file failures), which also logs the
// search documents it changed. Each node's search index follows that log
// (package catalog/follow); the catalog never writes to an index itself.
//
// OpenSCAD sources are built (Deps.SCAD) under a key naming every file
// the build reads: the head's sources, and for commit pages the sources
// each pushed commit changed, before and after it. Pages find a build by
// computing the same key from a commit's files (SourceTree).
//
// Jobs survive a crash, and the death of a node: a worker claims a job
// with a lease it renews while it works (Deps.Node, Deps.Lease); any node
// takes over a job whose lease ran out, and a node takes back its own
// running jobs when it starts. A job can run twice without harm: it
// starts from the commit the store last recorded.
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
	"github.com/blueprints-hq/blueprints/storage"
)

// ZeroID is the commit id git uses for "no commit" in ref updates.
const ZeroID = "0000000000000000000000000000000000000000"

// DefaultPartTimeout is the default time budget of one part: far more
// than the largest part the limits allow takes on a slow machine.
const DefaultPartTimeout = 2 * time.Minute

// PreviewSize is the edge of the preview the catalog renders, in pixels.
const PreviewSize = 512

// Measurer measures a part file (STL, 3MF, OBJ) and draws its preview.
type Measurer interface {
	// Measure reads the part file from r (its kind is told by name's
	// extension, which is also used in errors), returns
	// its measurements and writes a PreviewSize PNG to png. An error means
	// the file itself is bad (it is recorded against the file).
	// For kinds other than STL it also writes the mesh as binary STL to
	// mesh, for the 3D viewer (which loads that one format). It stops
	// once ctx is done: with an error wrapping render.ErrBudget when its
	// deadline (the part's time budget) passed.
	Measure(ctx context.Context, r io.Reader, name string, png, mesh io.Writer) (render.Part, error)
}

// Deps is what the catalog works with.
type Deps struct {
	Store *store.Store
	Blobs storage.Blobs
	// Indexed, when set, is called after each job recorded a change of the
	// catalogue, and returns once this node's search index holds it (the
	// index follower's Sync): a job is done only when it is searchable
	// here. Other nodes' indexes follow within their poll interval.
	Indexed func(ctx context.Context) error
	// Node names this node in job leases; "local" when empty. It must be
	// the same across restarts and differ between nodes sharing a
	// database.
	Node string
	// Lease is how long a claim on a job lasts unless renewed (default
	// 20s; renewed every quarter of it): a dead node's job is taken over
	// by another node this long after its last renewal.
	Lease time.Duration
	// Repos is the folder of bare repositories, {Repos}/{owner}/{name}.git.
	Repos string
	// Measure measures and renders part files.
	Measure Measurer
	// SCAD builds OpenSCAD sources into parts; nil when the server has no
	// openscad program (then .scad files are listed, not built, and the
	// project page says so).
	SCAD *scad.Builder
	// BaseURL is the server's public URL ("http://127.0.0.1:8080"), used
	// in the lines shown to pushers when the push does not name one
	// (repo.Push.BaseURL).
	BaseURL string
	// Jobs is the most jobs run at a time (default 4). Each measures in
	// a slot of its own beside the shared ones (Measures), so one
	// project's thousands of files, or its slow parts, do not hold back
	// another project's push.
	Jobs int
	// PartTimeout is the time budget of one part: reading, measuring and
	// drawing it (default DefaultPartTimeout). A part over it, or over its
	// preview's work budget (render.Limits.MaxOverdraw), fails alone with
	// the reason on the project page, and is not tried again until the
	// part changes (or a reindex).
	PartTimeout time.Duration
	// Measures is the most files one job measures at a time (default
	// GOMAXPROCS). Each running job has one measuring slot of its own and
	// they share Measures-1 more, in turn: a job whose parts take long
	// (up to their budget) slows the others but never stops them.
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
	// Catalogued, when set, is called after a job has catalogued a
	// project (from the worker that ran it: it must not block), e.g. to
	// prepare its print plan.
	Catalogued func(project string)
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

// Done is a catalog job that ended for good.
type Done struct {
	Project string // "owner/name"
	Ref     string // "refs/heads/main"
	Commit  string // the commit catalogued
	Failed  bool   // given up after its retries
	Error   string // why, when Failed
	Stats   Stats  // what it did, when not Failed
}

// OnDone makes f hear about every job that ended for good (webhooks'
// catalog.done, federation's announcements), after the listeners added
// before it. f runs on the worker: it must return quickly. Call it before
// Start.
func (c *Catalog) OnDone(f func(ctx context.Context, d Done)) { c.onDone = append(c.onDone, f) }

// done tells the OnDone listeners, in the order they were added.
func (c *Catalog) done(ctx context.Context, job store.CatalogJob, st Stats, failed bool, msg string) {
	d := Done{Project: job.Project, Ref: job.Ref, Commit: job.New, Failed: failed, Error: msg, Stats: st}
	for _, f := range c.onDone {
		f(ctx, d)
	}
}

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
	onDone   []func(context.Context, Done)
	measures chan struct{} // a slot to measure and render (CPU)
	stores   chan struct{} // a slot to store a measured file's outputs (I/O)
	wake     chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// DefaultLease is how long a node's claim on a job lasts without renewal.
const DefaultLease = 20 * time.Second

// lease is this node's claim on jobs.
func (c *Catalog) lease() store.Lease { return store.Lease{Node: c.d.Node, TTL: c.d.Lease} }

// New checks deps and returns a stopped Catalog.
func New(d Deps) (*Catalog, error) {
	if d.Store == nil || d.Blobs == nil || d.Measure == nil || d.Repos == "" {
		return nil, errors.New("new catalog: store, blobs, measurer and repository folder are all needed")
	}
	if d.Node == "" {
		d.Node = "local"
	}
	if d.Lease <= 0 {
		d.Lease = DefaultLease
	}
	if d.Jobs <= 0 {
		d.Jobs = 4
	}
	if d.PartTimeout <= 0 {
		d.PartTimeout = DefaultPartTimeout
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
		measures: make(chan struct{}, d.Measures-1),
		// Storing waits on the disk (fsync) or the network: with slots
		// of its own, the cores go on measuring meanwhile. Each slot
		// holds one file's outputs in memory.
		stores: make(chan struct{}, 2*d.Measures),
		wake:   make(chan struct{}, 1),
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

// Start requeues the jobs this node was running when it last stopped or
// crashed, queues a job for each project whose catalogue is behind its
// branch (Reconcile) and starts the workers. They run until Stop.
func (c *Catalog) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return errors.New("start catalog: already started")
	}
	n, err := c.d.Store.RequeueRunningCatalogJobs(ctx, c.d.Node)
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
		job, ok, err := c.d.Store.ClaimCatalogJob(ctx, c.lease())
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
	lost := func(err error) bool {
		if errors.Is(err, store.ErrLeaseLost) {
			log.Warn("catalog job taken over by another node (this node's lease ran out); leaving it", "err", err)
			return true
		}
		return false
	}
	if job.Attempts > c.attemptLimit(job) {
		msg := fmt.Sprintf("gave up after %d attempts: %s", job.Attempts-1, job.Error)
		if interruptedOnly(job) {
			msg = fmt.Sprintf("gave up after %d attempts, each cut short by the server stopping or crashing; the next push or restart tries again", job.Attempts-1)
		}
		log.Error("catalog job failed", "err", msg)
		if err := c.d.Store.FinishCatalogJob(bg, job.ID, c.d.Node, msg); err != nil {
			if !lost(err) {
				log.Error("finish catalog job", "err", err)
			}
		} else {
			c.finished(true, 0)
			c.done(bg, job, Stats{}, true, msg)
		}
		return
	}
	start := time.Now()
	// The lease is renewed while the job runs; losing it (this node was
	// too slow to renew, another took the job over) stops the job.
	jctx, cancel := context.WithCancelCause(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		c.renew(jctx, job.ID, cancel)
	}()
	st, err := c.run(jctx, job)
	cause := context.Cause(jctx)
	cancel(nil)
	<-renewed
	if errors.Is(cause, store.ErrLeaseLost) {
		lost(cause)
		return
	}
	if ctx.Err() != nil {
		// Stopping: leave the job for the next start.
		if err := c.d.Store.RetryCatalogJob(bg, job.ID, c.d.Node, interruptedByShutdown); err != nil && !lost(err) {
			log.Error("requeue catalog job", "err", err)
		}
		return
	}
	if err != nil {
		log.Warn("catalog job failed; will retry", "attempt", job.Attempts, "err", err)
		if job.Attempts >= c.d.MaxAttempts {
			if ferr := c.d.Store.FinishCatalogJob(bg, job.ID, c.d.Node, err.Error()); ferr != nil {
				if !lost(ferr) {
					log.Error("finish catalog job", "err", ferr)
				}
			} else {
				c.finished(true, time.Since(start))
				c.done(bg, job, Stats{}, true, err.Error())
			}
			return
		}
		if err := c.d.Store.RetryCatalogJob(bg, job.ID, c.d.Node, err.Error()); err != nil && !lost(err) {
			log.Error("requeue catalog job", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(job.Attempts) * time.Second):
		}
		c.poke()
		return
	}
	if err := c.d.Store.FinishCatalogJob(bg, job.ID, c.d.Node, ""); err != nil {
		if !lost(err) {
			log.Error("finish catalog job", "err", err)
		}
		return
	}
	c.finished(false, time.Since(start))
	c.done(bg, job, st, false, "")
	if c.d.Catalogued != nil {
		c.d.Catalogued(job.Project)
	}
	log.Info("catalogued", "parts", st.Parts, "measured", st.Measured, "failed", st.Failed, "deleted", st.Deleted, "took", time.Since(start).Round(time.Millisecond))
}

// renew extends this node's lease on job every quarter of the lease until
// ctx ends, and cancels the job (with store.ErrLeaseLost) when the lease
// was lost. A renewal that fails for another reason (the database briefly
// away) is tried again at the next tick: the lease still runs.
func (c *Catalog) renew(ctx context.Context, id int64, cancel context.CancelCauseFunc) {
	t := time.NewTicker(c.d.Lease / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.d.Store.RenewCatalogJob(ctx, id, c.lease())
		if errors.Is(err, store.ErrLeaseLost) {
			cancel(err)
			return
		}
		if err != nil && ctx.Err() == nil {
			c.log.Warn("renew catalog job lease", "job", id, "err", err)
		}
	}
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
