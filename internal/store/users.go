package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Kinds of owner: a person who signs in, or an organisation whose members
// do.
const (
	KindUser = "user"
	KindOrg  = "org"
)

// User is an owner of projects: a person (Kind "user") who signs in and
// pushes with access tokens, or an organisation (Kind "org") whose members
// do. Both share one case-insensitive namespace.
type User struct {
	ID          int64
	Name        string // canonical case, as created
	Created     time.Time
	Kind        string // KindUser or KindOrg
	DisplayName string
	Bio         string
	Admin       bool       // may act on every project and account
	Disabled    *time.Time // set: may not sign in, and its tokens and sessions stop
	HasPassword bool       // a password is set (sign-in on the web)
}

// IsOrg reports whether u is an organisation.
func (u User) IsOrg() bool { return u.Kind == KindOrg }

// Label is the display name, or the name when there is none.
func (u User) Label() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Name
}

const userColumns = `u.id, u.name, u.created_at, u.kind, u.display_name, u.bio, u.is_admin, u.disabled_at, u.password_hash <> ''`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var admin int
	var disabled sql.NullTime
	err := row.Scan(&u.ID, &u.Name, &u.Created, &u.Kind, &u.DisplayName, &u.Bio, &admin, &disabled, &u.HasPassword)
	u.Admin = admin != 0
	if disabled.Valid {
		t := disabled.Time
		u.Disabled = &t
	}
	return u, err
}

// NewAccount describes an account to create.
type NewAccount struct {
	Name         string
	Kind         string // KindUser when empty
	Admin        bool
	PasswordHash string // from a password hasher; "" for none
	DisplayName  string
}

// CreateUser adds a person. Names are unique without regard to case; a
// clash returns an error wrapping ErrExists. The caller validates the name.
func (s *Store) CreateUser(ctx context.Context, name string) (User, error) {
	return s.CreateAccount(ctx, NewAccount{Name: name})
}

// CreateAccount adds a person or an organisation (without members: see
// CreateOrg). A name taken by either returns an error wrapping ErrExists.
func (s *Store) CreateAccount(ctx context.Context, a NewAccount) (User, error) {
	return createAccount(ctx, s.DB, a)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func createAccount(ctx context.Context, db execer, a NewAccount) (User, error) {
	if a.Kind == "" {
		a.Kind = KindUser
	}
	now := time.Now().UTC()
	var id int64
	err := db.QueryRowContext(ctx, `INSERT INTO users (name, created_at, kind, is_admin, password_hash, display_name) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		a.Name, now, a.Kind, boolInt(a.Admin), a.PasswordHash, a.DisplayName).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("create %s %s: %w", a.Kind, a.Name, ErrExists)
	}
	if err != nil {
		return User{}, fmt.Errorf("create %s %s: %w", a.Kind, a.Name, err)
	}
	return User{ID: id, Name: a.Name, Created: now, Kind: a.Kind, Admin: a.Admin, DisplayName: a.DisplayName, HasPassword: a.PasswordHash != ""}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// UserByName finds a person or organisation by name, ignoring case. A
// missing one returns an error wrapping ErrNotFound.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.DB.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("find user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("find user %s: %w", name, err)
	}
	return u, nil
}

// UserByID finds a person or organisation by id.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.DB.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("find user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("find user %d: %w", id, err)
	}
	return u, nil
}

// Users lists every person (not organisations) by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	return s.listUsers(ctx, KindUser)
}

// Orgs lists every organisation by name.
func (s *Store) Orgs(ctx context.Context) ([]User, error) {
	return s.listUsers(ctx, KindOrg)
}

func (s *Store) listUsers(ctx context.Context, kind string) ([]User, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.kind = ? ORDER BY u.name`, kind)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", kind, err)
	}
	defer rows.Close()
	var us []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list %ss: %w", kind, err)
		}
		us = append(us, u)
	}
	return us, rows.Err()
}

// PasswordHash returns the person's stored password hash ("" when none is
// set) with the account, for signing in. Organisations have none.
func (s *Store) PasswordHash(ctx context.Context, name string) (User, string, error) {
	var hash string
	row := s.DB.QueryRowContext(ctx, `SELECT `+userColumns+`, u.password_hash FROM users u WHERE u.name = ? AND u.kind = 'user'`, name)
	var u User
	var admin int
	var disabled sql.NullTime
	err := row.Scan(&u.ID, &u.Name, &u.Created, &u.Kind, &u.DisplayName, &u.Bio, &admin, &disabled, &u.HasPassword, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", fmt.Errorf("find user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, "", fmt.Errorf("find user %s: %w", name, err)
	}
	u.Admin = admin != 0
	if disabled.Valid {
		t := disabled.Time
		u.Disabled = &t
	}
	return u, hash, nil
}

// SetPasswordHash stores a person's password hash ("" removes the
// password).
func (s *Store) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	return s.updateUser(ctx, userID, "set password", `UPDATE users SET password_hash = ? WHERE id = ? AND kind = 'user'`, hash, userID)
}

// SetProfile stores a display name and a short bio.
func (s *Store) SetProfile(ctx context.Context, userID int64, displayName, bio string) error {
	return s.updateUser(ctx, userID, "set profile", `UPDATE users SET display_name = ?, bio = ? WHERE id = ?`, displayName, bio, userID)
}

// SetAdmin makes a person an administrator, or no longer one.
func (s *Store) SetAdmin(ctx context.Context, userID int64, admin bool) error {
	return s.updateUser(ctx, userID, "set admin", `UPDATE users SET is_admin = ? WHERE id = ? AND kind = 'user'`, boolInt(admin), userID)
}

func (s *Store) updateUser(ctx context.Context, id int64, what, query string, args ...any) error {
	res, err := s.DB.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s of user %d: %w", what, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s of user %d: %w", what, id, ErrNotFound)
	}
	return nil
}

// DisableUser stops a person at once: no sign-in, and every session is
// ended (tokens stay listed but are refused while the account is
// disabled). Disabling twice is not an error.
func (s *Store) DisableUser(ctx context.Context, userID int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ? AND kind = 'user'`, time.Now().UTC(), userID)
		if err != nil {
			return fmt.Errorf("disable user %d: %w", userID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("disable user %d: %w", userID, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("disable user %d: end sessions: %w", userID, err)
		}
		return nil
	})
}

// EnableUser lets a disabled person sign in again.
func (s *Store) EnableUser(ctx context.Context, userID int64) error {
	return s.updateUser(ctx, userID, "enable", `UPDATE users SET disabled_at = NULL WHERE id = ? AND kind = 'user'`, userID)
}

// ErrInUse is returned when a row cannot go because others depend on it
// (a person who still owns projects, an organisation's last owner).
var ErrInUse = errors.New("still in use")

// DeleteUser removes a person or an organisation with its tokens,
// sessions, memberships and collaborations. One that still owns projects
// returns an error wrapping ErrInUse (transfer or delete them first), as
// does a person who is the last owner of an organisation.
func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		var name string
		if err := tx.QueryRowContext(ctx, `SELECT name FROM users WHERE id = ?`, userID).Scan(&name); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("delete user %d: %w", userID, ErrNotFound)
			}
			return fmt.Errorf("delete user %d: %w", userID, err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE owner = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("delete user %s: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("delete %s: owns %d projects; transfer or delete them first: %w", name, n, ErrInUse)
		}
		var lastOwner string
		err := tx.QueryRowContext(ctx, `SELECT o.name FROM org_members m JOIN users o ON o.id = m.org_id
			WHERE m.user_id = ? AND m.role = 'owner'
			AND NOT EXISTS (SELECT 1 FROM org_members m2 WHERE m2.org_id = m.org_id AND m2.role = 'owner' AND m2.user_id <> m.user_id)
			ORDER BY o.name LIMIT 1`, userID).Scan(&lastOwner)
		if err == nil {
			return fmt.Errorf("delete %s: the last owner of organisation %s; make someone else an owner first: %w", name, lastOwner, ErrInUse)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("delete user %s: %w", name, err)
		}
		// LFS locks are held by people; a deleted person's locks go too.
		for _, q := range []string{`DELETE FROM lfs_locks WHERE user_id = ?`, `DELETE FROM users WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("delete user %s: %w", name, err)
			}
		}
		return nil
	})
}

// tx runs f in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, f func(tx *Tx) error) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
