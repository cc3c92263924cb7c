package repo

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/repo/packcache"
)

// TestCommitFillOnlyIfUnmoved: git's answer is kept only when the refs are
// as they were when its key was made; a push that landed while git
// answered (the answer may be of either state) leaves nothing.
func TestCommitFillOnlyIfUnmoved(t *testing.T) {
	testenv.RequireTool(t, "git")
	root := t.TempDir()
	bare, work := filepath.Join(root, "r.git"), filepath.Join(root, "work")
	testenv.Git(t, "", "init", "-q", "--bare", bare)
	testenv.Git(t, "", "init", "-q", "-b", "main", work)
	commit := func(msg string) {
		os.WriteFile(filepath.Join(work, "part.scad"), []byte("cube("+msg+");\n"), 0o644)
		testenv.Git(t, work, "add", "part.scad")
		testenv.Git(t, work, "commit", "-q", "-m", msg)
		testenv.Git(t, work, "push", "-q", bare, "main")
	}
	commit("1")
	s := &Server{git: "git", log: slog.New(slog.NewTextHandler(io.Discard, nil)), filling: map[[32]byte]bool{},
		answers: packcache.Cache{Dir: filepath.Join(root, "cache"), MaxBytes: 1 << 20}}
	ctx := context.Background()
	fill := func(key [32]byte, during func()) bool {
		t.Helper()
		st, err := packcache.RepoState(ctx, "git", bare)
		if err != nil {
			t.Fatal(err)
		}
		w := s.startFill(key)
		if w == nil {
			t.Fatalf("no writer")
		}
		if s.startFill(key) != nil {
			t.Errorf("a second request keeps the same answer at once")
		}
		w.Write([]byte("0008NAK\n" + strings.Repeat("x", 100) + "0000"))
		during()
		s.commitFill(key, w, bare, st)
		a := s.answers.OpenAnswer(key)
		if a != nil {
			a.Close()
		}
		if s.filling[key] {
			t.Errorf("the fill of %x is still marked", key[:1])
		}
		return a != nil
	}
	if !fill([32]byte{1}, func() {}) {
		t.Errorf("an answer made while nothing moved was not kept")
	}
	if fill([32]byte{2}, func() { commit("2") }) {
		t.Errorf("an answer made while a push landed was kept")
	}
	if es, _ := os.ReadDir(s.answers.Dir); len(es) != 1 {
		t.Errorf("the cache holds %d files, want the one answer", len(es))
	}
}
