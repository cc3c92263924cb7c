package repo_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// cacheEntries lists the pack cache's entries (packs and answers) with the
// time each was last used.
func cacheEntries(cache string) map[string]time.Time {
	es, _ := os.ReadDir(cache)
	m := map[string]time.Time{}
	for _, e := range es {
		if info, err := e.Info(); err == nil && (strings.HasSuffix(e.Name(), ".pack") || strings.HasSuffix(e.Name(), ".answer")) {
			m[e.Name()] = info.ModTime()
		}
	}
	return m
}

// count is how many of entries end in suffix.
func count(entries map[string]time.Time, suffix string) int {
	n := 0
	for name := range entries {
		if strings.HasSuffix(name, suffix) {
			n++
		}
	}
	return n
}

// waitEntries waits (up to 20 s) until the cache holds want answers: the
// server keeps an answer just after it has sent it.
func waitEntries(t *testing.T, cache string, want int) map[string]time.Time {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		e := cacheEntries(cache)
		if count(e, ".answer") == want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache holds %v, want %d answers", slices.Sorted(maps.Keys(e)), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkClone checks that clone passes git fsck, holds the server's refs
// and exactly its objects, and that its work tree is work's.
func checkClone(t *testing.T, url, server, work, clone string) {
	t.Helper()
	testenv.Git(t, clone, "fsck", "--strict", "--no-dangling")
	sameTree(t, work, clone)
	for ref, id := range lsRemote(t, url) {
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

// wholeAnswer reports whether the answer entry at path ends in its
// trailer: "BPANSWR1", the key (the file's name) and the answer's length.
func wholeAnswer(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 48 {
		return false
	}
	t := b[len(b)-48:]
	key := strings.TrimSuffix(filepath.Base(path), ".answer")
	return string(t[:8]) == "BPANSWR1" && hex.EncodeToString(t[8:40]) == key &&
		binary.BigEndian.Uint64(t[40:]) == uint64(len(b)-48)
}

// TestPackCache clones a project again and again through the server: the
// later clones come from the pack cache (its answer is used, no new entry
// is made), each is the repository (git fsck, the server's refs and
// objects), and a push makes the next clone pack again.
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
	url := srv.URL + "/alice/corpus"

	cloneAndCheck := func() {
		t.Helper()
		clone := filepath.Join(t.TempDir(), "clone")
		testenv.Git(t, "", "clone", "-q", url, clone)
		checkClone(t, url, server, work, clone)
	}

	cloneAndCheck()
	first := waitEntries(t, cache, 1)
	if count(first, ".pack") != 1 {
		t.Fatalf("after one clone the cache holds %v, want a pack and an answer", first)
	}
	time.Sleep(20 * time.Millisecond)
	for range 2 {
		cloneAndCheck()
	}
	again := cacheEntries(cache)
	if !slices.Equal(slices.Sorted(maps.Keys(first)), slices.Sorted(maps.Keys(again))) {
		t.Fatalf("the repeated clones made new entries: %v, then %v", first, again)
	}
	for name, used := range first {
		if strings.HasSuffix(name, ".answer") && !again[name].After(used) {
			t.Fatalf("the repeated clones did not use the cached answer: %v, then %v", first, again)
		}
	}

	// A push: the next clone is packed anew, and is the new repository.
	os.WriteFile(filepath.Join(work, "NOTES.md"), []byte("second push\n"), 0o644)
	testenv.Git(t, work, "add", "NOTES.md")
	testenv.Git(t, work, "commit", "-q", "-m", "notes")
	testenv.Git(t, work, "push", "-q", remote, "main")
	cloneAndCheck()
	if e := waitEntries(t, cache, 2); count(e, ".pack") != 2 {
		t.Errorf("after a push and a clone the cache holds %v, want 2 packs and 2 answers", e)
	}

	// With --pack-cache-size 0 nothing is kept.
	srv.Stop(t)
	os.RemoveAll(cache)
	off := testenv.StartServer(t, testenv.Options{Data: srv.Data, Args: []string{"--pack-cache-size", "0"}})
	clone := filepath.Join(t.TempDir(), "off")
	testenv.Git(t, "", "clone", "-q", off.URL+"/alice/corpus", clone)
	testenv.Git(t, clone, "fsck", "--strict")
	time.Sleep(200 * time.Millisecond)
	if e := cacheEntries(cache); len(e) != 0 {
		t.Errorf("with the cache off, it holds %v", slices.Collect(maps.Keys(e)))
	}
}

// TestCachedAnswers: a repeated clone is answered from the kept answer
// without running git (the pack entry git's hook would use stays
// untouched); other requests (progress, protocol v0, one branch) get
// answers of their own, and shallow and partial clones none; a damaged
// answer is never served; a tag push is seen at once.
func TestCachedAnswers(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "alice")
	work := corpusProject(t)
	for i := range 3 {
		os.WriteFile(filepath.Join(work, "NOTES.md"), fmt.Appendf(nil, "note %d\n", i), 0o644)
		testenv.Git(t, work, "add", "NOTES.md")
		testenv.Git(t, work, "commit", "-q", "-m", fmt.Sprint("note ", i))
	}
	testenv.Git(t, work, "tag", "-a", "v1", "-m", "first release", "HEAD~1")
	testenv.Git(t, work, "branch", "draft", "HEAD~2")
	remote := srv.Remote("alice", token, "alice", "corpus")
	testenv.Git(t, work, "push", "-q", remote, "main", "draft", "v1")
	cache := filepath.Join(srv.Data, "git", "pack-cache")
	server := srv.RepoDir("alice", "corpus")
	url := srv.URL + "/alice/corpus"
	clone := func(args ...string) string {
		t.Helper()
		dst := filepath.Join(t.TempDir(), "clone")
		testenv.Git(t, "", append(append([]string{"clone", "-q"}, args...), url, dst)...)
		return dst
	}
	answerOf := func(before, after map[string]time.Time) string {
		t.Helper()
		for name := range after {
			if _, ok := before[name]; !ok && strings.HasSuffix(name, ".answer") {
				return name
			}
		}
		t.Fatalf("no new answer: %v, then %v", before, after)
		return ""
	}

	checkClone(t, url, server, work, clone())
	plain := waitEntries(t, cache, 1)
	answer := answerOf(nil, plain)
	time.Sleep(20 * time.Millisecond)
	checkClone(t, url, server, work, clone())
	used := cacheEntries(cache)
	if !used[answer].After(plain[answer]) {
		t.Errorf("the second clone did not use the kept answer")
	}
	for name, at := range plain {
		if strings.HasSuffix(name, ".pack") && !used[name].Equal(at) {
			t.Errorf("the second clone ran git (its hook used %s)", name)
		}
	}

	// Each request kind has its own answer, and gets it on a repeat.
	n := 1
	for _, args := range [][]string{
		{"--progress"},
		{"-c", "protocol.version=0"},
		{"-c", "protocol.version=1"},
		{"--single-branch", "--branch", "draft"},
		{"--no-tags"},
	} {
		before := cacheEntries(cache)
		dst := clone(args...)
		n++
		after := waitEntries(t, cache, n)
		answerOf(before, after)
		testenv.Git(t, dst, "fsck", "--strict", "--no-dangling")
		again := clone(args...)
		if e := cacheEntries(cache); count(e, ".answer") != n {
			t.Errorf("clone %q again: %d answers, want %d", args, count(e, ".answer"), n)
		}
		if a, b := revParse(t, dst, "HEAD"), revParse(t, again, "HEAD"); a != b {
			t.Errorf("clone %q again: HEAD %s, first %s", args, b, a)
		}
		if slices.Contains(args, "draft") {
			if got, want := revParse(t, again, "HEAD"), revParse(t, work, "draft"); got != want {
				t.Errorf("clone of draft at %s, want %s", got, want)
			}
		}
		if slices.Contains(args, "--no-tags") {
			if tags := strings.TrimSpace(testenv.Git(t, again, "tag")); tags != "" {
				t.Errorf("a clone with --no-tags has tags %q", tags)
			}
		} else if !slices.Contains(args, "draft") {
			checkClone(t, url, server, work, again)
		}
	}

	// Shallow and partial clones are never answered from the cache, nor
	// kept: theirs are other answers.
	for _, args := range [][]string{{"--depth", "1"}, {"--shallow-since", "2000-01-01"}, {"--filter=blob:none"}, {"--filter=tree:0"}} {
		dst := clone(args...)
		time.Sleep(100 * time.Millisecond)
		if e := cacheEntries(cache); count(e, ".answer") != n {
			t.Errorf("clone %q kept an answer (%d, want %d)", args, count(e, ".answer"), n)
		}
		testenv.Git(t, dst, "fsck", "--no-dangling")
		if args[0] == "--depth" {
			if got := strings.TrimSpace(testenv.Git(t, dst, "rev-list", "--count", "HEAD")); got != "1" {
				t.Errorf("a clone of depth 1 has %s commits", got)
			}
		}
		if strings.HasPrefix(args[0], "--filter") {
			missing := testenv.Git(t, dst, "rev-list", "--objects", "--all", "--missing=print")
			if !strings.Contains(missing, "\n?") && !strings.HasPrefix(missing, "?") {
				t.Errorf("a clone %q holds every object", args)
			}
		}
	}

	// A damaged answer is never served: cut short, the next clone is
	// answered by git (and whole), and the entry made whole again (git's
	// side-band packets may be cut elsewhere: the length may differ).
	path := filepath.Join(cache, answer)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(whole) / 2, len(whole) - 1} {
		if err := os.WriteFile(path, whole[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		checkClone(t, url, server, work, clone())
		deadline := time.Now().Add(20 * time.Second)
		for !wholeAnswer(path) {
			if time.Now().After(deadline) {
				t.Fatalf("the answer cut to %d bytes was not made whole again", cut)
			}
			time.Sleep(20 * time.Millisecond)
		}
		checkClone(t, url, server, work, clone())
	}

	// A tag on a commit clients already want changes the answer.
	testenv.Git(t, work, "tag", "-a", "v2", "-m", "second release", "main")
	testenv.Git(t, work, "push", "-q", remote, "v2")
	dst := clone()
	if tags := testenv.Git(t, dst, "tag"); !strings.Contains(tags, "v2") {
		t.Errorf("a clone after a tag push has tags %q, want v2", tags)
	}
	checkClone(t, url, server, work, dst)
	// So does a branch's removal: the old answer had it.
	testenv.Git(t, work, "push", "-q", remote, ":draft")
	dst = clone()
	if out := testenv.Git(t, dst, "branch", "-r"); strings.Contains(out, "draft") {
		t.Errorf("a clone after draft's removal has %q", out)
	}
}
