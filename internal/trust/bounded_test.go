package trust_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/benchkit"
	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// openFiles counts the file descriptors process pid holds.
func openFiles(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("read open files of the server: %v", err)
	}
	return len(entries)
}

// TestLargeTreeBoundedCost pushes a project of 10⁵ paths (a tree of ten
// folders nested five deep, in a handful of objects, pushed loose, as a
// small push is kept) beside three real parts, under the push limits.
// The server catalogues it, serves its commit page and a zip of all 10⁵
// files, while /healthz and a clone of another project stay fine; its
// peak memory stays bounded and it does not run out of file descriptors
// (go-git's size lookups on loose objects used to leave every file open,
// and this commit page left the server at 19,999 of 20,000).
func TestLargeTreeBoundedCost(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: the real binary and git")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--archive-max-files", "200000"}})
	token := srv.AddUser(t, "alice")

	// Another project, to clone while the big one is busy.
	other := t.TempDir()
	mustGit(t, other, "init", "-q", "-b", "main")
	var b bytes.Buffer
	stlgen.WriteTorus(&b, 2000, false)
	os.WriteFile(filepath.Join(other, "torus.stl"), b.Bytes(), 0o644)
	mustGit(t, other, "add", ".")
	mustGit(t, other, "commit", "-q", "-m", "other")
	mustGit(t, other, "push", "-q", srv.Remote("alice", token, "alice", "other"), "main")

	// 10⁵ files in 6 objects, and three parts beside them.
	bare := testenv.InitBare(t)
	bomb := testenv.TreeBomb(t, bare, 10, 5)
	bombTree := testenv.GitIn(t, bare, "", "rev-parse", bomb+"^{tree}")
	entries := []testenv.TreeEntry{}
	for i, n := range []int{500, 800, 1200} {
		var part bytes.Buffer
		stlgen.WriteTorus(&part, n, false)
		entries = append(entries, testenv.TreeEntry{Mode: "100644", ID: testenv.WriteBlob(t, bare, part.Bytes()), Path: fmt.Sprintf("parts/part_%d.stl", i)})
	}
	entries = append(entries, testenv.TreeEntry{Mode: "100644", ID: testenv.WriteBlob(t, bare, []byte("# Generated data\n")), Path: "README.md"})
	parts := testenv.WriteTree(t, bare, entries...)
	root := testenv.GitIn(t, bare, fmt.Sprintf("040000 tree %s\tdata\n", bombTree)+treeLines(t, bare, parts), "mktree")
	commit := testenv.CommitTree(t, bare, root, "a hundred thousand files")
	out, err := testenv.GitErr(t, bare, "--git-dir", bare, "push", srv.Remote("alice", token, "alice", "big"), commit+":refs/heads/main")
	if err != nil {
		t.Fatalf("push of 10⁵ paths under the limits: %v\n%s", err, out)
	}
	if !strings.Contains(out, "3 parts queued for cataloguing") {
		t.Errorf("push output:\n%s", out)
	}
	pid := srv.PID()

	// The commit page, the archive, /healthz and a clone, all at once.
	var wg sync.WaitGroup
	var commitPage, archiveErr string
	var archived int
	wg.Go(func() {
		code, body := fetch(t, srv.URL+"/alice/big/commit/"+commit)
		if code != 200 || !strings.Contains(body, "More than 2000 files") {
			commitPage = fmt.Sprintf("%d %.300s", code, body)
		}
	})
	wg.Go(func() {
		res, err := httpClient.Get(srv.URL + "/alice/big/archive/main.zip")
		if err != nil {
			archiveErr = err.Error()
			return
		}
		data, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			archiveErr = fmt.Sprintf("%d %v", res.StatusCode, err)
			return
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			archiveErr = err.Error()
			return
		}
		archived = len(zr.File)
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	checks := 0
	for busy := true; busy; checks++ {
		select {
		case <-done:
			busy = false
		default:
		}
		if code, body := fetch(t, srv.URL+"/healthz"); code != 200 {
			t.Errorf("/healthz while the big project is served: %d %s", code, body)
		}
		clone := filepath.Join(t.TempDir(), "other")
		if out, err := git(t.Context(), t, "", "clone", "-q", srv.Remote("", "", "alice", "other"), clone); err != nil {
			t.Errorf("clone of another project while the big one is served: %v\n%s", err, out)
		}
	}
	if commitPage != "" {
		t.Errorf("commit page of 10⁵ files: %s", commitPage)
	}
	if archiveErr != "" || archived != 100_004 {
		t.Errorf("archive of 10⁵ files: %d files, %s", archived, archiveErr)
	}
	t.Logf("%d rounds of /healthz and clone beside the commit page and archive", checks)

	// Catalogued: the three parts, the 10⁵ other files walked past.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var d struct {
			LatestCommit string `json:"latest_commit"`
			PartCount    int    `json:"part_count"`
			Catalog      struct {
				State string `json:"state"`
			} `json:"catalog"`
		}
		if _, err := getJSON(srv.URL+"/api/v1/projects/alice/big", &d); err != nil {
			t.Fatal(err)
		}
		if d.Catalog.State == "done" && d.LatestCommit == commit {
			if d.PartCount != 3 {
				t.Errorf("catalogued %d parts, want 3", d.PartCount)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not catalogued within 3 minutes: %+v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Bounded: memory, and files left open.
	peak, err := benchkit.PeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server peak RSS %d MiB, %d files open", peak>>20, openFiles(t, pid))
	if peak > 300<<20 {
		t.Errorf("server peak RSS %d MiB, want under 300 MiB", peak>>20)
	}
	if n := openFiles(t, pid); n > 500 {
		t.Errorf("the server holds %d files open after the requests", n)
	}
}

// treeLines lists tree's entries as git mktree reads them.
func treeLines(t *testing.T, bare, tree string) string {
	return testenv.GitIn(t, bare, "", "ls-tree", tree) + "\n"
}

// fetch GETs u and returns the status and body.
func fetch(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := httpClient.Get(u)
	if err != nil {
		t.Errorf("GET %s: %v", u, err)
		return 0, ""
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestArchiveAndListingLimits: archives over their file or byte limit
// are refused before a byte is sent, saying why and what to do; beyond
// the archives built at once, the next gets 503 with Retry-After; a
// folder of more entries than a page lists says how many it left out.
func TestArchiveAndListingLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: the real binary and git")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--archive-max-files", "1000", "--archive-max-size", "16MiB", "--max-archives", "1"}})
	token := srv.AddUser(t, "alice")
	bare := testenv.InitBare(t)
	push := func(project string, entries ...testenv.TreeEntry) {
		t.Helper()
		commit := testenv.CommitTree(t, bare, testenv.WriteTree(t, bare, entries...), project)
		if out, err := testenv.GitErr(t, bare, "--git-dir", bare, "push", "-q", srv.Remote("alice", token, "alice", project), commit+":refs/heads/main"); err != nil {
			t.Fatalf("push %s: %v\n%s", project, err, out)
		}
	}
	small := testenv.WriteBlob(t, bare, []byte("a small file\n"))
	var wide []testenv.TreeEntry
	for i := range 1500 {
		wide = append(wide, testenv.TreeEntry{Mode: "100644", ID: small, Path: fmt.Sprintf("notes/n%04d.txt", i)})
	}
	push("wide", wide...)
	// Random bytes: a zip of them is as big as they are.
	big := make([]byte, 20<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(big); i += 8 {
		binary.LittleEndian.PutUint64(big[i:], rng.Uint64())
	}
	push("heavy", testenv.TreeEntry{Mode: "100644", ID: testenv.WriteBlob(t, bare, big), Path: "scan.bin"})
	push("ok", testenv.TreeEntry{Mode: "100644", ID: testenv.WriteBlob(t, bare, big[:12<<20]), Path: "scan.bin"})

	if code, body := fetch(t, srv.URL+"/alice/wide/archive/main.zip"); code != http.StatusForbidden || !strings.Contains(body, "holds 1500 files, more than the 1000 an archive may hold") || !strings.Contains(body, "Clone it with git") {
		t.Errorf("archive over the file limit: %d %.300s", code, body)
	}
	if code, body := fetch(t, srv.URL+"/alice/heavy/archive/main.zip"); code != http.StatusForbidden || !strings.Contains(body, "more than 16.0 MB, the most an archive may hold") {
		t.Errorf("archive over the byte limit: %d %.300s", code, body)
	}
	if code, body := fetch(t, srv.URL+"/alice/wide/tree/main/notes"); code != http.StatusOK || !strings.Contains(body, "and 500 more entries") || strings.Count(body, `href="/alice/wide/blob/main/notes/n`) != 1000 {
		t.Errorf("a folder of 1500 entries: %d, %d rows listed", code, strings.Count(body, `href="/alice/wide/blob/main/notes/n`))
	}

	// One archive at once: a client that does not read holds the slot.
	c := dialFromLoopback(t, srv.Addr)
	fmt.Fprintf(c, "GET /alice/ok/archive/main.zip HTTP/1.1\r\nHost: %s\r\n\r\n", srv.Addr)
	head := make([]byte, 12)
	if _, err := io.ReadFull(c, head); err != nil || string(head) != "HTTP/1.1 200" {
		t.Fatalf("first archive: %q %v", head, err)
	}
	res, err := httpClient.Get(srv.URL + "/alice/ok/archive/main.zip")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "Too many archives") {
		t.Errorf("second archive while one is built: %d Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	c.Close()
	// Once the first is done (its client gone), archives are served again.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := httpClient.Get(srv.URL + "/alice/ok/archive/main.zip")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK && n > 12<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("archives still refused after the first client left: %d", res.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dialFromLoopback(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
