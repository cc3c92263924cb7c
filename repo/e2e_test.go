package repo_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// corpusProject makes a work tree holding the test corpus (34 STL files
// from five projects, with their licences) as one commit on main.
func corpusProject(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testenv.ModuleRoot(t), "testdata", "corpus")
	dir := t.TempDir()
	testenv.CopyTree(t, src, dir)
	testenv.Git(t, dir, "init", "-q", "-b", "main")
	testenv.Git(t, dir, "add", "-A")
	testenv.Git(t, dir, "commit", "-q", "-m", "corpus")
	return dir
}

// treeDigest maps every file under dir (but .git) to its SHA-256.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(data)
		m[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return m
}

func sameTree(t *testing.T, want, got string) {
	t.Helper()
	w, g := treeDigest(t, want), treeDigest(t, got)
	if len(w) == 0 {
		t.Fatalf("%s is empty", want)
	}
	for p, sum := range w {
		if g[p] != sum {
			t.Errorf("%s: clone has %q, want %q", p, g[p], sum)
		}
	}
	for p := range g {
		if _, ok := w[p]; !ok {
			t.Errorf("%s: in the clone only", p)
		}
	}
}

func revParse(t *testing.T, dir, rev string) string {
	t.Helper()
	return strings.TrimSpace(testenv.Git(t, dir, "rev-parse", rev))
}

func lsRemote(t *testing.T, url string) map[string]string {
	t.Helper()
	refs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(testenv.Git(t, "", "ls-remote", url)), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			refs[f[1]] = f[0]
		}
	}
	return refs
}

func status(t *testing.T, method, url, user, token string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestPushCloneFetch(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "alice")
	work := corpusProject(t)
	testenv.Git(t, work, "push", srv.Remote("alice", token, "alice", "corpus"), "main")

	// Anonymous clone, without the .git suffix, byte for byte.
	clone := filepath.Join(t.TempDir(), "clone")
	testenv.Git(t, "", "clone", "-q", srv.URL+"/alice/corpus", clone)
	sameTree(t, work, clone)
	if got, want := revParse(t, clone, "HEAD"), revParse(t, work, "HEAD"); got != want {
		t.Fatalf("clone HEAD %s, want %s", got, want)
	}
	// The first pushed branch became the default: the server's HEAD.
	head := strings.TrimSpace(testenv.Git(t, "", "--git-dir", srv.RepoDir("alice", "corpus"), "symbolic-ref", "HEAD"))
	if head != "refs/heads/main" {
		t.Fatalf("server HEAD %s, want refs/heads/main", head)
	}

	// A second push; the fetch receives only the new commit, tree and blob.
	os.WriteFile(filepath.Join(work, "NOTES.md"), []byte("second push\n"), 0o644)
	testenv.Git(t, work, "add", "NOTES.md")
	testenv.Git(t, work, "commit", "-q", "-m", "notes")
	testenv.Git(t, work, "push", "-q", srv.Remote("alice", token, "alice", "corpus"), "main")
	before := looseObjects(t, clone)
	testenv.Git(t, clone, "-c", "fetch.unpackLimit=1000000", "fetch", "-q", "origin")
	if got := looseObjects(t, clone) - before; got != 3 {
		t.Errorf("incremental fetch brought %d objects, want 3 (commit, tree, blob)", got)
	}
	testenv.Git(t, clone, "merge", "-q", "--ff-only", "origin/main")
	sameTree(t, work, clone)

	// A gzipped protocol-v2 request (git compresses large ones).
	refs := uploadPackV2(t, srv.URL+"/alice/corpus.git/git-upload-pack", "command=ls-refs\n")
	if want := revParse(t, work, "HEAD") + " refs/heads/main"; !strings.Contains(refs, want) {
		t.Errorf("v2 ls-refs over gzip: %q lacks %q", refs, want)
	}

	// Protocol v0 works as well as v2.
	v0 := filepath.Join(t.TempDir(), "v0")
	testenv.Git(t, "", "-c", "protocol.version=0", "clone", "-q", srv.URL+"/alice/corpus.git", v0)
	sameTree(t, work, v0)
}

// uploadPackV2 posts a protocol-v2 command, gzipped, and returns the reply.
func uploadPackV2(t *testing.T, url, command string) string {
	t.Helper()
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	fmt.Fprintf(zw, "%04x%s0001%04x%s0000", len(command)+4, command, len("peel\n")+4, "peel\n")
	zw.Close()
	req, _ := http.NewRequest("POST", url, &body)
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Git-Protocol", "version=2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %s %s", url, resp.Status, out)
	}
	return string(out)
}

func looseObjects(t *testing.T, dir string) int {
	t.Helper()
	out := testenv.Git(t, dir, "count-objects", "-v")
	m := regexp.MustCompile(`(?m)^count: (\d+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("count-objects: %s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestForceBranchesTags(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "alice")
	remote := srv.Remote("alice", token, "alice", "p")
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "trunk")
	for i := range 3 {
		os.WriteFile(filepath.Join(work, "f.txt"), []byte(fmt.Sprint(i)), 0o644)
		testenv.Git(t, work, "commit", "-q", "-a", "-m", fmt.Sprint(i), "--allow-empty")
		if i == 0 {
			testenv.Git(t, work, "add", "f.txt")
			testenv.Git(t, work, "commit", "-q", "--amend", "-m", "0")
		}
	}
	testenv.Git(t, work, "push", "-q", remote, "trunk")
	head := strings.TrimSpace(testenv.Git(t, "", "--git-dir", srv.RepoDir("alice", "p"), "symbolic-ref", "HEAD"))
	if head != "refs/heads/trunk" {
		t.Fatalf("default branch %s, want refs/heads/trunk (the first pushed)", head)
	}

	// Rewrite history: refused without --force, accepted with it.
	testenv.Git(t, work, "reset", "-q", "--hard", "HEAD~1")
	os.WriteFile(filepath.Join(work, "f.txt"), []byte("rewritten"), 0o644)
	testenv.Git(t, work, "commit", "-q", "-a", "-m", "rewritten")
	if out, err := testenv.GitErr(t, work, "push", remote, "trunk"); err == nil || !strings.Contains(out, "rejected") {
		t.Fatalf("non-fast-forward push accepted: %v\n%s", err, out)
	}
	testenv.Git(t, work, "push", "-q", "--force", remote, "trunk")
	if got, want := lsRemote(t, remote)["refs/heads/trunk"], revParse(t, work, "HEAD"); got != want {
		t.Fatalf("after force push trunk is %s, want %s", got, want)
	}

	// Branch and tag: create, then delete; an atomic push of both.
	testenv.Git(t, work, "tag", "-a", "-m", "v1", "v1")
	testenv.Git(t, work, "push", "-q", "--atomic", remote, "HEAD:refs/heads/feature", "v1")
	refs := lsRemote(t, remote)
	if refs["refs/heads/feature"] == "" || refs["refs/tags/v1"] == "" {
		t.Fatalf("branch or tag missing after push: %v", refs)
	}
	testenv.Git(t, work, "push", "-q", remote, "--delete", "feature", "v1")
	refs = lsRemote(t, remote)
	if _, ok := refs["refs/heads/feature"]; ok {
		t.Errorf("feature still there: %v", refs)
	}
	if _, ok := refs["refs/tags/v1"]; ok {
		t.Errorf("tag v1 still there: %v", refs)
	}
	fsck(t, srv.RepoDir("alice", "p"))
}

func fsck(t *testing.T, dir string) {
	t.Helper()
	if out, err := testenv.GitErr(t, "", "--git-dir", dir, "fsck", "--strict", "--no-dangling"); err != nil {
		t.Fatalf("git fsck %s: %v\n%s", dir, err, out)
	}
}

func TestAccess(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	alice := srv.AddUser(t, "Alice")
	bob := srv.AddUser(t, "bob")
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "a.txt"), []byte("a"), 0o644)
	testenv.Git(t, work, "add", "a.txt")
	testenv.Git(t, work, "commit", "-q", "-m", "a")
	// User names are case-insensitive and keep their case.
	testenv.Git(t, work, "push", "-q", srv.Remote("alice", alice, "ALICE", "Tractor"), "main")
	if _, err := os.Stat(srv.RepoDir("Alice", "Tractor")); err != nil {
		t.Fatalf("repository not under its canonical name: %v", err)
	}
	want := revParse(t, work, "HEAD")
	testenv.Git(t, work, "commit", "-q", "--allow-empty", "-m", "b")

	refused := func(name, url, code string) {
		t.Helper()
		out, err := testenv.GitErr(t, work, "push", url, "main")
		if err == nil {
			t.Errorf("%s: push accepted", name)
		}
		if code != "" && !strings.Contains(out, code) {
			t.Errorf("%s: output lacks %s:\n%s", name, code, out)
		}
	}
	refused("anonymous", srv.Remote("", "", "alice", "tractor"), "")
	refused("wrong token", srv.Remote("alice", bob, "alice", "tractor"), "")
	refused("bob into alice's project", srv.Remote("bob", bob, "alice", "tractor"), "403")
	refused("bob creating under alice", srv.Remote("bob", bob, "alice", "new"), "403")
	if got := lsRemote(t, srv.URL+"/alice/tractor")["refs/heads/main"]; got != want {
		t.Fatalf("refused pushes changed main to %s", got)
	}
	if _, err := os.Stat(srv.RepoDir("Alice", "new")); !os.IsNotExist(err) {
		t.Fatalf("refused push-to-create made a repository: %v", err)
	}

	base := srv.URL + "/alice/tractor.git/info/refs?service=git-receive-pack"
	code, h := status(t, "GET", base, "", "")
	if code != 401 || h.Get("WWW-Authenticate") != `Basic realm="Blueprints"` {
		t.Errorf("anonymous push: %d %q, want 401 with a Basic challenge", code, h.Get("WWW-Authenticate"))
	}
	if code, _ := status(t, "GET", base, "alice", bob); code != 401 {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code, _ := status(t, "GET", base, "alice", alice+"x"); code != 401 {
		t.Errorf("bad token: %d, want 401", code)
	}
	if code, _ := status(t, "GET", base, "bob", bob); code != 403 {
		t.Errorf("bob: %d, want 403", code)
	}
	if code, _ := status(t, "GET", base, "alice", alice); code != 200 {
		t.Errorf("alice: %d, want 200", code)
	}
	// A missing project answers as a private one would: an anonymous
	// client is challenged (git sends a token only after a challenge), a
	// signed-in one gets 404.
	for _, path := range []string{"/alice/missing.git", "/nobody/x"} {
		u := srv.URL + path + "/info/refs?service=git-upload-pack"
		if code, h := status(t, "GET", u, "", ""); code != 401 || h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s, anonymous: %d, want 401 with a challenge", path, code)
		}
		if code, _ := status(t, "GET", u, "bob", bob); code != 404 {
			t.Errorf("%s, signed in: %d, want 404", path, code)
		}
	}
	if out, err := testenv.GitErr(t, "", "clone", srv.Remote("bob", bob, "alice", "missing"), filepath.Join(t.TempDir(), "m")); err == nil || !strings.Contains(out, "not found") {
		t.Errorf("clone of a missing project: %v\n%s", err, out)
	}

	// A revoked token stops working.
	out, err := srv.Run(t, "token", "list", "alice")
	if err != nil || !strings.Contains(out, "active") || strings.Contains(out, alice) {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	if _, err := srv.Run(t, "token", "revoke", "1"); err != nil {
		t.Fatal(err)
	}
	if code, _ := status(t, "GET", base, "alice", alice); code != 401 {
		t.Errorf("revoked token: %d, want 401", code)
	}
	if out, _ := srv.Run(t, "token", "list", "alice"); !strings.Contains(out, "revoked") {
		t.Errorf("token list after revoke:\n%s", out)
	}
}

// rawRequest sends path exactly as written (no client-side cleaning) and
// returns the status code.
func rawRequest(t *testing.T, addr, method, path, auth string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method, path, addr, auth)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestHostileNames(t *testing.T) {
	testenv.RequireTool(t, "git")
	parent := t.TempDir()
	data := filepath.Join(parent, "data")
	srv := testenv.StartServer(t, testenv.Options{Data: data})
	token := srv.AddUser(t, "alice")
	auth := "Basic " + basic("alice", token)
	long := strings.Repeat("a", 300)
	names := []string{
		"../x", "a/../../b", "%2e%2e", "%2E%2E/x", "..%2fx", "..", ".", ".hidden",
		"%2fetc", "x%00y", long, "tr%D0%B0ctor", "%EF%BD%94ractor", "x%E2%80%8By",
		"-rf", "x.git.git", "a%5c..%5cb",
	}
	for _, name := range names {
		for _, svc := range []string{"git-upload-pack", "git-receive-pack"} {
			for _, path := range []string{
				"/alice/" + name + "/info/refs?service=" + svc,
				"/" + name + "/p/info/refs?service=" + svc,
				"/alice/" + name + ".git/info/refs?service=" + svc,
			} {
				if code := rawRequest(t, srv.Addr, "GET", path, auth); code != 400 && code != 404 {
					t.Errorf("GET %s: %d, want 400 or 404", path, code)
				}
			}
			path := "/alice/" + name + "/" + svc
			if code := rawRequest(t, srv.Addr, "POST", path, auth); code != 400 && code != 404 {
				t.Errorf("POST %s: %d, want 400 or 404", path, code)
			}
		}
	}
	// The real client too.
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	testenv.Git(t, work, "commit", "-q", "--allow-empty", "-m", "x")
	for _, name := range []string{"..%2fescape", "%2e%2e", ".hidden", long, "trаctor"} {
		url := "http://alice:" + token + "@" + srv.Addr + "/alice/" + name + ".git"
		if out, err := testenv.GitErr(t, work, "push", url, "main"); err == nil {
			t.Errorf("push to %q accepted:\n%s", name, out)
		}
	}
	// Nothing appeared outside the data folder, nor in repos/ at all.
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("the data folder's parent holds %d entries, want only data/", len(entries))
	}
	filepath.WalkDir(filepath.Join(data, "repos"), func(p string, d fs.DirEntry, err error) error {
		if p != filepath.Join(data, "repos") {
			t.Errorf("hostile requests created %s", p)
		}
		return nil
	})
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// Two pushes to the same branch at once: exactly one wins and the
// repository stays consistent.
func TestConcurrentPushes(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "alice")
	remote := srv.Remote("alice", token, "alice", "race")
	base := t.TempDir()
	testenv.Git(t, base, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(base, "README.md"), []byte("# race\n"), 0o644)
	testenv.Git(t, base, "add", "README.md")
	testenv.Git(t, base, "commit", "-q", "-m", "base")
	testenv.Git(t, base, "push", "-q", remote, "main")

	const n = 2
	works := make([]string, n)
	for i := range works {
		works[i] = filepath.Join(t.TempDir(), "w")
		testenv.Git(t, "", "clone", "-q", remote, works[i])
		// Enough new content that the pushes overlap.
		data := make([]byte, 1<<20)
		for j := range data {
			data[j] = byte(j*(i+7) ^ j>>7)
		}
		os.WriteFile(filepath.Join(works[i], fmt.Sprintf("big%d.bin", i)), data, 0o644)
		testenv.Git(t, works[i], "add", "-A")
		testenv.Git(t, works[i], "commit", "-q", "-m", fmt.Sprint("push ", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range works {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = testenv.GitErr(t, works[i], "push", "-q", remote, "main")
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("both pushes won")
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no push won: %v", errs)
	}
	if got, want := lsRemote(t, remote)["refs/heads/main"], revParse(t, works[winner], "HEAD"); got != want {
		t.Fatalf("main is %s, want the winner's %s", got, want)
	}
	fsck(t, srv.RepoDir("alice", "race"))
}
