package ui_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/ui/api"
	"github.com/blueprints-hq/blueprints/ui/api/apitest"
)

// site is a running server with corpus projects pushed and catalogued.
type site struct {
	srv   *testenv.Server
	token string
	work  string // working copies, one folder per project
}

const owner = "maker"

// corpusProject copies a corpus folder into a working copy (README.excerpt.md
// becomes README.md) and returns its path.
func (s *site) corpusProject(t *testing.T, corpus, name string) string {
	t.Helper()
	src := filepath.Join(testenv.ModuleRoot(t), "testdata", "corpus", corpus)
	dst := filepath.Join(s.work, name)
	testenv.CopyTree(t, src, dst)
	testenv.Git(t, dst, "init", "-q", "-b", "main")
	return dst
}

// commitAndPush commits everything in dir and pushes branch main (and any
// extra refspecs) to owner/name; it returns the new commit id.
func (s *site) commitAndPush(t *testing.T, dir, name, msg string, refspecs ...string) string {
	t.Helper()
	testenv.Git(t, dir, "add", "-A")
	testenv.Git(t, dir, "commit", "-q", "-m", msg)
	args := append([]string{"push", "-q", s.srv.Remote(owner, s.token, owner, name), "main"}, refspecs...)
	testenv.Git(t, dir, args...)
	return strings.TrimSpace(testenv.Git(t, dir, "rev-parse", "HEAD"))
}

var catalogState = regexp.MustCompile(`data-catalog="([a-z]*)" data-pending="(true|false)"`)

// waitCatalogued polls the project page until the catalog has finished
// the last push.
func (s *site) waitCatalogued(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body, _ := get(t, s.srv.URL+"/"+owner+"/"+name, nil)
		if code == 200 {
			if m := catalogState.FindStringSubmatch(body); m != nil && m[1] == "done" && m[2] == "false" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("project %s not catalogued after 90 s (status %d)\n%s", name, code, s.srv.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func get(t *testing.T, url string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("new request %s: %v", url, err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return res.StatusCode, string(body), res.Header
}

// rawGet sends the request line exactly as written, so that no client
// cleans "..", "%2e" or "//" out of the path first.
func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func gitBlobID(t *testing.T, dir, path string) string {
	t.Helper()
	return strings.TrimSpace(testenv.Git(t, dir, "rev-parse", "HEAD:"+path))
}

// startSite starts a server and pushes two corpus projects, a branch with
// a slash in its name, a tag, and a second commit that modifies, adds and
// removes parts.
func startSite(t *testing.T) (*site, *history) {
	t.Helper()
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	s := &site{srv: srv, token: srv.AddUser(t, owner), work: t.TempDir()}

	voron := s.corpusProject(t, "VoronDesign__Voron-Trident", "Voron-Trident")
	readme, err := os.ReadFile(filepath.Join(voron, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme = append(readme, "\n\n## Build notes\n\nSee [the Z carriage](STLs/Z_Assembly/z_carriage_rear.stl).\n\n<script>alert('owned')</script>\n"...)
	os.WriteFile(filepath.Join(voron, "README.md"), readme, 0o644)
	h := &history{dir: voron}
	h.first = s.commitAndPush(t, voron, "Voron-Trident", "Import the Trident parts")
	testenv.Git(t, voron, "tag", "-a", "v1.0", "-m", "first release")
	testenv.Git(t, voron, "push", "-q", s.srv.Remote(owner, s.token, owner, "Voron-Trident"), "v1.0")

	prusa := s.corpusProject(t, "prusa3d__Original-Prusa-i3", "Original-Prusa-i3")
	s.commitAndPush(t, prusa, "Original-Prusa-i3", "Import the i3 parts")
	s.waitCatalogued(t, "Voron-Trident")
	s.waitCatalogued(t, "Original-Prusa-i3")

	// A branch whose name has a slash, with a file only it has.
	testenv.Git(t, voron, "checkout", "-q", "-b", "feature/new-gear")
	os.WriteFile(filepath.Join(voron, "NOTES.txt"), []byte("gear notes\n"), 0o644)
	testenv.Git(t, voron, "add", "-A")
	testenv.Git(t, voron, "commit", "-q", "-m", "notes")
	testenv.Git(t, voron, "push", "-q", s.srv.Remote(owner, s.token, owner, "Voron-Trident"), "feature/new-gear")
	testenv.Git(t, voron, "checkout", "-q", "main")

	// The second commit on main: one part modified, one added, one removed.
	h.modified = "STLs/Gantry/X_Axis/XY_Joints/[a]_xy_left.stl"
	h.added = "STLs/Tools/plug_aligner.stl"
	h.removed = "STLs/Tools/MGN9_rail_guide_x2.stl"
	h.before = readPart(t, filepath.Join(voron, h.modified))
	copyFile(t, filepath.Join(voron, "STLs/Gantry/ba_drive_units/a_stepper_upper.stl"), filepath.Join(voron, h.modified))
	h.after = readPart(t, filepath.Join(voron, h.modified))
	copyFile(t, filepath.Join(prusa, "Printed-Parts/STL/plug-aligner.stl"), filepath.Join(voron, h.added))
	os.Remove(filepath.Join(voron, h.removed))
	h.second = s.commitAndPush(t, voron, "Voron-Trident", "Rework the left XY joint")
	s.waitCatalogued(t, "Voron-Trident")
	return s, h
}

// history is what startSite pushed to Voron-Trident.
type history struct {
	dir                      string
	first, second            string
	modified, added, removed string
	before, after            render.Part
}

func readPart(t *testing.T, path string) render.Part {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := render.Inspect(f, path, render.DefaultLimits())
	if err != nil {
		t.Fatalf("inspect %s: %v", path, err)
	}
	return p
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSite(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a server and pushes the corpus")
	}
	s, h := startSite(t)
	base := s.srv.URL + "/" + owner + "/Voron-Trident"

	t.Run("home", func(t *testing.T) {
		code, body, _ := get(t, s.srv.URL+"/", nil)
		if code != 200 {
			t.Fatalf("home: status %d", code)
		}
		for _, want := range []string{`action="/search"`, `href="/maker/Voron-Trident"`, `href="/maker/Original-Prusa-i3"`, `/previews/`} {
			if !strings.Contains(body, want) {
				t.Errorf("home page lacks %q", want)
			}
		}
	})

	t.Run("project", func(t *testing.T) {
		code, body, _ := get(t, base, nil)
		if code != 200 {
			t.Fatalf("project: status %d", code)
		}
		if n := strings.Count(body, `class="card part-card"`); n != 10 {
			t.Errorf("project page shows %d part cards, want 10", n)
		}
		if n := strings.Count(body, `loading="lazy"`); n < 10 {
			t.Errorf("project page has %d lazy images, want at least 10", n)
		}
		for _, want := range []string{"GPL-3.0", `<h2 id="build-notes">Build notes</h2>`, `href="/maker/Voron-Trident/blob/main/STLs/Z_Assembly/z_carriage_rear.stl"`, `/archive/main.zip`, "z_carriage_rear", "49.1 × 76.1 × 36.0 mm"} {
			if !strings.Contains(body, want) {
				t.Errorf("project page lacks %q", want)
			}
		}
		if strings.Contains(body, "alert('owned')") || strings.Contains(body, "<script>alert") {
			t.Errorf("README script was not sanitised")
		}
	})

	t.Run("head", func(t *testing.T) {
		client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, c := range []struct {
			path string
			code int
		}{
			{"/", 200},
			{"/search?q=idler", 200},
			{"/maker/Voron-Trident", 200},
			{"/maker/Voron-Trident/tree/main/STLs", 200},
			{"/maker/Voron-Trident/blob/main/STLs/Z_Assembly/z_carriage_rear.stl", 200},
			{"/maker/Voron-Trident/commits/main", 200},
			{"/maker/Voron-Trident/preview/main/STLs/Z_Assembly/z_carriage_rear.stl.png", 302},
			{"/maker/nothing", 404},
		} {
			res, err := client.Head(s.srv.URL + c.path)
			if err != nil {
				t.Fatalf("HEAD %s: %v", c.path, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != c.code || len(body) != 0 {
				t.Errorf("HEAD %s: status %d with %d body bytes, want %d and none", c.path, res.StatusCode, len(body), c.code)
			}
			if c.code == 200 && !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") && !strings.Contains(c.path, "preview") {
				t.Errorf("HEAD %s: Content-Type %q", c.path, res.Header.Get("Content-Type"))
			}
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, p := range []string{
			"/nobody/nothing",
			"/maker/nothing",
			"/maker/Voron-Trident/tree/no-such-branch",
			"/maker/Voron-Trident/tree/main/no/such/folder",
			"/maker/Voron-Trident/blob/main/STLs/nope.stl",
			"/maker/Voron-Trident/raw/main/STLs/nope.stl",
			"/maker/Voron-Trident/raw/no-such-branch/README.md",
			"/maker/Voron-Trident/commit/0123456789abcdef0123456789abcdef01234567",
			"/maker/Voron-Trident/commit/not-a-commit",
			"/maker/Voron-Trident/commit/no-such-branch",
			"/maker/Voron-Trident/commits/no-such-branch",
			"/maker/Voron-Trident/archive/no-such-branch.zip",
			"/maker/Voron-Trident/preview/main/STLs/nope.stl.png",
			"/previews/" + strings.Repeat("ab", 32) + "/512.png",
		} {
			code, body, _ := get(t, s.srv.URL+p, nil)
			if code != http.StatusNotFound {
				t.Errorf("GET %s: status %d, want 404", p, code)
			}
			if !strings.Contains(body, "Not Found") {
				t.Errorf("GET %s: no error page", p)
			}
		}
	})

	t.Run("bad request", func(t *testing.T) {
		for _, p := range []string{
			"/search?max_x=abc",
			"/search?max_z=-5",
			"/search?page=0",
			"/search?per_page=100000",
			"/search?sort=sideways",
			"/maker/Voron-Trident/commits/main?page=abc",
			"/previews/xyz/512.png",
		} {
			code, body, _ := get(t, s.srv.URL+p, nil)
			if code != http.StatusBadRequest {
				t.Errorf("GET %s: status %d, want 400", p, code)
			}
			if !strings.Contains(body, "Bad Request") {
				t.Errorf("GET %s: no error page", p)
			}
		}
	})

	t.Run("traversal refused", func(t *testing.T) {
		secrets := []string{"SQLite format", "root:x:0", "[core]"}
		for _, route := range []string{"tree", "blob", "raw", "archive", "preview", "commits"} {
			for _, rest := range []string{
				"main/../../../../../../etc/passwd",
				"main/%2e%2e/%2e%2e/%2e%2e/%2e%2e/blueprints.db",
				"main/..%2f..%2f..%2f..%2fblueprints.db",
				"%2e%2e/%2e%2e/%2e%2e/blueprints.db",
				"main/STLs%00/x",
				"main//etc/passwd",
				"main/%2fetc%2fpasswd",
				"..%5c..%5cblueprints.db",
			} {
				target := "/maker/Voron-Trident/" + route + "/" + rest
				code, body := rawGet(t, s.srv.Addr, target)
				if code != 400 && code != 404 {
					t.Errorf("GET %s: status %d, want 400 or 404", target, code)
				}
				for _, sec := range secrets {
					if strings.Contains(body, sec) {
						t.Errorf("GET %s: answer contains %q", target, sec)
					}
				}
			}
		}
		for _, target := range []string{
			"/maker/..%2f..%2fblueprints.db/raw/main/x",
			"/%2e%2e/%2e%2e/raw/main/etc/passwd",
			"/maker/%2e%2e/raw/main/config",
			"/maker/Voron-Trident.git%2f..%2f..%2f/raw/main/config",
		} {
			code, body := rawGet(t, s.srv.Addr, target)
			if code != 400 && code != 404 {
				t.Errorf("GET %s: status %d, want 400 or 404", target, code)
			}
			for _, sec := range secrets {
				if strings.Contains(body, sec) {
					t.Errorf("GET %s: answer contains %q", target, sec)
				}
			}
		}
	})

	t.Run("raw", func(t *testing.T) {
		path := "STLs/Z_Assembly/z_carriage_rear.stl"
		want, err := os.ReadFile(filepath.Join(h.dir, path))
		if err != nil {
			t.Fatal(err)
		}
		url := base + "/raw/main/" + path
		code, body, hd := get(t, url, nil)
		if code != 200 || body != string(want) {
			t.Fatalf("raw: status %d, %d bytes, want 200 and %d bytes", code, len(body), len(want))
		}
		etag := `"` + gitBlobID(t, h.dir, path) + `"`
		for k, v := range map[string]string{
			"Content-Type":        "model/stl",
			"Content-Disposition": `attachment; filename="z_carriage_rear.stl"; filename*=UTF-8''z_carriage_rear.stl`,
			"ETag":                etag,
			"Accept-Ranges":       "bytes",
			"Content-Length":      fmt.Sprint(len(want)),
		} {
			if hd.Get(k) != v {
				t.Errorf("raw %s = %q, want %q", k, hd.Get(k), v)
			}
		}
		code, body, hd = get(t, url, map[string]string{"Range": "bytes=0-79"})
		if code != 206 || body != string(want[:80]) || hd.Get("Content-Range") != fmt.Sprintf("bytes 0-79/%d", len(want)) {
			t.Errorf("range 0-79: status %d, %d bytes, Content-Range %q", code, len(body), hd.Get("Content-Range"))
		}
		code, body, _ = get(t, url, map[string]string{"Range": "bytes=-50"})
		if code != 206 || body != string(want[len(want)-50:]) {
			t.Errorf("suffix range: status %d, %d bytes", code, len(body))
		}
		code, body, _ = get(t, url, map[string]string{"Range": "bytes=1000-1099"})
		if code != 206 || body != string(want[1000:1100]) {
			t.Errorf("middle range: status %d, %d bytes", code, len(body))
		}
		code, _, hd = get(t, url, map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(want))})
		if code != http.StatusRequestedRangeNotSatisfiable || hd.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(want)) {
			t.Errorf("range past the end: status %d, Content-Range %q", code, hd.Get("Content-Range"))
		}
		code, _, _ = get(t, url, map[string]string{"If-None-Match": etag})
		if code != http.StatusNotModified {
			t.Errorf("If-None-Match: status %d, want 304", code)
		}
		// A README is text, served inline; HTML would be served as text.
		code, _, hd = get(t, base+"/raw/main/README.md", nil)
		if code != 200 || !strings.HasPrefix(hd.Get("Content-Type"), "text/plain") || !strings.HasPrefix(hd.Get("Content-Disposition"), "inline") {
			t.Errorf("raw README: status %d, type %q, disposition %q", code, hd.Get("Content-Type"), hd.Get("Content-Disposition"))
		}
	})

	t.Run("preview", func(t *testing.T) {
		path := "STLs/Z_Assembly/z_carriage_rear.stl"
		data, _ := os.ReadFile(filepath.Join(h.dir, path))
		sum := sha256.Sum256(data)
		code, _, hd := get(t, base+"/preview/main/"+path+".png", nil)
		loc := hd.Get("Location")
		if code != http.StatusFound || !strings.HasPrefix(loc, "/previews/"+hex.EncodeToString(sum[:])+"/") {
			t.Fatalf("preview: status %d, Location %q", code, loc)
		}
		code, body, hd := get(t, s.srv.URL+loc, nil)
		if code != 200 || hd.Get("Content-Type") != "image/png" || !strings.HasPrefix(body, "\x89PNG\r\n\x1a\n") {
			t.Fatalf("preview image: status %d, type %q", code, hd.Get("Content-Type"))
		}
		if cc := hd.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("preview Cache-Control %q", cc)
		}
	})

	t.Run("archive", func(t *testing.T) {
		code, body, hd := get(t, base+"/archive/main.zip", nil)
		if code != 200 || hd.Get("Content-Type") != "application/zip" {
			t.Fatalf("archive: status %d, type %q", code, hd.Get("Content-Type"))
		}
		checkZip(t, []byte(body), "Voron-Trident-main/", h.dir)
	})

	t.Run("refs", func(t *testing.T) {
		for _, c := range []struct{ path, want string }{
			{"/tree/feature/new-gear", "NOTES.txt"},
			{"/blob/feature/new-gear/NOTES.txt", "gear notes"},
			{"/raw/feature/new-gear/NOTES.txt", "gear notes"},
			{"/tree/v1.0/STLs/Tools", "MGN9_rail_guide_x2.stl"},
			{"/tree/main/STLs/Tools", "plug_aligner.stl"},
			{"/tree/" + h.first[:7] + "/STLs/Tools", "MGN9_rail_guide_x2.stl"},
			{"/tree/" + h.first + "/STLs", "Z_Assembly"},
			{"/blob/main/STLs/Z_Assembly/z_carriage_rear.stl", "41,368"},
			{"/tree/main/STLs/Z_Assembly/z_carriage_rear.stl", ""},
		} {
			code, body, hd := get(t, base+c.path, nil)
			if c.want == "" {
				if code != http.StatusFound || !strings.Contains(hd.Get("Location"), "/blob/") {
					t.Errorf("GET %s: status %d, Location %q, want a redirect to the file", c.path, code, hd.Get("Location"))
				}
				continue
			}
			if code != 200 || !strings.Contains(body, c.want) {
				t.Errorf("GET %s: status %d, want 200 with %q", c.path, code, c.want)
			}
		}
		code, body, _ := get(t, base+"/tree/main", nil)
		if code != 200 || strings.Contains(body, "NOTES.txt") {
			t.Errorf("main shows the feature branch's file")
		}
		// A branch name is shown whole in the badge, a commit id short.
		_, body, _ = get(t, base+"/tree/feature/new-gear", nil)
		if !strings.Contains(body, `>feature/new-gear</span>`) {
			t.Errorf("the badge of feature/new-gear does not show the whole name")
		}
		_, body, _ = get(t, base+"/tree/"+h.first, nil)
		if !strings.Contains(body, `title="Commit `+h.first+`">`+h.first[:8]+`</span>`) {
			t.Errorf("the badge of a commit id is not its short form with the whole id as tooltip")
		}
		// Branch and tag names are accepted wherever a commit id is.
		feature := strings.TrimSpace(testenv.Git(t, h.dir, "rev-parse", "feature/new-gear"))
		for ref, want := range map[string]string{"main": h.second, "v1.0": h.first, "feature/new-gear": feature, h.first[:7]: h.first} {
			code, _, hd := get(t, base+"/commit/"+ref, nil)
			if code != http.StatusFound || hd.Get("Location") != "/maker/Voron-Trident/commit/"+want {
				t.Errorf("GET /commit/%s: status %d, Location %q, want a redirect to commit %s", ref, code, hd.Get("Location"), want)
			}
		}
	})

	t.Run("history", func(t *testing.T) {
		code, body, _ := get(t, base+"/commits/main", nil)
		if code != 200 {
			t.Fatalf("commits: status %d", code)
		}
		i, j := strings.Index(body, h.second), strings.Index(body, h.first)
		if i < 0 || j < 0 || i > j {
			t.Errorf("history is not newest first (second at %d, first at %d)", i, j)
		}
		code, _, _ = get(t, base+"/commits/main?page=2", nil)
		if code != http.StatusNotFound {
			t.Errorf("page 2 of a 2-commit history: status %d, want 404", code)
		}
	})

	t.Run("commit diff", func(t *testing.T) {
		code, body, _ := get(t, base+"/commit/"+h.second, nil)
		if code != 200 {
			t.Fatalf("commit page: status %d", code)
		}
		body = html.UnescapeString(body)
		for _, want := range []string{
			"[a]_xy_left before this commit", "[a]_xy_left after this commit",
			"plug_aligner after this commit", "MGN9_rail_guide_x2 before this commit",
			fmt.Sprintf("+%.2f mm", h.after.Size[0]-h.before.Size[0]),
			fmt.Sprintf("%.1f mm", h.before.Size[0]), fmt.Sprintf("%.1f mm", h.after.Size[0]),
			"+" + commaCount(h.after.Triangles-h.before.Triangles),
			"3 parts",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("commit page lacks %q", want)
			}
		}
		if n := strings.Count(body, `<article class="part-diff">`); n != 3 {
			t.Errorf("commit page shows %d part diffs, want 3", n)
		}
	})

	t.Run("search", func(t *testing.T) {
		code, body, _ := get(t, s.srv.URL+"/search?q=z+carriage", nil)
		if code != 200 || !strings.Contains(body, "z_carriage_rear") {
			t.Fatalf("search z carriage: status %d, no z_carriage_rear", code)
		}
		code, page1, _ := get(t, s.srv.URL+"/search?q=&kind=part&per_page=3", nil)
		code2, page2, _ := get(t, s.srv.URL+"/search?q=&kind=part&per_page=3&page=2", nil)
		if code != 200 || code2 != 200 || !strings.Contains(page1, `rel="next"`) || !strings.Contains(page2, `rel="prev"`) {
			t.Errorf("paging: status %d and %d, or no next/prev links", code, code2)
		}
		hrefs := regexp.MustCompile(`href="(/maker/[^"]+/blob/[^"]+)"`)
		if a, b := hrefs.FindAllString(page1, -1), hrefs.FindAllString(page2, -1); len(a) != 3 || len(b) != 3 || a[0] == b[0] {
			t.Errorf("paging: page 1 links %v, page 2 links %v", a, b)
		}
		code, body, _ = get(t, s.srv.URL+"/search?q=&kind=part&max_x=30&max_y=30&max_z=30", nil)
		if code != 200 || strings.Contains(body, "z_carriage_rear") || !strings.Contains(body, "plug_aligner") {
			t.Errorf("fits-my-printer 30 mm: status %d; want small parts only", code)
		}
		// Words that only the README holds (not its title or description).
		code, body, _ = get(t, s.srv.URL+"/search?q=configurator&kind=project", nil)
		if code != 200 || !strings.Contains(body, `href="/maker/Voron-Trident"`) {
			t.Errorf("README words: status %d, no Voron-Trident", code)
		}
	})

	t.Run("search says what does not fit", func(t *testing.T) {
		var best struct {
			Hits []struct {
				Name string `json:"name"`
				Path string `json:"path"`
				Size [3]float64
			} `json:"hits"`
		}
		code, body, _ := get(t, s.srv.URL+"/api/v1/search?q=z+carriage&kind=part&per_page=1", nil)
		if err := json.Unmarshal([]byte(body), &best); code != 200 || err != nil || len(best.Hits) != 1 {
			t.Fatalf("best match for z carriage: %d %v %s", code, err, body)
		}
		top := best.Hits[0]
		ext := []float64{top.Size[0], top.Size[1], top.Size[2]}
		slices.Sort(ext)
		v := fmt.Sprintf("%.0f", math.Floor(ext[1]-1)) // its middle extent does not fit
		q := "q=z+carriage&max_x=" + v + "&max_y=" + v + "&max_z=" + v
		code, body, _ = get(t, s.srv.URL+"/search?"+q, nil)
		want := fmt.Sprintf("%s (maker/Voron-Trident, %s) matches “z carriage” best but does not fit %s × %s × %s mm: it is", top.Name, path.Dir(top.Path), v, v, v)
		if code != 200 || !strings.Contains(textOf(body), want) {
			t.Errorf("search %s: status %d, want the note %q", q, code, want)
		}
		if m := regexp.MustCompile(`href="([^"]*)">Search without the size limit`).FindStringSubmatch(body); m == nil || !strings.Contains(m[1], "q=z") || strings.Contains(m[1], "max_") {
			t.Errorf("the note's link to search without the size limit: %v", m)
		}
		var ans struct {
			Unfit *struct {
				Path string `json:"path"`
			} `json:"unfit"`
		}
		req := httptest.NewRequest(http.MethodGet, s.srv.URL+"/api/v1/search?"+q, nil)
		code, body, hd := get(t, req.URL.String(), nil)
		if err := json.Unmarshal([]byte(body), &ans); err != nil || ans.Unfit == nil || ans.Unfit.Path != top.Path {
			t.Errorf("API unfit: %v %+v, want %s", err, ans.Unfit, top.Path)
		}
		// The answer with unfit is one the OpenAPI document describes.
		apitest.New(t, api.OpenAPI).Check(t, req, code, hd, []byte(body))
		// Big enough: no note.
		code, body, _ = get(t, s.srv.URL+"/search?q=z+carriage&max_x=300&max_y=300&max_z=300", nil)
		if code != 200 || strings.Contains(body, "does not fit") {
			t.Errorf("a 300 mm printer: status %d, or a note that something does not fit", code)
		}
	})

	t.Run("file history", func(t *testing.T) { fileHistoryTests(t, s) })

	t.Run("lfs", func(t *testing.T) { lfsTests(t, s) })

	t.Run("browser", func(t *testing.T) { browserTests(t, s, h) })
}

func commaCount(n int64) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// checkZip checks that the archive holds every file of the working copy
// (less .git) under prefix, with the same bytes, and nothing else.
func checkZip(t *testing.T, data []byte, prefix, dir string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("read zip: %v", err)
	}
	got := map[string]*zip.File{}
	for _, f := range zr.File {
		got[f.Name] = f
	}
	want := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		name := prefix + filepath.ToSlash(rel)
		want++
		f, ok := got[name]
		if !ok {
			t.Errorf("zip lacks %s", name)
			return nil
		}
		rc, err := f.Open()
		if err != nil {
			t.Errorf("open %s in zip: %v", name, err)
			return nil
		}
		defer rc.Close()
		have, _ := io.ReadAll(rc)
		disk, _ := os.ReadFile(p)
		if !bytes.Equal(have, disk) {
			t.Errorf("%s in zip: %d bytes differ from the %d on disk", name, len(have), len(disk))
		}
		return nil
	})
	if len(got) != want {
		t.Errorf("zip has %d files, want %d", len(got), want)
	}
}

// lfsTests pushes parts stored with Git LFS and checks that pages, raw/
// and archive/ give their content, not their pointers.
func lfsTests(t *testing.T, s *site) {
	testenv.RequireTool(t, "git-lfs")
	dir := s.corpusProject(t, "uwo-fast__OpenAgriS3D", "lfs-parts")
	testenv.Git(t, dir, "lfs", "install", "--local")
	testenv.Git(t, dir, "lfs", "track", "*.stl")
	s.commitAndPush(t, dir, "lfs-parts", "parts in LFS")
	s.waitCatalogued(t, "lfs-parts")
	path := "src/plant-pot/fusion-cleat-model/pot_cup_cleat.stl"
	want, err := os.ReadFile(filepath.Join(dir, path))
	if err != nil {
		t.Fatal(err)
	}
	pointer := testenv.Git(t, dir, "cat-file", "-p", "HEAD:"+path)
	if !strings.HasPrefix(pointer, "version https://git-lfs") {
		t.Fatalf("%s is not stored as an LFS pointer:\n%.200s", path, pointer)
	}
	sum := sha256.Sum256(want)
	oid := hex.EncodeToString(sum[:])
	base := s.srv.URL + "/" + owner + "/lfs-parts"
	code, body, hd := get(t, base+"/raw/main/"+path, nil)
	if code != 200 || body != string(want) {
		t.Fatalf("raw LFS file: status %d, %d bytes, want %d bytes of content", code, len(body), len(want))
	}
	if hd.Get("ETag") != `"`+oid+`"` || hd.Get("Content-Type") != "model/stl" {
		t.Errorf("raw LFS file: ETag %q, type %q", hd.Get("ETag"), hd.Get("Content-Type"))
	}
	code, body, _ = get(t, base+"/raw/main/"+path, map[string]string{"Range": "bytes=100-199"})
	if code != 206 || body != string(want[100:200]) {
		t.Errorf("range of an LFS file: status %d, %d bytes", code, len(body))
	}
	code, body, _ = get(t, base+"/blob/main/"+path, nil)
	if code != 200 || !strings.Contains(body, "Stored with Git LFS") || !strings.Contains(body, "/previews/"+oid+"/") {
		t.Errorf("LFS part page: status %d, or no LFS note or preview", code)
	}
	code, body, _ = get(t, base+"/archive/main.zip", nil)
	if code != 200 {
		t.Fatalf("archive: status %d", code)
	}
	checkZip(t, []byte(body), "lfs-parts-main/", dir)
}

// fileHistoryTests pushes five commits, three of which change one part,
// and checks its history page and the part page's "last changed in".
func fileHistoryTests(t *testing.T, s *site) {
	dir := filepath.Join(s.work, "history")
	testenv.Git(t, "", "init", "-q", "-b", "main", dir)
	tools := filepath.Join(testenv.ModuleRoot(t), "testdata/corpus/VoronDesign__Voron-Trident/STLs/Tools")
	versions := []string{"140mm_extrusion_drill_guide.stl", "MGN9_rail_guide_x2.stl", "140mm_extrusion_drill_guide.stl"}
	arm := filepath.Join(dir, "frame", "arm.stl")
	os.MkdirAll(filepath.Dir(arm), 0o755)
	commit := func(msg string) string {
		testenv.Git(t, dir, "add", "-A")
		testenv.Git(t, dir, "commit", "-q", "-m", msg)
		return strings.TrimSpace(testenv.Git(t, dir, "rev-parse", "HEAD"))
	}
	var commits []string
	var parts []render.Part
	for i, step := range []string{"Add the arm", "Notes", "A longer arm", "A foot", "Back to the short arm"} {
		switch i {
		case 0, 2, 4:
			copyFile(t, filepath.Join(tools, versions[i/2]), arm)
			parts = append(parts, readPart(t, arm))
		case 1:
			os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Arm\n"), 0o644)
		case 3:
			copyFile(t, filepath.Join(tools, "MGN9_rail_guide_x2.stl"), filepath.Join(dir, "frame", "foot.stl"))
		}
		commits = append(commits, commit(step))
	}
	testenv.Git(t, dir, "push", "-q", s.srv.Remote(owner, s.token, owner, "history"), "main")
	s.waitCatalogued(t, "history")
	base := s.srv.URL + "/" + owner + "/history"

	code, body, _ := get(t, base+"/commits/main/frame/arm.stl", nil)
	if code != 200 {
		t.Fatalf("history of frame/arm.stl: status %d", code)
	}
	body = html.UnescapeString(body)
	var listed []string
	for _, c := range commits {
		if strings.Contains(body, "/commit/"+c+`"`) {
			listed = append(listed, c)
		}
	}
	if want := []string{commits[0], commits[2], commits[4]}; strings.Join(listed, ",") != strings.Join(want, ",") {
		t.Errorf("history of frame/arm.stl lists commits %v, want exactly %v (commits 1, 3 and 5)", listed, want)
	}
	if i, j, k := strings.Index(body, commits[4]), strings.Index(body, commits[2]), strings.Index(body, commits[0]); !(i < j && j < k) {
		t.Errorf("history is not newest first")
	}
	// Each entry: the part's size and volume after the commit, and what
	// changed from the version before.
	for i, want := range []string{
		fmt.Sprintf("%.1f × %.1f × %.1f mm", parts[0].Size[0], parts[0].Size[1], parts[0].Size[2]),
		fmt.Sprintf("%.1f × %.1f × %.1f mm", parts[1].Size[0], parts[1].Size[1], parts[1].Size[2]),
		signedMM("Size X", parts[1].Size[0]-parts[0].Size[0]),
		signedMM("Size X", parts[2].Size[0]-parts[1].Size[0]),
		"Volume " + signedPrefix(parts[1].Volume-parts[0].Volume),
		"Volume " + signedPrefix(parts[2].Volume-parts[1].Volume),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("history lacks %q (check %d)", want, i)
		}
	}
	if n := strings.Count(body, `class="badge added"`); n != 1 {
		t.Errorf("history shows %d added entries, want 1", n)
	}
	// The part page names the last commit that changed the part, not the
	// branch's latest; at an older commit, the change before it.
	for ref, want := range map[string]int{"main": 4, commits[3]: 2} {
		code, body, _ = get(t, base+"/blob/"+ref+"/frame/arm.stl", nil)
		if code != 200 {
			t.Fatalf("part page at %s: status %d", ref, code)
		}
		m := regexp.MustCompile(`Last changed in</span> <a href="/maker/history/commit/([0-9a-f]{40})">([^<]*)</a>`).FindStringSubmatch(body)
		if m == nil || m[1] != commits[want] {
			t.Errorf("part page at %s: last change %v, want commit %d (%s)", ref, m, want+1, commits[want])
		}
		if !strings.Contains(body, `href="/maker/history/commits/`+ref+`/frame/arm.stl"`) {
			t.Errorf("part page at %s does not link its history", ref)
		}
	}
	// A folder's history, paging, and paths without history.
	code, body, _ = get(t, base+"/commits/main/frame", nil)
	if code != 200 || strings.Count(body, `<a class="subject"`) != 4 {
		t.Errorf("history of frame/: status %d, %d entries, want 4", code, strings.Count(body, `<a class="subject"`))
	}
	for p, want := range map[string]int{"/commits/main/no/such.stl": 404, "/commits/main/frame/arm.stl?page=2": 404, "/commits/nope/frame/arm.stl": 404, "/commits/main/frame/arm.stl?page=x": 400} {
		if code, _, _ := get(t, base+p, nil); code != want {
			t.Errorf("GET %s: status %d, want %d", p, code, want)
		}
	}
}

func signedMM(label string, d float64) string {
	if d >= 0 {
		return fmt.Sprintf("%s +%.2f mm", label, d)
	}
	return fmt.Sprintf("%s −%.2f mm", label, -d)
}

func signedPrefix(d float64) string {
	if d >= 0 {
		return "+"
	}
	return "−"
}
