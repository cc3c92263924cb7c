package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// runOK runs a blueprints command against srv's data folder and fails
// the test when it fails.
func runOK(t *testing.T, srv *testenv.Server, args ...string) string {
	t.Helper()
	out, err := srv.Run(t, args...)
	if err != nil {
		t.Fatalf("blueprints %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// lastLine is the last line of a command's output (where tokens go).
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// commitWork makes a work tree with one commit.
func commitWork(t *testing.T, file, content string) string {
	t.Helper()
	dir := t.TempDir()
	testenv.Git(t, dir, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644)
	testenv.Git(t, dir, "add", "-A")
	testenv.Git(t, dir, "commit", "-q", "-m", "first")
	return dir
}

// TestAccountsAndGitAccess drives the admin commands against a running
// server and checks what git may then do: a read token clones but cannot
// push, an expired token and a disabled user's token are refused at once,
// organisation members push, owners create under the organisation, and
// "git push -o visibility=private" makes a project nobody else can see.
func TestAccountsAndGitAccess(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	alice := lastLine(runOK(t, srv, "user", "add", "alice", "--admin"))
	bob := lastLine(runOK(t, srv, "user", "add", "bob"))
	carol := lastLine(runOK(t, srv, "user", "add", "carol"))
	list := runOK(t, srv, "user", "list")
	if !regexpMatch(`(?m)^alice\s+admin\s+active`, list) || !regexpMatch(`(?m)^bob\s+user\s+active`, list) {
		t.Fatalf("user list:\n%s", list)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"user", "add", "ALICE"}, "taken"},
		{[]string{"user", "add", "settings"}, "reserved"},
		{[]string{"user", "add", "a/b"}, "character"},
		{[]string{"org", "add", "Bob", "--owner", "alice"}, "taken"},
		{[]string{"token", "add", "bob", "--scope", "admin"}, "read or write"},
		{[]string{"token", "add", "bob", "--expires", "yesterday"}, "duration"},
		{[]string{"token", "add", "nobody"}, "no user nobody"},
	} {
		if out, err := srv.Run(t, c.args...); err == nil || !strings.Contains(out, c.msg) {
			t.Errorf("blueprints %s: %v, want an error saying %q\n%s", strings.Join(c.args, " "), err, c.msg, out)
		}
	}

	work := commitWork(t, "README.md", "# Hitch\n")
	testenv.Git(t, work, "push", "-q", srv.Remote("alice", alice, "alice", "hitch"), "main")

	// A read token clones and fetches but cannot push or create.
	read := lastLine(runOK(t, srv, "token", "add", "bob", "--scope", "read", "--name", "ci"))
	testenv.Git(t, "", "clone", "-q", srv.Remote("bob", read, "alice", "hitch"), filepath.Join(t.TempDir(), "c"))
	if out, err := testenv.GitErr(t, work, "push", srv.Remote("bob", read, "bob", "mine"), "main"); err == nil || !strings.Contains(out, "scope read") {
		t.Errorf("push-to-create with a read token: %v\n%s", err, out)
	}
	if out := runOK(t, srv, "token", "list", "bob"); !regexpMatch(`(?m)^4\s.*active\s+read\s+never\s+ci$`, out) {
		t.Errorf("token list bob:\n%s", out)
	}
	// An expired token is refused.
	short := lastLine(runOK(t, srv, "token", "add", "bob", "--expires", "1s"))
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if code := getStatus(t, srv.URL+"/bob/x.git/info/refs?service=git-receive-pack", "bob", short); code != 401 {
		t.Errorf("expired token: %d, want 401", code)
	}
	if out := runOK(t, srv, "token", "list", "bob"); !strings.Contains(out, "expired") {
		t.Errorf("token list shows no expired token:\n%s", out)
	}

	// Organisations: the owner creates under it, members push, others not.
	runOK(t, srv, "org", "add", "acme", "--owner", "alice")
	runOK(t, srv, "org", "member", "acme", "bob")
	testenv.Git(t, work, "push", "-q", srv.Remote("alice", alice, "acme", "plough"), "main")
	if out, err := testenv.GitErr(t, work, "push", srv.Remote("bob", bob, "acme", "other"), "main"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("a member creating under the organisation: %v\n%s", err, out)
	}
	testenv.Git(t, work, "commit", "-q", "--allow-empty", "-m", "by bob")
	testenv.Git(t, work, "push", "-q", srv.Remote("bob", bob, "acme", "plough"), "main")
	if out, err := testenv.GitErr(t, work, "push", srv.Remote("carol", carol, "acme", "plough"), "main"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("a stranger pushing to the organisation: %v\n%s", err, out)
	}

	// A private project at creation: invisible to others, even its name.
	secret := commitWork(t, "secret.txt", "hidden\n")
	out := testenv.Git(t, secret, "push", "-o", "visibility=private", srv.Remote("carol", carol, "carol", "drafts"), "main")
	if strings.Contains(out, "visibility option applies only") {
		t.Errorf("creating push told to use the settings page:\n%s", out)
	}
	refs := "/carol/drafts.git/info/refs?service=git-upload-pack"
	missing := "/carol/nothing.git/info/refs?service=git-upload-pack"
	for _, c := range []struct {
		who, token string
		want       int
	}{{"", "", 401}, {"bob", bob, 404}, {"carol", carol, 200}, {"alice", alice, 200}} {
		if code := getStatus(t, srv.URL+refs, c.who, c.token); code != c.want {
			t.Errorf("%q fetching carol's private project: %d, want %d", c.who, code, c.want)
		}
		if c.want != 200 {
			if code := getStatus(t, srv.URL+missing, c.who, c.token); code != c.want {
				t.Errorf("%q: a missing project answers %d, a private one %d", c.who, code, c.want)
			}
		}
	}
	// Pages and the API answer it as a missing project; the owner's token
	// reaches it, and the project list counts it only for her.
	for _, c := range []struct {
		path, bearer string
		want         int
		has          string
	}{
		{"/carol/drafts", "", 404, ""},
		{"/carol/drafts/raw/main/secret.txt", "", 404, ""},
		{"/api/v1/projects/carol/drafts", "", 404, ""},
		{"/api/v1/projects/carol/drafts", bob, 404, ""},
		{"/api/v1/projects/carol/drafts", carol, 200, `"visibility":"private"`},
		{"/api/v1/projects?owner=carol", "", 200, `"total":0`},
		{"/api/v1/projects?owner=carol", carol, 200, `"total":1`},
		{"/api/v1/projects?owner=carol", "bp_wrong", 401, ""},
	} {
		code, body := getBody(t, srv.URL+c.path, c.bearer)
		if code != c.want || !strings.Contains(body, c.has) {
			t.Errorf("GET %s with %q: %d %s, want %d with %s", c.path, c.bearer, code, body, c.want, c.has)
		}
		if code == 404 {
			// Exactly what a missing project gets.
			mcode, mbody := getBody(t, srv.URL+strings.Replace(c.path, "drafts", "nothing", 1), c.bearer)
			if mcode != code || strings.Replace(mbody, "nothing", "drafts", -1) != body {
				t.Errorf("GET %s with %q differs from a missing project's answer:\n%s\n%s", c.path, c.bearer, body, mbody)
			}
		}
	}
	if out, err := testenv.GitErr(t, secret, "push", "-o", "visibility=secret", srv.Remote("carol", carol, "carol", "bad"), "main"); err == nil || !strings.Contains(out, "public or private") {
		t.Errorf("bad visibility option: %v\n%s", err, out)
	}

	// Disabling a user stops their tokens at once; deleting needs their
	// projects gone.
	runOK(t, srv, "user", "disable", "carol")
	if code := getStatus(t, srv.URL+refs, "carol", carol); code != 401 {
		t.Errorf("disabled user's token: %d, want 401", code)
	}
	if out, err := srv.Run(t, "user", "delete", "carol"); err == nil || !strings.Contains(out, "owns 1 projects") {
		t.Errorf("deleting a user who owns projects: %v\n%s", err, out)
	}
	runOK(t, srv, "user", "enable", "carol")
	if code := getStatus(t, srv.URL+refs, "carol", carol); code != 200 {
		t.Errorf("re-enabled user's token: %d, want 200", code)
	}
	runOK(t, srv, "user", "delete", "bob")
	if code := getStatus(t, srv.URL+"/alice/hitch.git/info/refs?service=git-upload-pack", "bob", read); code != 401 {
		t.Errorf("deleted user's token: %d, want 401", code)
	}
}

func getStatus(t *testing.T, url, user, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if user != "" {
		req.SetBasicAuth(user, token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

func getBody(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
