package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Session is a signed-in browser. Its secret lives in a cookie; the store
// keeps only the SHA-256, so a copy of the database signs nobody in.
type Session struct {
	ID        int64
	UserID    int64
	Method    string // "password" or "oidc"
	IP        string
	UserAgent string
	Created   time.Time
	LastSeen  time.Time
	Expires   time.Time
}

// NewSession describes a session to start.
type NewSession struct {
	UserID    int64
	Method    string
	IP        string
	UserAgent string
	TTL       time.Duration
}

// CreateSession starts a session and returns it with its secret (for the
// cookie), which is not stored.
func (s *Store) CreateSession(ctx context.Context, n NewSession) (Session, string, error) {
	secret, err := newSecret()
	if err != nil {
		return Session{}, "", fmt.Errorf("create session: %w", err)
	}
	now := time.Now().UTC()
	ses := Session{UserID: n.UserID, Method: n.Method, IP: clipText(n.IP, 64), UserAgent: clipText(n.UserAgent, 256), Created: now, LastSeen: now, Expires: now.Add(n.TTL)}
	if err := s.DB.QueryRowContext(ctx, `INSERT INTO sessions (hash, user_id, method, ip, user_agent, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		hashSecret(secret), ses.UserID, ses.Method, ses.IP, ses.UserAgent, now, now, ses.Expires).Scan(&ses.ID); err != nil {
		return Session{}, "", fmt.Errorf("create session for user %d: %w", n.UserID, err)
	}
	return ses, secret, nil
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SessionBySecret finds the live session a cookie's secret names, with its
// user. An unknown or expired session, or a disabled account, returns
// ErrBadCredentials. Use is recorded at most once a minute.
func (s *Store) SessionBySecret(ctx context.Context, secret string) (Session, User, error) {
	if len(secret) > 200 {
		return Session{}, User{}, ErrBadCredentials
	}
	var ses Session
	var admin int
	var disabled sql.NullTime
	var u User
	err := s.DB.QueryRowContext(ctx, `SELECT `+userColumns+`, s.id, s.method, s.ip, s.user_agent, s.created_at, s.last_seen_at, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?`, hashSecret(secret)).
		Scan(&u.ID, &u.Name, &u.Created, &u.Kind, &u.DisplayName, &u.Bio, &admin, &disabled, &u.HasPassword,
			&ses.ID, &ses.Method, &ses.IP, &ses.UserAgent, &ses.Created, &ses.LastSeen, &ses.Expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, User{}, ErrBadCredentials
	}
	if err != nil {
		return Session{}, User{}, fmt.Errorf("find session: %w", err)
	}
	now := time.Now().UTC()
	if disabled.Valid || !now.Before(ses.Expires) {
		return Session{}, User{}, ErrBadCredentials
	}
	u.Admin = admin != 0
	ses.UserID = u.ID
	if now.Sub(ses.LastSeen) > time.Minute {
		if _, err := s.DB.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, now, ses.ID); err != nil {
			return Session{}, User{}, fmt.Errorf("record session use: %w", err)
		}
		ses.LastSeen = now
	}
	return ses, u, nil
}

// Sessions lists a person's live sessions, most recently seen first.
func (s *Store) Sessions(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, user_id, method, ip, user_agent, created_at, last_seen_at, expires_at FROM sessions
		WHERE user_id = ? AND expires_at > ? ORDER BY last_seen_at DESC, id DESC`, userID, time.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var ses Session
		if err := rows.Scan(&ses.ID, &ses.UserID, &ses.Method, &ses.IP, &ses.UserAgent, &ses.Created, &ses.LastSeen, &ses.Expires); err != nil {
			return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
		}
		out = append(out, ses)
	}
	return out, rows.Err()
}

// DeleteSession ends one of a person's sessions (signing out, or revoking
// it from the settings page). An unknown id returns ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, userID, id int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM sessions WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return fmt.Errorf("end session %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("end session %d: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that ended before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, time.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("remove expired sessions: %w", err)
	}
	return res.RowsAffected()
}

// Invite is a one-use invitation to sign up.
type Invite struct {
	ID        int64
	CreatedBy int64
	Created   time.Time
	Expires   time.Time
	UsedBy    int64 // 0 while unused
}

// CreateInvite makes an invitation valid for ttl and returns its secret
// (for the link), which is not stored.
func (s *Store) CreateInvite(ctx context.Context, by int64, ttl time.Duration) (Invite, string, error) {
	secret, err := newSecret()
	if err != nil {
		return Invite{}, "", fmt.Errorf("create invite: %w", err)
	}
	now := time.Now().UTC()
	inv := Invite{CreatedBy: by, Created: now, Expires: now.Add(ttl)}
	var creator any
	if by != 0 {
		creator = by
	}
	if err := s.DB.QueryRowContext(ctx, `INSERT INTO invites (hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?) RETURNING id`, hashSecret(secret), creator, now, inv.Expires).Scan(&inv.ID); err != nil {
		return Invite{}, "", fmt.Errorf("create invite: %w", err)
	}
	return inv, secret, nil
}

// ErrInviteUsed is returned for an invitation that was used, or has
// expired.
var ErrInviteUsed = errors.New("this invitation was used or has expired")

// CheckInvite reports whether secret names an unused, unexpired
// invitation: nil, ErrNotFound or ErrInviteUsed.
func (s *Store) CheckInvite(ctx context.Context, secret string) error {
	var used sql.NullInt64
	var expires time.Time
	err := s.DB.QueryRowContext(ctx, `SELECT used_by, expires_at FROM invites WHERE hash = ?`, hashSecret(secret)).Scan(&used, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("check invite: %w", ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("check invite: %w", err)
	}
	if used.Valid || !time.Now().Before(expires) {
		return ErrInviteUsed
	}
	return nil
}

// CreateAccountWithInvite creates a person and spends the invitation in
// one transaction: of two sign-ups racing with one link, one wins.
func (s *Store) CreateAccountWithInvite(ctx context.Context, a NewAccount, secret string) (User, error) {
	var u User
	err := s.tx(ctx, func(tx *Tx) error {
		now := time.Now().UTC()
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM invites WHERE hash = ? AND used_by IS NULL AND expires_at > ?`, hashSecret(secret), now).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrInviteUsed
		}
		if err != nil {
			return fmt.Errorf("use invite: %w", err)
		}
		if u, err = createAccount(ctx, tx, a); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invites SET used_by = ?, used_at = ? WHERE id = ?`, u.ID, now, id); err != nil {
			return fmt.Errorf("use invite: %w", err)
		}
		return nil
	})
	return u, err
}

// Identity is an OpenID Connect sign-in linked to an account.
type Identity struct {
	ID       int64
	Issuer   string
	Subject  string
	UserID   int64
	Email    string
	Created  time.Time
	LastUsed *time.Time
}

// LinkIdentity links (issuer, subject) to the person. An identity already
// linked (to anyone) returns an error wrapping ErrExists.
func (s *Store) LinkIdentity(ctx context.Context, issuer, subject string, userID int64, email string) error {
	res, err := s.DB.ExecContext(ctx, `INSERT INTO identities (issuer, subject, user_id, email, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		issuer, subject, userID, clipText(email, 320), time.Now().UTC())
	if err != nil {
		return fmt.Errorf("link identity: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("link identity: %w", ErrExists)
	}
	return nil
}

// CreateAccountWithIdentity creates a person linked to (issuer, subject),
// spending an invitation when invite is not "", in one transaction.
func (s *Store) CreateAccountWithIdentity(ctx context.Context, a NewAccount, issuer, subject, email, invite string) (User, error) {
	var u User
	err := s.tx(ctx, func(tx *Tx) error {
		now := time.Now().UTC()
		var inviteID int64
		if invite != "" {
			err := tx.QueryRowContext(ctx, `SELECT id FROM invites WHERE hash = ? AND used_by IS NULL AND expires_at > ?`, hashSecret(invite), now).Scan(&inviteID)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrInviteUsed
			}
			if err != nil {
				return fmt.Errorf("use invite: %w", err)
			}
		}
		var err error
		if u, err = createAccount(ctx, tx, a); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO identities (issuer, subject, user_id, email, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			issuer, subject, u.ID, clipText(email, 320), now)
		if err != nil {
			return fmt.Errorf("link identity: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("link identity: %w", ErrExists)
		}
		if inviteID != 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE invites SET used_by = ?, used_at = ? WHERE id = ?`, u.ID, now, inviteID); err != nil {
				return fmt.Errorf("use invite: %w", err)
			}
		}
		return nil
	})
	return u, err
}

// UserByIdentity finds the person (issuer, subject) is linked to, and
// records the use. An unlinked identity returns ErrNotFound.
func (s *Store) UserByIdentity(ctx context.Context, issuer, subject string) (User, error) {
	var id int64
	err := s.DB.QueryRowContext(ctx, `SELECT user_id FROM identities WHERE issuer = ? AND subject = ?`, issuer, subject).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("find identity: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("find identity: %w", err)
	}
	if _, err := s.DB.ExecContext(ctx, `UPDATE identities SET last_used_at = ? WHERE issuer = ? AND subject = ?`, time.Now().UTC(), issuer, subject); err != nil {
		return User{}, fmt.Errorf("record identity use: %w", err)
	}
	return s.UserByID(ctx, id)
}

// Identities lists the sign-ins linked to a person.
func (s *Store) Identities(ctx context.Context, userID int64) ([]Identity, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, issuer, subject, user_id, email, created_at, last_used_at FROM identities WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	defer rows.Close()
	var out []Identity
	for rows.Next() {
		var id Identity
		var used sql.NullTime
		if err := rows.Scan(&id.ID, &id.Issuer, &id.Subject, &id.UserID, &id.Email, &id.Created, &used); err != nil {
			return nil, fmt.Errorf("list identities: %w", err)
		}
		id.LastUsed = timePtr(used)
		out = append(out, id)
	}
	return out, rows.Err()
}

// UnlinkIdentity removes one of a person's linked sign-ins.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, id int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM identities WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return fmt.Errorf("unlink identity %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("unlink identity %d: %w", id, ErrNotFound)
	}
	return nil
}

// ServerSecret returns the server's secret key called name (32 random
// bytes), making it the first time. Two servers racing get the same key.
func (s *Store) ServerSecret(ctx context.Context, name string) ([]byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("make server secret %s: %w", name, err)
	}
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, name, hex.EncodeToString(b[:]), time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("make server secret %s: %w", name, err)
	}
	var v string
	if err := s.DB.QueryRowContext(ctx, `SELECT value FROM server_secrets WHERE name = ?`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("read server secret %s: %w", name, err)
	}
	key, err := hex.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("read server secret %s: %w", name, err)
	}
	return key, nil
}
