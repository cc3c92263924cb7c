package store

// The sign-in throttle's records (migration 191_throttle.sql): how often a
// client address or a user name failed to sign in, and until when it is
// refused. internal/guard decides; the store keeps the records where every
// node sees them.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"database/sql"
)

// ThrottleRecord is what the throttle knows about one key.
type ThrottleRecord struct {
	Failures     int       // within the window starting at Since
	Since        time.Time // start of the counting window
	Strikes      int       // refusals so far
	BlockedUntil time.Time // refused until then
	Last         time.Time // last failure (or success, for a good pair)
}

func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

const throttleColumns = `key, failures, since_ms, strikes, blocked_until_ms, last_ms`

func scanThrottle(sc interface{ Scan(...any) error }) (string, ThrottleRecord, error) {
	var key string
	var r ThrottleRecord
	var since, until, last int64
	err := sc.Scan(&key, &r.Failures, &since, &r.Strikes, &until, &last)
	r.Since, r.BlockedUntil, r.Last = fromMillis(since), fromMillis(until), fromMillis(last)
	return key, r, err
}

// ThrottleRecords returns the records of those keys that have one.
func (s *Store) ThrottleRecords(ctx context.Context, keys []string) (map[string]ThrottleRecord, error) {
	out := make(map[string]ThrottleRecord, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+throttleColumns+` FROM throttle WHERE key IN (?`+strings.Repeat(",?", len(keys)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read sign-in throttle: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		k, r, err := scanThrottle(rows)
		if err != nil {
			return nil, fmt.Errorf("read sign-in throttle: %w", err)
		}
		out[k] = r
	}
	return out, rows.Err()
}

// UpdateThrottleRecord runs f on key's record (the zero record when there
// is none) and keeps what f leaves, in one transaction that holds the
// record's row: concurrent updates of one key, from any node, take turns.
func (s *Store) UpdateThrottleRecord(ctx context.Context, key string, f func(*ThrottleRecord)) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update sign-in throttle: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO throttle (key) VALUES (?) ON CONFLICT DO NOTHING`, key); err != nil {
		return fmt.Errorf("update sign-in throttle: %w", err)
	}
	_, r, err := scanThrottle(tx.QueryRowContext(ctx, `SELECT `+throttleColumns+` FROM throttle WHERE key = ?`+s.DB.d.forUpdate(), key))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("update sign-in throttle: record %q vanished", key)
	}
	if err != nil {
		return fmt.Errorf("update sign-in throttle: %w", err)
	}
	f(&r)
	if _, err := tx.ExecContext(ctx, `UPDATE throttle SET failures = ?, since_ms = ?, strikes = ?, blocked_until_ms = ?, last_ms = ? WHERE key = ?`,
		r.Failures, toMillis(r.Since), r.Strikes, toMillis(r.BlockedUntil), toMillis(r.Last), key); err != nil {
		return fmt.Errorf("update sign-in throttle: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update sign-in throttle: %w", err)
	}
	return nil
}

// ForgetThrottleRecords drops the records last touched, and refused until,
// before t, and returns how many.
func (s *Store) ForgetThrottleRecords(ctx context.Context, before time.Time) (int, error) {
	ms := before.UnixMilli()
	res, err := s.DB.ExecContext(ctx, `DELETE FROM throttle WHERE last_ms < ? AND blocked_until_ms < ?`, ms, ms)
	if err != nil {
		return 0, fmt.Errorf("forget sign-in throttle records: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
