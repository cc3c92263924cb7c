package repo_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// TestStaleLocksCleared: a ref lock left by a killed git refuses pushes to
// that branch; a server start clears it (and any other git lock), and
// pushes work again, while a fresh lock that a running git may hold is kept
// by the periodic sweep.
func TestStaleLocksCleared(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "alice")
	remote := srv.Remote("alice", token, "alice", "locks")
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	commit := func(msg string) {
		os.WriteFile(filepath.Join(work, "NOTES.md"), []byte(msg+"\n"), 0o644)
		testenv.Git(t, work, "add", "NOTES.md")
		testenv.Git(t, work, "commit", "-q", "-m", msg)
	}
	commit("one")
	testenv.Git(t, work, "push", "-q", remote, "main")

	// What a git killed between creating the lock and renaming it leaves.
	dir := srv.RepoDir("alice", "locks")
	old := time.Now().Add(-10 * time.Minute)
	plant := func(rel string, mtime time.Time) string {
		p := filepath.Join(dir, rel)
		if err := os.WriteFile(p, []byte(strings.Repeat("0", 40)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mainLock := plant("refs/heads/main.lock", old)
	commit("two")
	out, err := testenv.GitErr(t, work, "push", remote, "main")
	if err == nil || !strings.Contains(out, "lock") {
		t.Fatalf("push with a stale lock: err %v, output:\n%s", err, out)
	}

	// A crash, a restart: the locks are gone, whatever their age.
	srv.Kill(t)
	packedLock := plant("packed-refs.lock", time.Now())
	srv.Start(t)
	for _, p := range []string{mainLock, packedLock} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived the restart (stat: %v)", p, err)
		}
	}
	testenv.Git(t, work, "push", "-q", remote, "main")
	if !strings.Contains(srv.Log(), "removed a stale git lock") {
		t.Errorf("the server did not log the locks it removed:\n%s", srv.Log())
	}
}
