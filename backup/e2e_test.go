package backup_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/backup"
	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

func torus(t *testing.T, path string, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := stlgen.WriteTorus(&b, n, false); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func waitCatalogued(t *testing.T, srv *testenv.Server, project string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var p struct{ Catalog struct{ State string } }
		getJSON(t, srv.URL+"/api/v1/projects/"+project, &p)
		if p.Catalog.State == "done" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not catalogued: %s", project, p.Catalog.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// searchAnswer is what a search says, in a form two servers can compare.
func searchAnswer(t *testing.T, srv *testenv.Server, query string) string {
	t.Helper()
	var res struct {
		Total uint64
		Hits  []struct {
			Kind, Project, Path, Commit, SHA256 string
			Volume                              float64
		}
	}
	getJSON(t, srv.URL+"/api/v1/search?"+query, &res)
	var lines []string
	for _, h := range res.Hits {
		lines = append(lines, fmt.Sprintf("%s %s %s %s %s %.3f", h.Kind, h.Project, h.Path, h.Commit, h.SHA256, h.Volume))
	}
	sort.Strings(lines)
	return fmt.Sprintf("total %d\n%s", res.Total, strings.Join(lines, "\n"))
}

// pushBracketAndHeavy pushes alice/bracket (plain STL files) and
// alice/heavy (one STL in Git LFS), and returns the LFS file's bytes.
func pushBracketAndHeavy(t *testing.T, srv *testenv.Server, alice, work string) []byte {
	t.Helper()
	bracket := filepath.Join(work, "bracket")
	testenv.Git(t, "", "init", "-q", "-b", "main", bracket)
	torus(t, filepath.Join(bracket, "arm.stl"), 400)
	torus(t, filepath.Join(bracket, "plate.stl"), 300)
	testenv.Git(t, bracket, "add", ".")
	testenv.Git(t, bracket, "commit", "-q", "-m", "bracket")
	testenv.Git(t, bracket, "push", "-q", srv.Remote("alice", alice, "alice", "bracket"), "main")
	heavy := filepath.Join(work, "heavy")
	testenv.Git(t, "", "init", "-q", "-b", "main", heavy)
	testenv.Git(t, "", "lfs", "install", "--skip-repo")
	testenv.Git(t, heavy, "lfs", "track", "*.stl")
	lfsBytes := torus(t, filepath.Join(heavy, "body.stl"), 2000)
	testenv.Git(t, heavy, "add", ".")
	testenv.Git(t, heavy, "commit", "-q", "-m", "heavy")
	testenv.Git(t, heavy, "push", "-q", srv.Remote("alice", alice, "alice", "heavy"), "main")
	return lfsBytes
}

// TestBackupDuringPushesAndRestore takes a backup while a client keeps
// pushing, restores it into a fresh folder and checks the new instance:
// every push acknowledged before the backup began is there, LFS objects
// download, users and tokens work and search answers as before. A backup
// whose manifest or files were changed is refused.
func TestBackupDuringPushesAndRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "git-lfs")
	srv := testenv.StartServer(t, testenv.Options{})
	alice, bob := srv.AddUser(t, "alice"), srv.AddUser(t, "bob")
	work := t.TempDir()

	// A plain project and an LFS project that stay put.
	lfsBytes := pushBracketAndHeavy(t, srv, alice, work)
	waitCatalogued(t, srv, "alice/bracket")
	waitCatalogued(t, srv, "alice/heavy")
	queries := []string{"q=arm", "kind=part&project=alice/bracket", "project=alice/heavy", "q=body"}
	before := map[string]string{}
	for _, q := range queries {
		before[q] = searchAnswer(t, srv, q)
	}

	// A client pushing in a loop to alice/loop.
	loop := filepath.Join(work, "loop")
	testenv.Git(t, "", "init", "-q", "-b", "main", loop)
	var mu sync.Mutex
	var acked []string
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.WriteFile(filepath.Join(loop, "log.txt"), []byte(fmt.Sprintf("push %d\n", i)), 0o644)
			if i%3 == 0 {
				torus(t, filepath.Join(loop, fmt.Sprintf("p%d.stl", i)), 200)
			}
			if _, err := testenv.GitErr(t, loop, "add", "."); err != nil {
				return
			}
			if _, err := testenv.GitErr(t, loop, "commit", "-q", "-m", fmt.Sprint("push ", i)); err != nil {
				return
			}
			if out, err := testenv.GitErr(t, loop, "push", "-q", srv.Remote("alice", alice, "alice", "loop"), "main"); err != nil {
				t.Errorf("loop push %d: %v\n%s", i, err, out)
				return
			}
			head, _ := testenv.GitErr(t, loop, "rev-parse", "HEAD")
			mu.Lock()
			acked = append(acked, strings.TrimSpace(head))
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for count() < 3 {
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	ackedBefore := append([]string(nil), acked...)
	mu.Unlock()
	dir := filepath.Join(t.TempDir(), "backup")
	out, err := srv.Run(t, "backup", dir)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	n := count()
	for count() < n+2 {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	<-stopped
	t.Logf("%d pushes acknowledged before the backup, %d in all", len(ackedBefore), count())

	bin := testenv.Binary(t)
	restore := func(from, data string) (string, error) {
		out, err := exec.Command(bin, "restore", from, "--data", data).CombinedOutput()
		return string(out), err
	}

	t.Run("tampered", func(t *testing.T) {
		m, err := backup.Read(dir)
		if err != nil {
			t.Fatalf("read the good backup: %v", err)
		}
		for name, spoil := range map[string]func(d string){
			"manifest checksum of a file": func(d string) {
				data, _ := os.ReadFile(filepath.Join(d, backup.ManifestFile))
				f := m.Files[0]
				data = bytes.Replace(data, []byte(f.SHA256), []byte(strings.Repeat("0", 64)), 1)
				os.WriteFile(filepath.Join(d, backup.ManifestFile), data, 0o644)
			},
			"manifest path outside": func(d string) {
				data, _ := os.ReadFile(filepath.Join(d, backup.ManifestFile))
				data = bytes.Replace(data, []byte(`"path": "blueprints.db"`), []byte(`"path": "../blueprints.db"`), 1)
				os.WriteFile(filepath.Join(d, backup.ManifestFile), data, 0o644)
			},
			"bundle bytes": func(d string) {
				f, _ := os.OpenFile(filepath.Join(d, "repos", "alice", "bracket.bundle"), os.O_APPEND|os.O_WRONLY, 0)
				f.Write([]byte("x"))
				f.Close()
			},
			"metadata replaced": func(d string) {
				os.WriteFile(filepath.Join(d, "blueprints.db"), []byte("not a database"), 0o644)
			},
		} {
			copyDir := filepath.Join(t.TempDir(), "copy")
			if err := exec.Command("cp", "-r", dir, copyDir).Run(); err != nil {
				t.Fatal(err)
			}
			spoil(copyDir)
			data := filepath.Join(t.TempDir(), "new")
			out, err := restore(copyDir, data)
			if err == nil || !strings.Contains(out, "refusing to restore") {
				t.Errorf("%s: restore did not refuse: %v\n%s", name, err, out)
			}
			if entries, _ := os.ReadDir(data); len(entries) != 0 {
				t.Errorf("%s: a refused restore wrote %d entries into --data", name, len(entries))
			}
		}
	})

	newData := filepath.Join(t.TempDir(), "restored")
	if out, err := restore(dir, newData); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	srv.Stop(t)
	srv2 := testenv.StartServer(t, testenv.Options{Data: newData})

	// Every push acknowledged before the backup began is there.
	clone := filepath.Join(t.TempDir(), "loop")
	testenv.Git(t, "", "clone", "-q", srv2.URL+"/alice/loop", clone)
	for _, c := range ackedBefore {
		if _, err := testenv.GitErr(t, clone, "merge-base", "--is-ancestor", c, "HEAD"); err != nil {
			t.Errorf("acknowledged push %s is missing from the restored alice/loop", c)
		}
	}
	if out, err := testenv.GitErr(t, clone, "fsck", "--strict"); err != nil {
		t.Errorf("restored repository fails fsck: %v\n%s", err, out)
	}
	// LFS objects download.
	lfsClone := filepath.Join(t.TempDir(), "heavy")
	testenv.Git(t, "", "clone", "-q", srv2.Remote("alice", alice, "alice", "heavy"), lfsClone)
	if got, _ := os.ReadFile(filepath.Join(lfsClone, "body.stl")); !bytes.Equal(got, lfsBytes) {
		t.Errorf("LFS file after restore: %d bytes, want the %d pushed", len(got), len(lfsBytes))
	}
	// Users and tokens work: both push.
	testenv.Git(t, clone, "push", "-q", srv2.Remote("alice", alice, "alice", "loop"), "HEAD:refs/heads/after-restore")
	bobs := filepath.Join(work, "bobs")
	testenv.Git(t, "", "init", "-q", "-b", "main", bobs)
	torus(t, filepath.Join(bobs, "x.stl"), 200)
	testenv.Git(t, bobs, "add", ".")
	testenv.Git(t, bobs, "commit", "-q", "-m", "x")
	testenv.Git(t, bobs, "push", "-q", srv2.Remote("bob", bob, "bob", "new"), "main")
	// Search answers as before, from the rebuilt index.
	for _, q := range queries {
		if got := searchAnswer(t, srv2, q); got != before[q] {
			t.Errorf("search %s after restore:\n%s\nbefore:\n%s", q, got, before[q])
		}
	}
}
