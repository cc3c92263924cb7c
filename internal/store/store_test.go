package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedPostgres()
	os.Exit(code)
}

// eachStore runs f on both engines the store speaks: once on a new SQLite
// file and once on a new database of the tests' PostgreSQL server (one
// server for the whole package). PostgreSQL is skipped only with -short
// outside CI.
func eachStore(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Run(SQLite, func(t *testing.T) { f(t, filepath.Join(t.TempDir(), "blueprints.db")) })
	t.Run(Postgres, func(t *testing.T) {
		if testing.Short() && os.Getenv("CI") != "true" {
			t.Skip("PostgreSQL is left out of -short runs")
		}
		f(t, testenv.SharedPostgres(t).CreateDatabase(t))
	})
}

// openTest opens the store at dsn, closed at t's cleanup.
func openTest(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestUsersCaseInsensitive(t *testing.T) { eachStore(t, testUsersCaseInsensitive) }

func testUsersCaseInsensitive(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	u, err := s.CreateUser(ctx, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "alice"); !errors.Is(err, ErrExists) {
		t.Fatalf("second alice: got %v, want ErrExists", err)
	}
	got, err := s.UserByName(ctx, "ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || got.Name != "Alice" || got.Created.IsZero() {
		t.Fatalf("lookup: got %+v, want %+v", got, u)
	}
	if _, err := s.UserByName(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob: got %v, want ErrNotFound", err)
	}
}

func TestTokens(t *testing.T) { eachStore(t, testTokens) }

func testTokens(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	if _, err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	tok, secret, err := s.CreateToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+40 {
		t.Fatalf("secret %q: want %s and 40 characters", secret, TokenPrefix)
	}
	_, secret2, err := s.CreateToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if secret2 == secret {
		t.Fatal("two tokens share a secret")
	}
	var stored int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens WHERE hash = ? OR hash = ?`, secret, secret2).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("secret stored in clear (%d rows, %v)", stored, err)
	}
	u, err := s.Authenticate(ctx, "ALICE", secret)
	if err != nil || u.Name != "alice" {
		t.Fatalf("authenticate: %+v %v", u, err)
	}
	for _, c := range []struct{ name, secret string }{
		{"bob", secret},
		{"carol", secret},
		{"alice", secret + "x"},
		{"alice", secret[:len(secret)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(secret, "a")]},
		{"alice", ""},
		{"alice", strings.TrimPrefix(secret, TokenPrefix)},
	} {
		if _, err := s.Authenticate(ctx, c.name, c.secret); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("authenticate %s %q: got %v, want ErrBadCredentials", c.name, c.secret, err)
		}
	}
	ts, err := s.Tokens(ctx, "alice")
	if err != nil || len(ts) != 2 || ts[0].ID != tok.ID || ts[0].LastUsed == nil || ts[1].LastUsed != nil {
		t.Fatalf("tokens: %+v %v", ts, err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice", secret); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("revoked token accepted: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice", secret2); err != nil {
		t.Fatalf("other token refused after revoke: %v", err)
	}
	if err := s.RevokeToken(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	ts, _ = s.Tokens(ctx, "alice")
	if ts[0].Revoked == nil || ts[1].Revoked != nil {
		t.Fatalf("revoked flags wrong: %+v", ts)
	}
	if _, _, err := s.CreateToken(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for missing user: %v", err)
	}
}

func TestProjects(t *testing.T) { eachStore(t, testProjects) }

func testProjects(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	p, err := s.CreateProject(ctx, "Alice", "Tractor")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProject(ctx, "alice", "TRACTOR"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate project: %v", err)
	}
	if _, err := s.CreateProject(ctx, "alice", "seeder"); err != nil {
		t.Fatal(err)
	}
	got, err := s.ProjectByName(ctx, "alice", "tractor")
	if err != nil || got.ID != p.ID || got.FullName() != "Alice/Tractor" {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if err := s.SetDefaultBranch(ctx, p.ID, "main"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ProjectByName(ctx, "alice", "tractor")
	if got.DefaultBranch != "main" {
		t.Fatalf("default branch %q", got.DefaultBranch)
	}
	ps, err := s.Projects(ctx, 10, 0)
	if err != nil || len(ps) != 2 || ps[0].Name != "seeder" {
		t.Fatalf("projects newest first: %+v %v", ps, err)
	}
	if n, _ := s.CountProjects(ctx); n != 2 {
		t.Fatalf("count %d", n)
	}
	if err := s.DeleteProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectByName(ctx, "alice", "tractor"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted project found: %v", err)
	}
}

// Concurrent creation of the same project: exactly one wins.
func TestCreateProjectRace(t *testing.T) { eachStore(t, testCreateProjectRace) }

func testCreateProjectRace(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.CreateProject(ctx, "alice", "p")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrExists):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creations succeeded, want 1", ok)
	}
}
