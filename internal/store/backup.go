package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The formats of a metadata copy, as a backup's manifest records them.
const (
	CopySQLite = "sqlite"  // a SQLite database file (VACUUM INTO)
	CopyPgDump = "pg_dump" // pg_dump's custom format (pg_restore reads it)
)

// BackupOptions are the programs a PostgreSQL backup and restore run.
type BackupOptions struct {
	PgDump    string // "" = pg_dump on PATH
	PgRestore string // "" = pg_restore on PATH
}

// Backup writes a consistent copy of the whole database to the new file
// path, while other connections go on reading and writing, and returns
// the copy's format (CopySQLite or CopyPgDump) and the LFS objects that
// copy references, as LFSObjectIDs answers at the copy's moment. This is
// the dialect seam of `blueprints backup`: SQLite copies with VACUUM INTO
// and lists from the copy; PostgreSQL exports the snapshot of a
// repeatable-read transaction, runs pg_dump on that snapshot and lists in
// the same transaction, so the list and the dump see one moment.
func (s *Store) Backup(ctx context.Context, path string, opt BackupOptions) (format string, lfs map[string]int64, err error) {
	if _, err := os.Stat(path); err == nil {
		return "", nil, fmt.Errorf("back up metadata to %s: file exists", path)
	}
	if s.Dialect() == Postgres {
		lfs, err := s.pgDump(ctx, path, opt.PgDump)
		return CopyPgDump, lfs, err
	}
	if _, err := s.DB.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return "", nil, fmt.Errorf("back up metadata to %s: %w", path, err)
	}
	snap, err := Open(ctx, path)
	if err != nil {
		return "", nil, fmt.Errorf("read the metadata copy %s: %w", path, err)
	}
	defer snap.Close()
	lfs, err = lfsObjectIDs(ctx, snap.DB)
	return CopySQLite, lfs, err
}

func (s *Store) pgDump(ctx context.Context, path, program string) (map[string]int64, error) {
	tx, err := s.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("back up metadata: %w", err)
	}
	defer tx.Rollback()
	var snapshot string
	if err := tx.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("back up metadata: export a snapshot: %w", err)
	}
	if err := runPg(ctx, orDefault(program, "pg_dump"), s.dsn, "--format=custom", "--no-owner", "--no-privileges", "--no-comments", "--snapshot="+snapshot, "--file="+path); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("back up metadata %s: %w", Redact(s.dsn), err)
	}
	return lfsObjectIDs(ctx, tx)
}

// RestoreDump loads a metadata copy in CopyPgDump format into the
// PostgreSQL database dsn, which must hold no tables yet (restore never
// writes over a live instance). Open it afterwards as usual.
func RestoreDump(ctx context.Context, dsn, dump string, opt BackupOptions) error {
	if !IsPostgres(dsn) {
		return fmt.Errorf("restore %s: a pg_dump copy goes into PostgreSQL: give --db postgres://… naming an empty database", dump)
	}
	tables, err := pgTables(ctx, dsn)
	if err != nil {
		return err
	}
	if tables > 0 {
		return fmt.Errorf("PostgreSQL database %s already holds %d tables: restore into an empty database", Redact(dsn), tables)
	}
	return runPg(ctx, orDefault(opt.PgRestore, "pg_restore"), dsn, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", dump)
}

// pgTables counts the tables of dsn's database outside PostgreSQL's own
// schemas.
func pgTables(ctx context.Context, dsn string) (int, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("connect to PostgreSQL database %s: %w", Redact(dsn), err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("PostgreSQL database %s: %w", Redact(dsn), err)
	}
	return n, nil
}

// runPg runs a PostgreSQL client program on the database dsn. The
// password goes in the environment (PGPASSWORD), never on the command
// line where other users' ps would see it, nor in errors.
func runPg(ctx context.Context, program, dsn string, args ...string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("%s: the database URL does not parse", program)
	}
	env := os.Environ()
	if pw, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+pw)
		u.User = url.User(u.User.Username())
	}
	cmd := exec.CommandContext(ctx, program, append(args, "--dbname="+u.String())...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s is not installed (Debian: postgresql-client), or name it with its flag: %w", program, err)
		}
		return fmt.Errorf("%s: %v: %s", program, err, msg)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// LFSObjectIDs lists every LFS object any project owns or is about to
// own (uploaded before the push that creates the project), once each,
// with its size.
func (s *Store) LFSObjectIDs(ctx context.Context) (map[string]int64, error) {
	return lfsObjectIDs(ctx, s.DB)
}

func lfsObjectIDs(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT oid, MAX(size) FROM (SELECT oid, size FROM lfs_objects UNION ALL SELECT oid, size FROM lfs_pending) AS o GROUP BY oid`)
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
