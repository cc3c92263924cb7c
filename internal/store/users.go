package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is an account that owns projects and pushes with access tokens.
type User struct {
	ID      int64
	Name    string // canonical case, as created
	Created time.Time
}

// CreateUser adds a user. Names are unique without regard to case; a clash
// returns an error wrapping ErrExists. The caller validates the name.
func (s *Store) CreateUser(ctx context.Context, name string) (User, error) {
	now := time.Now().UTC()
	var id int64
	err := s.DB.QueryRowContext(ctx, `INSERT INTO users (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING id`, name, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("create user %s: %w", name, ErrExists)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", name, err)
	}
	return User{ID: id, Name: name, Created: now}, nil
}

// UserByName finds a user by name, ignoring case. A missing user returns an
// error wrapping ErrNotFound.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	var u User
	err := s.DB.QueryRowContext(ctx, `SELECT id, name, created_at FROM users WHERE name = ?`, name).Scan(&u.ID, &u.Name, &u.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("find user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("find user %s: %w", name, err)
	}
	return u, nil
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, name, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var us []User
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Name, &u.Created); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		us = append(us, u)
	}
	return us, rows.Err()
}
