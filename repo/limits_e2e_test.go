package repo_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// pushBare pushes commit from the bare repository gitDir to ref of the
// remote with the real git, returning its output and error.
func pushBare(t *testing.T, gitDir, remote, commit string) (string, error) {
	t.Helper()
	return testenv.GitErr(t, gitDir, "--git-dir", gitDir, "push", "--quiet", remote, commit+":refs/heads/main")
}

// TestPushLimits pushes, with the server's default limits, what a hostile
// pusher would (a tree bomb of a million paths in a few objects, folders
// nested too deep, a folder of too many entries, a file too big for git)
// and a real project of 5,000 parts in deep folders. The hostile pushes
// are refused at the door, naming the limit and the path; nothing of them
// is kept or catalogued; the real project goes through.
func TestPushLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: pushes to the real binary")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "alice")
	remote := func(project string) string { return srv.Remote("alice", token, "alice", project) }
	gone := func(t *testing.T, project string) {
		t.Helper()
		if code, _ := status(t, "GET", srv.URL+"/alice/"+project, "", ""); code != http.StatusNotFound {
			t.Errorf("alice/%s after a refused push-to-create: %d, want 404", project, code)
		}
		if _, err := os.Stat(srv.RepoDir("alice", project)); !os.IsNotExist(err) {
			t.Errorf("alice/%s: the refused push left its repository (%v)", project, err)
		}
	}
	refused := func(t *testing.T, project, out string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("push to alice/%s accepted, want a refusal:\n%s", project, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("push to alice/%s: refusal lacks %q:\n%s", project, w, out)
			}
		}
		t.Logf("alice/%s refused:\n%s", project, out)
		gone(t, project)
	}

	t.Run("bomb", func(t *testing.T) {
		bare := testenv.InitBare(t)
		commit := testenv.TreeBomb(t, bare, 10, 6) // 10^6 files, 8 objects
		out, err := pushBare(t, bare, remote("bomb"), commit)
		refused(t, "bomb", out, err, "over the limit of 250000 files and folders per commit", `"d2/d2/d4/d9/d9/f9"`, "--max-push-paths", "commit "+commit[:12])
	})

	t.Run("depth", func(t *testing.T) {
		bare := testenv.InitBare(t)
		blob := testenv.WriteBlob(t, bare, []byte("solid deep\nendsolid deep\n"))
		tree := testenv.GitIn(t, bare, "100644 blob "+blob+"\tdeep.stl\n", "mktree")
		var path []string
		for i := 64; i >= 1; i-- {
			tree = testenv.GitIn(t, bare, "040000 tree "+tree+"\t"+fmt.Sprint("l", i)+"\n", "mktree")
			path = append([]string{fmt.Sprint("l", i)}, path...)
		}
		// l1/.../l64/deep.stl is at depth 65.
		out, err := pushBare(t, bare, remote("deep"), testenv.CommitTree(t, bare, tree, "deep"))
		refused(t, "deep", out, err, strings.Join(path, "/")+"/deep.stl", "nested more than 64 folders deep", "--max-tree-depth")
	})

	t.Run("entries", func(t *testing.T) {
		bare := testenv.InitBare(t)
		blob := testenv.WriteBlob(t, bare, []byte("x\n"))
		var b strings.Builder
		for i := range 50_001 {
			fmt.Fprintf(&b, "100644 blob %s\tpart%05d.stl\n", blob, i)
		}
		wide := testenv.GitIn(t, bare, b.String(), "mktree")
		tree := testenv.GitIn(t, bare, "040000 tree "+wide+"\tflat\n", "mktree")
		out, err := pushBare(t, bare, remote("wide"), testenv.CommitTree(t, bare, tree, "wide"))
		refused(t, "wide", out, err, `folder "flat" holds 50001 entries, over the limit of 50000`, "--max-tree-entries")
	})

	t.Run("blob size", func(t *testing.T) {
		work := t.TempDir()
		testenv.Git(t, work, "init", "-q", "-b", "main")
		big := filepath.Join(work, "scans", "raw_scan.stl")
		os.MkdirAll(filepath.Dir(big), 0o755)
		f, err := os.Create(big)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(100<<20 + 1); err != nil { // zeros: small once packed
			t.Fatal(err)
		}
		f.Close()
		os.WriteFile(filepath.Join(work, "README.md"), []byte("# Scans\n"), 0o644)
		testenv.Git(t, work, "add", "-A")
		testenv.Git(t, work, "commit", "-q", "-m", "a scan")
		out, err := testenv.GitErr(t, work, "push", remote("scans"), "main")
		refused(t, "scans", out, err, `"scans/raw_scan.stl" has 104857601 bytes, over the limit of 104857600`, "git lfs track", "--max-blob-size")
	})

	t.Run("5000 parts in deep folders", func(t *testing.T) {
		work := t.TempDir()
		testenv.Git(t, work, "init", "-q", "-b", "main")
		n := 0
		for a := range 5 {
			for b := range 10 {
				for c := range 10 {
					dir := filepath.Join(work, "machine", fmt.Sprint("module_", a), "assembly", fmt.Sprint("group_", b), "sub", "deeper", "still", fmt.Sprint("set_", c))
					os.MkdirAll(dir, 0o755)
					for i := range 10 {
						stl := fmt.Sprintf("solid p\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex %d 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid p\n", 1+n%20)
						os.WriteFile(filepath.Join(dir, fmt.Sprint("part_", i, ".stl")), []byte(stl), 0o644)
						n++
					}
				}
			}
		}
		os.WriteFile(filepath.Join(work, "README.md"), []byte("# A big machine\n"), 0o644)
		testenv.Git(t, work, "add", "-A")
		testenv.Git(t, work, "commit", "-q", "-m", "5000 parts")
		out := testenv.Git(t, work, "push", remote("machine"), "main")
		if !strings.Contains(out, "5000 parts queued for cataloguing") {
			t.Errorf("push of 5,000 parts:\n%s", out)
		}
		if refs := lsRemote(t, srv.URL+"/alice/machine.git"); refs["refs/heads/main"] != revParse(t, work, "HEAD") {
			t.Errorf("main after the push: %v", refs)
		}
	})
}
