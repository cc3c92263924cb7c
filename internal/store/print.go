package store

// Print planning's part of the store (migration 170_print.sql): per file
// content (SHA-256), the poses package print worked out from its mesh and
// the slicer's estimates per profile. Values are print's JSON documents;
// the store only keeps them.

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PrintShapes returns the stored shapes of the given contents that were
// computed by version, as JSON by SHA-256.
func (s *Store) PrintShapes(ctx context.Context, version int, sha256s []string) (map[string]string, error) {
	return s.printDocs(ctx, `SELECT sha256, shape FROM print_shapes WHERE version = ? AND sha256 IN `, []any{version}, sha256s)
}

// PutPrintShape stores a content's shape (JSON) as computed by version.
func (s *Store) PutPrintShape(ctx context.Context, sha256 string, version int, shape string) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO print_shapes (sha256, version, shape, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (sha256) DO UPDATE SET version = excluded.version, shape = excluded.shape, created_at = excluded.created_at`,
		sha256, version, shape, fmtTime(time.Now()))
	if err != nil {
		return fmt.Errorf("put print shape %s: %w", sha256, err)
	}
	return nil
}

// PrintEstimates returns the stored estimates of the given contents for a
// slicer profile, as JSON by SHA-256.
func (s *Store) PrintEstimates(ctx context.Context, profile string, sha256s []string) (map[string]string, error) {
	return s.printDocs(ctx, `SELECT sha256, estimate FROM print_estimates WHERE profile = ? AND sha256 IN `, []any{profile}, sha256s)
}

// PutPrintEstimate stores a content's estimate (JSON) for a profile.
func (s *Store) PutPrintEstimate(ctx context.Context, sha256, profile, estimate string) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO print_estimates (sha256, profile, estimate, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (sha256, profile) DO UPDATE SET estimate = excluded.estimate, created_at = excluded.created_at`,
		sha256, profile, estimate, fmtTime(time.Now()))
	if err != nil {
		return fmt.Errorf("put print estimate %s: %w", sha256, err)
	}
	return nil
}

// printDocs runs query (ending in "IN ") over keys, in batches, and maps
// the first column to the second.
func (s *Store) printDocs(ctx context.Context, query string, args []any, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	const batch = 500
	for start := 0; start < len(keys); start += batch {
		chunk := keys[start:min(start+batch, len(keys))]
		a := append(append([]any(nil), args...), anySlice(chunk)...)
		rows, err := s.DB.QueryContext(ctx, query+"("+strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+")", a...)
		if err != nil {
			return nil, fmt.Errorf("read print documents: %w", err)
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read print documents: %w", err)
			}
			out[k] = v
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read print documents: %w", err)
		}
	}
	return out, nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
