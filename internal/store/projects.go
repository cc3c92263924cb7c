package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Project visibilities.
const (
	Public  = "public"
	Private = "private"
)

// Project is a git repository owned by a person or an organisation.
type Project struct {
	ID            int64
	Owner         string // canonical case
	Name          string // canonical case
	DefaultBranch string // short branch name ("main"); empty until the first push
	Created       time.Time
	Updated       time.Time // last push
	Visibility    string    // Public or Private
	Description   string    // set on the settings page; "" leaves the README's
}

// FullName is "owner/name".
func (p Project) FullName() string { return p.Owner + "/" + p.Name }

// Private reports whether only people with access may see the project.
func (p Project) Private() bool { return p.Visibility == Private }

const projectColumns = `id, owner, name, default_branch, created_at, updated_at, visibility, description`

// projectColumnsP is projectColumns for a query where projects is "p".
const projectColumnsP = `p.id, p.owner, p.name, p.default_branch, p.created_at, p.updated_at, p.visibility, p.description`

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var p Project
	err := row.Scan(&p.ID, &p.Owner, &p.Name, &p.DefaultBranch, &p.Created, &p.Updated, &p.Visibility, &p.Description)
	return p, err
}

func collectProjects(rows *sql.Rows, what string) ([]Project, error) {
	defer rows.Close()
	var ps []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// CreateProject adds a public project. (owner, name) is unique without
// regard to case; a clash returns an error wrapping ErrExists. The caller
// validates the names.
func (s *Store) CreateProject(ctx context.Context, owner, name string) (Project, error) {
	return s.CreateProjectWith(ctx, owner, name, Public)
}

// CreateProjectWith adds a project with a visibility. A redirect left by
// an earlier project of that name (renamed or transferred away) is
// dropped: the name now means the new project.
func (s *Store) CreateProjectWith(ctx context.Context, owner, name, visibility string) (Project, error) {
	if visibility != Public && visibility != Private {
		return Project{}, fmt.Errorf("create project %s/%s: visibility %q: want %s or %s", owner, name, visibility, Public, Private)
	}
	now := time.Now().UTC()
	var p Project
	err := s.tx(ctx, func(tx *Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO projects (owner, name, created_at, updated_at, visibility, changed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`, owner, name, now, now, visibility, now).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("create project %s/%s: %w", owner, name, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("create project %s/%s: %w", owner, name, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM project_redirects WHERE owner = ? AND name = ?`, owner, name); err != nil {
			return fmt.Errorf("create project %s/%s: %w", owner, name, err)
		}
		p = Project{ID: id, Owner: owner, Name: name, Created: now, Updated: now, Visibility: visibility}
		return nil
	})
	return p, err
}

// ProjectByName finds a project, ignoring case. A missing project returns
// an error wrapping ErrNotFound.
func (s *Store) ProjectByName(ctx context.Context, owner, name string) (Project, error) {
	p, err := scanProject(s.DB.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE owner = ? AND name = ?`, owner, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, fmt.Errorf("find project %s/%s: %w", owner, name, ErrNotFound)
	}
	if err != nil {
		return Project{}, fmt.Errorf("find project %s/%s: %w", owner, name, err)
	}
	return p, nil
}

// ProjectByID finds a project by id.
func (s *Store) ProjectByID(ctx context.Context, id int64) (Project, error) {
	p, err := scanProject(s.DB.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, fmt.Errorf("find project %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Project{}, fmt.Errorf("find project %d: %w", id, err)
	}
	return p, nil
}

// ProjectByRedirect finds the project an old name (from before a rename
// or transfer) now leads to. None returns ErrNotFound.
func (s *Store) ProjectByRedirect(ctx context.Context, owner, name string) (Project, error) {
	var id int64
	err := s.DB.QueryRowContext(ctx, `SELECT project_id FROM project_redirects WHERE owner = ? AND name = ?`, owner, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, fmt.Errorf("find redirect %s/%s: %w", owner, name, ErrNotFound)
	}
	if err != nil {
		return Project{}, fmt.Errorf("find redirect %s/%s: %w", owner, name, err)
	}
	return s.ProjectByID(ctx, id)
}

// Projects lists every project, newest first, skipping offset and
// returning at most limit (all when limit <= 0). It ignores visibility:
// it is for the server's own work (reconcile, reindex), never for pages.
func (s *Store) Projects(ctx context.Context, limit, offset int) ([]Project, error) {
	q := `SELECT ` + projectColumns + ` FROM projects ORDER BY created_at DESC, id DESC`
	args := []any{}
	switch {
	case limit > 0:
		q += ` LIMIT ? OFFSET ?`
		args = append(args, limit, offset)
	case offset > 0 && s.Dialect() == SQLite:
		// SQLite knows no OFFSET without LIMIT; -1 is "no limit".
		q += ` LIMIT -1 OFFSET ?`
		args = append(args, offset)
	case offset > 0:
		q += ` OFFSET ?`
		args = append(args, offset)
	}
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return collectProjects(rows, "list projects")
}

// Visible names the projects a viewer may see in a list: every public
// project, every project of the owners named, and the projects with the
// ids given; All lifts the limit (administrators). The access policy
// builds it; the store only applies it.
type Visible struct {
	All        bool
	Owners     []string
	ProjectIDs []int64
}

// where is the SQL condition (on projects, unqualified) and its arguments.
func (v Visible) where() (string, []any) {
	if v.All {
		return "1 = 1", nil
	}
	cond := []string{"visibility = 'public'"}
	var args []any
	if len(v.Owners) > 0 {
		cond = append(cond, "owner IN ("+placeholders(len(v.Owners))+")")
		for _, o := range v.Owners {
			args = append(args, o)
		}
	}
	if len(v.ProjectIDs) > 0 {
		cond = append(cond, "id IN ("+placeholders(len(v.ProjectIDs))+")")
		for _, id := range v.ProjectIDs {
			args = append(args, id)
		}
	}
	return "(" + strings.Join(cond, " OR ") + ")", args
}

// page adds LIMIT and OFFSET to q when limit > 0 (both engines accept
// that form; without a limit, every row is returned).
func page(q string, args []any, limit, offset int) (string, []any) {
	if limit <= 0 {
		return q, args
	}
	return q + ` LIMIT ? OFFSET ?`, append(append([]any{}, args...), limit, offset)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// ProjectQuery selects projects for a list.
type ProjectQuery struct {
	Visible Visible
	Owner   string // only this owner's projects ("" for all)
	Limit   int    // at most this many (all when <= 0)
	Offset  int
}

// ListProjects returns the projects q selects, newest first, and how many
// it selects in all.
func (s *Store) ListProjects(ctx context.Context, q ProjectQuery) ([]Project, int, error) {
	where, args := q.Visible.where()
	if q.Owner != "" {
		where += " AND owner = ?"
		args = append(args, q.Owner)
	}
	var total int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count projects: %w", err)
	}
	sel, sargs := page(`SELECT `+projectColumns+` FROM projects WHERE `+where+` ORDER BY created_at DESC, id DESC`, args, q.Limit, q.Offset)
	rows, err := s.DB.QueryContext(ctx, sel, sargs...)
	if err != nil {
		return nil, 0, fmt.Errorf("list projects: %w", err)
	}
	ps, err := collectProjects(rows, "list projects")
	return ps, total, err
}

// CountProjects returns the number of projects.
func (s *Store) CountProjects(ctx context.Context) (int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count projects: %w", err)
	}
	return n, nil
}

// OwnedProjects counts the projects an owner has.
func (s *Store) OwnedProjects(ctx context.Context, owner string) (int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE owner = ?`, owner).Scan(&n); err != nil {
		return 0, fmt.Errorf("count projects of %s: %w", owner, err)
	}
	return n, nil
}

// SetDefaultBranch records the project's default branch (short name).
func (s *Store) SetDefaultBranch(ctx context.Context, id int64, branch string) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE projects SET default_branch = ?, changed_at = ? WHERE id = ?`, branch, time.Now().UTC(), id); err != nil {
		return fmt.Errorf("set default branch of project %d: %w", id, err)
	}
	return nil
}

// SetVisibility makes a project public or private.
func (s *Store) SetVisibility(ctx context.Context, id int64, visibility string) error {
	if visibility != Public && visibility != Private {
		return fmt.Errorf("set visibility of project %d: %q: want %s or %s", id, visibility, Public, Private)
	}
	return s.changeProject(ctx, id, "set visibility", `UPDATE projects SET visibility = ?, changed_at = ? WHERE id = ?`, visibility, time.Now().UTC(), id)
}

// changeProject runs an update of project id's row and logs all its
// search documents in the same transaction, so every node's index shows
// the change (who may find them, their description).
func (s *Store) changeProject(ctx context.Context, id int64, what, q string, args ...any) error {
	return s.tx(ctx, func(tx *Tx) error {
		p, err := scanProject(tx.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s of project %d: %w", what, id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("%s of project %d: %w", what, id, err)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%s of project %s: %w", what, p.FullName(), err)
		}
		return logProject(ctx, tx, p.FullName())
	})
}

// SetDescription sets the description shown instead of the README's ("" to
// show the README's again).
func (s *Store) SetDescription(ctx context.Context, id int64, description string) error {
	return s.changeProject(ctx, id, "set description", `UPDATE projects SET description = ?, changed_at = ? WHERE id = ?`, description, time.Now().UTC(), id)
}

// TouchProject records that the project was pushed to now.
func (s *Store) TouchProject(ctx context.Context, id int64) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE projects SET updated_at = ? WHERE id = ?`, time.Now().UTC(), id); err != nil {
		return fmt.Errorf("touch project %d: %w", id, err)
	}
	return nil
}

// DeleteProject removes the project's row (not its repository or its
// catalogue: see DeleteProjectAll).
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete project %d: %w", id, err)
	}
	return nil
}

// ProjectsVersion is a short string that changes whenever a project is
// created, pushed to, changed on its settings page or deleted; pages
// listing projects use it in their cache keys.
func (s *Store) ProjectsVersion(ctx context.Context) (string, error) {
	var n, maxID int64
	var latest, changed sql.NullString
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*), MAX(updated_at), MAX(changed_at), COALESCE(MAX(id), 0) FROM projects`).Scan(&n, &latest, &changed, &maxID); err != nil {
		return "", fmt.Errorf("projects version: %w", err)
	}
	return fmt.Sprintf("%d/%s/%s/%d", n, latest.String, changed.String, maxID), nil
}

// catalogTables are the tables that name a project by "owner/name".
var catalogTables = []string{"parts", "project_meta", "catalog_jobs"}

// RenameProject gives a project a new owner and name (a rename, a
// transfer, or both) in one transaction: its row, its catalogue rows
// (which name it as "owner/name") and a redirect from the old name, which
// keeps old page URLs and git remotes working. Redirects that pointed at
// the project keep pointing at it; one that held the new name is dropped.
// A clash with another project returns an error wrapping ErrExists. It
// returns the project as it was.
func (s *Store) RenameProject(ctx context.Context, id int64, owner, name string) (Project, error) {
	var old Project
	err := s.tx(ctx, func(tx *Tx) error {
		var err error
		old, err = scanProject(tx.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("rename project %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("rename project %d: %w", id, err)
		}
		var clash int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE owner = ? AND name = ? AND id <> ?`, owner, name, id).Scan(&clash); err != nil {
			return fmt.Errorf("rename project %s: %w", old.FullName(), err)
		}
		if clash > 0 {
			return fmt.Errorf("rename project %s to %s/%s: %w", old.FullName(), owner, name, ErrExists)
		}
		now := time.Now().UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE projects SET owner = ?, name = ?, changed_at = ? WHERE id = ?`, owner, name, now, id); err != nil {
			return fmt.Errorf("rename project %s: %w", old.FullName(), err)
		}
		oldKey, newKey := old.FullName(), owner+"/"+name
		// The documents under the old name go, those under the new come.
		if err := logProject(ctx, tx, oldKey); err != nil {
			return err
		}
		for _, t := range catalogTables {
			if _, err := tx.ExecContext(ctx, `UPDATE `+t+` SET project = ? WHERE project = ?`, newKey, oldKey); err != nil {
				return fmt.Errorf("rename project %s: %s: %w", oldKey, t, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM project_redirects WHERE owner = ? AND name = ?`, owner, name); err != nil {
			return fmt.Errorf("rename project %s: %w", oldKey, err)
		}
		if err := logProject(ctx, tx, newKey); err != nil {
			return err
		}
		if !strings.EqualFold(oldKey, newKey) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO project_redirects (owner, name, project_id, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (owner, name) DO UPDATE SET project_id = excluded.project_id`, old.Owner, old.Name, id, now); err != nil {
				return fmt.Errorf("rename project %s: redirect: %w", oldKey, err)
			}
		}
		return nil
	})
	return old, err
}

// Leftovers are the stored things a deleted project was the last to use:
// LFS objects (by oid) and previews (blob-storage keys). The caller
// deletes them from blob storage.
type Leftovers struct {
	LFSObjects []string
	Previews   []string
}

// DeleteProjectAll deletes a project's row and everything the store holds
// for it (catalogue, jobs, LFS ownership and locks, collaborators,
// redirects) in one transaction, and forgets the measurements of file
// versions no other project has seen. It returns what in blob storage no
// other project uses any more.
func (s *Store) DeleteProjectAll(ctx context.Context, id int64) (Leftovers, error) {
	var left Leftovers
	err := s.tx(ctx, func(tx *Tx) error {
		p, err := scanProject(tx.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("delete project %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delete project %d: %w", id, err)
		}
		key := p.FullName()
		if left.LFSObjects, err = queryStrings(ctx, tx, `SELECT oid FROM lfs_objects o WHERE project_id = ?
			AND NOT EXISTS (SELECT 1 FROM lfs_objects o2 WHERE o2.oid = o.oid AND o2.project_id <> o.project_id)
			AND NOT EXISTS (SELECT 1 FROM lfs_pending lp WHERE lp.oid = o.oid) ORDER BY oid`, id); err != nil {
			return fmt.Errorf("delete project %s: %w", key, err)
		}
		// File versions only this project has seen: their measurements go,
		// and their previews unless another file version shares them
		// (the same content in git and in LFS).
		only := `SELECT blob FROM project_blobs pb WHERE project_id = ?
			AND NOT EXISTS (SELECT 1 FROM project_blobs pb2 WHERE pb2.blob = pb.blob AND pb2.project_id <> pb.project_id)
			AND NOT EXISTS (SELECT 1 FROM parts pa WHERE pa.blob = pb.blob AND pa.project <> ?)`
		blobs, err := queryStrings(ctx, tx, only, id, key)
		if err != nil {
			return fmt.Errorf("delete project %s: %w", key, err)
		}
		previews := map[string]bool{}
		for _, b := range blobs {
			var preview string
			err := tx.QueryRowContext(ctx, `SELECT preview FROM blob_parts WHERE blob = ?`, b).Scan(&preview)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("delete project %s: %w", key, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM blob_parts WHERE blob = ?`, b); err != nil {
				return fmt.Errorf("delete project %s: %w", key, err)
			}
			if preview != "" {
				previews[preview] = true
			}
		}
		for pv := range previews {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM blob_parts WHERE preview = ?`, pv).Scan(&n); err != nil {
				return fmt.Errorf("delete project %s: %w", key, err)
			}
			if n == 0 {
				left.Previews = append(left.Previews, pv)
			}
		}
		// Its search documents go from every node's index.
		if err := logProject(ctx, tx, key); err != nil {
			return err
		}
		for _, t := range catalogTables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE project = ?`, key); err != nil {
				return fmt.Errorf("delete project %s: %s: %w", key, t, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM lfs_pending WHERE owner = ? AND project = ?`, p.Owner, p.Name); err != nil {
			return fmt.Errorf("delete project %s: %w", key, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete project %s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return Leftovers{}, err
	}
	sortStrings(left.Previews)
	return left, nil
}

func queryStrings(ctx context.Context, tx *Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// AddProjectBlobs records that a project's catalogue saw these file
// versions (blob_parts keys), on its branch or in its history.
func (s *Store) AddProjectBlobs(ctx context.Context, project string, blobs []string) error {
	if len(blobs) == 0 {
		return nil
	}
	owner, name, _ := strings.Cut(project, "/")
	return s.tx(ctx, func(tx *Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM projects WHERE owner = ? AND name = ?`, owner, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("record file versions of %s: %w", project, err)
		}
		for _, b := range blobs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO project_blobs (project_id, blob) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, b); err != nil {
				return fmt.Errorf("record file versions of %s: %w", project, err)
			}
		}
		return nil
	})
}

// PreviewProjects lists the projects whose catalogue holds a file version
// with the preview at blob-storage key, public ones first.
func (s *Store) PreviewProjects(ctx context.Context, key string, limit int) ([]Project, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+projectColumnsP+` FROM projects p WHERE p.id IN
		(SELECT pb.project_id FROM blob_parts b JOIN project_blobs pb ON pb.blob = b.blob WHERE b.preview = ?) ORDER BY CASE p.visibility WHEN 'public' THEN 0 ELSE 1 END, p.id LIMIT ?`, key, limit)
	if err != nil {
		return nil, fmt.Errorf("find projects of preview %s: %w", key, err)
	}
	return collectProjects(rows, "find projects of preview "+key)
}

// ProjectsOf lists owner's projects (ignoring case), most recently pushed
// first, at most limit.
func (s *Store) ProjectsOf(ctx context.Context, owner string, limit int) ([]Project, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE owner = ? ORDER BY updated_at DESC, id DESC LIMIT ?`, owner, limit)
	if err != nil {
		return nil, fmt.Errorf("list projects of %s: %w", owner, err)
	}
	defer rows.Close()
	var ps []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("list projects of %s: %w", owner, err)
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}
