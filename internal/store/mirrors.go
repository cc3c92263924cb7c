package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Mirror is a project whose refs are copied from another git server.
type Mirror struct {
	ProjectID   int64
	Project     string // "owner/name"
	URL         string // the git URL fetched
	OriginActor string // the origin project's actor, on a Blueprints server
	Attribution string
	CreatedBy   int64
	Created     time.Time
	Next        time.Time
	Checked     *time.Time
	Changed     *time.Time
	Refs        string // digest of the origin's refs at the last refresh
	LastError   string
	LFSObjects  int
}

const mirrorColumns = `m.project_id, p.owner, p.name, m.url, m.origin_actor, m.attribution, COALESCE(m.created_by, 0), m.created_at, m.next_at, m.checked_at, m.changed_at, m.refs, m.last_error, m.lfs_objects`

func scanMirror(row interface{ Scan(...any) error }) (Mirror, error) {
	var m Mirror
	var owner, name string
	var checked, changed sql.NullTime
	err := row.Scan(&m.ProjectID, &owner, &name, &m.URL, &m.OriginActor, &m.Attribution, &m.CreatedBy, &m.Created, &m.Next, &checked, &changed, &m.Refs, &m.LastError, &m.LFSObjects)
	m.Project = owner + "/" + name
	if checked.Valid {
		t := checked.Time
		m.Checked = &t
	}
	if changed.Valid {
		t := changed.Time
		m.Changed = &t
	}
	return m, err
}

// CreateMirror marks project as a mirror of url, due for its first
// refresh now.
func (s *Store) CreateMirror(ctx context.Context, m Mirror) error {
	now := time.Now().UTC()
	var by any
	if m.CreatedBy != 0 {
		by = m.CreatedBy
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO mirrors (project_id, url, origin_actor, attribution, created_by, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		m.ProjectID, m.URL, m.OriginActor, m.Attribution, by, now, now)
	if err != nil {
		return fmt.Errorf("create mirror of %s: %w", m.URL, err)
	}
	return nil
}

// MirrorOf finds the mirror a project is; ErrNotFound when it is none.
func (s *Store) MirrorOf(ctx context.Context, projectID int64) (Mirror, error) {
	m, err := scanMirror(s.DB.QueryRowContext(ctx, `SELECT `+mirrorColumns+` FROM mirrors m JOIN projects p ON p.id = m.project_id WHERE m.project_id = ?`, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("mirror %d: %w", projectID, ErrNotFound)
	}
	return m, err
}

// IsMirror reports whether owner/name is a mirror (pushes are refused).
func (s *Store) IsMirror(ctx context.Context, owner, name string) (Mirror, bool, error) {
	m, err := scanMirror(s.DB.QueryRowContext(ctx, `SELECT `+mirrorColumns+` FROM mirrors m JOIN projects p ON p.id = m.project_id WHERE p.owner = ? AND p.name = ?`, owner, name))
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("look for mirror %s/%s: %w", owner, name, err)
	}
	return m, true, nil
}

// Mirrors lists mirrors: all, or (due) those whose next refresh is at or
// before now, or (origin != "") those of an origin actor.
func (s *Store) Mirrors(ctx context.Context, due bool, origin string) ([]Mirror, error) {
	q := `SELECT ` + mirrorColumns + ` FROM mirrors m JOIN projects p ON p.id = m.project_id`
	var args []any
	switch {
	case due:
		q += ` WHERE m.next_at <= ?`
		args = append(args, time.Now().UTC())
	case origin != "":
		q += ` WHERE m.origin_actor = ?`
		args = append(args, origin)
	}
	rows, err := s.DB.QueryContext(ctx, q+` ORDER BY m.next_at, m.project_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list mirrors: %w", err)
	}
	defer rows.Close()
	var out []Mirror
	for rows.Next() {
		m, err := scanMirror(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MirrorChecked records a refresh: reached says the origin answered,
// changed that refs moved (refs is their new digest), errText why it
// failed; next is when the schedule comes back.
func (s *Store) MirrorChecked(ctx context.Context, projectID int64, refs string, changed bool, lfsObjects int, errText string, next time.Time) error {
	now := time.Now().UTC()
	var err error
	switch {
	case errText != "":
		_, err = s.DB.ExecContext(ctx, `UPDATE mirrors SET last_error = ?, next_at = ? WHERE project_id = ?`, errText, next.UTC(), projectID)
	case changed:
		_, err = s.DB.ExecContext(ctx, `UPDATE mirrors SET last_error = '', checked_at = ?, changed_at = ?, refs = ?, lfs_objects = lfs_objects + ?, next_at = ? WHERE project_id = ?`, now, now, refs, lfsObjects, next.UTC(), projectID)
	default:
		_, err = s.DB.ExecContext(ctx, `UPDATE mirrors SET last_error = '', checked_at = ?, refs = ?, next_at = ? WHERE project_id = ?`, now, refs, next.UTC(), projectID)
	}
	if err != nil {
		return fmt.Errorf("record mirror refresh: %w", err)
	}
	return nil
}

// MirrorDue makes a mirror due now (refresh on demand, an Update).
func (s *Store) MirrorDue(ctx context.Context, projectID int64) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE mirrors SET next_at = ? WHERE project_id = ?`, time.Now().UTC(), projectID)
	return err
}
