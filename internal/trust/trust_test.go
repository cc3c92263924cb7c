package trust_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// git runs the real git in dir with the test's isolated configuration and
// a time limit; on timeout the whole process group (git and the git-lfs
// it starts) is killed, so a hung transfer fails instead of hanging.
func git(ctx context.Context, t testing.TB, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = testenv.GitEnv(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("git %s: timed out: %w", strings.Join(args, " "), err)
	}
	return string(out), err
}

// mustGit runs git and fails the test when it fails.
func mustGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := git(context.Background(), t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

func oidOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// httpClient is the client the tests talk to the server with: a time limit
// per request so a wedged server fails the test instead of hanging it.
var httpClient = &http.Client{Timeout: 2 * time.Minute}

// getJSON fetches u into v and returns the status.
func getJSON(u string, v any) (int, error) {
	res, err := httpClient.Get(u)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			return res.StatusCode, fmt.Errorf("decode %s: %w", u, err)
		}
	}
	return res.StatusCode, nil
}

// batchObject is one object of a Git LFS batch request or answer.
type batchObject struct {
	OID     string `json:"oid"`
	Size    int64  `json:"size"`
	Actions map[string]struct {
		Href   string            `json:"href"`
		Header map[string]string `json:"header"`
	} `json:"actions,omitempty"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// lfsBatch asks the server's LFS batch API of remote (a ".git" URL, with
// credentials or not) for operation on objects.
func lfsBatch(remote, operation string, objects []batchObject) ([]batchObject, int, error) {
	req := map[string]any{"operation": operation, "transfers": []string{"basic"}, "objects": objects, "hash_algo": "sha256"}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequest(http.MethodPost, remote+"/info/lfs/objects/batch", bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	hr.Header.Set("Accept", "application/vnd.git-lfs+json")
	hr.Header.Set("Content-Type", "application/vnd.git-lfs+json")
	res, err := httpClient.Do(hr)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, res.StatusCode, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, res.StatusCode, fmt.Errorf("lfs batch %s: %s: %s", operation, res.Status, bytes.TrimSpace(data))
	}
	var out struct {
		Objects []batchObject `json:"objects"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, res.StatusCode, fmt.Errorf("decode lfs batch answer: %w", err)
	}
	return out.Objects, res.StatusCode, nil
}

// fetchObject downloads an LFS object by its batch download action and
// returns the sha256 of the bytes, their count and the status.
func fetchObject(o batchObject) (oid string, n int64, status int, err error) {
	a, ok := o.Actions["download"]
	if !ok {
		return "", 0, 0, fmt.Errorf("object %s: no download action", o.OID)
	}
	return getSum(a.Href, a.Header)
}
