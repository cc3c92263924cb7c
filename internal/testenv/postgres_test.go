package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPostgres starts the tests' PostgreSQL, makes a database and uses it
// as the application role.
func TestPostgres(t *testing.T) {
	pg := StartPostgres(t)
	u := pg.CreateDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var super bool
	if err := conn.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	if super {
		t.Fatal("the application role is a superuser; it must not be")
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE x (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatalf("the database owner cannot create a table: %v", err)
	}
	if got := pg.Query(t, u, `SELECT count(*) FROM x`); len(got) != 1 || got[0] != "0" {
		t.Fatalf("count: got %v", got)
	}
}
