package store

// The change log each node's search index follows (DESIGN decision 10;
// migration 190_cluster.sql). Whatever changes a search document (a part
// or a project of the catalogue) writes a row here in the same
// transaction, through logChanges. Every node's follower (package
// catalog/follow) reads the rows after the sequence number its index has
// applied (IndexChanges), builds those documents again from the catalogue
// (ProjectMeta, CataloguedParts) and writes them to its own index, or
// deletes them when the catalogue no longer has them.
//
// A part's search document carries its project's licence, category and
// tags, so a change to those logs every part of the project; a project's
// document carries its part count, so every part change logs the project.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Change is one row of the change log: the search document of a part
// (Path) or of a project (Path "") may have changed.
type Change struct {
	Seq     int64
	Project string
	Path    string
}

// logChunk is how many rows one INSERT writes: 3 placeholders a row stay
// far below both engines' limits (SQLite 32766, PostgreSQL 65535).
const logChunk = 500

// logChanges moves the documents of project at paths ("" for the project
// itself) to new sequence numbers, in tx. Taking the numbers updates the
// counter row, which stays locked until tx ends: transactions that log
// commit in the order of their numbers.
func logChanges(ctx context.Context, tx *Tx, project string, paths []string) error {
	seen := make(map[string]bool, len(paths))
	uniq := paths[:0:0]
	for _, p := range paths {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	if len(uniq) == 0 {
		return nil
	}
	var last int64
	if err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value + ? WHERE name = 'index_log' RETURNING value`, len(uniq)).Scan(&last); err != nil {
		return fmt.Errorf("log changes of %s: %w", project, err)
	}
	seq := last - int64(len(uniq))
	for start := 0; start < len(uniq); start += logChunk {
		chunk := uniq[start:min(start+logChunk, len(uniq))]
		args := make([]any, 0, 3*len(chunk))
		for _, p := range chunk {
			seq++
			args = append(args, project, p, seq)
		}
		q := `INSERT INTO index_log (project, path, seq) VALUES (?, ?, ?)` + strings.Repeat(`, (?, ?, ?)`, len(chunk)-1) +
			` ON CONFLICT (project, path) DO UPDATE SET seq = excluded.seq`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("log changes of %s: %w", project, err)
		}
	}
	return nil
}

// logProject logs the project's document, those of all its parts, and
// those at the paths given (parts just deleted, say).
func logProject(ctx context.Context, tx *Tx, project string, also ...string) error {
	rows, err := tx.QueryContext(ctx, `SELECT path FROM parts WHERE project = ?`, project)
	if err != nil {
		return fmt.Errorf("log changes of %s: %w", project, err)
	}
	paths := append([]string{""}, also...)
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return fmt.Errorf("log changes of %s: %w", project, err)
		}
		paths = append(paths, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("log changes of %s: %w", project, err)
	}
	return logChanges(ctx, tx, project, paths)
}

// LogProject records that every search document of project (the project
// and all its parts) must be built again: for changes outside the
// catalogue that documents show (say a project's visibility).
func (s *Store) LogProject(ctx context.Context, project string) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("log changes of %s: %w", project, err)
	}
	defer tx.Rollback()
	if err := logProject(ctx, tx, project); err != nil {
		return err
	}
	return tx.Commit()
}

// IndexChanges returns up to limit rows of the change log after sequence
// number after, in order.
func (s *Store) IndexChanges(ctx context.Context, after int64, limit int) ([]Change, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT seq, project, path FROM index_log WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read the change log: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Seq, &c.Project, &c.Path); err != nil {
			return nil, fmt.Errorf("read the change log: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// IndexLog says which change log the database holds (ID, drawn at random
// when the database was made, kept by migrate-db) and its last sequence
// number (Head). An index that followed another log, or got further than
// this one, does not belong to this database.
func (s *Store) IndexLog(ctx context.Context) (id, head int64, err error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT name, value FROM counters WHERE name IN ('index_log', 'index_log_id')`)
	if err != nil {
		return 0, 0, fmt.Errorf("read the change log's head: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return 0, 0, fmt.Errorf("read the change log's head: %w", err)
		}
		if name == "index_log" {
			head = v
		} else {
			id = v
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("read the change log's head: %w", err)
	}
	if id == 0 {
		return 0, 0, errors.New("read the change log's head: the database has no log id")
	}
	return id, head, nil
}

// ensureLogID gives the database its change log id, once.
func (s *Store) ensureLogID(ctx context.Context) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	id := int64(binary.BigEndian.Uint64(b[:])>>2) + 1 // positive on both engines
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO counters (name, value) VALUES ('index_log_id', ?) ON CONFLICT DO NOTHING`, id); err != nil {
		return fmt.Errorf("give the change log an id: %w", err)
	}
	return nil
}

// CataloguedParts returns the parts of project at the given paths, with
// their measurements, by path; paths the catalogue does not hold are
// absent.
func (s *Store) CataloguedParts(ctx context.Context, project string, paths []string) (map[string]CataloguedPart, error) {
	out := make(map[string]CataloguedPart, len(paths))
	for start := 0; start < len(paths); start += logChunk {
		chunk := paths[start:min(start+logChunk, len(paths))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, project)
		for _, p := range chunk {
			args = append(args, p)
		}
		rows, err := s.DB.QueryContext(ctx, `SELECT `+cataloguedPartColumns+` WHERE p.project = ? AND p.path IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("parts of %s: %w", project, err)
		}
		for rows.Next() {
			c, err := scanCataloguedPart(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("parts of %s: %w", project, err)
			}
			out[c.Path] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("parts of %s: %w", project, err)
		}
	}
	return out, nil
}
