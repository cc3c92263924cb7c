package main

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// TestUpgradeFromRoundOne opens a data folder written by the first
// release (testdata/upgrade) with this binary: the user's token still
// pushes (scope write), the project is public, its parts and pages are
// there, and search finds them again once the index is rebuilt in the
// background.
func TestUpgradeFromRoundOne(t *testing.T) {
	testenv.RequireTool(t, "git")
	dir := t.TempDir()
	untar(t, filepath.Join(testenv.ModuleRoot(t), "testdata", "upgrade", "round1-data.tar.gz"), dir)
	tokenBytes, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	srv := testenv.StartServer(t, testenv.Options{Data: filepath.Join(dir, "data")})

	if out := runOK(t, srv, "token", "list", "maker"); !regexpMatch(`(?m)^1\s.*active\s+write\s+never`, out) {
		t.Errorf("the old token is not listed as an active write token:\n%s", out)
	}
	if out := runOK(t, srv, "user", "list"); !regexpMatch(`(?m)^maker\s+user\s+active`, out) {
		t.Errorf("user list:\n%s", out)
	}
	for _, c := range []struct{ path, has string }{
		{"/maker/plough", "plug-aligner"},
		{"/api/v1/projects/maker/plough", `"visibility":"public"`},
		{"/api/v1/projects?owner=maker", `"total":1`},
		{"/maker/plough/raw/main/parts/plug-aligner.stl", ""},
	} {
		if code, body := getBody(t, srv.URL+c.path, ""); code != 200 || !strings.Contains(body, c.has) {
			t.Errorf("GET %s anonymously: %d, want 200 with %q", c.path, code, c.has)
		}
	}
	// Search comes back once the background rebuild has caught up.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, body := getBody(t, srv.URL+"/api/v1/search?q=plug+aligner", "")
		if strings.Contains(body, `"total":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("search never found the old part again:\n%s\n%s", body, srv.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The old token clones and pushes.
	work := filepath.Join(t.TempDir(), "plough")
	testenv.Git(t, "", "clone", "-q", srv.Remote("", "", "maker", "plough"), work)
	os.WriteFile(filepath.Join(work, "NOTES.md"), []byte("still here\n"), 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "after the upgrade")
	testenv.Git(t, work, "push", "-q", srv.Remote("maker", token, "maker", "plough"), "main")
}

// untar extracts a .tar.gz into dir (regular files and folders only).
func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("%s leaves the folder", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
		}
	}
}
