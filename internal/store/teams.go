package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Organisation roles.
const (
	RoleOwner  = "owner"  // manages members and the organisation's projects; push-to-create under it
	RoleMember = "member" // pushes to the organisation's projects
)

// Collaborator permissions on a project.
const (
	PermRead  = "read"  // clone, fetch, browse a private project
	PermWrite = "write" // also push, LFS uploads and locks
)

// Member is a person in an organisation.
type Member struct {
	User User
	Role string // RoleOwner or RoleMember
}

// Membership is an organisation a person belongs to.
type Membership struct {
	Org  User
	Role string
}

// CreateOrg creates an organisation with ownerID as its first owner. A
// name taken by a person or another organisation returns an error
// wrapping ErrExists.
func (s *Store) CreateOrg(ctx context.Context, name string, ownerID int64) (User, error) {
	var org User
	err := s.tx(ctx, func(tx *Tx) error {
		var kind string
		if err := tx.QueryRowContext(ctx, `SELECT kind FROM users WHERE id = ?`, ownerID).Scan(&kind); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("create organisation %s: owner %d: %w", name, ownerID, ErrNotFound)
			}
			return err
		}
		if kind != KindUser {
			return fmt.Errorf("create organisation %s: an organisation cannot own another", name)
		}
		var err error
		if org, err = createAccount(ctx, tx, NewAccount{Name: name, Kind: KindOrg}); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`, org.ID, ownerID, RoleOwner, time.Now().UTC())
		return err
	})
	return org, err
}

// OrgRole is the person's role in the organisation, or "" when they are
// not a member.
func (s *Store) OrgRole(ctx context.Context, orgID, userID int64) (string, error) {
	var role string
	err := s.DB.QueryRowContext(ctx, `SELECT role FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find membership: %w", err)
	}
	return role, nil
}

// OrgRoleByName is OrgRole for the organisation named org; "" when org is
// not an organisation or the person is not in it.
func (s *Store) OrgRoleByName(ctx context.Context, org string, userID int64) (string, error) {
	var role string
	err := s.DB.QueryRowContext(ctx, `SELECT m.role FROM org_members m JOIN users o ON o.id = m.org_id WHERE o.name = ? AND o.kind = 'org' AND m.user_id = ?`, org, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find membership of %s: %w", org, err)
	}
	return role, nil
}

// OrgMembers lists an organisation's members, owners first, then by name.
func (s *Store) OrgMembers(ctx context.Context, orgID int64) ([]Member, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+userColumns+`, m.role FROM org_members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? ORDER BY CASE m.role WHEN 'owner' THEN 0 ELSE 1 END, u.name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var admin int
		var disabled sql.NullTime
		u := &m.User
		if err := rows.Scan(&u.ID, &u.Name, &u.Created, &u.Kind, &u.DisplayName, &u.Bio, &admin, &disabled, &u.HasPassword, &m.Role); err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		u.Admin, u.Disabled = admin != 0, timePtr(disabled)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Memberships lists the organisations a person belongs to, by name.
func (s *Store) Memberships(ctx context.Context, userID int64) ([]Membership, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+userColumns+`, m.role FROM org_members m JOIN users u ON u.id = m.org_id
		WHERE m.user_id = ? ORDER BY u.name`, userID)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		var admin int
		var disabled sql.NullTime
		u := &m.Org
		if err := rows.Scan(&u.ID, &u.Name, &u.Created, &u.Kind, &u.DisplayName, &u.Bio, &admin, &disabled, &u.HasPassword, &m.Role); err != nil {
			return nil, fmt.Errorf("list memberships: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetOrgMember adds a person to an organisation or changes their role.
// Demoting the last owner returns an error wrapping ErrInUse.
func (s *Store) SetOrgMember(ctx context.Context, orgID, userID int64, role string) error {
	if role != RoleOwner && role != RoleMember {
		return fmt.Errorf("set member: role %q: want %s or %s", role, RoleOwner, RoleMember)
	}
	return s.tx(ctx, func(tx *Tx) error {
		var kind string
		if err := tx.QueryRowContext(ctx, `SELECT kind FROM users WHERE id = ?`, userID).Scan(&kind); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("set member: user %d: %w", userID, ErrNotFound)
			}
			return err
		}
		if kind != KindUser {
			return fmt.Errorf("set member: an organisation cannot be a member")
		}
		if role == RoleMember {
			if err := keepAnOwner(ctx, tx, orgID, userID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`, orgID, userID, role, time.Now().UTC())
		if err != nil {
			return fmt.Errorf("set member: %w", err)
		}
		return nil
	})
}

// RemoveOrgMember takes a person out of an organisation. Removing the last
// owner returns an error wrapping ErrInUse.
func (s *Store) RemoveOrgMember(ctx context.Context, orgID, userID int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		if err := keepAnOwner(ctx, tx, orgID, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID)
		if err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("remove member: %w", ErrNotFound)
		}
		return nil
	})
}

// keepAnOwner fails when userID is the organisation's only owner.
func keepAnOwner(ctx context.Context, tx *Tx, orgID, userID int64) error {
	var others, self int
	err := tx.QueryRowContext(ctx, `SELECT
		COUNT(CASE WHEN user_id <> ? THEN 1 END), COUNT(CASE WHEN user_id = ? THEN 1 END)
		FROM org_members WHERE org_id = ? AND role = 'owner'`, userID, userID, orgID).Scan(&others, &self)
	if err != nil {
		return fmt.Errorf("count owners: %w", err)
	}
	if self > 0 && others == 0 {
		return fmt.Errorf("an organisation needs an owner; make someone else an owner first: %w", ErrInUse)
	}
	return nil
}

// Collaborator is a person granted access to a project.
type Collaborator struct {
	User       User
	Permission string // PermRead or PermWrite
}

// SetCollaborator grants a person read or write on a project (or changes
// the grant).
func (s *Store) SetCollaborator(ctx context.Context, projectID, userID int64, perm string) error {
	if perm != PermRead && perm != PermWrite {
		return fmt.Errorf("set collaborator: permission %q: want %s or %s", perm, PermRead, PermWrite)
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO collaborators (project_id, user_id, permission, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, user_id) DO UPDATE SET permission = excluded.permission`, projectID, userID, perm, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("set collaborator: %w", err)
	}
	return nil
}

// RemoveCollaborator takes a person's grant on a project away.
func (s *Store) RemoveCollaborator(ctx context.Context, projectID, userID int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM collaborators WHERE project_id = ? AND user_id = ?`, projectID, userID)
	if err != nil {
		return fmt.Errorf("remove collaborator: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("remove collaborator: %w", ErrNotFound)
	}
	return nil
}

// Collaborators lists a project's collaborators by name.
func (s *Store) Collaborators(ctx context.Context, projectID int64) ([]Collaborator, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+userColumns+`, c.permission FROM collaborators c JOIN users u ON u.id = c.user_id
		WHERE c.project_id = ? ORDER BY u.name`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list collaborators: %w", err)
	}
	defer rows.Close()
	var out []Collaborator
	for rows.Next() {
		var c Collaborator
		var admin int
		var disabled sql.NullTime
		u := &c.User
		if err := rows.Scan(&u.ID, &u.Name, &u.Created, &u.Kind, &u.DisplayName, &u.Bio, &admin, &disabled, &u.HasPassword, &c.Permission); err != nil {
			return nil, fmt.Errorf("list collaborators: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Permission is a person's grant on a project: PermRead, PermWrite or ""
// for none.
func (s *Store) Permission(ctx context.Context, projectID, userID int64) (string, error) {
	var perm string
	err := s.DB.QueryRowContext(ctx, `SELECT permission FROM collaborators WHERE project_id = ? AND user_id = ?`, projectID, userID).Scan(&perm)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find permission: %w", err)
	}
	return perm, nil
}

// PrivateCollaborations lists the private projects a person is a
// collaborator on (the search scope adds them to public projects).
func (s *Store) PrivateCollaborations(ctx context.Context, userID int64) ([]Project, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+projectColumnsP+` FROM collaborators c JOIN projects p ON p.id = c.project_id
		WHERE c.user_id = ? AND p.visibility = 'private' ORDER BY p.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list collaborations: %w", err)
	}
	return collectProjects(rows, "list collaborations")
}
