package store

import (
	"context"
	"database/sql"
)

// DB is the store's connection pool: database/sql's, with the query text
// rebound to the engine's placeholders on the way (see dialect.go). Store
// code writes "?" and runs on SQLite and PostgreSQL alike.
type DB struct {
	sql *sql.DB
	d   dialect
}

// Dialect is "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.d.name }

// ExecContext runs a statement that returns no rows.
func (db *DB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, db.d.rebind(q), args...)
}

// QueryContext runs a query.
func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, db.d.rebind(q), args...)
}

// QueryRowContext runs a query expected to return at most one row.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, db.d.rebind(q), args...)
}

// BeginTx starts a transaction.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Tx{tx: tx, d: db.d}, nil
}

// PingContext checks that the database answers.
func (db *DB) PingContext(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Close closes the pool.
func (db *DB) Close() error { return db.sql.Close() }

// Tx is a transaction of DB, rebinding like it.
type Tx struct {
	tx *sql.Tx
	d  dialect
}

// ExecContext runs a statement that returns no rows.
func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, tx.d.rebind(q), args...)
}

// QueryContext runs a query.
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, tx.d.rebind(q), args...)
}

// QueryRowContext runs a query expected to return at most one row.
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, tx.d.rebind(q), args...)
}

// Commit commits the transaction.
func (tx *Tx) Commit() error { return tx.tx.Commit() }

// Rollback aborts the transaction; after Commit it does nothing.
func (tx *Tx) Rollback() error { return tx.tx.Rollback() }
