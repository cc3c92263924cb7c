// Package store is Blueprints' metadata store: users, token hashes,
// projects, LFS object ownership and locks, part metadata, the catalog job
// queue and the change log the search index follows. It speaks SQLite
// (modernc.org/sqlite, pure Go; the embedded default, one file in the data
// folder) and PostgreSQL (github.com/jackc/pgx/v5, for several nodes)
// through database/sql. Plain-SQL migrations in migrations/NNN_name.sql
// are applied in order at Open, on either engine.
//
// SQL is written once, portably; the few differences between the engines
// live in dialect.go and nowhere else. Cluster coordination that needs
// more than rows (push locks, claiming jobs) is in cluster.go.
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
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
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
	DB *DB

	dsn   string      // as opened (PostgreSQL: pg_dump connects to it)
	locks *localLocks // SQLite: push locks within this process
	held  sync.Map    // PostgreSQL: *heldLock → true, the locks this store holds
}

// IsPostgres reports whether dsn names a PostgreSQL database
// (postgres://… or postgresql://…) rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the metadata store and applies any pending migrations. dsn is
// a PostgreSQL URL (postgres://user:password@host/db?sslmode=…) or the
// path of a SQLite file, created if needed.
func Open(ctx context.Context, dsn string) (*Store, error) {
	var db *DB
	var what string
	if IsPostgres(dsn) {
		what = "PostgreSQL database " + Redact(dsn)
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("open metadata store: %s: %w", what, err)
		}
		// Timestamps are stored without a zone, in UTC, on both engines.
		cfg.RuntimeParams["timezone"] = "UTC"
		if cfg.RuntimeParams["application_name"] == "" {
			cfg.RuntimeParams["application_name"] = "blueprints"
		}
		sdb := stdlib.OpenDB(*cfg)
		// Three nodes stay well under PostgreSQL's default of 100
		// connections; push locks hold one each only while they are held.
		sdb.SetMaxOpenConns(25)
		sdb.SetMaxIdleConns(10)
		sdb.SetConnMaxIdleTime(5 * time.Minute)
		db = &DB{sql: sdb, d: dialect{name: Postgres}}
	} else {
		what = dsn
		path := strings.TrimPrefix(dsn, "sqlite:")
		sdb, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("open metadata store %s: %w", what, err)
		}
		db = &DB{sql: sdb, d: dialect{name: SQLite}}
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata store %s: %w", what, err)
	}
	s := &Store{DB: db, dsn: dsn, locks: newLocalLocks()}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		var newer *NewerSchemaError
		if errors.As(err, &newer) {
			newer.Path = what
			return nil, newer
		}
		return nil, fmt.Errorf("migrate metadata store %s: %w", what, err)
	}
	if err := s.ensureLogID(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata store %s: %w", what, err)
	}
	if err := s.recordWriter(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata store %s: %w", what, err)
	}
	return s, nil
}

// NewerSchemaError refuses a database that a newer Blueprints has
// migrated past what this binary knows: opening it could misread or
// damage data the newer version wrote.
type NewerSchemaError struct {
	Path      string // the database (a PostgreSQL URL without its password)
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
	ms, err := migrationList()
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
func (s *Store) checkNotNewer(ctx context.Context, known []migration) error {
	var newest int
	var name string
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
	if newest <= top {
		return nil
	}
	e := &NewerSchemaError{Schema: newest, Migration: name, Known: top}
	// A failure to read store_info only leaves the writer unnamed.
	e.WrittenBy, _ = s.WrittenBy(ctx)
	return e
}

// Redact returns dsn without its password, for messages and logs.
func Redact(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "postgres://…"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Dialect is SQLite or Postgres.
func (s *Store) Dialect() string { return s.DB.d.name }

// Shared reports whether other processes on other machines may use the
// same database (PostgreSQL): then blob storage must be shared too, and
// locks are taken in the database.
func (s *Store) Shared() bool { return s.DB.d.name == Postgres }

// Close releases the locks the store holds and closes the database.
func (s *Store) Close() error {
	s.releaseAll()
	return s.DB.Close()
}

// migration is one NNN_name.sql file, with its PostgreSQL twin if any.
type migration struct {
	version  int
	name     string // the shared file
	postgres string // NNN_name.postgres.sql, or ""
}

// Migrations lists the embedded migrations in order.
func migrationList() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	byVersion := map[int]*migration{}
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNN_what.sql", e.Name())
		}
		m := byVersion[v]
		if m == nil {
			m = &migration{version: v}
			byVersion[v] = m
		}
		if strings.HasSuffix(e.Name(), ".postgres.sql") {
			m.postgres = e.Name()
			continue
		}
		if m.name != "" {
			return nil, fmt.Errorf("migrations %s and %s share version %d", m.name, e.Name(), v)
		}
		m.name = e.Name()
	}
	var ms []migration
	for _, m := range byVersion {
		if m.name == "" {
			return nil, fmt.Errorf("migration %s has no shared NNN_name.sql beside it", m.postgres)
		}
		ms = append(ms, *m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies pending migrations, each in its own transaction. On
// PostgreSQL several nodes may start at once: each transaction first takes
// a cluster-wide lock, then looks again at what is applied.
func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, -1) }

// migrateTo applies the embedded migrations up to version limit (all of
// them when limit < 0); tests build older schemas with it. A database
// with a migration this binary does not know is refused first.
func (s *Store) migrateTo(ctx context.Context, limit int) error {
	ms, err := migrationList()
	if err != nil {
		return err
	}
	if err := s.inMigrationTx(ctx, func(tx *Tx) error {
		if s.Dialect() == Postgres {
			// citext: names unique and found without regard to case (a
			// trusted extension: the database's owner may create it).
			if _, err := tx.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS citext`); err != nil {
				return fmt.Errorf("create extension citext (the role needs CREATE on the database, e.g. be its owner): %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`)
		return err
	}); err != nil {
		return err
	}
	if err := s.checkNotNewer(ctx, ms); err != nil {
		return err
	}
	for _, m := range ms {
		if limit >= 0 && m.version > limit {
			break
		}
		name := m.name
		if s.Dialect() == Postgres && m.postgres != "" {
			name = m.postgres
		}
		body, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			return err
		}
		text := string(body)
		if name == m.name {
			if text, err = s.DB.d.translateDDL(name, text); err != nil {
				return err
			}
		}
		err = s.inMigrationTx(ctx, func(tx *Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, text); err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.version, m.name)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func sortStrings(s []string) { sort.Strings(s) }

// inMigrationTx runs f in a transaction holding the migration lock.
func (s *Store) inMigrationTx(ctx context.Context, f func(*Tx) error) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.Dialect() == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, lockKey("blueprints migrations")); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}
