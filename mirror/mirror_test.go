package mirror

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/gitpeer"
	"github.com/blueprints-hq/blueprints/internal/outbound"
	"github.com/blueprints-hq/blueprints/internal/runner"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// origin serves a bare repository with two branches and an annotated tag
// through git http-backend.
func origin(t *testing.T) (url, bare string) {
	t.Helper()
	testenv.RequireTool(t, "git")
	root := t.TempDir()
	bare = filepath.Join(root, "p.git")
	testenv.Git(t, "", "init", "-q", "--bare", bare)
	peer, err := gitpeer.New(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(peer)
	t.Cleanup(srv.Close)
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "a.txt"), []byte("a"), 0o644)
	testenv.Git(t, work, "add", "a.txt")
	testenv.Git(t, work, "commit", "-q", "-m", "a")
	testenv.Git(t, work, "tag", "-a", "v1", "-m", "v1")
	testenv.Git(t, work, "branch", "dev")
	testenv.Git(t, work, "push", "-q", "--tags", srv.URL+"/p.git", "main", "dev")
	return srv.URL + "/p.git", bare
}

func guarded(allow string) *outbound.Client {
	a, err := outbound.ParseAllow(allow)
	if err != nil {
		panic(err)
	}
	return outbound.New(outbound.Config{Allow: a})
}

func TestAdvertiseMatchesLsRemote(t *testing.T) {
	url, bare := origin(t)
	refs, err := Advertise(context.Background(), guarded("127.0.0.0/8"), url)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(testenv.Git(t, "", "--git-dir", bare, "show-ref")), "\n") {
		id, ref, _ := strings.Cut(line, " ")
		want[ref] = id
	}
	if !sameRefs(want, refs.Refs) || refs.Head != "main" || refs.URL != url || refs.Bytes == 0 {
		t.Fatalf("advertised %+v, want refs %v and HEAD main", refs, want)
	}
	if refs.Digest() == (Refs{Refs: map[string]string{}}).Digest() {
		t.Error("digest does not depend on the refs")
	}
}

// TestAdvertiseIsGuarded: the origin on loopback is refused unless
// allowed, also when an allowed address redirects to it.
func TestAdvertiseIsGuarded(t *testing.T) {
	url, _ := origin(t)
	_, err := Advertise(context.Background(), guarded(""), url)
	var re *outbound.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("loopback origin without an allow list: %v", err)
	}
	// 127.0.0.1 allowed, redirecting to 127.0.0.2 (loopback too, not allowed).
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	hidden := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the redirect's target was reached") })}
	go hidden.Serve(l)
	t.Cleanup(func() { hidden.Close() })
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+l.Addr().String()+r.URL.Path+"?"+r.URL.RawQuery, http.StatusFound)
	}))
	t.Cleanup(redir.Close)
	_, err = Advertise(context.Background(), guarded("127.0.0.1/32"), redir.URL+"/p.git")
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "127.0.0.2") {
		t.Fatalf("redirect to a refused address: %v", err)
	}
}

func TestPin(t *testing.T) {
	s := &Service{cfg: Config{Guard: guarded("127.0.0.1/32"), Resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "inside.example":
			return []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("169.254.169.254")}, nil
		case "mixed.example":
			return []netip.Addr{netip.MustParseAddr("192.168.0.9"), netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, errors.New("no such host")
	}}}
	ctx := context.Background()
	if got, err := s.pin(ctx, "http://127.0.0.1:8080/a/b.git"); err != nil || got != "127.0.0.1:8080:127.0.0.1" {
		t.Errorf("allowed literal: %q %v", got, err)
	}
	if got, err := s.pin(ctx, "https://mixed.example/a/b.git"); err != nil || got != "mixed.example:443:127.0.0.1" {
		t.Errorf("first allowed address is pinned: %q %v", got, err)
	}
	for _, u := range []string{"http://inside.example/x.git", "http://10.0.0.1/x.git", "http://[::1]:80/x.git", "http://127.0.0.2/x.git"} {
		if _, err := s.pin(ctx, u); !errors.Is(err, outbound.ErrRefused) {
			t.Errorf("pin(%s) = %v, want refused", u, err)
		}
	}
}

// TestFetchPinnedAndSandboxed fetches the origin with git through the
// runner into a bare repository, and the refs arrive.
func TestFetchPinnedAndSandboxed(t *testing.T) {
	url, bare := origin(t)
	dst := filepath.Join(t.TempDir(), "m.git")
	testenv.Git(t, "", "init", "-q", "--bare", dst)
	s, err := New(Config{Store: nil, Repos: nil, Client: guarded("127.0.0.0/8"), Guard: guarded("127.0.0.0/8"), Runner: runner.New(runner.Options{TempDir: t.TempDir()})})
	if err == nil || s != nil {
		t.Fatal("New accepted a config without store")
	}
	s = &Service{cfg: Config{Guard: guarded("127.0.0.0/8"), Runner: runner.New(runner.Options{TempDir: t.TempDir()}), Git: "git"}}
	if err := s.fetch(context.Background(), dst, url); err != nil {
		t.Fatal(err)
	}
	got, err := s.localRefs(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := s.localRefs(context.Background(), bare)
	if !sameRefs(want, got) || len(got) != 3 {
		t.Fatalf("fetched %v, want %v", got, want)
	}
	// Without the allow list, git never runs.
	s.cfg.Guard = guarded("")
	if err := s.fetch(context.Background(), dst, url); !errors.Is(err, outbound.ErrRefused) {
		t.Fatalf("fetch of a loopback origin without allow list: %v", err)
	}
}

func TestParseAdvertRefusesGarbage(t *testing.T) {
	for _, bad := range []string{
		"", "garbage", "001e# service=git-upload-pack\n", "001e# service=git-receive-pack\n0000",
		"001e# service=git-upload-pack\n00000010abc refs/heads/x\n0000",
		"001e# service=git-upload-pack\n0000zzzz",
		"001e# service=git-upload-pack\n00000003",
	} {
		if _, err := parseAdvert(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("parseAdvert(%q) accepted", bad)
		}
	}
}

func FuzzParseAdvert(f *testing.F) {
	f.Add([]byte("001e# service=git-upload-pack\n0000004a0123456789012345678901234567890123456789 refs/heads/main\x00symref=HEAD:refs/heads/main\n0000"))
	f.Add([]byte("001e# service=git-upload-pack\n0000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := parseAdvert(bufio.NewReader(strings.NewReader(string(b))))
		if err != nil {
			return
		}
		for ref, id := range refs.Refs {
			if !isHex40(id) || !(strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/")) {
				t.Fatalf("accepted %q %q", ref, id)
			}
		}
	})
}
