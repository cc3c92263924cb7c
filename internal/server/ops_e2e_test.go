package server_test

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// pushSmall makes a one-part repository and pushes it, returning git's
// output (the remote: lines included).
func pushSmall(t *testing.T, remote string) string {
	t.Helper()
	dir := t.TempDir()
	testenv.Git(t, dir, "init", "-q", "-b", "main")
	f, err := os.Create(filepath.Join(dir, "part.stl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := stlgen.WriteTorus(f, 200, false); err != nil {
		t.Fatal(err)
	}
	f.Close()
	testenv.Git(t, dir, "add", ".")
	testenv.Git(t, dir, "commit", "-q", "-m", "a part")
	return testenv.Git(t, dir, "push", remote, "main")
}

// lfsHref asks the LFS batch API where to upload an object and returns the
// href it names.
func lfsHref(t *testing.T, srv *testenv.Server, user, token, project string) string {
	t.Helper()
	body := `{"operation":"upload","transfers":["basic"],"objects":[{"oid":"` + strings.Repeat("ab", 32) + `","size":3}]}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+user+"/"+project+".git/info/lfs/objects/batch", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.git-lfs+json")
	req.Header.Set("Accept", "application/vnd.git-lfs+json")
	req.SetBasicAuth(user, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Objects []struct {
			Actions map[string]struct {
				Href string `json:"href"`
			} `json:"actions"`
		} `json:"objects"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Objects) != 1 {
		t.Fatalf("batch answer: %v %+v", err, out)
	}
	return out.Objects[0].Actions["upload"].Href
}

// TestPublicURL: bound to every interface, the server never names the
// wildcard address; with --public-url every absolute link names it.
func TestPublicURL(t *testing.T) {
	skipShort(t)
	t.Run("request host", func(t *testing.T) {
		srv := testenv.StartServer(t, testenv.Options{Bind: "0.0.0.0"})
		token := srv.AddUser(t, "alice")
		out := pushSmall(t, srv.Remote("alice", token, "alice", "tractor"))
		if want := "remote: see " + srv.URL + "/alice/tractor"; !hasLine(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
		if strings.Contains(out, "0.0.0.0") || strings.Contains(out, "[::]") {
			t.Errorf("push output names the wildcard address:\n%s", out)
		}
		if href := lfsHref(t, srv, "alice", token, "tractor"); !strings.HasPrefix(href, srv.URL+"/alice/tractor.git/info/lfs/") {
			t.Errorf("LFS href %q does not start with the address the client reached", href)
		}
		_, page := get(t, http.MethodGet, srv.URL+"/alice/tractor", "")
		if !strings.Contains(page, srv.URL+"/alice/tractor.git") {
			t.Errorf("project page lacks the clone URL %s/alice/tractor.git", srv.URL)
		}
		_, body := get(t, http.MethodGet, srv.URL+"/api/v1/projects/alice/tractor", "")
		var p struct{ URL string }
		if json.Unmarshal([]byte(body), &p); p.URL != srv.URL+"/alice/tractor" {
			t.Errorf("API project url %q, want %s/alice/tractor", p.URL, srv.URL)
		}
		// Plain http: a Secure cookie would never come back.
		if secure := loginCookiesSecure(t, srv.URL); secure {
			t.Errorf("over plain http without --public-url, the sign-in page sets Secure cookies")
		}
	})
	t.Run("--public-url", func(t *testing.T) {
		const public = "https://blueprints.example.org"
		srv := testenv.StartServer(t, testenv.Options{Bind: "0.0.0.0", Env: []string{"BLUEPRINTS_PUBLIC_URL=" + public + "/"}})
		token := srv.AddUser(t, "alice")
		out := pushSmall(t, srv.Remote("alice", token, "alice", "tractor"))
		if want := "remote: see " + public + "/alice/tractor"; !hasLine(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
		if href := lfsHref(t, srv, "alice", token, "tractor"); !strings.HasPrefix(href, public+"/alice/tractor.git/info/lfs/objects/") {
			t.Errorf("LFS href %q does not name the public URL", href)
		}
		_, page := get(t, http.MethodGet, srv.URL+"/alice/tractor", "")
		if !strings.Contains(page, public+"/alice/tractor.git") || strings.Contains(page, srv.URL) {
			t.Errorf("project page does not clone from %s only", public)
		}
		_, body := get(t, http.MethodGet, srv.URL+"/api/v1/projects/alice/tractor", "")
		var p struct{ URL string }
		if json.Unmarshal([]byte(body), &p); p.URL != public+"/alice/tractor" {
			t.Errorf("API project url %q, want %s/alice/tractor", p.URL, public)
		}
		// Behind a TLS-terminating proxy the request is plain http, but
		// the public URL is https: cookies are Secure.
		if secure := loginCookiesSecure(t, srv.URL); !secure {
			t.Errorf("with an https --public-url, the sign-in page sets cookies without Secure")
		}
	})
	t.Run("bad --public-url", func(t *testing.T) {
		out, err := exec.Command(testenv.Binary(t), "serve", "--public-url", "http://0.0.0.0:8080", "--data", t.TempDir()).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--public-url") || !strings.Contains(string(out), "wildcard") {
			t.Errorf("serve with a wildcard public URL: %v\n%s", err, out)
		}
	})
}

// loginCookiesSecure loads the sign-in page (which sets the pre-session
// cookie its form's CSRF token is bound to) and reports whether every
// cookie it sets is Secure.
func loginCookiesSecure(t *testing.T, base string) bool {
	t.Helper()
	res, err := http.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cookies := res.Cookies()
	if res.StatusCode != 200 || len(cookies) == 0 {
		t.Fatalf("GET /login: %d, %d cookies", res.StatusCode, len(cookies))
	}
	for _, c := range cookies {
		if !c.Secure {
			return false
		}
	}
	return true
}

// TestVersionAndBuildInfo: `blueprints version` and blueprints_build_info
// name the same build.
func TestVersionAndBuildInfo(t *testing.T) {
	skipShort(t)
	srv := testenv.StartServer(t, testenv.Options{})
	bin := testenv.Binary(t)
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("blueprints version: %v\n%s", err, out)
	}
	var v struct {
		Version, Commit, Go string
		Schema              int
	}
	if err := json.Unmarshal(out, &v); err != nil || v.Version == "" || !strings.HasPrefix(v.Go, "go1.") || v.Schema == 0 {
		t.Fatalf("version --json: %v %+v\n%s", err, v, out)
	}
	fams := scrape(t, srv, "")
	if n := fams.value("blueprints_build_info", map[string]string{"version": v.Version, "goversion": v.Go}); n != 1 {
		t.Errorf("blueprints_build_info{version=%q,goversion=%q} = %v, want 1", v.Version, v.Go, n)
	}
	text, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(text), "blueprints "+v.Version) || !strings.Contains(string(text), v.Go) {
		t.Errorf("version: %v\n%s", err, text)
	}
}

// TestJSONRequestLog: --log-format json writes one object a line; request
// lines carry route, status, bytes, duration and the client address, and
// no secret.
func TestJSONRequestLog(t *testing.T) {
	skipShort(t)
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--log-format", "json"}})
	token := srv.AddUser(t, "alice")
	pushSmall(t, srv.Remote("alice", token, "alice", "tractor"))
	get(t, http.MethodGet, srv.URL+"/alice/tractor?token=querysecret", token)
	srv.Stop(t)
	var routes []string
	sc := bufio.NewScanner(strings.NewReader(srv.Log()))
	for sc.Scan() {
		line := sc.Text()
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if strings.Contains(line, token) || strings.Contains(line, "querysecret") {
			t.Errorf("log line carries a secret: %s", line)
		}
		if rec["msg"] != "request" {
			continue
		}
		for _, k := range []string{"method", "route", "path", "status", "bytes", "duration", "client"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("request line lacks %q: %s", k, line)
			}
		}
		if rec["client"] != "127.0.0.1" {
			t.Errorf("client = %v, want 127.0.0.1", rec["client"])
		}
		routes = append(routes, rec["route"].(string))
	}
	joined := strings.Join(routes, " ")
	for _, want := range []string{"/:owner/:project/git-receive-pack", "/:owner/:project"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no request logged with route %s (routes: %s)", want, joined)
		}
	}
}

// TestOlderBinaryRefusesNewerDatabase: a database a newer Blueprints
// migrated is refused by every command, with the writer named.
func TestOlderBinaryRefusesNewerDatabase(t *testing.T) {
	skipShort(t)
	srv := testenv.StartServer(t, testenv.Options{})
	srv.AddUser(t, "alice")
	srv.Stop(t)
	markNewer(t, filepath.Join(srv.Data, "blueprints.db"))
	out, err := srv.Run(t, "user", "add", "bob")
	if err == nil || !strings.Contains(out, "was written by Blueprints v99.0.0") || !strings.Contains(out, "knows schema versions up to") {
		t.Errorf("user add on a newer database: %v\n%s", err, out)
	}
}

// markNewer makes the database at path look migrated by a future
// Blueprints v99.0.0.
func markNewer(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`INSERT INTO schema_migrations (version, name) VALUES (99999, '99999_future.sql')`,
		`UPDATE store_info SET value = 'v99.0.0 (commit 0123456789ab, go1.40.0)' WHERE key = 'written_by'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// hasLine reports whether out has a line that is want once git's padding
// is trimmed.
func hasLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}
