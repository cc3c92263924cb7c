// Package store is Blueprints' metadata store: users, token hashes,
// projects, LFS object ownership and locks, part metadata and the catalog
// job queue. It is SQLite (modernc.org/sqlite, pure Go) through
// database/sql, with plain-SQL migrations in migrations/NNN_name.sql applied
// in order at Open. Keep the SQL portable so PostgreSQL can replace SQLite.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/blueprints-hq/blueprints/internal/version"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when a row to create already exists.
var ErrExists = errors.New("already exists")

// Store is the metadata database. Safe for concurrent use.
type Store struct {
	DB *sql.DB
}

// Open opens (creating if needed) the SQLite database at path and applies
// any pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open metadata store %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata store %s: %w", path, err)
	}
	s := &Store{DB: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		var newer *NewerSchemaError
		if errors.As(err, &newer) {
			newer.Path = path
			return nil, newer
		}
		return nil, fmt.Errorf("migrate metadata store %s: %w", path, err)
	}
	if err := s.recordWriter(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata store %s: %w", path, err)
	}
	return s, nil
}

// NewerSchemaError refuses a database that a newer Blueprints has
// migrated past what this binary knows: opening it could misread or
// damage data the newer version wrote.
type NewerSchemaError struct {
	Path      string // the database
	Schema    int    // its newest applied migration
	Migration string // that migration's file name
	WrittenBy string // the binary that last opened it ("v1.3.0 (commit …)"), "" when unrecorded
	Known     int    // the newest migration this binary knows
}

func (e *NewerSchemaError) Error() string {
	by := e.WrittenBy
	if by == "" {
		by = "an unknown newer version"
	}
	return fmt.Sprintf("metadata store %s was written by Blueprints %s, schema version %d (%s); this binary, Blueprints %s, knows schema versions up to %d: run that newer binary, or restore a backup taken with this version",
		e.Path, by, e.Schema, e.Migration, version.Read(), e.Known)
}

// SchemaVersion is the newest migration version this binary knows.
func SchemaVersion() int {
	ms, err := embeddedMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// recordWriter notes this binary as the last one to open the database.
func (s *Store) recordWriter(ctx context.Context) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO store_info (key, value) VALUES ('written_by', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, version.Read().String())
	return err
}

// WrittenBy is the binary that last opened the database, as recorded.
func (s *Store) WrittenBy(ctx context.Context) (string, error) {
	var v string
	err := s.DB.QueryRowContext(ctx, `SELECT value FROM store_info WHERE key = 'written_by'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// checkNotNewer refuses a database with a migration applied that this
// binary does not know.
func (s *Store) checkNotNewer(ctx context.Context, known []mig) error {
	var newest sql.NullInt64
	var name sql.NullString
	err := s.DB.QueryRowContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1`).Scan(&newest, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	top := 0
	if len(known) > 0 {
		top = known[len(known)-1].version
	}
	if int(newest.Int64) <= top {
		return nil
	}
	e := &NewerSchemaError{Schema: int(newest.Int64), Migration: name.String, Known: top}
	// store_info exists in any schema newer than this one's that has it;
	// a failure to read it only leaves the writer unnamed.
	e.WrittenBy, _ = s.WrittenBy(ctx)
	return e
}

type mig struct {
	version int
	name    string
}

// embeddedMigrations are the migrations built into this binary, in
// version order.
func embeddedMigrations() ([]mig, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []mig
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNN_what.sql", e.Name())
		}
		ms = append(ms, mig{v, e.Name()})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, -1) }

// migrateTo applies the embedded migrations up to version limit (all of
// them when limit < 0); tests build older schemas with it.
func (s *Store) migrateTo(ctx context.Context, limit int) error {
	if _, err := s.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		return err
	}
	ms, err := embeddedMigrations()
	if err != nil {
		return err
	}
	if err := s.checkNotNewer(ctx, ms); err != nil {
		return err
	}
	for _, m := range ms {
		if limit >= 0 && m.version > limit {
			break
		}
		var n int
		if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + m.name)
		if err != nil {
			return err
		}
		tx, err := s.DB.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("apply %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("apply %s: %w", m.name, err)
		}
	}
	return nil
}
