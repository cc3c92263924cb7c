package store

import (
	"context"
	"fmt"
)

// IndexedKeys are what the search index should hold according to the
// store: a document per catalogued project and per catalogued part.
func (s *Store) IndexedKeys(ctx context.Context) (projects []string, parts [][2]string, err error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT project FROM project_meta`)
	if err != nil {
		return nil, nil, fmt.Errorf("indexed projects: %w", err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, nil, err
		}
		projects = append(projects, p)
	}
	rows.Close()
	rows, err = s.DB.QueryContext(ctx, `SELECT project, path FROM parts WHERE error = ''`)
	if err != nil {
		return nil, nil, fmt.Errorf("indexed parts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			return nil, nil, err
		}
		parts = append(parts, k)
	}
	return projects, parts, rows.Err()
}

// PreviewKeys maps each measured file version's preview key to its blob.
func (s *Store) PreviewKeys(ctx context.Context) (map[string]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT preview, blob FROM blob_parts WHERE preview <> ''`)
	if err != nil {
		return nil, fmt.Errorf("preview keys: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var key, blob string
		if err := rows.Scan(&key, &blob); err != nil {
			return nil, err
		}
		out[key] = blob
	}
	return out, rows.Err()
}

// DeleteBlobPart forgets one file version's measurements, so that the
// next catalogue of a project using it measures and renders it again.
func (s *Store) DeleteBlobPart(ctx context.Context, blob string) error {
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM blob_parts WHERE blob = ?`, blob); err != nil {
		return fmt.Errorf("forget measurements of %s: %w", blob, err)
	}
	return nil
}

// ForgetProject removes a project's row and everything the catalog
// recorded for it (parts, metadata, jobs); LFS ownership, locks and
// webhooks go with the row.
func (s *Store) ForgetProject(ctx context.Context, p Project) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM parts WHERE project = ?`, `DELETE FROM project_meta WHERE project = ?`, `DELETE FROM catalog_jobs WHERE project = ?`} {
		if _, err := tx.ExecContext(ctx, q, p.FullName()); err != nil {
			return fmt.Errorf("forget project %s: %w", p.FullName(), err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, p.ID); err != nil {
		return fmt.Errorf("forget project %s: %w", p.FullName(), err)
	}
	return tx.Commit()
}
