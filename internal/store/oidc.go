package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OpenID Connect sign-ins in progress: the state a browser carries to the
// provider and back, kept here so that it works on every node of a
// cluster and can be taken back only once (a replayed answer finds
// nothing).

// Kinds of OIDCFlow.
const (
	FlowStart  = "start"  // the browser went to the provider
	FlowSignup = "signup" // a verified identity waits for a user name
)

// OIDCFlow is one sign-in in progress.
type OIDCFlow struct {
	Kind     string
	Nonce    string // sent to the provider, must come back in the ID token
	Verifier string // the PKCE code verifier
	Next     string // a local path to go to afterwards
	Invite   string // an invitation's secret, for a first sign-in
	LinkUser int64  // not 0: link the identity to this signed-in account

	// A verified identity (kind FlowSignup).
	Issuer, Subject, Email, Name string
	Expires                      time.Time
}

// SaveOIDCFlow keeps f under secret (the browser's cookie holds it; the
// store its SHA-256) for ttl, and clears flows that expired.
func (s *Store) SaveOIDCFlow(ctx context.Context, secret string, f OIDCFlow, ttl time.Duration) error {
	if f.Kind != FlowStart && f.Kind != FlowSignup {
		return fmt.Errorf("save sign-in flow: kind %q", f.Kind)
	}
	now := time.Now().UTC()
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM oidc_flows WHERE expires_at < ?`, now); err != nil {
		return fmt.Errorf("clear expired sign-in flows: %w", err)
	}
	var link any
	if f.LinkUser != 0 {
		link = f.LinkUser
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO oidc_flows (hash, kind, nonce, verifier, next, invite, link_user_id, issuer, subject, email, name, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		hashSecret(secret), f.Kind, f.Nonce, f.Verifier, clipText(f.Next, 2048), f.Invite, link,
		clipText(f.Issuer, 1024), clipText(f.Subject, 255), clipText(f.Email, 320), clipText(f.Name, 255), now, now.Add(ttl))
	if err != nil {
		return fmt.Errorf("save sign-in flow: %w", err)
	}
	return nil
}

const oidcFlowColumns = `kind, nonce, verifier, next, invite, link_user_id, issuer, subject, email, name, expires_at`

func scanOIDCFlow(row interface{ Scan(...any) error }) (OIDCFlow, error) {
	var f OIDCFlow
	var link sql.NullInt64
	err := row.Scan(&f.Kind, &f.Nonce, &f.Verifier, &f.Next, &f.Invite, &link, &f.Issuer, &f.Subject, &f.Email, &f.Name, &f.Expires)
	f.LinkUser = link.Int64
	return f, err
}

// TakeOIDCFlow returns the flow of kind that secret names and removes it,
// so that it can be taken once. An unknown, already taken or expired flow
// returns ErrNotFound.
func (s *Store) TakeOIDCFlow(ctx context.Context, kind, secret string) (OIDCFlow, error) {
	f, err := scanOIDCFlow(s.DB.QueryRowContext(ctx, `DELETE FROM oidc_flows WHERE hash = ? AND kind = ? RETURNING `+oidcFlowColumns, hashSecret(secret), kind))
	if errors.Is(err, sql.ErrNoRows) {
		return OIDCFlow{}, fmt.Errorf("take sign-in flow: %w", ErrNotFound)
	}
	if err != nil {
		return OIDCFlow{}, fmt.Errorf("take sign-in flow: %w", err)
	}
	if !f.Expires.After(time.Now()) {
		return OIDCFlow{}, fmt.Errorf("take sign-in flow: expired: %w", ErrNotFound)
	}
	return f, nil
}

// OIDCFlowBySecret returns the live flow of kind that secret names,
// leaving it in place; ErrNotFound when there is none.
func (s *Store) OIDCFlowBySecret(ctx context.Context, kind, secret string) (OIDCFlow, error) {
	f, err := scanOIDCFlow(s.DB.QueryRowContext(ctx, `SELECT `+oidcFlowColumns+` FROM oidc_flows WHERE hash = ? AND kind = ? AND expires_at > ?`, hashSecret(secret), kind, time.Now().UTC()))
	if errors.Is(err, sql.ErrNoRows) {
		return OIDCFlow{}, fmt.Errorf("find sign-in flow: %w", ErrNotFound)
	}
	if err != nil {
		return OIDCFlow{}, fmt.Errorf("find sign-in flow: %w", err)
	}
	return f, nil
}

// DeleteOIDCFlow removes the flow secret names, if any.
func (s *Store) DeleteOIDCFlow(ctx context.Context, secret string) error {
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM oidc_flows WHERE hash = ?`, hashSecret(secret)); err != nil {
		return fmt.Errorf("delete sign-in flow: %w", err)
	}
	return nil
}
