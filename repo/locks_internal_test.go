package repo

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedPostgres()
	os.Exit(code)
}

// TestClearStaleLocksAge: the sweep removes git's lock files once older
// than the age given, and nothing else; and nothing at all in a repository
// whose push lock another node holds (a live git there may hold them), on
// SQLite (one node, locks in the process) and PostgreSQL (two nodes).
func TestClearStaleLocksAge(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "blueprints.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		testClearStaleLocksAge(t, st, st)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.SharedPostgres(t).CreateDatabase(t)
		a, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		testClearStaleLocksAge(t, a, b)
	})
}

func testClearStaleLocksAge(t *testing.T, st, other *store.Store) {
	root := t.TempDir()
	s := &Server{root: root, store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	repo := filepath.Join(root, "alice", "tractor.git")
	old, fresh := time.Now().Add(-2*time.Minute), time.Now()
	files := map[string]time.Time{
		"refs/heads/main.lock":         old,   // removed
		"refs/heads/feature/x.lock":    old,   // removed
		"packed-refs.lock":             old,   // removed
		"HEAD.lock":                    fresh, // kept: a git may hold it
		"refs/tags/v1.lock":            fresh, // kept
		"refs/heads/main":              old,   // a ref, kept
		"objects/pack/tmp_pack_1.lock": old,   // not git's ref lock: kept
		"description":                  old,   // kept
	}
	for rel, mtime := range files {
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	// Not repositories: ignored.
	os.WriteFile(filepath.Join(root, "stray.lock"), nil, 0o644)
	os.MkdirAll(filepath.Join(root, "alice", "notes"), 0o755)

	// Another node pushes to the project: its git's locks are live.
	unlock, err := other.Lock(context.Background(), PushLockName("Alice", "Tractor"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.ClearStaleLocks(context.Background(), 0); n != 0 || err != nil {
		t.Fatalf("removed %d locks (%v) of a repository another push holds", n, err)
	}
	unlock()
	n, err := s.ClearStaleLocks(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("removed %d locks, want 3", n)
	}
	for rel, mtime := range files {
		_, err := os.Stat(filepath.Join(repo, rel))
		gone := os.IsNotExist(err)
		wantGone := mtime.Equal(old) && (rel == "refs/heads/main.lock" || rel == "refs/heads/feature/x.lock" || rel == "packed-refs.lock")
		if gone != wantGone {
			t.Errorf("%s: removed %v, want %v", rel, gone, wantGone)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "stray.lock")); err != nil {
		t.Errorf("a file outside any repository was touched: %v", err)
	}
}
