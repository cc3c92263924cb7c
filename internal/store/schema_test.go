package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateFixtures = flag.Bool("update-schema-fixtures", false, "write testdata/schema/NNN.db, one database per schema version up to the newest released one")

// fixtureVersions are the schema versions of earlier releases, each kept
// as a database in testdata/schema. Add a version when a release ships a
// new migration; never rewrite an existing fixture.
var fixtureVersions = []int{1, 2, 3, 4}

const fixtureToken = "bp_fixturetoken0000000000000000000000000000"

// writeFixture builds the database an older binary (whose newest
// migration is version) would have written, with a user, a token and a
// project in it.
func writeFixture(t *testing.T, path string, version int) {
	t.Helper()
	os.Remove(path)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{DB: &DB{sql: db, d: dialect{name: SQLite}}, locks: newLocalLocks()}
	ctx := context.Background()
	if err := s.migrateTo(ctx, version); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(fixtureToken))
	for _, q := range []string{
		`INSERT INTO users (id, name) VALUES (1, 'alice')`,
		`INSERT INTO tokens (user_id, hash) VALUES (1, '` + hex.EncodeToString(sum[:]) + `')`,
		`INSERT INTO projects (owner, name, default_branch) VALUES ('alice', 'tractor', 'main')`,
		`VACUUM`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("fixture %d: %s: %v", version, q, err)
		}
	}
	db.Close()
}

// TestOpensOlderSchemas opens a copy of every earlier release's database:
// the migrations bring each to the newest schema and the data stays.
func TestOpensOlderSchemas(t *testing.T) {
	ctx := context.Background()
	for _, v := range fixtureVersions {
		fixture := filepath.Join("testdata", "schema", fmt.Sprintf("%03d.db", v))
		if *updateFixtures {
			os.MkdirAll(filepath.Dir(fixture), 0o755)
			writeFixture(t, fixture, v)
		}
		path := filepath.Join(t.TempDir(), "blueprints.db")
		copyFile(t, fixture, path)
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open schema %d fixture: %v", v, err)
		}
		var top int
		if err := s.DB.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&top); err != nil || top != SchemaVersion() {
			t.Errorf("schema %d fixture migrated to %d (%v), want %d", v, top, err, SchemaVersion())
		}
		if u, err := s.Authenticate(ctx, "alice", fixtureToken); err != nil || u.Name != "alice" {
			t.Errorf("schema %d fixture: token of alice: %v", v, err)
		}
		if p, err := s.ProjectByName(ctx, "Alice", "Tractor"); err != nil || p.DefaultBranch != "main" {
			t.Errorf("schema %d fixture: project alice/tractor: %+v, %v", v, p, err)
		}
		if by, err := s.WrittenBy(ctx); err != nil || by == "" {
			t.Errorf("schema %d fixture: writer not recorded after open: %q, %v", v, by, err)
		}
		s.Close()
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatalf("fixture: %v (regenerate with go test ./internal/store -run TestOpensOlderSchemas -update-schema-fixtures)", err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// TestRefusesNewerSchema plays an older binary meeting a database a newer
// one migrated: it must refuse, name the writer and change nothing.
func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "blueprints.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	future := SchemaVersion() + 1
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, future, strconv.Itoa(future)+"_from_the_future.sql"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.ExecContext(ctx, `UPDATE store_info SET value = 'v9.1.0 (commit 0123456789ab, go1.30.1)' WHERE key = 'written_by'`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, _ := os.ReadFile(path)

	_, err = Open(ctx, path)
	var newer *NewerSchemaError
	if !errors.As(err, &newer) {
		t.Fatalf("open newer database: %v; want a NewerSchemaError", err)
	}
	msg := err.Error()
	for _, want := range []string{path, "v9.1.0 (commit 0123456789ab", "schema version " + strconv.Itoa(future), "_from_the_future.sql", "up to " + strconv.Itoa(SchemaVersion())} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Errorf("refusing the database still changed it")
	}
}

// TestAllProjects: Projects with no limit lists every project, with or
// without an offset (SQLite needs a LIMIT before OFFSET).
func TestAllProjects(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := s.CreateProject(ctx, "alice", n); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ limit, offset, want int }{{0, 0, 3}, {0, 1, 2}, {2, 0, 2}, {2, 2, 1}} {
		ps, err := s.Projects(ctx, c.limit, c.offset)
		if err != nil || len(ps) != c.want {
			t.Errorf("Projects(%d, %d): %d projects, %v; want %d", c.limit, c.offset, len(ps), err, c.want)
		}
	}
}
