package doctor_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/search"
)

func pushProject(t *testing.T, srv *testenv.Server, token, name string, parts ...string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	testenv.Git(t, "", "init", "-q", "-b", "main", dir)
	for i, p := range parts {
		f, err := os.Create(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		stlgen.WriteTorus(f, 200+100*i, false)
		f.Close()
	}
	testenv.Git(t, dir, "add", ".")
	testenv.Git(t, dir, "commit", "-q", "-m", name)
	testenv.Git(t, dir, "push", "-q", srv.Remote("maker", token, "maker", name), "main")
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func waitDone(t *testing.T, srv *testenv.Server, project string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/api/v1/projects/maker/" + project)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `"state":"done"`) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not catalogued", project)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDoctor damages a data folder on purpose (a deleted repository, a
// repository without a row, an orphan LFS object, a missing preview, a
// stray index document, a stale lock), checks that doctor finds each and
// exits 1, that --fix repairs each, that a second run finds nothing and
// exits 0, and that the server then serves the repaired folder.
func TestDoctor(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "maker")
	pushProject(t, srv, token, "bracket", "arm.stl", "plate.stl")
	pushProject(t, srv, token, "clamp", "jaw.stl")
	waitDone(t, srv, "bracket")
	waitDone(t, srv, "clamp")
	srv.Stop(t)
	data := srv.Data
	doctor := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(testenv.Binary(t), append([]string{"doctor", "--data", data}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := doctor(); code != 0 || !strings.Contains(out, "no problems found") {
		t.Fatalf("doctor on a healthy folder: exit %d\n%s", code, out)
	}

	old := time.Now().Add(-48 * time.Hour)
	// A repository whose project row is gone: copy bracket's as "ghost".
	if err := exec.Command("cp", "-r", srv.RepoDir("maker", "bracket"), srv.RepoDir("maker", "ghost")).Run(); err != nil {
		t.Fatal(err)
	}
	// A project row whose repository is gone.
	if err := os.RemoveAll(srv.RepoDir("maker", "clamp")); err != nil {
		t.Fatal(err)
	}
	// An orphan LFS object, old enough to collect, and a fresh one that
	// may belong to an upload in flight.
	orphan := []byte("nobody owns this")
	sum := sha256.Sum256(orphan)
	oid := hex.EncodeToString(sum[:])
	orphanPath := filepath.Join(data, "blobs", "lfs", oid[:2], oid[2:4], oid)
	os.MkdirAll(filepath.Dir(orphanPath), 0o755)
	os.WriteFile(orphanPath, orphan, 0o644)
	os.Chtimes(orphanPath, old, old)
	fresh := []byte("upload in flight")
	fsum := sha256.Sum256(fresh)
	foid := hex.EncodeToString(fsum[:])
	freshPath := filepath.Join(data, "blobs", "lfs", foid[:2], foid[2:4], foid)
	os.MkdirAll(filepath.Dir(freshPath), 0o755)
	os.WriteFile(freshPath, fresh, 0o644)
	// A missing preview: remove one of bracket's.
	previews, _ := filepath.Glob(filepath.Join(data, "blobs", "previews", "*", "*.png"))
	if len(previews) < 2 {
		t.Fatalf("want previews to remove, found %v", previews)
	}
	missing := previews[0]
	os.Remove(missing)
	// A stray index document.
	idx, err := search.Open(filepath.Join(data, "index.bleve"))
	if err != nil {
		t.Fatal(err)
	}
	stray := search.Doc{ID: search.PartID("maker/nothing", "gone.stl"), Kind: search.KindPart, Project: "maker/nothing", Owner: "maker", Name: "gone", Path: "gone.stl", Ref: "main", Commit: strings.Repeat("a", 40)}
	if err := idx.Apply(t.Context(), []search.Doc{stray}, nil); err != nil {
		t.Fatal(err)
	}
	idx.Close()
	// A stale lock.
	lock := filepath.Join(srv.RepoDir("maker", "bracket"), "refs", "heads", "main.lock")
	os.WriteFile(lock, []byte("0000000000000000000000000000000000000000\n"), 0o644)
	os.Chtimes(lock, old, old)

	out, code := doctor()
	if code != 1 {
		t.Errorf("doctor on a damaged folder: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		"repositories maker/ghost: repository without a project row",
		"projects     maker/clamp: project row without a repository",
		"lfs          lfs/" + oid[:2] + "/" + oid[2:4] + "/" + oid + ": LFS object no project owns",
		"previews     previews/",
		"index        part:maker/nothing:gone.stl: search document for nothing in the store",
		"locks        " + lock + ": stale git lock",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor did not report %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, foid) {
		t.Errorf("doctor reported the fresh object of an upload in flight:\n%s", out)
	}
	if _, err := os.Stat(orphanPath); err != nil {
		t.Errorf("doctor without --fix changed the folder: %v", err)
	}

	t.Logf("doctor:\n%s", out)
	out, code = doctor("--fix")
	t.Logf("doctor --fix:\n%s", out)
	if code != 0 || !strings.Contains(out, "problems found and fixed") || strings.Contains(out, "fix failed") {
		t.Errorf("doctor --fix: exit %d\n%s", code, out)
	}
	if out2, code := doctor(); code != 0 || !strings.Contains(out2, "no problems found") {
		t.Errorf("doctor after --fix: exit %d\n%s\n(the fix said:\n%s)", code, out2, out)
	}
	if _, err := os.Stat(orphanPath); !os.IsNotExist(err) {
		t.Errorf("orphan LFS object still there: %v", err)
	}
	if _, err := os.Stat(freshPath); err != nil {
		t.Errorf("the fresh object was collected: %v", err)
	}
	if _, err := os.Stat(missing); err != nil {
		t.Errorf("missing preview not rendered again: %v", err)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("stale lock still there: %v", err)
	}

	// The server serves the repaired folder.
	srv.Start(t)
	for url, want := range map[string]int{
		srv.URL + "/maker/ghost":                            200,
		srv.URL + "/maker/ghost/blob/main/arm.stl":          200,
		srv.URL + "/maker/clamp":                            404,
		srv.URL + "/maker/bracket/preview/main/arm.stl.png": 200,
	} {
		if got := status(t, url); got != want {
			t.Errorf("GET %s: %d, want %d", url, got, want)
		}
	}
	resp, err := http.Get(srv.URL + "/api/v1/search?q=gone")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "maker/nothing") {
			t.Errorf("search still finds the stray document: %s", body)
		}
	}
}
