package store

import (
	"context"
	"fmt"
	"os"
)

// BackupTo writes a consistent copy of the whole database to the new file
// path, while other connections go on reading and writing. This is the
// dialect seam of `blueprints backup`: SQLite copies with VACUUM INTO;
// a PostgreSQL store (issue 19) answers with pg_dump here instead.
func (s *Store) BackupTo(ctx context.Context, path string) error {
	if s.Dialect() == Postgres {
		return fmt.Errorf("back up metadata: backing up a PostgreSQL store is not built yet; back it up with pg_dump, and the repositories and blobs with this command's output as a guide")
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("back up metadata to %s: file exists", path)
	}
	if _, err := s.DB.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("back up metadata to %s: %w", path, err)
	}
	return nil
}

// LFSObjectIDs lists every LFS object any project owns or is about to
// own (uploaded before the push that creates the project), once each,
// with its size.
func (s *Store) LFSObjectIDs(ctx context.Context) (map[string]int64, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT oid, MAX(size) FROM (SELECT oid, size FROM lfs_objects UNION ALL SELECT oid, size FROM lfs_pending) AS o GROUP BY oid`)
	if err != nil {
		return nil, fmt.Errorf("list LFS objects: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var oid string
		var size int64
		if err := rows.Scan(&oid, &size); err != nil {
			return nil, fmt.Errorf("list LFS objects: %w", err)
		}
		out[oid] = size
	}
	return out, rows.Err()
}

// AbandonPendingDeliveries marks webhook deliveries still waiting as
// failed, so that a restored copy does not send again what the original
// may already have sent.
func (s *Store) AbandonPendingDeliveries(ctx context.Context, why string) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, error = ? WHERE state = ?`, DeliveryFailed, why, DeliveryPending)
	return err
}
