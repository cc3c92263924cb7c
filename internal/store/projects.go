package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Project is a git repository owned by a user.
type Project struct {
	ID            int64
	Owner         string // canonical case
	Name          string // canonical case
	DefaultBranch string // short branch name ("main"); empty until the first push
	Created       time.Time
	Updated       time.Time // last push
}

// FullName is "owner/name".
func (p Project) FullName() string { return p.Owner + "/" + p.Name }

const projectColumns = `id, owner, name, default_branch, created_at, updated_at`

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var p Project
	err := row.Scan(&p.ID, &p.Owner, &p.Name, &p.DefaultBranch, &p.Created, &p.Updated)
	return p, err
}

// CreateProject adds a project. (owner, name) is unique without regard to
// case; a clash returns an error wrapping ErrExists. The caller validates
// the names.
func (s *Store) CreateProject(ctx context.Context, owner, name string) (Project, error) {
	now := time.Now().UTC()
	var id int64
	err := s.DB.QueryRowContext(ctx, `INSERT INTO projects (owner, name, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`, owner, name, now, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, fmt.Errorf("create project %s/%s: %w", owner, name, ErrExists)
	}
	if err != nil {
		return Project{}, fmt.Errorf("create project %s/%s: %w", owner, name, err)
	}
	return Project{ID: id, Owner: owner, Name: name, Created: now, Updated: now}, nil
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

// Projects lists projects, newest first, skipping offset and returning at
// most limit (all when limit <= 0).
func (s *Store) Projects(ctx context.Context, limit, offset int) ([]Project, error) {
	q := `SELECT ` + projectColumns + ` FROM projects ORDER BY created_at DESC, id DESC`
	args := []any{}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	q += ` OFFSET ?`
	args = append(args, offset)
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var ps []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("list projects: %w", err)
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// CountProjects returns the number of projects.
func (s *Store) CountProjects(ctx context.Context) (int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count projects: %w", err)
	}
	return n, nil
}

// SetDefaultBranch records the project's default branch (short name).
func (s *Store) SetDefaultBranch(ctx context.Context, id int64, branch string) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE projects SET default_branch = ? WHERE id = ?`, branch, id); err != nil {
		return fmt.Errorf("set default branch of project %d: %w", id, err)
	}
	return nil
}

// TouchProject records that the project was pushed to now.
func (s *Store) TouchProject(ctx context.Context, id int64) error {
	if _, err := s.DB.ExecContext(ctx, `UPDATE projects SET updated_at = ? WHERE id = ?`, time.Now().UTC(), id); err != nil {
		return fmt.Errorf("touch project %d: %w", id, err)
	}
	return nil
}

// DeleteProject removes the project's row (not its repository).
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete project %d: %w", id, err)
	}
	return nil
}

// ProjectsVersion is a short string that changes whenever a project is
// created, pushed to or deleted; pages listing projects use it in their
// cache keys.
func (s *Store) ProjectsVersion(ctx context.Context) (string, error) {
	var n int64
	var latest sql.NullString
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*), MAX(updated_at) FROM projects`).Scan(&n, &latest); err != nil {
		return "", fmt.Errorf("projects version: %w", err)
	}
	return fmt.Sprintf("%d/%s", n, latest.String), nil
}
