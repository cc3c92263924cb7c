package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// LFSObject is a Git LFS object owned by a project.
type LFSObject struct {
	OID     string
	Size    int64
	Created time.Time
}

// AddLFSObject records that the project owns the object. Adding an object
// the project already owns is not an error.
func (s *Store) AddLFSObject(ctx context.Context, projectID int64, oid string, size int64) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO lfs_objects (project_id, oid, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		projectID, oid, size, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("add lfs object %s to project %d: %w", oid, projectID, err)
	}
	return nil
}

// LFSObjects returns those of the given objects that the project owns, by
// OID. Objects it does not own are absent from the map.
func (s *Store) LFSObjects(ctx context.Context, projectID int64, oids []string) (map[string]LFSObject, error) {
	found := make(map[string]LFSObject, len(oids))
	// SQLite allows 32766 variables per statement; stay well below.
	const chunk = 500
	for start := 0; start < len(oids); start += chunk {
		part := oids[start:min(start+chunk, len(oids))]
		args := make([]any, 0, len(part)+1)
		args = append(args, projectID)
		for _, o := range part {
			args = append(args, o)
		}
		q := `SELECT oid, size, created_at FROM lfs_objects WHERE project_id = ? AND oid IN (?` + strings.Repeat(",?", len(part)-1) + `)`
		rows, err := s.DB.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("find lfs objects of project %d: %w", projectID, err)
		}
		for rows.Next() {
			var o LFSObject
			if err := rows.Scan(&o.OID, &o.Size, &o.Created); err != nil {
				rows.Close()
				return nil, fmt.Errorf("find lfs objects of project %d: %w", projectID, err)
			}
			found[o.OID] = o
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("find lfs objects of project %d: %w", projectID, err)
		}
	}
	return found, nil
}

// LFSObject returns the object if the project owns it; otherwise an error
// wrapping ErrNotFound.
func (s *Store) LFSObject(ctx context.Context, projectID int64, oid string) (LFSObject, error) {
	o := LFSObject{OID: oid}
	err := s.DB.QueryRowContext(ctx, `SELECT size, created_at FROM lfs_objects WHERE project_id = ? AND oid = ?`, projectID, oid).Scan(&o.Size, &o.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return LFSObject{}, fmt.Errorf("find lfs object %s of project %d: %w", oid, projectID, ErrNotFound)
	}
	if err != nil {
		return LFSObject{}, fmt.Errorf("find lfs object %s of project %d: %w", oid, projectID, err)
	}
	return o, nil
}

// LFSLock is a Git LFS file lock: one user holds one path of a project.
type LFSLock struct {
	ID        int64
	ProjectID int64
	Path      string
	UserID    int64
	Owner     string // the holder's user name
	Created   time.Time
}

const lfsLockColumns = `l.id, l.project_id, l.path, l.user_id, u.name, l.created_at`

func scanLFSLock(row interface{ Scan(...any) error }) (LFSLock, error) {
	var l LFSLock
	err := row.Scan(&l.ID, &l.ProjectID, &l.Path, &l.UserID, &l.Owner, &l.Created)
	return l, err
}

// CreateLFSLock locks path in the project for the user. If the path is
// already locked, it returns the existing lock and an error wrapping
// ErrExists.
func (s *Store) CreateLFSLock(ctx context.Context, projectID int64, path string, userID int64) (LFSLock, error) {
	now := time.Now().UTC().Truncate(time.Second)
	var id int64
	err := s.DB.QueryRowContext(ctx, `INSERT INTO lfs_locks (project_id, path, user_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		projectID, path, userID, now).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return LFSLock{}, fmt.Errorf("lock %s in project %d: %w", path, projectID, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		l, err := scanLFSLock(s.DB.QueryRowContext(ctx, `SELECT `+lfsLockColumns+` FROM lfs_locks l JOIN users u ON u.id = l.user_id WHERE l.project_id = ? AND l.path = ?`, projectID, path))
		if err != nil {
			return LFSLock{}, fmt.Errorf("lock %s in project %d: %w", path, projectID, err)
		}
		return l, fmt.Errorf("lock %s in project %d: held by %s: %w", path, projectID, l.Owner, ErrExists)
	}
	return s.LFSLock(ctx, projectID, id)
}

// LFSLock returns one lock of the project; an unknown id gives an error
// wrapping ErrNotFound.
func (s *Store) LFSLock(ctx context.Context, projectID, id int64) (LFSLock, error) {
	l, err := scanLFSLock(s.DB.QueryRowContext(ctx, `SELECT `+lfsLockColumns+` FROM lfs_locks l JOIN users u ON u.id = l.user_id WHERE l.project_id = ? AND l.id = ?`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return LFSLock{}, fmt.Errorf("find lock %d in project %d: %w", id, projectID, ErrNotFound)
	}
	if err != nil {
		return LFSLock{}, fmt.Errorf("find lock %d in project %d: %w", id, projectID, err)
	}
	return l, nil
}

// LFSLockFilter selects locks of a project. Zero fields match everything.
type LFSLockFilter struct {
	Path  string // exact path
	ID    int64  // exact lock id
	After int64  // only locks with a larger id (the paging cursor)
	Limit int    // at most this many (all when <= 0)
}

// LFSLocks lists a project's locks in id order.
func (s *Store) LFSLocks(ctx context.Context, projectID int64, f LFSLockFilter) ([]LFSLock, error) {
	q := `SELECT ` + lfsLockColumns + ` FROM lfs_locks l JOIN users u ON u.id = l.user_id WHERE l.project_id = ? AND l.id > ?`
	args := []any{projectID, f.After}
	if f.Path != "" {
		q += ` AND l.path = ?`
		args = append(args, f.Path)
	}
	if f.ID != 0 {
		q += ` AND l.id = ?`
		args = append(args, f.ID)
	}
	q += ` ORDER BY l.id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list locks of project %d: %w", projectID, err)
	}
	defer rows.Close()
	var ls []LFSLock
	for rows.Next() {
		l, err := scanLFSLock(rows)
		if err != nil {
			return nil, fmt.Errorf("list locks of project %d: %w", projectID, err)
		}
		ls = append(ls, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list locks of project %d: %w", projectID, err)
	}
	return ls, nil
}

// DeleteLFSLock removes a lock of the project and returns it; an unknown id
// gives an error wrapping ErrNotFound.
func (s *Store) DeleteLFSLock(ctx context.Context, projectID, id int64) (LFSLock, error) {
	l, err := s.LFSLock(ctx, projectID, id)
	if err != nil {
		return LFSLock{}, fmt.Errorf("unlock: %w", err)
	}
	res, err := s.DB.ExecContext(ctx, `DELETE FROM lfs_locks WHERE project_id = ? AND id = ?`, projectID, id)
	if err != nil {
		return LFSLock{}, fmt.Errorf("unlock %d in project %d: %w", id, projectID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return LFSLock{}, fmt.Errorf("unlock %d in project %d: %w", id, projectID, ErrNotFound)
	}
	return l, nil
}

// AddPendingLFSObject records an object uploaded into owner/project before
// the project exists (git-lfs uploads before git pushes, and that push
// creates the project). AdoptPendingLFSObjects hands it over later.
func (s *Store) AddPendingLFSObject(ctx context.Context, owner, project, oid string, size int64) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO lfs_pending (owner, project, oid, size, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		owner, project, oid, size, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("add pending lfs object %s to %s/%s: %w", oid, owner, project, err)
	}
	return nil
}

// PendingLFSObjects returns those of oids uploaded into the not yet created
// owner/project, by OID.
func (s *Store) PendingLFSObjects(ctx context.Context, owner, project string, oids []string) (map[string]LFSObject, error) {
	found := make(map[string]LFSObject, len(oids))
	const chunk = 500
	for start := 0; start < len(oids); start += chunk {
		part := oids[start:min(start+chunk, len(oids))]
		args := []any{owner, project}
		for _, o := range part {
			args = append(args, o)
		}
		q := `SELECT oid, size, created_at FROM lfs_pending WHERE owner = ? AND project = ? AND oid IN (?` + strings.Repeat(",?", len(part)-1) + `)`
		rows, err := s.DB.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("find pending lfs objects of %s/%s: %w", owner, project, err)
		}
		for rows.Next() {
			var o LFSObject
			if err := rows.Scan(&o.OID, &o.Size, &o.Created); err != nil {
				rows.Close()
				return nil, fmt.Errorf("find pending lfs objects of %s/%s: %w", owner, project, err)
			}
			found[o.OID] = o
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("find pending lfs objects of %s/%s: %w", owner, project, err)
		}
	}
	return found, nil
}

// AdoptPendingLFSObjects moves the objects uploaded before the project
// existed into its ownership and reports how many there were.
func (s *Store) AdoptPendingLFSObjects(ctx context.Context, p Project) (int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM lfs_pending WHERE owner = ? AND project = ?`, p.Owner, p.Name).Scan(&n); err != nil {
		return 0, fmt.Errorf("adopt lfs objects into %s: %w", p.FullName(), err)
	}
	if n == 0 {
		return 0, nil
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("adopt lfs objects into %s: %w", p.FullName(), err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO lfs_objects (project_id, oid, size, created_at)
		SELECT ?, oid, size, created_at FROM lfs_pending WHERE owner = ? AND project = ? ON CONFLICT DO NOTHING`, p.ID, p.Owner, p.Name); err != nil {
		return 0, fmt.Errorf("adopt lfs objects into %s: %w", p.FullName(), err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM lfs_pending WHERE owner = ? AND project = ?`, p.Owner, p.Name)
	if err != nil {
		return 0, fmt.Errorf("adopt lfs objects into %s: %w", p.FullName(), err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("adopt lfs objects into %s: %w", p.FullName(), err)
	}
	moved, _ := res.RowsAffected()
	return int(moved), nil
}

// ExpirePendingLFSObjects forgets uploads into projects that were never
// created, made before the given time, and reports how many it dropped.
// The stored blobs stay (they may be shared); only the claim goes.
func (s *Store) ExpirePendingLFSObjects(ctx context.Context, before time.Time) (int, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM lfs_pending WHERE created_at < ?`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("expire pending lfs objects: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
