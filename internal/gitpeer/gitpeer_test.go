package gitpeer

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// A push (large enough to be sent chunked) and a clone through the peer.
func TestPushClone(t *testing.T) {
	testenv.RequireTool(t, "git")
	root := t.TempDir()
	testenv.Git(t, "", "init", "-q", "--bare", filepath.Join(root, "p.git"))
	peer, err := New(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(peer)
	defer srv.Close()

	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i*7 ^ i>>9)
	}
	os.WriteFile(filepath.Join(work, "big.bin"), big, 0o644)
	testenv.Git(t, work, "add", "big.bin")
	testenv.Git(t, work, "commit", "-q", "-m", "big")
	testenv.Git(t, work, "push", "-q", srv.URL+"/p.git", "main")
	clone := filepath.Join(t.TempDir(), "c")
	testenv.Git(t, "", "clone", "-q", srv.URL+"/p.git", clone)
	want := strings.TrimSpace(testenv.Git(t, work, "rev-parse", "HEAD"))
	if got := strings.TrimSpace(testenv.Git(t, clone, "rev-parse", "HEAD")); got != want {
		t.Fatalf("clone at %s, want %s", got, want)
	}
	got, _ := os.ReadFile(filepath.Join(clone, "big.bin"))
	if string(got) != string(big) {
		t.Fatalf("big.bin differs after the round trip")
	}
}
