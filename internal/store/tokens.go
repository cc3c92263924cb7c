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

// Token scopes: what a token may do beyond identifying its user.
const (
	ScopeRead  = "read"  // clone, fetch, LFS downloads, the API: never a change
	ScopeWrite = "write" // also push, LFS uploads and locks (tokens made before scopes existed)
)

// Token describes an access token. The secret is shown once, at creation,
// and only its SHA-256 is stored.
type Token struct {
	ID       int64
	User     string
	Name     string // what its owner called it ("laptop", "CI"); "" for old tokens
	Scope    string // ScopeRead or ScopeWrite
	Created  time.Time
	LastUsed *time.Time // nil if never used
	Revoked  *time.Time // nil while valid
	Expires  *time.Time // nil: never
}

// Active reports whether the token still works at now (neither revoked
// nor expired).
func (t Token) Active(now time.Time) bool {
	return t.Revoked == nil && (t.Expires == nil || now.Before(*t.Expires))
}

// TokenOptions are the name, scope and expiry of a new token.
type TokenOptions struct {
	Name    string
	Scope   string    // ScopeWrite when empty
	Expires time.Time // zero: never
}

// ValidScope reports whether scope is ScopeRead or ScopeWrite.
func ValidScope(scope string) bool { return scope == ScopeRead || scope == ScopeWrite }

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

// CreateToken makes a new write-scoped access token without a name or
// expiry for the user and returns it with its secret, which is not stored
// and cannot be shown again.
func (s *Store) CreateToken(ctx context.Context, user string) (Token, string, error) {
	return s.NewToken(ctx, user, TokenOptions{})
}

// NewToken makes an access token with a name, scope and expiry for the
// person named user and returns it with its secret, which is not stored
// and cannot be shown again. Organisations have no tokens.
func (s *Store) NewToken(ctx context.Context, user string, opt TokenOptions) (Token, string, error) {
	if opt.Scope == "" {
		opt.Scope = ScopeWrite
	}
	if !ValidScope(opt.Scope) {
		return Token{}, "", fmt.Errorf("create token: scope %q: want %s or %s", opt.Scope, ScopeRead, ScopeWrite)
	}
	u, err := s.UserByName(ctx, user)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	if u.IsOrg() {
		return Token{}, "", fmt.Errorf("create token: %s is an organisation; tokens belong to its members", u.Name)
	}
	secret, err := newSecret()
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	now := time.Now().UTC()
	var expires any
	t := Token{User: u.Name, Name: opt.Name, Scope: opt.Scope, Created: now}
	if !opt.Expires.IsZero() {
		e := opt.Expires.UTC()
		expires, t.Expires = e, &e
	}
	if err := s.DB.QueryRowContext(ctx, `INSERT INTO tokens (user_id, hash, created_at, name, scope, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		u.ID, hashSecret(secret), now, opt.Name, opt.Scope, expires).Scan(&t.ID); err != nil {
		return Token{}, "", fmt.Errorf("create token for %s: %w", u.Name, err)
	}
	return t, secret, nil
}

// Tokens lists a user's tokens, oldest first, revoked and expired ones
// included.
func (s *Store) Tokens(ctx context.Context, user string) ([]Token, error) {
	u, err := s.UserByName(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, name, scope, created_at, last_used_at, revoked_at, expires_at FROM tokens WHERE user_id = ? ORDER BY id`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", u.Name, err)
	}
	defer rows.Close()
	var ts []Token
	for rows.Next() {
		t := Token{User: u.Name}
		var used, revoked, expires sql.NullTime
		if err := rows.Scan(&t.ID, &t.Name, &t.Scope, &t.Created, &used, &revoked, &expires); err != nil {
			return nil, fmt.Errorf("list tokens of %s: %w", u.Name, err)
		}
		t.LastUsed, t.Revoked, t.Expires = timePtr(used), timePtr(revoked), timePtr(expires)
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
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

// RevokeUserToken revokes a token only if it belongs to userID (the web
// settings page revokes its viewer's own tokens).
func (s *Store) RevokeUserToken(ctx context.Context, userID, id int64) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ?`, time.Now().UTC(), id, userID)
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke token %d: %w", id, ErrNotFound)
	}
	return nil
}

// TokenAuth is a token that authenticated a request: its user and what
// it may do.
type TokenAuth struct {
	User    User
	TokenID int64
	Scope   string // ScopeRead or ScopeWrite
}

// Authenticate checks a user name and token secret and returns the user.
// Any mismatch returns ErrBadCredentials, without saying which part was
// wrong. See AuthenticateToken.
func (s *Store) Authenticate(ctx context.Context, name, secret string) (User, error) {
	a, err := s.AuthenticateToken(ctx, name, secret)
	if err != nil {
		return User{}, err
	}
	return a.User, nil
}

// AuthenticateToken checks a token secret, and the user name it came with
// unless name is "" (a bearer token names no user), and returns its user
// and scope. Any mismatch, a revoked or expired token and a disabled
// account return ErrBadCredentials, without saying which. The token is
// found by the SHA-256 of the secret, so what an index lookup's timing
// could reveal is a prefix of a hash, which does not help to find a
// secret; the stored hash is then compared with the computed one in
// constant time. An unknown token (for an unknown user or a known one)
// takes the same path as a known one: the comparison runs against a
// placeholder of the same length that never matches.
func (s *Store) AuthenticateToken(ctx context.Context, name, secret string) (TokenAuth, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 200 {
		return TokenAuth{}, ErrBadCredentials
	}
	hash := hashSecret(secret)
	var (
		a        TokenAuth
		stored   string
		revoked  sql.NullTime
		lastUsed sql.NullTime
		expires  sql.NullTime
	)
	row := s.DB.QueryRowContext(ctx, `SELECT `+userColumns+`, t.id, t.hash, t.scope, t.revoked_at, t.last_used_at, t.expires_at
		FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`, hash)
	var admin int
	var disabled sql.NullTime
	u := &a.User
	err := row.Scan(&u.ID, &u.Name, &u.Created, &u.Kind, &u.DisplayName, &u.Bio, &admin, &disabled, &u.HasPassword,
		&a.TokenID, &stored, &a.Scope, &revoked, &lastUsed, &expires)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return TokenAuth{}, fmt.Errorf("authenticate %s: %w", name, err)
	}
	if !found {
		stored = strings.Repeat("-", len(hash)) // not hex: never equal
	}
	now := time.Now().UTC()
	match := subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) == 1
	if !match || !found || revoked.Valid || disabled.Valid || (expires.Valid && !now.Before(expires.Time)) ||
		(name != "" && !strings.EqualFold(u.Name, name)) {
		return TokenAuth{}, ErrBadCredentials
	}
	u.Admin = admin != 0
	// Record use at most once a minute, so a busy client does not turn every
	// request into a write.
	if !lastUsed.Valid || now.Sub(lastUsed.Time) > time.Minute {
		if _, err := s.DB.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, now, a.TokenID); err != nil {
			return TokenAuth{}, fmt.Errorf("authenticate %s: record token use: %w", name, err)
		}
	}
	return a, nil
}
