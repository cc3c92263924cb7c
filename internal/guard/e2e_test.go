package guard_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// noise is n bytes that do not compress.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func status(t *testing.T, method, url, user, secret string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, secret)
	}
	req.Header.Set("Accept", "application/vnd.git-lfs+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := res.Body.Read(buf)
	b.Write(buf[:n])
	return res.StatusCode, res.Header, b.String()
}

// TestServerGuards runs the real server and pushes with a token over basic
// auth (git and git-lfs, files over the body limit included), checks that
// other bodies are bounded, fails to sign in with wrong tokens until the
// address is refused, and then checks that git shows the refusal and that
// neither the server's log (at debug level) nor anything git printed, hook
// output included, holds a token secret or its hash.
func TestServerGuards(t *testing.T) {
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "git-lfs")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--log-level", "debug"}})
	secret := srv.AddUser(t, "alice")
	wrong := "bp_" + strings.Repeat("q", 40) // well-formed, so it reaches the store

	var outputs []string
	git := func(dir string, args ...string) string {
		t.Helper()
		out := testenv.Git(t, dir, args...)
		outputs = append(outputs, out)
		return out
	}
	work := filepath.Join(t.TempDir(), "w")
	git("", "init", "-q", work)
	git(work, "lfs", "install", "--local")
	git(work, "lfs", "track", "*.bin")
	os.WriteFile(filepath.Join(work, "README.md"), []byte("# Token test\n"), 0o644)
	// Both over the 1 MiB body limit, which git and LFS transfers are exempt from.
	os.WriteFile(filepath.Join(work, "blob.bin"), noise(2<<20, 1), 0o644)
	os.WriteFile(filepath.Join(work, "big.dat"), noise(3<<20, 2), 0o644)
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "first")
	// The token comes from a credential helper, not the remote URL, which
	// git-lfs would echo: then anything in git's output came from the server.
	creds := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(creds, []byte("http://alice:"+secret+"@"+srv.Addr+"\n"), 0o600)
	helper := "credential.helper=store --file=" + creds
	git(work, "-c", helper, "push", srv.Remote("", "", "alice", "tokens"), "main")
	if ls := git(work, "lfs", "ls-files"); !strings.Contains(ls, "blob.bin") || strings.Contains(ls, "big.dat") {
		t.Fatalf("blob.bin not stored with LFS:\n%s", ls)
	}
	os.WriteFile(filepath.Join(work, "blob.bin"), noise(2<<20, 3), 0o644)
	git(work, "commit", "-qam", "second")
	git(work, "-c", helper, "push", srv.Remote("", "", "alice", "tokens"), "main")

	// Bodies outside git and LFS transfers are bounded.
	for _, path := range []string{"/alice/tokens.git/info/lfs/objects/batch", "/api/v1/search", "/alice/tokens"} {
		res, err := http.Post(srv.URL+path, "application/vnd.git-lfs+json", bytes.NewReader(noise(2<<20, 4)))
		if err != nil {
			t.Fatalf("POST 2 MiB to %s: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "larger than 1048576 bytes") {
			t.Errorf("POST 2 MiB to %s: %d %s, want 413", path, res.StatusCode, body)
		}
	}

	// Failed sign-ins: git, LFS and plain HTTP, with a wrong token and with
	// the right token for the wrong user name.
	out, err := testenv.GitErr(t, work, "push", srv.Remote("alice", wrong, "alice", "tokens"), "main")
	outputs = append(outputs, out)
	if err == nil {
		t.Fatalf("push with a wrong token accepted:\n%s", out)
	}
	lfsBatch := srv.URL + "/alice/tokens.git/info/lfs/locks"
	refs := srv.URL + "/alice/tokens.git/info/refs?service=git-receive-pack"
	fails := 1 // the push above
	for i := 0; fails < 12 && i < 30; i++ {
		url, user, tok := refs, "alice", wrong
		switch i % 3 {
		case 1:
			url = lfsBatch
		case 2:
			user, tok = "bob", secret
		}
		code, h, body := status(t, "GET", url, user, tok)
		if code == http.StatusTooManyRequests {
			if h.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After: %v", h)
			}
			break
		}
		if code != http.StatusUnauthorized {
			t.Fatalf("wrong credentials (%s): %d %s", url, code, body)
		}
		fails++
	}
	if fails != 10 {
		t.Fatalf("address refused after %d failed sign-ins, want 10", fails)
	}
	// Now even the right token is refused from this address, and git says why.
	out, err = testenv.GitErr(t, work, "push", srv.Remote("alice", secret, "alice", "tokens"), "main")
	outputs = append(outputs, out)
	if err == nil || !strings.Contains(out, "too many failed sign-ins") || !strings.Contains(out, "try again in") {
		t.Fatalf("push from a refused address: %v\n%s", err, out)
	}
	t.Logf("git shows:\n%s", out)
	// Cloning needs no sign-in and still works.
	out = git("", "clone", "-q", srv.URL+"/alice/tokens.git", filepath.Join(t.TempDir(), "c"))

	sum := sha256.Sum256([]byte(secret))
	hash := hex.EncodeToString(sum[:])
	wrongSum := sha256.Sum256([]byte(wrong))
	log := srv.Log()
	if !strings.Contains(log, "status=429") || !strings.Contains(log, "status=401") || !strings.Contains(log, "refusing sign-ins from address") {
		t.Fatalf("log lacks the refused requests; is it the right log?\n%s", log)
	}
	for where, text := range map[string]string{"server log": log, "git output": strings.Join(outputs, "\n")} {
		for what, s := range map[string]string{
			"token":              secret,
			"token body":         strings.TrimPrefix(secret, "bp_"),
			"token hash":         hash,
			"token hash (upper)": strings.ToUpper(hash),
			"wrong token":        wrong,
			"wrong token hash":   hex.EncodeToString(wrongSum[:]),
		} {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("%s contains the %s: …%s…", where, what, text[max(0, i-200):min(len(text), i+100)])
			}
		}
	}
}
