package trust_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/lfs"
)

// bigObjectSize is the size of the LFS object the storage-fault test moves:
// big enough that stopping S3 lands in the middle of the transfer.
const bigObjectSize = 128 << 20

// TestStorageFaults stops the S3 server (versitygw) in the middle of an
// LFS upload, of a raw download and of an LFS download (git lfs pull): the
// client gets an error naming the unavailable storage, nothing half-written
// becomes visible (no object at the LFS key, the batch API says it is
// missing, a download is never a truncated body passed off as complete),
// and once S3 is back the same push goes through and downloads match.
// (lfs/e2e_test.go covers S3 being down before a transfer starts.)
func TestStorageFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs versitygw, git and git-lfs")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "git-lfs")
	gw := testenv.StartS3(t)
	srv := testenv.StartServer(t, testenv.Options{Storage: "s3://" + gw.Bucket, Env: gw.Env()})
	token := srv.AddUser(t, owner)
	work := t.TempDir()
	mustGit(t, work, "lfs", "install", "--skip-repo")

	// A project with one small LFS part, then a commit adding a big object.
	dir := filepath.Join(work, "machine")
	mustGit(t, work, "init", "-q", "-b", "main", dir)
	mustGit(t, dir, "lfs", "track", "*.bin")
	mustGit(t, dir, "config", "lfs.transfer.maxretries", "1")
	mustGit(t, dir, "config", "lfs.transfer.maxretrydelay", "1")
	os.WriteFile(filepath.Join(dir, "small.bin"), []byte("a small object stored before the outage\n"), 0o644)
	mustGit(t, dir, "add", ".")
	mustGit(t, dir, "commit", "-q", "-m", "small")
	mustGit(t, dir, "remote", "add", "origin", srv.Remote(owner, token, owner, "machine"))
	mustGit(t, dir, "push", "-q", "-u", "origin", "main")
	before := mustGit(t, dir, "rev-parse", "HEAD")

	big := make([]byte, bigObjectSize)
	rng := mrand.NewChaCha8([32]byte{7})
	rng.Read(big)
	oid := oidOf(big)
	key := lfs.BlobKey(oid)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, dir, "add", "big.bin")
	mustGit(t, dir, "commit", "-q", "-m", "big")
	head := mustGit(t, dir, "rev-parse", "HEAD")

	{
		t.Log("== S3 stops during an LFS upload")
		push := startGit(t, dir, "push", "origin", "main")
		sent := waitUploaded(t, gw, push, 16<<20)
		gw.Stop(t)
		out, err := push.wait()
		t.Logf("push with S3 stopped after %d MiB had reached it: %v\n%s", sent>>20, err, out)
		if err == nil {
			t.Fatalf("push succeeded although S3 stopped during the upload")
		}
		for _, want := range []string{"unavailable", "try again later"} {
			if !strings.Contains(out, want) {
				t.Errorf("the push's error does not say %q:\n%s", want, out)
			}
		}
		if got := mustGit(t, srv.RepoDir(owner, "machine"), "rev-parse", "main"); got != before {
			t.Errorf("main moved to %s although the push failed", got)
		}
		// Even while S3 is down, the half-sent object is not offered for
		// download: the project was never granted it.
		objs, _, err := lfsBatch(srv.Remote("", "", owner, "machine"), "download", []batchObject{{OID: oid, Size: bigObjectSize}})
		if err != nil || len(objs) != 1 || objs[0].Error == nil || objs[0].Error.Code != http.StatusNotFound {
			t.Errorf("download batch with S3 down: %v %+v, want the object missing (404)", err, objs)
		}
		gw.Start(t)
		if slices.Contains(gw.Keys(t, gw.Bucket), key) {
			t.Fatalf("the cut-off upload left an object at %s", key)
		}
		objs, _, err = lfsBatch(srv.Remote("", "", owner, "machine"), "download", []batchObject{{OID: oid, Size: bigObjectSize}})
		if err != nil || len(objs) != 1 || objs[0].Error == nil || objs[0].Error.Code != http.StatusNotFound {
			t.Fatalf("download batch after the cut-off upload: %v %+v, want the object missing (404)", err, objs)
		}
		if pending := gw.Uploads(t, gw.Bucket); len(pending) > 0 {
			// The abort could not reach S3; the parts are invisible to
			// readers (only a completed upload makes an object).
			t.Logf("multipart uploads left pending by the outage: %q", pending)
		}

		// Service resumes: the same push goes through.
		if out, err := git(context.Background(), t, dir, "push", "origin", "main"); err != nil {
			t.Fatalf("push after S3 came back: %v\n%s", err, out)
		}
		if got := mustGit(t, srv.RepoDir(owner, "machine"), "rev-parse", "main"); got != head {
			t.Fatalf("main at %s after the push, want %s", got, head)
		}
		if !slices.Contains(gw.Keys(t, gw.Bucket), key) {
			t.Fatalf("the object is not in the bucket after the push")
		}
	}
	if t.Failed() {
		return
	}

	{
		t.Log("== S3 stops during a raw download and an LFS download")
		rawURL := srv.URL + "/" + owner + "/machine/raw/main/big.bin"
		cutOffDownload(t, gw, "raw download", rawURL, nil, oid)
		objs, _, err := lfsBatch(srv.Remote("", "", owner, "machine"), "download", []batchObject{{OID: oid, Size: bigObjectSize}})
		if err != nil || len(objs) != 1 || objs[0].Actions["download"].Href == "" {
			t.Fatalf("download batch: %v %+v", err, objs)
		}
		dl := objs[0].Actions["download"]
		cutOffDownload(t, gw, "LFS download", dl.Href, dl.Header, oid)

		// While S3 is down: a clear 503 for raw files.
		gw.Stop(t)
		res, err := httpClient.Get(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(strings.ToLower(string(body)), "unavailable") {
			t.Errorf("raw with S3 down: %d %.200q", res.StatusCode, body)
		}
		gw.Start(t)
		sum, n, status, err := getSum(rawURL, nil)
		if err != nil || status != http.StatusOK || sum != oid || n != bigObjectSize {
			t.Errorf("raw after S3 came back: %d, %d bytes, %v", status, n, err)
		}
	}

	{
		t.Log("== S3 stops during git lfs pull")
		clone := filepath.Join(work, "clone")
		cmd := exec.Command("git", "clone", "-q", srv.Remote("", "", owner, "machine"), clone)
		cmd.Env = append(testenv.GitEnv(t), "GIT_LFS_SKIP_SMUDGE=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("clone without smudge: %v\n%s", err, out)
		}
		mustGit(t, clone, "config", "lfs.transfer.maxretries", "1")
		mustGit(t, clone, "config", "lfs.transfer.maxretrydelay", "1")
		pull := startGit(t, clone, "lfs", "pull")
		got := waitDownloading(t, filepath.Join(clone, ".git", "lfs"), pull, 16<<20)
		gw.Stop(t)
		out, err := pull.wait()
		t.Logf("git lfs pull with S3 stopping after %d MiB: %v\n%s", got>>20, err, out)
		// versitygw stops gracefully, so a transfer read quickly may still
		// finish; if it did not, the error must say why.
		if err != nil && !strings.Contains(out, "unavailable") {
			t.Errorf("git lfs pull's error does not say the storage is unavailable:\n%s", out)
		}
		if data, rerr := os.ReadFile(filepath.Join(clone, "big.bin")); err == nil && (rerr != nil || oidOf(data) != oid) {
			t.Errorf("git lfs pull succeeded, but big.bin is %d bytes that do not match: %v", len(data), rerr)
		}
		if data, err := os.ReadFile(filepath.Join(clone, "big.bin")); err == nil && len(data) > 200 && oidOf(data) != oid {
			t.Errorf("a truncated big.bin (%d bytes) is in the work tree", len(data))
		}
		if data, err := os.ReadFile(filepath.Join(clone, ".git", "lfs", "objects", oid[:2], oid[2:4], oid)); err == nil && oidOf(data) != oid {
			t.Errorf("a truncated object (%d bytes) is in the clone's LFS store", len(data))
		}
		gw.Start(t)
		if out, err := git(context.Background(), t, clone, "lfs", "pull"); err != nil {
			t.Fatalf("git lfs pull after S3 came back: %v\n%s", err, out)
		}
		data, err := os.ReadFile(filepath.Join(clone, "big.bin"))
		if err != nil || oidOf(data) != oid {
			t.Fatalf("big.bin after S3 came back: %d bytes, %v", len(data), err)
		}
	}

	{
		t.Log("== a clone while S3 is down")
		gw.Stop(t)
		out, err := git(context.Background(), t, work, "-c", "lfs.transfer.maxretries=1", "clone", "-q", srv.Remote("", "", owner, "machine"), filepath.Join(work, "down"))
		gw.Start(t)
		t.Logf("clone with S3 down: %v\n%s", err, out)
		if err == nil {
			t.Fatalf("clone with smudge succeeded with S3 down")
		}
		if !strings.Contains(out, "unavailable") {
			t.Errorf("the clone's error does not say the storage is unavailable:\n%s", out)
		}
	}
}

// runningGit is a git command started in the background.
type runningGit struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startGit(t *testing.T, dir string, args ...string) *runningGit {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = testenv.GitEnv(t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &runningGit{cmd: cmd, out: &out, done: make(chan error, 1)}
	go func() { g.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-g.done
	})
	return g
}

// finished reports whether the command has ended (putting the result back).
func (g *runningGit) finished() bool {
	select {
	case err := <-g.done:
		g.done <- err
		return true
	default:
		return false
	}
}

func (g *runningGit) wait() (string, error) {
	select {
	case err := <-g.done:
		g.done <- err
		return g.out.String(), err
	case <-time.After(3 * time.Minute):
		g.cmd.Process.Kill()
		return g.out.String(), errors.New("git did not finish within 3 minutes")
	}
}

// waitUploaded waits until the parts of multipart uploads in the bucket
// hold at least n bytes, and returns how many they hold.
func waitUploaded(t *testing.T, gw *testenv.S3, g *runningGit, n int64) int64 {
	t.Helper()
	client := gw.Client()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if g.finished() {
			out, err := g.wait()
			t.Fatalf("the upload finished before S3 could be stopped (make the object bigger): %v\n%s", err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(gw.Bucket)})
		var total int64
		if err == nil {
			for _, u := range ups.Uploads {
				parts, err := client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(gw.Bucket), Key: u.Key, UploadId: u.UploadId})
				if err != nil {
					continue
				}
				for _, p := range parts.Parts {
					total += aws.ToInt64(p.Size)
				}
			}
		}
		cancel()
		if total >= n {
			return total
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %d bytes uploaded to S3 within 2 minutes", n)
	return 0
}

// waitDownloading waits until git-lfs's files under lfsDir (its partial
// downloads) hold at least n bytes.
func waitDownloading(t *testing.T, lfsDir string, g *runningGit, n int64) int64 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if g.finished() {
			out, err := g.wait()
			t.Fatalf("the download finished before S3 could be stopped (make the object bigger): %v\n%s", err, out)
		}
		var total int64
		filepath.WalkDir(lfsDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
		if total >= n {
			return total
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("git-lfs did not download %d bytes within 2 minutes", n)
	return 0
}

// cutOffDownload starts a download of the big object, reads a little,
// stops S3, reads the rest and starts S3 again. The body must end in an
// error (the server cuts the connection short of its Content-Length) or
// be complete and right: never short with a clean end.
func cutOffDownload(t *testing.T, gw *testenv.S3, what, u string, header map[string]string, oid string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	h := sha256.New()
	n, err := io.CopyN(h, res.Body, 4<<20)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d, %d bytes: %v", what, res.StatusCode, n, err)
	}
	gw.Stop(t)
	defer gw.Start(t)
	m, err := io.Copy(h, res.Body)
	n += m
	switch {
	case err == nil && n == bigObjectSize && hex.EncodeToString(h.Sum(nil)) == oid:
		t.Logf("%s finished before S3 went away (%d bytes, all right)", what, n)
	case err == nil:
		t.Errorf("%s cut off by the outage ended cleanly: status %d, %d of %d bytes, Content-Length %q",
			what, res.StatusCode, n, bigObjectSize, res.Header.Get("Content-Length"))
	case !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "connection reset"):
		t.Errorf("%s cut off: %v (want an unexpected end of the body)", what, err)
	default:
		t.Logf("%s cut off after %d MiB: %v", what, n>>20, err)
	}
}

// getSum downloads u and returns the sha256 of the body, its length and
// the status.
func getSum(u string, header map[string]string) (string, int64, int, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return "", 0, 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return "", 0, 0, err
	}
	defer res.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, res.Body)
	return hex.EncodeToString(h.Sum(nil)), n, res.StatusCode, err
}
