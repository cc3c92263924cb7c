package repo_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// TestPackCache clones a project again and again through the server: the
// later clones come from the pack cache (its entry is used, no new one is
// made), each is the repository (git fsck, the server's refs and objects),
// and a push makes the next clone pack again.
func TestPackCache(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "alice")
	work := corpusProject(t)
	testenv.Git(t, work, "tag", "-a", "v1", "-m", "first release")
	remote := srv.Remote("alice", token, "alice", "corpus")
	testenv.Git(t, work, "push", "-q", remote, "main", "v1")
	cache := filepath.Join(srv.Data, "git", "pack-cache")
	server := srv.RepoDir("alice", "corpus")

	cloneAndCheck := func() {
		t.Helper()
		clone := filepath.Join(t.TempDir(), "clone")
		testenv.Git(t, "", "clone", "-q", srv.URL+"/alice/corpus", clone)
		testenv.Git(t, clone, "fsck", "--strict", "--no-dangling")
		sameTree(t, work, clone)
		want := lsRemote(t, srv.URL+"/alice/corpus")
		for ref, id := range want {
			local := ref
			if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
				local = "refs/remotes/origin/" + b
			}
			if ref == "HEAD" {
				continue
			}
			if got := revParse(t, clone, local); got != id {
				t.Errorf("clone's %s is %s, the server's %s is %s", local, got, ref, id)
			}
		}
		objects := func(dir string) string {
			return testenv.Git(t, dir, "cat-file", "--batch-all-objects", "--batch-check")
		}
		if objects(clone) != objects(server) {
			t.Errorf("the clone's objects differ from the server's")
		}
	}
	entries := func() map[string]time.Time {
		es, _ := os.ReadDir(cache)
		m := map[string]time.Time{}
		for _, e := range es {
			if info, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".pack") {
				m[e.Name()] = info.ModTime()
			}
		}
		return m
	}

	cloneAndCheck()
	first := entries()
	if len(first) != 1 {
		t.Fatalf("after one clone the cache holds %d packs, want 1", len(first))
	}
	time.Sleep(20 * time.Millisecond)
	for range 2 {
		cloneAndCheck()
	}
	again := entries()
	for name, used := range first {
		if len(again) != 1 || !again[name].After(used) {
			t.Fatalf("the repeated clones did not use the cached pack: %v, then %v", first, again)
		}
	}

	// A push: the next clone is packed anew, and is the new repository.
	os.WriteFile(filepath.Join(work, "NOTES.md"), []byte("second push\n"), 0o644)
	testenv.Git(t, work, "add", "NOTES.md")
	testenv.Git(t, work, "commit", "-q", "-m", "notes")
	testenv.Git(t, work, "push", "-q", remote, "main")
	cloneAndCheck()
	if n := len(entries()); n != 2 {
		t.Errorf("after a push and a clone the cache holds %d packs, want 2", n)
	}

	// With --pack-cache-size 0 nothing is kept.
	srv.Stop(t)
	os.RemoveAll(cache)
	off := testenv.StartServer(t, testenv.Options{Data: srv.Data, Args: []string{"--pack-cache-size", "0"}})
	clone := filepath.Join(t.TempDir(), "off")
	testenv.Git(t, "", "clone", "-q", off.URL+"/alice/corpus", clone)
	testenv.Git(t, clone, "fsck", "--strict")
	if e := entries(); len(e) != 0 {
		t.Errorf("with the cache off, it holds %v", slices.Collect(maps.Keys(e)))
	}
}
