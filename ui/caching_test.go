package ui_test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

func gunzip(t *testing.T, body string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return string(out)
}

// TestCaching: pages, API answers and archives carry entity tags and
// answer If-None-Match per RFC 9110 (lists, weak tags, "*") with 304; a
// push changes the tags; text answers are gzipped when asked, images and
// archives are not; unknown API paths answer JSON 404. It logs each page's
// weight before and after gzip.
func TestCaching(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, owner)
	s := &site{srv: srv, token: token, work: t.TempDir()}
	dir := filepath.Join(s.work, "bracket")
	testenv.Git(t, "", "init", "-q", "-b", "main", dir)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Wall bracket\n\nA bracket that holds a shelf to a wall.\n"), 0o644)
	writePart(t, dir, "arm.stl", 400)
	writePart(t, dir, "plate.stl", 300)
	first := s.commitAndPush(t, dir, "bracket", "First version")
	s.waitCatalogued(t, "bracket")

	check := func(what, url string, hdr map[string]string, want int) http.Header {
		t.Helper()
		code, _, h := get(t, url, hdr)
		if code != want {
			t.Errorf("%s: %d, want %d", what, code, want)
		}
		return h
	}
	conditional := func(what, url string) string {
		t.Helper()
		h := check(what, url, nil, 200)
		tag := h.Get("ETag")
		if tag == "" {
			t.Fatalf("%s: no ETag", what)
		}
		bare := strings.TrimPrefix(tag, "W/")
		check(what+" If-None-Match: same tag", url, map[string]string{"If-None-Match": tag}, 304)
		check(what+" If-None-Match: list", url, map[string]string{"If-None-Match": `"nope", ` + tag + `, "other"`}, 304)
		check(what+" If-None-Match: weak form", url, map[string]string{"If-None-Match": "W/" + bare}, 304)
		check(what+" If-None-Match: strong form", url, map[string]string{"If-None-Match": bare}, 304)
		check(what+" If-None-Match: *", url, map[string]string{"If-None-Match": "*"}, 304)
		check(what+" If-None-Match: other", url, map[string]string{"If-None-Match": `"nope"`}, 200)
		return tag
	}
	project := srv.URL + "/maker/bracket"
	pageTag := conditional("project page", project)
	partTag := conditional("part page", project+"/blob/main/arm.stl")
	// A 304 updates the cached page's headers (RFC 9111, 4.3.4): it must
	// carry the page's own policy, or the browser sandboxes the cached
	// page and its scripts never run.
	h304 := check("part page 304", project+"/blob/main/arm.stl", map[string]string{"If-None-Match": partTag}, 304)
	if csp := h304.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "sandbox") {
		t.Errorf("a page's 304 carries CSP %q, not the page's", csp)
	}
	conditional("home page", srv.URL+"/")
	conditional("commit page", project+"/commit/"+first)
	historyTag := conditional("history page", project+"/commits/main")
	apiTag := conditional("API project", srv.URL+"/api/v1/projects/maker/bracket")
	conditional("API search", srv.URL+"/api/v1/search?q=arm")
	archTag := conditional("archive", project+"/archive/main.zip")
	if archTag != `"`+first+`"` {
		t.Errorf("archive tag %s, want the commit id", archTag)
	}
	h := check("API project", srv.URL+"/api/v1/projects/maker/bracket", nil, 200)
	if lm := h.Get("Last-Modified"); lm == "" {
		t.Errorf("API project answer has no Last-Modified")
	} else {
		check("API If-Modified-Since", srv.URL+"/api/v1/projects/maker/bracket", map[string]string{"If-Modified-Since": lm}, 304)
	}

	// A push makes every tag above stale.
	writePart(t, dir, "arm.stl", 900)
	s.commitAndPush(t, dir, "bracket", "Thicker arm")
	s.waitCatalogued(t, "bracket")
	for what, c := range map[string][2]string{
		"project page": {project, pageTag},
		"part page":    {project + "/blob/main/arm.stl", partTag},
		"API project":  {srv.URL + "/api/v1/projects/maker/bracket", apiTag},
		"archive":      {project + "/archive/main.zip", archTag},
		"history page": {project + "/commits/main", historyTag},
	} {
		check(what+" after a push, old tag", c[0], map[string]string{"If-None-Match": c[1]}, 200)
	}
	// The first commit's archive never changes.
	check("archive of a commit", project+"/archive/"+first+".zip", map[string]string{"If-None-Match": `"` + first + `"`}, 304)

	t.Run("gzip", func(t *testing.T) {
		gz := map[string]string{"Accept-Encoding": "gzip"}
		type weight struct{ plain, zipped int }
		weights := map[string]weight{}
		for what, path := range map[string]string{
			"home": "/", "project": "/maker/bracket", "part": "/maker/bracket/blob/main/arm.stl",
			"search": "/search?q=arm", "API search": "/api/v1/search?q=arm", "feed": "/projects.atom", "sitemap": "/sitemap.xml",
		} {
			_, plain, ph := get(t, srv.URL+path, nil)
			code, zipped, zh := get(t, srv.URL+path, gz)
			if code != 200 || zh.Get("Content-Encoding") != "gzip" || ph.Get("Content-Encoding") != "" {
				t.Errorf("%s: %d, gzip %q, plain %q", what, code, zh.Get("Content-Encoding"), ph.Get("Content-Encoding"))
				continue
			}
			if !strings.Contains(zh.Get("Vary"), "Accept-Encoding") {
				t.Errorf("%s: gzipped answer without Vary: Accept-Encoding", what)
			}
			if got := gunzip(t, zipped); got != plain && what != "search" {
				t.Errorf("%s: gunzipped body differs from the plain one (%d vs %d bytes)", what, len(got), len(plain))
			}
			weights[what] = weight{len(plain), len(zipped)}
		}
		for what, w := range weights {
			t.Logf("page weight %-10s %6d bytes, gzipped %6d (%.0f %%)", what, w.plain, w.zipped, 100*float64(w.zipped)/float64(w.plain))
		}
		// Static files come compressed from the binary.
		_, home, _ := get(t, srv.URL+"/", nil)
		css := between(home, `<link rel="stylesheet" href="`, `"`)
		if _, _, h := get(t, srv.URL+css, gz); h.Get("Content-Encoding") != "gzip" {
			t.Errorf("stylesheet %s not gzipped", css)
		}
		for what, path := range map[string]string{
			"preview PNG": "/maker/bracket/preview/main/arm.stl.png",
			"archive":     "/maker/bracket/archive/main.zip",
			"raw STL":     "/maker/bracket/raw/main/arm.stl",
		} {
			code, _, h := get(t, srv.URL+path, gz)
			if code == http.StatusFound { // previews redirect to their immutable address
				code, _, h = get(t, srv.URL+h.Get("Location"), gz)
			}
			if code != 200 || h.Get("Content-Encoding") != "" {
				t.Errorf("%s: %d, Content-Encoding %q; want it sent as it is", what, code, h.Get("Content-Encoding"))
			}
		}
		// git clients still clone through the compressing server.
		testenv.Git(t, "", "clone", "-q", srv.URL+"/maker/bracket", filepath.Join(t.TempDir(), "clone"))
	})

	t.Run("JSON 404 under /api", func(t *testing.T) {
		for _, path := range []string{"/api/v1/nothing", "/api/v1/projects/maker", "/api/v2/search", "/api/v1"} {
			code, body, h := get(t, srv.URL+path, nil)
			var p struct{ Error string }
			if code != 404 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(body), &p) != nil || p.Error == "" {
				t.Errorf("GET %s: %d %s %q", path, code, h.Get("Content-Type"), body)
			}
		}
		// Other methods are refused in JSON too.
		res, err := http.Post(srv.URL+"/api/v1/nothing", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var p struct{ Error string }
		if res.StatusCode != 404 && res.StatusCode != 405 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &p) != nil || p.Error == "" {
			t.Errorf("POST /api/v1/nothing: %d %s %q", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	})
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	j := strings.Index(s, to)
	if j < 0 {
		return ""
	}
	return s[:j]
}
