// Package metrics is Blueprints' Prometheus instrumentation. New builds one
// registry per server (never the global one) with the Go and process
// collectors and every blueprints_* series; the server, repo, catalog, lfs,
// storage and blob cache packages feed it through small methods
// (ObserveRequest, Pushed, JobFinished, LFSBytes, BlobCacheRead, Blobs),
// and Handler serves it as /metrics in the Prometheus text format. The catalog queue gauges are read
// from the metadata store at scrape time, so they never drift from it.
package metrics

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/version"
)

// Push results, the values of blueprints_git_pushes_total's result label.
const (
	PushOK       = "ok"       // the refs were updated
	PushRejected = "rejected" // refused: no right to push, or a pre-receive check said no
	PushError    = "error"    // git or the server failed
)

// Catalog job results, the values of blueprints_catalog_jobs_total's
// result label.
const (
	JobDone   = "done"
	JobFailed = "failed"
)

// LFS transfer directions, the values of blueprints_lfs_bytes_total's
// direction label.
const (
	LFSIn  = "in"  // uploads received
	LFSOut = "out" // downloads sent through the server
)

// requestBuckets cover 1 ms to 10 s, with a bound at 200 ms (the page and
// search latency target).
var requestBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10}

// jobBuckets cover a catalog job of one small part to one of thousands.
var jobBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Metrics holds the registry and the series the server's packages update.
// Its methods are safe for concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	reg           *prometheus.Registry
	log           *slog.Logger
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	pushes        *prometheus.CounterVec
	jobs          *prometheus.CounterVec
	jobDuration   prometheus.Histogram
	scadRuns      *prometheus.CounterVec
	storageErrors *prometheus.CounterVec
	lfsBytes      *prometheus.CounterVec
	blobCache     *prometheus.CounterVec
}

// Options configure New.
type Options struct {
	// Store, when set, is read at every scrape for blueprints_catalog_jobs
	// (queued, running and failed catalog jobs).
	Store *store.Store
	// Logger receives scrape errors; slog.Default() when nil.
	Logger *slog.Logger
	// Build names the binary in blueprints_build_info (version, commit,
	// Go version); the zero Info leaves the series out.
	Build version.Info
}

// New returns Metrics on a new registry holding the Go and process
// collectors and every blueprints_* series, each label value that is known
// in advance already at zero (so rates work from the first scrape).
func New(opt Options) *Metrics {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blueprints_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "blueprints_http_request_duration_seconds",
			Help:    "Time from routing an HTTP request to its handler's return (for git and LFS transfers: the whole transfer), by route template and method.",
			Buckets: requestBuckets,
		}, []string{"route", "method"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blueprints_git_pushes_total",
			Help: "Git pushes, by result: ok (refs updated), rejected (no right to push, or refused by a check), error (git or the server failed).",
		}, []string{"result"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blueprints_catalog_jobs_total",
			Help: "Catalog jobs finished, by result: done, or failed for good after their retries.",
		}, []string{"result"}),
		jobDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "blueprints_catalog_job_duration_seconds",
			Help:    "Time the last run of each finished catalog job took.",
			Buckets: jobBuckets,
		}),
		scadRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blueprints_openscad_runs_total",
			Help: "Runs of the openscad program building .scad sources, by result: built (a 3D mesh), skipped (modules only, or 2D), failed (OpenSCAD reported an error), timeout (killed at --scad-timeout).",
		}, []string{"result"}),
		storageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blueprints_storage_errors_total",
			Help: "Blob storage operations that failed (a missing blob, or a caller that gave up, is not a failure), by operation.",
		}, []string{"op"}),
		lfsBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blueprints_lfs_bytes_total",
			Help: "Git LFS object bytes received by the LFS API in uploads (in) and sent by it in downloads (out); presigned downloads go straight to S3 and are not counted.",
		}, []string{"direction"}),
		blobCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blueprints_blob_cache_reads_total",
			Help: "Ranged reads of big git blobs (raw/ from the first mebibyte on) through the cache of inflated blobs, by result: hit (read from its copy), fill (the blob was inflated into a new copy).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.pushes, m.jobs, m.jobDuration, m.storageErrors, m.lfsBytes, m.scadRuns, m.blobCache,
	)
	if opt.Store != nil {
		m.reg.MustRegister(&queueCollector{store: opt.Store})
	}
	if opt.Build.Version != "" {
		build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "blueprints_build_info",
			Help: "Always 1; its labels name the running binary: module version, commit and Go version.",
		}, []string{"version", "commit", "goversion"})
		build.WithLabelValues(opt.Build.Version, opt.Build.ShortCommit(), opt.Build.GoVersion).Set(1)
		m.reg.MustRegister(build)
	}
	for _, r := range []string{PushOK, PushRejected, PushError} {
		m.pushes.WithLabelValues(r)
	}
	for _, r := range []string{JobDone, JobFailed} {
		m.jobs.WithLabelValues(r)
	}
	for _, r := range []string{"built", "skipped", "failed", "timeout"} {
		m.scadRuns.WithLabelValues(r)
	}
	for _, op := range storageOps {
		m.storageErrors.WithLabelValues(op)
	}
	for _, d := range []string{LFSIn, LFSOut} {
		m.lfsBytes.WithLabelValues(d)
	}
	for _, r := range []string{"hit", "fill"} {
		m.blobCache.WithLabelValues(r)
	}
	return m
}

// Registry is the registry the series live in (for tests and for adding
// collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest records one answered HTTP request. route is the route
// template ("/:owner/:project", never the raw path) or "unmatched".
func (m *Metrics) ObserveRequest(route, method string, code int, took time.Duration) {
	if m == nil {
		return
	}
	method = knownMethod(method)
	m.requests.WithLabelValues(route, method, statusText(code)).Inc()
	m.latency.WithLabelValues(route, method).Observe(took.Seconds())
}

// knownMethod keeps the method label's values bounded: anything but the
// standard methods is "other".
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodOptions:
		return m
	}
	return "other"
}

// statusText is the code label: the common codes without an allocation.
func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 206:
		return "206"
	case 304:
		return "304"
	case 400:
		return "400"
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	case 500:
		return "500"
	case 503:
		return "503"
	}
	return strconv.Itoa(code)
}

// Pushed records one push with its result: PushOK, PushRejected or
// PushError.
func (m *Metrics) Pushed(result string) {
	if m == nil {
		return
	}
	m.pushes.WithLabelValues(result).Inc()
}

// SCADRun counts one run of openscad by its result (scad.RunBuilt…).
func (m *Metrics) SCADRun(result string) {
	if m == nil {
		return
	}
	m.scadRuns.WithLabelValues(result).Inc()
}

// BlobCacheRead counts one read through the cache of inflated git blobs
// by its result: "hit" or "fill" (blobcache.Hit, blobcache.Fill).
func (m *Metrics) BlobCacheRead(result string) {
	if m == nil {
		return
	}
	m.blobCache.WithLabelValues(result).Inc()
}

// JobFinished records a catalog job that ended for good: done, or failed
// after its retries (failed true). took is how long its last run took;
// zero when the job was given up without running, and then no duration
// is recorded.
func (m *Metrics) JobFinished(failed bool, took time.Duration) {
	if m == nil {
		return
	}
	result := JobDone
	if failed {
		result = JobFailed
	}
	m.jobs.WithLabelValues(result).Inc()
	if took > 0 {
		m.jobDuration.Observe(took.Seconds())
	}
}

// LFSBytes records n bytes of LFS objects moved in direction LFSIn or
// LFSOut.
func (m *Metrics) LFSBytes(direction string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.lfsBytes.WithLabelValues(direction).Add(float64(n))
}

// Handler serves the registry in the Prometheus text format. When token is
// not empty, a request must carry "Authorization: Bearer TOKEN" or gets
// 401; when it is empty, anyone may read the metrics.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// One failing collector (the store, say) must not hide the rest.
		ErrorHandling:       promhttp.ContinueOnError,
		ErrorLog:            slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Authorized(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="blueprints metrics"`)
			http.Error(w, "metrics need the bearer token set with --metrics-token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Authorized reports whether r carries "Authorization: Bearer token"
// (compared in constant time); never for an empty token.
func Authorized(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) == 1
}

// queueCollector reports the catalog queue from the store at scrape time.
type queueCollector struct {
	store *store.Store
}

var queueDesc = prometheus.NewDesc("blueprints_catalog_jobs",
	"Catalog jobs in the queue by state: queued, running, or failed (kept for inspection).", []string{"state"}, nil)

// queueStates are the states reported; done jobs are history, not queue.
var queueStates = []string{store.JobQueued, store.JobRunning, store.JobFailed}

// Describe implements prometheus.Collector.
func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

// Collect implements prometheus.Collector.
func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := q.counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		return
	}
	for _, s := range queueStates {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(counts[s]), s)
	}
}

// counts reads the number of catalog jobs in each queue state.
func (q *queueCollector) counts(ctx context.Context) (map[string]int, error) {
	return q.store.CatalogJobCounts(ctx)
}

// IndexProgress is what WatchIndex asks of a node's index follower
// (catalog/follow): how far its index is in the store's change log, and
// where the log ended when last read.
type IndexProgress interface {
	Progress() (position, head int64)
}

// WatchIndex reports a node's search index against the store's change
// log: blueprints_index_position (the last change applied) and
// blueprints_index_log_head (the log's last change, as the follower last
// read it). Their difference is how far the node's searches lag the
// catalogue.
func (m *Metrics) WatchIndex(p IndexProgress) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "blueprints_index_position",
			Help: "Sequence number of the last catalogue change this node's search index applied.",
		}, func() float64 { pos, _ := p.Progress(); return float64(pos) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "blueprints_index_log_head",
			Help: "Sequence number of the last catalogue change in the store's change log, as this node's index follower last read it.",
		}, func() float64 { _, head := p.Progress(); return float64(head) }),
	)
}
