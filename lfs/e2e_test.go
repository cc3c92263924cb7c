package lfs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/lfs"
)

// corpusParts are the corpus files the end-to-end tests push with LFS:
// small and large, binary and ASCII, with brackets and spaces in names.
var corpusParts = []string{
	"VoronDesign__Voron-Trident/STLs/Tools/140mm_extrusion_drill_guide.stl",
	"VoronDesign__Voron-Trident/STLs/Z_Assembly/z_carriage_rear.stl",
	"VoronDesign__Voron-Trident/STLs/Gantry/X_Axis/XY_Joints/[a]_xy_left.stl",
	"rwb27__openflexure_microscope/builds/gears.stl",
}

// blobCheck reports whether the server's blob storage holds an LFS object.
type blobCheck func(t *testing.T, oid string) bool

// lfsEnv is a running blueprints serve with two users.
type lfsEnv struct {
	srv          *testenv.Server
	alice, bob   string // tokens
	stored       blobCheck
	corpus, work string
}

func startLFSEnv(t *testing.T, opt testenv.Options, stored func(srv *testenv.Server) blobCheck) *lfsEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with the blueprints binary, git and git-lfs; not in -short mode")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "git-lfs")
	srv := testenv.StartServer(t, opt)
	e := &lfsEnv{
		srv:    srv,
		alice:  srv.AddUser(t, "alice"),
		bob:    srv.AddUser(t, "bob"),
		corpus: filepath.Join(testenv.ModuleRoot(t), "testdata", "corpus"),
		work:   t.TempDir(),
	}
	e.stored = stored(srv)
	// Filters in the test's own HOME only; --skip-repo so no hooks land in
	// whatever repository the test runs inside.
	testenv.Git(t, e.work, "lfs", "install", "--skip-repo")
	return e
}

func oidOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// gitFails runs git and fails the test unless git fails with output
// containing every one of want.
func gitFails(t *testing.T, dir string, want []string, args ...string) string {
	t.Helper()
	out, err := testenv.GitErr(t, dir, args...)
	if err == nil {
		t.Fatalf("git %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("git %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

// pushParts makes a repository that tracks *.stl with LFS, holding the
// corpus parts, and pushes it to alice/machine (push-to-create). It returns
// the repository folder and the bytes of each part by path.
func (e *lfsEnv) pushParts(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := filepath.Join(e.work, "machine")
	testenv.Git(t, e.work, "init", "-q", dir)
	testenv.Git(t, dir, "lfs", "track", "*.stl")
	parts := map[string][]byte{}
	for _, p := range corpusParts {
		data, err := os.ReadFile(filepath.Join(e.corpus, p))
		if err != nil {
			t.Fatal(err)
		}
		rel := "parts/" + filepath.Base(p)
		if err := os.MkdirAll(filepath.Join(dir, "parts"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
		parts[rel] = data
	}
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Machine\n"), 0o644)
	testenv.Git(t, dir, "add", ".")
	testenv.Git(t, dir, "commit", "-q", "-m", "parts")
	testenv.Git(t, dir, "remote", "add", "origin", e.srv.Remote("alice", e.alice, "alice", "machine"))
	out := testenv.Git(t, dir, "push", "-u", "origin", "main")
	t.Logf("push:\n%s", out)
	return dir, parts
}

// checkStored checks the objects are in blob storage and not in the bare
// repository, which holds only their pointers.
func (e *lfsEnv) checkStored(t *testing.T, parts map[string][]byte) {
	t.Helper()
	bare := e.srv.RepoDir("alice", "machine")
	for path, data := range parts {
		oid := oidOf(data)
		if !e.stored(t, oid) {
			t.Errorf("%s (%s) is not in blob storage", path, oid)
		}
		// The git blob id of the real content must not be in the repository.
		cmd := exec.Command("git", "hash-object", "--stdin")
		cmd.Stdin = bytes.NewReader(data)
		id, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := testenv.GitErr(t, bare, "cat-file", "-e", strings.TrimSpace(string(id))); err == nil {
			t.Errorf("%s: its content is in the bare repository", path)
		}
		pointer := testenv.Git(t, bare, "show", "main:"+path)
		if p, ok := lfs.ParsePointer([]byte(pointer)); !ok || p.OID != oid || p.Size != int64(len(data)) {
			t.Errorf("%s in the repository is not its pointer: %q", path, pointer)
		}
	}
}

// checkClone clones alice/machine anonymously and compares every part.
func (e *lfsEnv) checkClone(t *testing.T, name string, parts map[string][]byte) {
	t.Helper()
	dir := filepath.Join(e.work, name)
	testenv.Git(t, e.work, "clone", "-q", e.srv.Remote("", "", "alice", "machine"), dir)
	for path, want := range parts {
		got, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s in the clone: %d bytes, want the %d of the original (pointer? %q)", path, len(got), len(want), got[:min(len(got), 60)])
		}
	}
}

// checkRaw checks the pages serve the LFS content, not the pointers.
func checkRaw(t *testing.T, e *lfsEnv, parts map[string][]byte) {
	t.Helper()
	for path, want := range parts {
		res, err := http.Get(e.srv.URL + "/alice/machine/raw/main/" + (&url.URL{Path: path}).EscapedPath())
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Errorf("raw %s: %d, %d bytes (want %d): %v", path, res.StatusCode, len(got), len(want), err)
		}
	}
}

func fsBlobs(srv *testenv.Server) blobCheck {
	return func(t *testing.T, oid string) bool {
		_, err := os.Stat(filepath.Join(srv.Data, "blobs", filepath.FromSlash(lfs.BlobKey(oid))))
		return err == nil
	}
}

func TestGitLFSEndToEndFS(t *testing.T) {
	e := startLFSEnv(t, testenv.Options{}, fsBlobs)
	dir, parts := e.pushParts(t)
	e.checkStored(t, parts)
	e.checkClone(t, "clone", parts)
	checkRaw(t, e, parts)
	testLocks(t, e, dir)
	testLockedPush(t, e, dir)
	testMissingObjects(t, e, dir)
}

func TestGitLFSEndToEndS3(t *testing.T) {
	if testing.Short() {
		t.Skip("needs versitygw; not in -short mode")
	}
	s3 := testenv.StartS3(t)
	e := startLFSEnv(t, testenv.Options{Storage: "s3://" + s3.Bucket, Env: s3.Env()}, func(*testenv.Server) blobCheck {
		return func(t *testing.T, oid string) bool {
			return slices.Contains(s3.Keys(t, s3.Bucket), lfs.BlobKey(oid))
		}
	})
	dir, parts := e.pushParts(t)
	e.checkStored(t, parts)
	e.checkClone(t, "clone", parts)

	// S3 goes down: a push with a new LFS file fails clearly, and leaves
	// nothing behind; once S3 is back, the same push goes through, and a
	// restarted server still serves everything.
	s3.Stop(t)
	extra := make([]byte, 300_000)
	rand.Read(extra)
	if err := os.WriteFile(filepath.Join(dir, "parts", "extra.stl"), extra, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, dir, "add", "parts/extra.stl")
	testenv.Git(t, dir, "commit", "-q", "-m", "extra part")
	start := time.Now()
	out := gitFails(t, dir, []string{"storage is unavailable", "try again later"}, "-c", "lfs.transfer.maxretries=1", "push", "origin", "main")
	t.Logf("push with S3 down (%v):\n%s", time.Since(start), out)
	s3.Start(t)
	if e.stored(t, oidOf(extra)) {
		t.Fatal("the failed upload left an object in the bucket")
	}
	if ups := s3.Uploads(t, s3.Bucket); len(ups) != 0 {
		t.Fatalf("multipart uploads left behind: %v", ups)
	}
	testenv.Git(t, dir, "push", "origin", "main")
	parts["parts/extra.stl"] = extra
	e.srv.Stop(t)
	e.srv.Start(t)
	e.checkStored(t, parts)
	e.checkClone(t, "clone-after-restart", parts)
}

// testLocks: alice locks a part; bob, who may not push to her project,
// can neither lock, unlock (even with --force) nor push; alice unlocks.
func testLocks(t *testing.T, e *lfsEnv, dir string) {
	out := testenv.Git(t, dir, "lfs", "lock", "parts/gears.stl")
	if !strings.Contains(out, "Locked") {
		t.Fatalf("alice's lock: %s", out)
	}
	locks := testenv.Git(t, dir, "lfs", "locks")
	if !strings.Contains(locks, "parts/gears.stl") || !strings.Contains(locks, "alice") {
		t.Fatalf("locks: %s", locks)
	}
	bobDir := filepath.Join(e.work, "bob")
	testenv.Git(t, e.work, "clone", "-q", e.srv.Remote("bob", e.bob, "alice", "machine"), bobDir)
	if l := testenv.Git(t, bobDir, "lfs", "locks"); !strings.Contains(l, "parts/gears.stl") {
		t.Fatalf("bob does not see alice's lock: %s", l)
	}
	gitFails(t, bobDir, nil, "lfs", "lock", "parts/z_carriage_rear.stl")
	gitFails(t, bobDir, nil, "lfs", "unlock", "parts/gears.stl")
	gitFails(t, bobDir, nil, "lfs", "unlock", "--force", "parts/gears.stl")
	os.WriteFile(filepath.Join(bobDir, "parts", "gears.stl"), []byte("solid edited\nendsolid edited\n"), 0o644)
	testenv.Git(t, bobDir, "commit", "-q", "-am", "bob edits a locked part")
	gitFails(t, bobDir, nil, "push", "origin", "main")
	if l := testenv.Git(t, dir, "lfs", "locks"); !strings.Contains(l, "parts/gears.stl") {
		t.Fatalf("the lock went away: %s", l)
	}
	testenv.Git(t, dir, "lfs", "unlock", "parts/gears.stl")
	if l := strings.TrimSpace(testenv.Git(t, dir, "lfs", "locks")); l != "" {
		t.Fatalf("locks after unlock: %q", l)
	}
}

// testLockedPush: a file locked by another user (written into the store,
// as there are no collaborators who could lock it through the API) cannot
// be changed by a push, even one that skips git-lfs's own check.
func testLockedPush(t *testing.T, e *lfsEnv, dir string) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(e.srv.Data, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.ProjectByName(ctx, "alice", "machine")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.UserByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	lock, err := st.CreateLFSLock(ctx, p.ID, "README.md", bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Machine, edited\n"), 0o644)
	testenv.Git(t, dir, "commit", "-q", "-am", "edit a locked file")
	gitFails(t, dir, nil, "push", "origin", "main") // git-lfs's own check
	out := gitFails(t, dir, []string{"README.md", "locked by bob"}, "push", "--no-verify", "origin", "main")
	t.Logf("push of a locked file:\n%s", out)
	if _, err := st.DeleteLFSLock(ctx, p.ID, lock.ID); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, dir, "push", "origin", "main")
}

// testMissingObjects pushes pointers to objects the server does not have
// for this project (never uploaded; uploaded to another project) with the
// LFS pre-push hook skipped, and expects refusals naming the files.
func testMissingObjects(t *testing.T, e *lfsEnv, dir string) {
	ghost := lfs.Pointer{OID: oidOf([]byte("never uploaded")), Size: 14}
	if err := os.WriteFile(filepath.Join(dir, "parts", "ghost.stl"), ghost.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	// Bob's object, uploaded to his own project.
	bobData := []byte("solid bob\nendsolid bob\n")
	bobDir := filepath.Join(e.work, "bobs")
	testenv.Git(t, e.work, "init", "-q", bobDir)
	testenv.Git(t, bobDir, "lfs", "track", "*.stl")
	os.WriteFile(filepath.Join(bobDir, "bob.stl"), bobData, 0o644)
	testenv.Git(t, bobDir, "add", ".")
	testenv.Git(t, bobDir, "commit", "-q", "-m", "bob's part")
	testenv.Git(t, bobDir, "push", e.srv.Remote("bob", e.bob, "bob", "own"), "main")
	stolen := lfs.Pointer{OID: oidOf(bobData), Size: int64(len(bobData))}
	if err := os.WriteFile(filepath.Join(dir, "parts", "stolen.stl"), stolen.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	// git-lfs passes files that already are pointers through unchanged.
	testenv.Git(t, dir, "add", "parts/ghost.stl", "parts/stolen.stl")
	testenv.Git(t, dir, "commit", "-q", "-m", "pointers without objects")
	out := gitFails(t, dir, []string{"parts/ghost.stl", "parts/stolen.stl", "git lfs push --all origin"}, "push", "--no-verify", "origin", "main")
	t.Logf("refused push:\n%s", out)
	bare := e.srv.RepoDir("alice", "machine")
	if _, err := testenv.GitErr(t, bare, "cat-file", "-e", "main:parts/ghost.stl"); err == nil {
		t.Fatal("the refused push changed main")
	}
	// And the download API does not hand bob's object to alice's project.
	clone := filepath.Join(e.work, "after-refusal")
	testenv.Git(t, e.work, "clone", "-q", e.srv.Remote("", "", "bob", "own"), clone)
	if got, _ := os.ReadFile(filepath.Join(clone, "bob.stl")); !bytes.Equal(got, bobData) {
		t.Fatalf("bob's own clone: %q", got)
	}
	testenv.Git(t, dir, "reset", "-q", "--hard", "HEAD~1")

	// A real LFS file pushed without its object: refused; after the
	// command the refusal names, the same push goes through.
	late := make([]byte, 70_000)
	rand.Read(late)
	if err := os.WriteFile(filepath.Join(dir, "parts", "late.stl"), late, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, dir, "add", "parts/late.stl")
	testenv.Git(t, dir, "commit", "-q", "-m", "late part")
	gitFails(t, dir, []string{"parts/late.stl"}, "push", "--no-verify", "origin", "main")
	testenv.Git(t, dir, "lfs", "push", "--all", "origin")
	testenv.Git(t, dir, "push", "--no-verify", "origin", "main")
	e.checkClone(t, "clone-late", map[string][]byte{"parts/late.stl": late})
}

// uploadObject uploads data as an LFS object to owner/project through the
// batch API and a basic-transfer PUT, as git-lfs would, and returns its
// pointer. The project need not exist yet (its push may create it).
func uploadObject(t *testing.T, srv *testenv.Server, user, token, project string, data []byte) lfs.Pointer {
	t.Helper()
	p := lfs.Pointer{OID: oidOf(data), Size: int64(len(data))}
	body := `{"operation":"upload","transfers":["basic"],"objects":[{"oid":"` + p.OID + `","size":` + strconv.FormatInt(p.Size, 10) + `}]}`
	req, _ := http.NewRequest("POST", srv.URL+"/"+user+"/"+project+".git/info/lfs/objects/batch", strings.NewReader(body))
	req.SetBasicAuth(user, token)
	req.Header.Set("Accept", lfs.MediaType)
	req.Header.Set("Content-Type", lfs.MediaType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var batch struct {
		Objects []struct {
			Actions map[string]struct {
				Href   string            `json:"href"`
				Header map[string]string `json:"header"`
			} `json:"actions"`
		} `json:"objects"`
	}
	err = json.NewDecoder(res.Body).Decode(&batch)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || len(batch.Objects) != 1 {
		t.Fatalf("batch upload to %s/%s: %d %v %+v", user, project, res.StatusCode, err, batch)
	}
	up, ok := batch.Objects[0].Actions["upload"]
	if !ok {
		return p // already there
	}
	req, _ = http.NewRequest("PUT", up.Href, bytes.NewReader(data))
	for k, v := range up.Header {
		req.Header.Set(k, v)
	}
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("upload to %s/%s: %d", user, project, res.StatusCode)
	}
	return p
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestGitlinkLeak: a gitlink (a tree entry of mode 160000, which git's own
// walks never follow) naming an LFS pointer blob, pushed in a hand-built
// pack, must not read another user's object: the push is refused, as for
// any pointer to an object the project does not own. A gitlink to a
// pointer the project does own is accepted, and still never served as a
// file: raw, blob and preview answer 404, the tree shows a submodule.
func TestGitlinkLeak(t *testing.T) {
	e := startLFSEnv(t, testenv.Options{}, fsBlobs)
	secret := []byte("solid secret\n  alice's unpublished design\nendsolid secret\n")
	// Uploaded to a project that is never created.
	ptr := uploadObject(t, e.srv, "alice", e.alice, "secret", secret)

	bare := testenv.InitBare(t)
	pointer := testenv.WriteBlob(t, bare, ptr.Encode())
	readme := testenv.WriteBlob(t, bare, []byte("# Nothing to see\n"))
	tree := testenv.WriteTree(t, bare,
		testenv.TreeEntry{Mode: "160000", ID: pointer, Path: "leak.stl"},
		testenv.TreeEntry{Mode: "100644", ID: readme, Path: "README.md"})
	commit := testenv.CommitTree(t, bare, tree, "a gitlink to a pointer")
	out, err := testenv.PushPack(t, e.srv.Remote("bob", e.bob, "bob", "leak"), bare, append(testenv.Reachable(t, bare, commit), pointer),
		testenv.RefUpdate{Old: strings.Repeat("0", 40), New: commit, Ref: "refs/heads/main"})
	if err == nil {
		t.Errorf("push of a gitlink to alice's object accepted:\n%s", out)
	} else if !strings.Contains(out, "leak.stl") || !strings.Contains(out, "Git LFS file(s) point at objects this server does not have") {
		t.Errorf("refusal does not name the file and the reason:\n%s", out)
	}
	t.Logf("push answer:\n%s", out)
	if code, body := get(t, e.srv.URL+"/bob/leak/raw/main/leak.stl"); code != http.StatusNotFound || strings.Contains(body, "unpublished") {
		t.Fatalf("raw of the gitlink: %d %q", code, body)
	}

	// Bob's own object behind a gitlink: the push goes through, and the
	// gitlink is still no file.
	own := uploadObject(t, e.srv, "bob", e.bob, "own", []byte("solid own\nendsolid own\n"))
	pointer = testenv.WriteBlob(t, bare, own.Encode())
	tree = testenv.WriteTree(t, bare,
		testenv.TreeEntry{Mode: "160000", ID: pointer, Path: "parts/own.stl"},
		testenv.TreeEntry{Mode: "100644", ID: readme, Path: "README.md"})
	commit = testenv.CommitTree(t, bare, tree, "a gitlink to an owned pointer")
	if out, err := testenv.PushPack(t, e.srv.Remote("bob", e.bob, "bob", "own"), bare, append(testenv.Reachable(t, bare, commit), pointer),
		testenv.RefUpdate{Old: strings.Repeat("0", 40), New: commit, Ref: "refs/heads/main"}); err != nil {
		t.Fatalf("push of a gitlink to bob's own object: %v\n%s", err, out)
	}
	for _, path := range []string{"/raw/main/parts/own.stl", "/blob/main/parts/own.stl", "/preview/main/parts/own.stl.png"} {
		if code, body := get(t, e.srv.URL+"/bob/own"+path); code != http.StatusNotFound || strings.Contains(body, "endsolid") {
			t.Errorf("%s of a gitlink: %d %.200q", path, code, body)
		}
	}
	if code, body := get(t, e.srv.URL+"/bob/own/tree/main/parts"); code != http.StatusOK || !strings.Contains(body, "submodule") || strings.Contains(body, `href="/bob/own/blob/main/parts/own.stl"`) {
		t.Errorf("tree with a gitlink: %d\n%s", code, body)
	}
	if code, _ := get(t, e.srv.URL+"/bob/own/archive/main.zip"); code != http.StatusOK {
		t.Errorf("archive with a gitlink: %d", code)
	}
}
