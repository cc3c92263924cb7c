package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadCredentials is returned by Authenticate for an unknown user, an
// unknown or revoked token, or a token that belongs to someone else.
var ErrBadCredentials = errors.New("bad credentials")

// TokenPrefix starts every access token, so secrets are easy to recognise
// (in logs, by secret scanners).
const TokenPrefix = "bp_"

// Token describes an access token. The secret is shown once, at creation,
// and only its SHA-256 is stored.
type Token struct {
	ID       int64
	User     string
	Created  time.Time
	LastUsed *time.Time // nil if never used
	Revoked  *time.Time // nil while valid
}

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newSecret returns TokenPrefix and 40 base32 characters (200 random bits).
func newSecret() (string, error) {
	var b [25]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return TokenPrefix + tokenEncoding.EncodeToString(b[:]), nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a new access token for the user and returns it with
// its secret, which is not stored and cannot be shown again.
func (s *Store) CreateToken(ctx context.Context, user string) (Token, string, error) {
	u, err := s.UserByName(ctx, user)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	secret, err := newSecret()
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	now := time.Now().UTC()
	var id int64
	if err := s.DB.QueryRowContext(ctx, `INSERT INTO tokens (user_id, hash, created_at) VALUES (?, ?, ?) RETURNING id`, u.ID, hashSecret(secret), now).Scan(&id); err != nil {
		return Token{}, "", fmt.Errorf("create token for %s: %w", u.Name, err)
	}
	return Token{ID: id, User: u.Name, Created: now}, secret, nil
}

// Tokens lists a user's tokens, oldest first, revoked ones included.
func (s *Store) Tokens(ctx context.Context, user string) ([]Token, error) {
	u, err := s.UserByName(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, created_at, last_used_at, revoked_at FROM tokens WHERE user_id = ? ORDER BY id`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", u.Name, err)
	}
	defer rows.Close()
	var ts []Token
	for rows.Next() {
		t := Token{User: u.Name}
		var used, revoked sql.NullTime
		if err := rows.Scan(&t.ID, &t.Created, &used, &revoked); err != nil {
			return nil, fmt.Errorf("list tokens of %s: %w", u.Name, err)
		}
		if used.Valid {
			t.LastUsed = &used.Time
		}
		if revoked.Valid {
			t.Revoked = &revoked.Time
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// RevokeToken revokes the token with that id. An unknown id returns an
// error wrapping ErrNotFound; revoking twice is not an error.
func (s *Store) RevokeToken(ctx context.Context, id int64) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, time.Now().UTC(), id)
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke token %d: %w", id, ErrNotFound)
	}
	return nil
}

// Authenticate checks a user name and token secret and returns the user.
// Any mismatch returns ErrBadCredentials, without saying which part was
// wrong. The token is found by the SHA-256 of the secret, so what an index
// lookup's timing could reveal is a prefix of a hash, which does not help
// to find a secret; the stored hash is then compared with the computed one
// in constant time. An unknown token (for an unknown user or a known one)
// takes the same path as a known one: the comparison runs against a
// placeholder of the same length that never matches.
func (s *Store) Authenticate(ctx context.Context, name, secret string) (User, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 200 {
		return User{}, ErrBadCredentials
	}
	hash := hashSecret(secret)
	var (
		u        User
		stored   string
		tokenID  int64
		revoked  sql.NullTime
		lastUsed sql.NullTime
	)
	err := s.DB.QueryRowContext(ctx, `SELECT u.id, u.name, u.created_at, t.id, t.hash, t.revoked_at, t.last_used_at
		FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`, hash).
		Scan(&u.ID, &u.Name, &u.Created, &tokenID, &stored, &revoked, &lastUsed)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("authenticate %s: %w", name, err)
	}
	if !found {
		stored = strings.Repeat("-", len(hash)) // not hex: never equal
	}
	match := subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) == 1
	if !match || !found || revoked.Valid || !strings.EqualFold(u.Name, name) {
		return User{}, ErrBadCredentials
	}
	// Record use at most once a minute, so a busy client does not turn every
	// request into a write.
	now := time.Now().UTC()
	if !lastUsed.Valid || now.Sub(lastUsed.Time) > time.Minute {
		if _, err := s.DB.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, now, tokenID); err != nil {
			return User{}, fmt.Errorf("authenticate %s: record token use: %w", name, err)
		}
	}
	return u, nil
}
