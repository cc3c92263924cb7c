package store

// The catalog's part of the store (migration 002_catalog.sql).
//
// Writers: the catalog (package catalog) enqueues a job per update of a
// project's default branch (EnqueueCatalogJob), workers claim jobs
// atomically with a lease (ClaimCatalogJob) that they renew while they
// work (RenewCatalogJob), record measurements by blob (PutBlobPart) and
// replace a project's parts and metadata in one transaction that also
// logs the search documents it changes (ApplyCatalog; see indexlog.go),
// then finish the job (FinishCatalogJob). A job whose node died is taken
// over by any node once its lease has run out; at start, a node takes
// back at once the jobs it was running itself (RequeueRunningCatalogJobs).
//
// Readers (API and pages): ProjectMeta (title, description, licence,
// category, tags, latest commit, catalog state with counts), ProjectParts
// (the parts on the default branch with their measurements),
// ProjectFailures (files that could not be catalogued, and why),
// BlobPart/BlobParts (the measurements of any catalogued file version, by
// git blob id or LFS object id, for commit pages). Project rows themselves
// (owner, name, default branch) come from projects.go.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/render"
)

// Catalog job states, also used for a project's catalog state.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// CatalogJob is one queued update of a project's default branch.
type CatalogJob struct {
	ID         int64
	Project    string // "owner/name"
	Ref        string // "refs/heads/main"
	Old, New   string // commit ids; 40 zeros for "none"
	State      string
	Attempts   int
	Error      string
	CreatedAt  time.Time
	StartedAt  time.Time // zero until claimed
	FinishedAt time.Time // zero until done or failed
	Node       string    // the node that claimed it last
}

// Lease is how a node claims catalog jobs: under its name, for TTL unless
// renewed.
type Lease struct {
	Node string
	TTL  time.Duration
}

// ErrLeaseLost is returned when a node renews, finishes or requeues a job
// that is no longer its own: its lease ran out and another node took the
// job over.
var ErrLeaseLost = errors.New("job lease lost to another node")

// BlobPart is what measuring one file version gave: its measurements and
// preview key, or the reason it could not be measured.
type BlobPart struct {
	Blob    string       `json:"blob"`           // git blob id, or LFS object id
	Part    *render.Part `json:"part,omitempty"` // nil when Error is set
	Preview string       `json:"preview,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// Part is one STL file on a project's default branch.
type Part struct {
	Project string    `json:"project"`
	Path    string    `json:"path"`
	Blob    string    `json:"blob"`
	Ref     string    `json:"ref"`     // branch name
	Commit  string    `json:"commit"`  // last commit that changed the file
	Updated time.Time `json:"updated"` // that commit's time
	Error   string    `json:"error,omitempty"`
}

// CataloguedPart is a Part with its measurements (nil when it failed).
type CataloguedPart struct {
	Part
	Measure *render.Part `json:"part,omitempty"`
	Preview string       `json:"preview,omitempty"`
}

// PartFailure is a file that could not be catalogued.
type PartFailure struct {
	Path  string `json:"path"`
	Blob  string `json:"blob"`
	Error string `json:"error"`
}

// ProjectMeta is what the catalog knows about a project.
type ProjectMeta struct {
	Project       string    `json:"project"`
	Title         string    `json:"title"`
	Description   string    `json:"description"`
	License       string    `json:"license"` // SPDX id or "none"
	Category      string    `json:"category"`
	Tags          []string  `json:"tags"`
	Version       string    `json:"version"`
	Problems      []string  `json:"problems"` // README, licence or manifest problems
	Ref           string    `json:"ref"`      // branch catalogued
	LatestCommit  string    `json:"latest_commit"`
	LatestAt      time.Time `json:"latest_at"`
	State         string    `json:"state"`  // queued, running, done or failed
	Queued        int       `json:"queued"` // parts queued by the last push
	Error         string    `json:"error,omitempty"`
	Parts         int       `json:"parts"`  // catalogued parts
	Failed        int       `json:"failed"` // files that failed
	PendingJobs   int       `json:"pending_jobs"`
	CatalogUpdate time.Time `json:"catalog_updated"`
	// ReadmeWords is the text of the README the search index holds.
	// ApplyCatalog records it; ProjectMeta does not read it back (pages
	// never need it), ProjectReadmeWords does.
	ReadmeWords string `json:"-"`
}

const timeFormat = "2006-01-02 15:04:05.000000000"

func fmtTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeFormat)
}

func parseTime(v sql.NullString) time.Time {
	if !v.Valid || v.String == "" {
		return time.Time{}
	}
	for _, f := range []string{timeFormat, time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05Z"} {
		if t, err := time.Parse(f, v.String); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// EnqueueCatalogJob queues the update old→new of ref in project and marks
// the project queued with the number of parts the push touches.
func (s *Store) EnqueueCatalogJob(ctx context.Context, project, ref, old, new string, queuedParts int) (int64, error) {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("enqueue catalog job: %w", err)
	}
	defer tx.Rollback()
	now := fmtTime(time.Now())
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO catalog_jobs (project, ref, old, new, state, created_at) VALUES (?, ?, ?, ?, 'queued', ?) RETURNING id`, project, ref, old, new, now).Scan(&id); err != nil {
		return 0, fmt.Errorf("enqueue catalog job: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO project_meta (project, state, queued, updated_at) VALUES (?, 'queued', ?, ?)
		ON CONFLICT (project) DO UPDATE SET state = 'queued', queued = excluded.queued, error = '', updated_at = excluded.updated_at`, project, queuedParts, now); err != nil {
		return 0, fmt.Errorf("enqueue catalog job: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("enqueue catalog job: %w", err)
	}
	return id, nil
}

const jobColumns = `id, project, ref, old, new, state, attempts, error, created_at, started_at, finished_at, node`

func scanJob(sc interface{ Scan(...any) error }) (CatalogJob, error) {
	var j CatalogJob
	var created, started, finished sql.NullString
	if err := sc.Scan(&j.ID, &j.Project, &j.Ref, &j.Old, &j.New, &j.State, &j.Attempts, &j.Error, &created, &started, &finished, &j.Node); err != nil {
		return j, err
	}
	j.CreatedAt, j.StartedAt, j.FinishedAt = parseTime(created), parseTime(started), parseTime(finished)
	return j, nil
}

// ClaimCatalogJob atomically takes, for l.Node, the oldest job that is
// queued or whose lease has run out (its node died), of a project with no
// other job running under a live lease: a project's jobs run one at a
// time, in order. ok is false when there is nothing to do.
//
// Claims are serialised across nodes by a transaction-scoped advisory
// lock on PostgreSQL (SQLite writes one at a time anyway). FOR UPDATE
// SKIP LOCKED alone would not do: it skips rows other claimers have
// locked, but two nodes could still each take a different job of the same
// project, which must run in order. A claim is one indexed UPDATE, so
// taking turns costs little.
func (s *Store) ClaimCatalogJob(ctx context.Context, l Lease) (job CatalogJob, ok bool, err error) {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return CatalogJob{}, false, fmt.Errorf("claim catalog job: %w", err)
	}
	defer tx.Rollback()
	if s.Dialect() == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, lockKey("blueprints catalog claims")); err != nil {
			return CatalogJob{}, false, fmt.Errorf("claim catalog job: %w", err)
		}
	}
	now := s.DB.d.nowMillis()
	row := tx.QueryRowContext(ctx, `UPDATE catalog_jobs SET state = 'running', attempts = attempts + 1, started_at = ?, node = ?, lease_until = `+now+` + ?
		WHERE id = (SELECT j.id FROM catalog_jobs j WHERE (j.state = 'queued' OR (j.state = 'running' AND j.lease_until < `+now+`))
			AND NOT EXISTS (SELECT 1 FROM catalog_jobs r WHERE r.project = j.project AND r.state = 'running' AND r.lease_until >= `+now+`)
			ORDER BY j.id LIMIT 1)
		RETURNING `+jobColumns, fmtTime(time.Now()), l.Node, l.TTL.Milliseconds())
	job, err = scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return CatalogJob{}, false, nil
	}
	if err != nil {
		return CatalogJob{}, false, fmt.Errorf("claim catalog job: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE project_meta SET state = 'running', updated_at = ? WHERE project = ?`, fmtTime(time.Now()), job.Project); err != nil {
		return CatalogJob{}, false, fmt.Errorf("claim catalog job: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return CatalogJob{}, false, fmt.Errorf("claim catalog job: %w", err)
	}
	return job, true, nil
}

// RenewCatalogJob extends l.Node's lease on a running job by l.TTL. It
// returns ErrLeaseLost when the job is no longer that node's.
func (s *Store) RenewCatalogJob(ctx context.Context, id int64, l Lease) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE catalog_jobs SET lease_until = `+s.DB.d.nowMillis()+` + ? WHERE id = ? AND node = ? AND state = 'running'`, l.TTL.Milliseconds(), id, l.Node)
	if err != nil {
		return fmt.Errorf("renew lease on catalog job %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("renew lease on catalog job %d: %w", id, ErrLeaseLost)
	}
	return nil
}

// FinishCatalogJob marks node's running job done (errText empty) or
// failed. It returns ErrLeaseLost when the job is no longer that node's.
func (s *Store) FinishCatalogJob(ctx context.Context, id int64, node, errText string) error {
	state := JobDone
	if errText != "" {
		state = JobFailed
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("finish catalog job %d: %w", id, err)
	}
	defer tx.Rollback()
	now := fmtTime(time.Now())
	var project string
	err = tx.QueryRowContext(ctx, `UPDATE catalog_jobs SET state = ?, error = ?, finished_at = ?, lease_until = 0 WHERE id = ? AND node = ? AND state = 'running' RETURNING project`, state, errText, now, id, node).Scan(&project)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("finish catalog job %d: %w", id, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("finish catalog job %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE project_meta SET state = ?, error = ?, updated_at = ? WHERE project = ?`, state, errText, now, project); err != nil {
		return fmt.Errorf("finish catalog job %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finish catalog job %d: %w", id, err)
	}
	return nil
}

// RetryCatalogJob puts node's running job back in the queue after a
// transient failure, keeping errText as the last error. It returns
// ErrLeaseLost when the job is no longer that node's.
func (s *Store) RetryCatalogJob(ctx context.Context, id int64, node, errText string) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE catalog_jobs SET state = 'queued', error = ?, node = '', lease_until = 0 WHERE id = ? AND node = ? AND state = 'running'`, errText, id, node)
	if err != nil {
		return fmt.Errorf("retry catalog job %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("retry catalog job %d: %w", id, ErrLeaseLost)
	}
	return nil
}

// RequeueRunningCatalogJobs puts back in the queue the jobs node was
// running (and those of no node, from before leases): call it when the
// node starts, before its workers run, since those are left over from its
// own crash. Other nodes' jobs are left to their leases. It returns how
// many were requeued.
func (s *Store) RequeueRunningCatalogJobs(ctx context.Context, node string) (int, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE catalog_jobs SET state = 'queued', node = '', lease_until = 0 WHERE state = 'running' AND (node = ? OR node = '')`, node)
	if err != nil {
		return 0, fmt.Errorf("requeue catalog jobs: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// CatalogJobs lists a project's jobs, newest first (all projects when
// project is empty), at most limit.
func (s *Store) CatalogJobs(ctx context.Context, project string, limit int) ([]CatalogJob, error) {
	q := `SELECT ` + jobColumns + ` FROM catalog_jobs`
	var args []any
	if project != "" {
		q += ` WHERE project = ?`
		args = append(args, project)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list catalog jobs: %w", err)
	}
	defer rows.Close()
	var jobs []CatalogJob
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list catalog jobs: %w", err)
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// PendingCatalogJobs counts queued and running jobs (of project, or of all
// projects when it is empty).
func (s *Store) PendingCatalogJobs(ctx context.Context, project string) (int, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM catalog_jobs WHERE state IN ('queued', 'running') AND (? = '' OR project = ?)`, project, project).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count catalog jobs: %w", err)
	}
	return n, nil
}

// SupersedeCatalogJobs marks every queued or running job done with a note
// (reindex catalogues every project from scratch).
func (s *Store) SupersedeCatalogJobs(ctx context.Context, note string) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE catalog_jobs SET state = 'done', error = ?, finished_at = ? WHERE state IN ('queued', 'running')`, note, fmtTime(time.Now())); err != nil {
		return fmt.Errorf("supersede catalog jobs: %w", err)
	}
	return nil
}

func scanBlobPart(sc interface{ Scan(...any) error }) (BlobPart, error) {
	var b BlobPart
	var part string
	if err := sc.Scan(&b.Blob, &part, &b.Preview, &b.Error); err != nil {
		return b, err
	}
	if part != "" {
		var p render.Part
		if err := json.Unmarshal([]byte(part), &p); err != nil {
			return b, fmt.Errorf("decode part of blob %s: %w", b.Blob, err)
		}
		b.Part = &p
	}
	return b, nil
}

// BlobPart returns the measurements of one file version by git blob id or
// LFS object id; ErrNotFound when it was never catalogued.
func (s *Store) BlobPart(ctx context.Context, blob string) (BlobPart, error) {
	b, err := scanBlobPart(s.DB.QueryRowContext(ctx, `SELECT blob, part, preview, error FROM blob_parts WHERE blob = ?`, blob))
	if errors.Is(err, sql.ErrNoRows) {
		return BlobPart{}, fmt.Errorf("blob part %s: %w", blob, ErrNotFound)
	}
	if err != nil {
		return BlobPart{}, fmt.Errorf("blob part %s: %w", blob, err)
	}
	return b, nil
}

// BlobParts returns the measurements known for the given blobs; blobs never
// catalogued are absent from the map.
func (s *Store) BlobParts(ctx context.Context, blobs []string) (map[string]BlobPart, error) {
	out := make(map[string]BlobPart, len(blobs))
	for start := 0; start < len(blobs); start += 500 {
		chunk := blobs[start:min(start+500, len(blobs))]
		args := make([]any, len(chunk))
		for i, b := range chunk {
			args[i] = b
		}
		rows, err := s.DB.QueryContext(ctx, `SELECT blob, part, preview, error FROM blob_parts WHERE blob IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("blob parts: %w", err)
		}
		for rows.Next() {
			b, err := scanBlobPart(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[b.Blob] = b
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("blob parts: %w", err)
		}
	}
	return out, nil
}

// PutBlobPart records (or replaces) the measurements of one file version.
func (s *Store) PutBlobPart(ctx context.Context, b BlobPart) error {
	var part string
	if b.Part != nil {
		j, err := json.Marshal(b.Part)
		if err != nil {
			return fmt.Errorf("put blob part %s: %w", b.Blob, err)
		}
		part = string(j)
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO blob_parts (blob, part, preview, error, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (blob) DO UPDATE SET part = excluded.part, preview = excluded.preview, error = excluded.error`,
		b.Blob, part, b.Preview, b.Error, fmtTime(time.Now()))
	if err != nil {
		return fmt.Errorf("put blob part %s: %w", b.Blob, err)
	}
	return nil
}

// ApplyCatalog records one catalogued state of a project in one
// transaction: parts upserted and paths deleted, and the metadata (its
// catalog state fields, counts and pending jobs are ignored).
func (s *Store) ApplyCatalog(ctx context.Context, meta ProjectMeta, upserts []Part, deletes []string) error {
	tags, _ := json.Marshal(nonNil(meta.Tags))
	problems, _ := json.Marshal(nonNil(meta.Problems))
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply catalog of %s: %w", meta.Project, err)
	}
	defer tx.Rollback()
	// Part documents carry the project's licence, category and tags: when
	// those change, every part's document changes.
	var oldLicense, oldCategory, oldTags string
	err = tx.QueryRowContext(ctx, `SELECT license, category, tags FROM project_meta WHERE project = ?`, meta.Project).Scan(&oldLicense, &oldCategory, &oldTags)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("apply catalog of %s: %w", meta.Project, err)
	}
	// In chunks: on PostgreSQL every statement is a round trip, and a
	// push may change thousands of parts.
	for start := 0; start < len(deletes); start += logChunk {
		chunk := deletes[start:min(start+logChunk, len(deletes))]
		args := []any{meta.Project}
		for _, p := range chunk {
			args = append(args, p)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM parts WHERE project = ? AND path IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...); err != nil {
			return fmt.Errorf("apply catalog of %s: %w", meta.Project, err)
		}
	}
	// The last row of a path wins (one statement may not upsert a row twice).
	last := make(map[string]int, len(upserts))
	for i, p := range upserts {
		last[p.Path] = i
	}
	var rows []Part
	for i, p := range upserts {
		if last[p.Path] == i {
			rows = append(rows, p)
		}
	}
	const perRow = 7
	for start := 0; start < len(rows); start += logChunk {
		chunk := rows[start:min(start+logChunk, len(rows))]
		args := make([]any, 0, perRow*len(chunk))
		for _, p := range chunk {
			if p.Updated.IsZero() {
				p.Updated = time.Now()
			}
			args = append(args, meta.Project, p.Path, p.Blob, p.Ref, p.Commit, fmtTime(p.Updated), p.Error)
		}
		q := `INSERT INTO parts (project, path, blob, ref, commit_id, updated_at, error) VALUES (?, ?, ?, ?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?, ?, ?, ?)`, len(chunk)-1) + `
			ON CONFLICT (project, path) DO UPDATE SET blob = excluded.blob, ref = excluded.ref, commit_id = excluded.commit_id, updated_at = excluded.updated_at, error = excluded.error`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("apply catalog of %s: %w", meta.Project, err)
		}
	}
	license := meta.License
	if license == "" {
		license = "none"
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO project_meta (project, title, description, license, category, tags, version, problems, ref, latest_commit, latest_at, updated_at, readme_words)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (project) DO UPDATE SET title = excluded.title, description = excluded.description, license = excluded.license,
			category = excluded.category, tags = excluded.tags, version = excluded.version, problems = excluded.problems,
			ref = excluded.ref, latest_commit = excluded.latest_commit, latest_at = excluded.latest_at, updated_at = excluded.updated_at,
			readme_words = excluded.readme_words`,
		meta.Project, meta.Title, meta.Description, license, meta.Category, string(tags), meta.Version, string(problems),
		meta.Ref, meta.LatestCommit, fmtTime(meta.LatestAt), fmtTime(time.Now()), meta.ReadmeWords); err != nil {
		return fmt.Errorf("apply catalog of %s: %w", meta.Project, err)
	}
	paths := make([]string, 0, 1+len(upserts)+len(deletes))
	paths = append(paths, "")
	for _, p := range upserts {
		paths = append(paths, p.Path)
	}
	paths = append(paths, deletes...)
	if oldLicense != license || oldCategory != meta.Category || oldTags != string(tags) {
		err = logProject(ctx, tx, meta.Project, paths...)
	} else {
		err = logChanges(ctx, tx, meta.Project, paths)
	}
	if err != nil {
		return fmt.Errorf("apply catalog of %s: %w", meta.Project, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply catalog of %s: %w", meta.Project, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ClearProjectCatalog forgets a project's parts (reindex starts from an
// empty tree).
func (s *Store) ClearProjectCatalog(ctx context.Context, project string) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("clear catalog of %s: %w", project, err)
	}
	defer tx.Rollback()
	if err := logProject(ctx, tx, project); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM parts WHERE project = ?`, project); err != nil {
		return fmt.Errorf("clear catalog of %s: %w", project, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("clear catalog of %s: %w", project, err)
	}
	return nil
}

// ClearBlobParts forgets every measurement, so the next catalogue measures
// and renders every file again.
func (s *Store) ClearBlobParts(ctx context.Context) error {
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM blob_parts`); err != nil {
		return fmt.Errorf("clear blob parts: %w", err)
	}
	return nil
}

const metaColumns = `m.project, m.title, m.description, m.license, m.category, m.tags, m.version, m.problems, m.ref, m.latest_commit, m.latest_at, m.state, m.queued, m.error, m.updated_at,
	(SELECT COUNT(*) FROM parts p WHERE p.project = m.project AND p.error = ''),
	(SELECT COUNT(*) FROM parts p WHERE p.project = m.project AND p.error <> ''),
	(SELECT COUNT(*) FROM catalog_jobs j WHERE j.project = m.project AND j.state IN ('queued', 'running'))`

func scanMeta(sc interface{ Scan(...any) error }) (ProjectMeta, error) {
	var m ProjectMeta
	var tags, problems string
	var latest, updated sql.NullString
	if err := sc.Scan(&m.Project, &m.Title, &m.Description, &m.License, &m.Category, &tags, &m.Version, &problems, &m.Ref, &m.LatestCommit, &latest, &m.State, &m.Queued, &m.Error, &updated, &m.Parts, &m.Failed, &m.PendingJobs); err != nil {
		return m, err
	}
	_ = json.Unmarshal([]byte(tags), &m.Tags)
	_ = json.Unmarshal([]byte(problems), &m.Problems)
	m.Tags, m.Problems = nonNil(m.Tags), nonNil(m.Problems)
	m.LatestAt, m.CatalogUpdate = parseTime(latest), parseTime(updated)
	return m, nil
}

// ProjectMeta returns the catalog's metadata of project "owner/name";
// ErrNotFound when it was never pushed to its default branch.
func (s *Store) ProjectMeta(ctx context.Context, project string) (ProjectMeta, error) {
	m, err := scanMeta(s.DB.QueryRowContext(ctx, `SELECT `+metaColumns+` FROM project_meta m WHERE m.project = ?`, project))
	if errors.Is(err, sql.ErrNoRows) {
		return ProjectMeta{}, fmt.Errorf("project metadata %s: %w", project, ErrNotFound)
	}
	if err != nil {
		return ProjectMeta{}, fmt.Errorf("project metadata %s: %w", project, err)
	}
	return m, nil
}

// ProjectReadmeWords returns the README words ApplyCatalog recorded for
// project "owner/name" ("" when it has none); ErrNotFound when the project
// was never catalogued.
func (s *Store) ProjectReadmeWords(ctx context.Context, project string) (string, error) {
	var words string
	err := s.DB.QueryRowContext(ctx, `SELECT readme_words FROM project_meta WHERE project = ?`, project).Scan(&words)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("README words of %s: %w", project, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("README words of %s: %w", project, err)
	}
	return words, nil
}

// cataloguedPartColumns select a CataloguedPart for scanCataloguedPart,
// from parts p joined with blob_parts b.
const cataloguedPartColumns = `p.project, p.path, p.blob, p.ref, p.commit_id, p.updated_at, p.error, COALESCE(b.part, ''), COALESCE(b.preview, ''), COALESCE(b.error, '')
	FROM parts p LEFT JOIN blob_parts b ON b.blob = p.blob`

func scanCataloguedPart(sc interface{ Scan(...any) error }) (CataloguedPart, error) {
	var c CataloguedPart
	var updated sql.NullString
	var part, blobErr string
	if err := sc.Scan(&c.Project, &c.Path, &c.Blob, &c.Ref, &c.Commit, &updated, &c.Error, &part, &c.Preview, &blobErr); err != nil {
		return c, err
	}
	c.Updated = parseTime(updated)
	if part != "" {
		var p render.Part
		if err := json.Unmarshal([]byte(part), &p); err == nil {
			c.Measure = &p
		}
	}
	if c.Error == "" && blobErr != "" {
		c.Error = blobErr
	}
	return c, nil
}

// ProjectParts lists a project's parts on its default branch, by path,
// with their measurements (failed files included, with Error set).
func (s *Store) ProjectParts(ctx context.Context, project string) ([]CataloguedPart, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+cataloguedPartColumns+` WHERE p.project = ? ORDER BY p.path`, project)
	if err != nil {
		return nil, fmt.Errorf("parts of %s: %w", project, err)
	}
	defer rows.Close()
	var out []CataloguedPart
	for rows.Next() {
		c, err := scanCataloguedPart(rows)
		if err != nil {
			return nil, fmt.Errorf("parts of %s: %w", project, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ProjectPart returns one part of a project's default branch by path;
// ErrNotFound when there is none.
func (s *Store) ProjectPart(ctx context.Context, project, path string) (CataloguedPart, error) {
	c, err := scanCataloguedPart(s.DB.QueryRowContext(ctx, `SELECT `+cataloguedPartColumns+` WHERE p.project = ? AND p.path = ?`, project, path))
	if errors.Is(err, sql.ErrNoRows) {
		return CataloguedPart{}, fmt.Errorf("part %s in %s: %w", path, project, ErrNotFound)
	}
	if err != nil {
		return CataloguedPart{}, fmt.Errorf("part %s in %s: %w", path, project, err)
	}
	return c, nil
}

// PartsWithBlob lists where a blob is a catalogued part on a default
// branch, in any project: at most limit entries, by project and path.
// Measurements are not filled in (they are the blob's, the same for all).
func (s *Store) PartsWithBlob(ctx context.Context, blob string, limit int) ([]Part, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT project, path, ref FROM parts WHERE blob = ? AND error = '' ORDER BY project, path LIMIT ?`, blob, limit)
	if err != nil {
		return nil, fmt.Errorf("find uses of blob %s: %w", blob, err)
	}
	defer rows.Close()
	var out []Part
	for rows.Next() {
		p := Part{Blob: blob}
		if err := rows.Scan(&p.Project, &p.Path, &p.Ref); err != nil {
			return nil, fmt.Errorf("find uses of blob %s: %w", blob, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ProjectFailures lists the files of a project's default branch that could
// not be catalogued, with the reason.
func (s *Store) ProjectFailures(ctx context.Context, project string) ([]PartFailure, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT path, blob, error FROM parts WHERE project = ? AND error <> '' ORDER BY path`, project)
	if err != nil {
		return nil, fmt.Errorf("failures of %s: %w", project, err)
	}
	defer rows.Close()
	out := []PartFailure{}
	for rows.Next() {
		var f PartFailure
		if err := rows.Scan(&f.Path, &f.Blob, &f.Error); err != nil {
			return nil, fmt.Errorf("failures of %s: %w", project, err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// CatalogedProjects lists the projects that have catalog metadata.
func (s *Store) CatalogedProjects(ctx context.Context) ([]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT project FROM project_meta ORDER BY project`)
	if err != nil {
		return nil, fmt.Errorf("catalogued projects: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CatalogJobCounts counts the catalog jobs in each state (JobQueued,
// JobRunning, JobFailed...); states without jobs are absent.
func (s *Store) CatalogJobCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT state, COUNT(*) FROM catalog_jobs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count catalog jobs: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count catalog jobs: %w", err)
		}
		counts[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count catalog jobs: %w", err)
	}
	return counts, nil
}

// CatalogVersion is a short string that changes whenever any project's
// catalogue does (a project catalogued, re-catalogued or removed, its
// catalog state moving); pages built from the catalogue use it in their
// cache keys. It is read from the database, so every node sees the same.
func (s *Store) CatalogVersion(ctx context.Context) (string, error) {
	var n, head int64
	var latest sql.NullString
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*), MAX(updated_at), (SELECT value FROM counters WHERE name = 'index_log') FROM project_meta`).Scan(&n, &latest, &head); err != nil {
		return "", fmt.Errorf("catalog version: %w", err)
	}
	return fmt.Sprintf("%d/%d/%s", head, n, latest.String), nil
}

// CoverPart is the project's largest catalogued part with a preview (by
// volume, then path): the one that shows best what the project is. Both
// results are empty when the project has none.
func (s *Store) CoverPart(ctx context.Context, project string) (preview, path string, err error) {
	err = s.DB.QueryRowContext(ctx, `SELECT b.preview, p.path FROM parts p JOIN blob_parts b ON b.blob = p.blob
		WHERE p.project = ? AND p.error = '' AND b.preview <> ''
		ORDER BY `+s.DB.d.jsonNumber("b.part", "volume")+` DESC, p.path LIMIT 1`, project).Scan(&preview, &path)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("cover part of %s: %w", project, err)
	}
	return preview, path, nil
}

// ResetCatalogCommits forgets which commit each project's catalogue is at,
// keeping the parts and measurements, so that the catalog's reconcile
// queues a job for every project: the way a new, empty search index (one
// rebuilt after its shape changed) is filled again. Measurements are
// reused; nothing is measured twice.
func (s *Store) ResetCatalogCommits(ctx context.Context) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE project_meta SET latest_commit = ''`)
	if err != nil {
		return 0, fmt.Errorf("reset catalogued commits: %w", err)
	}
	return res.RowsAffected()
}

// ForgetCatalogCommit forgets which commit one project's catalogue is at
// (see ResetCatalogCommits).
func (s *Store) ForgetCatalogCommit(ctx context.Context, project string) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE project_meta SET latest_commit = '' WHERE project = ?`, project); err != nil {
		return fmt.Errorf("forget catalogued commit of %s: %w", project, err)
	}
	return nil
}
