package ui_test

import (
	"encoding/binary"
	"html"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// bracketSCAD is a version of a part built from a library: a plate w × d
// × 3 with a peg 10 high on it.
func bracketSCAD(w, d int) string {
	return "use <../lib/shapes.scad>\nplate(" + strconv.Itoa(w) + ", " + strconv.Itoa(d) + ");\ntranslate([10, 10, 3]) peg();\n"
}

// stlMaxX is the largest x of a binary STL's vertices.
func stlMaxX(t *testing.T, stl string) float64 {
	t.Helper()
	if len(stl) < 84 {
		t.Fatalf("mesh of %d bytes is no binary STL", len(stl))
	}
	n := binary.LittleEndian.Uint32([]byte(stl[80:84]))
	if len(stl) != 84+50*int(n) {
		t.Fatalf("mesh of %d bytes for %d facets", len(stl), n)
	}
	max := math.Inf(-1)
	for i := 0; i < int(n); i++ {
		f := []byte(stl[84+50*i : 84+50*i+50])
		for v := 0; v < 3; v++ {
			x := float64(math.Float32frombits(binary.LittleEndian.Uint32(f[12+12*v:])))
			max = math.Max(max, x)
		}
	}
	return max
}

var previewImg = regexp.MustCompile(`<img src="(/previews/[^"]+)" alt="bracket (before|after) this commit"`)

// TestOpenSCADVersions: each version of an OpenSCAD part is its own build.
// A push of two commits that change a part builds the commit between
// them too; their commit pages show both pictures and the deltas; the
// part page, mesh and preview at an older commit are that commit's, and
// at a branch the catalogue never built they say so (no other version's
// figures). A private project's versions stay its owner's.
func TestOpenSCADVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a server and runs openscad")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "openscad")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--scad-timeout", "30s", "--scad-nice", "1"}})
	s := &site{srv: srv, token: srv.AddUser(t, owner), work: t.TempDir()}
	dir := filepath.Join(s.work, "machine")
	writeFiles(t, dir, map[string]string{
		"lib/shapes.scad":    scadFixture["lib/shapes.scad"],
		"parts/bracket.scad": bracketSCAD(40, 20),
		"README.md":          "# Machine\n",
	})
	testenv.Git(t, dir, "init", "-q", "-b", "main")
	first := s.commitAndPush(t, dir, "machine", "A bracket")
	s.waitCatalogued(t, "machine")
	before := scadRuns(t, s)

	// Two commits in one push: the first is never the branch's head.
	os.WriteFile(filepath.Join(dir, "parts/bracket.scad"), []byte(bracketSCAD(60, 20)), 0o644)
	testenv.Git(t, dir, "commit", "-q", "-am", "Longer bracket")
	second := strings.TrimSpace(testenv.Git(t, dir, "rev-parse", "HEAD"))
	os.WriteFile(filepath.Join(dir, "parts/bracket.scad"), []byte(bracketSCAD(80, 30)), 0o644)
	third := s.commitAndPush(t, dir, "machine", "Wider bracket")
	s.waitCatalogued(t, "machine")
	if runs := scadRuns(t, s); runs["built"] != before["built"]+2 {
		t.Errorf("openscad built %d times for a push of two versions, want 2 (the head's and the commit before it)", runs["built"]-before["built"])
	}
	// A branch the catalogue never builds.
	testenv.Git(t, dir, "checkout", "-q", "-b", "wip")
	os.WriteFile(filepath.Join(dir, "parts/bracket.scad"), []byte(bracketSCAD(100, 20)), 0o644)
	testenv.Git(t, dir, "commit", "-q", "-am", "Experiment")
	testenv.Git(t, dir, "push", "-q", s.srv.Remote(owner, s.token, owner, "machine"), "wip")
	testenv.Git(t, dir, "checkout", "-q", "main")

	base := s.srv.URL + "/" + owner + "/machine"
	t.Run("commit pages", func(t *testing.T) {
		for _, c := range []struct {
			commit, name string
			want         []string
		}{
			{second, "second", []string{"40.0 mm", "60.0 mm", "+20.00 mm", "+1.2 cm³"}}, // the plate grew by 20 × 20 × 3 mm
			{third, "third", []string{"60.0 mm", "80.0 mm", "+20.00 mm", "+10.00 mm"}},
		} {
			code, body, _ := get(t, base+"/commit/"+c.commit, nil)
			if code != 200 {
				t.Fatalf("%s commit page: %d", c.name, code)
			}
			if n := strings.Count(body, `<article class="part-diff">`); n != 1 {
				t.Errorf("%s commit page shows %d part diffs, want the bracket's", c.name, n)
			}
			imgs := previewImg.FindAllStringSubmatch(body, -1)
			if len(imgs) != 2 || imgs[0][2] != "before" || imgs[1][2] != "after" || imgs[0][1] == imgs[1][1] {
				t.Errorf("%s commit page pictures: %v, want two different ones, before and after", c.name, imgs)
			}
			text := html.UnescapeString(body)
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("%s commit page lacks %q", c.name, w)
				}
			}
		}
	})

	t.Run("versions", func(t *testing.T) {
		for _, v := range []struct {
			ref  string
			dims string
			maxX float64
		}{
			{first, "40.0 × 20.0 × 13.0 mm", 40},
			{second, "60.0 × 20.0 × 13.0 mm", 60},
			{third, "80.0 × 30.0 × 13.0 mm", 80},
			{"main", "80.0 × 30.0 × 13.0 mm", 80},
		} {
			code, body, _ := get(t, base+"/blob/"+v.ref+"/parts/bracket.scad", nil)
			if code != 200 || !strings.Contains(body, v.dims) || !strings.Contains(body, `class="viewer"`) {
				t.Errorf("part page at %s: %d, want %s", v.ref, code, v.dims)
			}
			code, mesh, hd := get(t, base+"/mesh/"+v.ref+"/parts/bracket.scad", nil)
			if code != 200 {
				t.Errorf("mesh at %s: %d", v.ref, code)
				continue
			}
			if x := stlMaxX(t, mesh); x != v.maxX {
				t.Errorf("mesh at %s reaches x = %g, want %g", v.ref, x, v.maxX)
			}
			// A commit's mesh is kept for good; a branch's changes.
			if immutable := strings.Contains(hd.Get("Cache-Control"), "immutable"); immutable != (v.ref != "main") {
				t.Errorf("mesh at %s: Cache-Control %q", v.ref, hd.Get("Cache-Control"))
			}
		}
		_, _, old := get(t, base+"/preview/"+first+"/parts/bracket.scad.png", nil)
		_, _, cur := get(t, base+"/preview/main/parts/bracket.scad.png", nil)
		if old.Get("Location") == "" || old.Get("Location") == cur.Get("Location") {
			t.Errorf("previews: %q at the first commit, %q at main", old.Get("Location"), cur.Get("Location"))
		}
		// Never built: the source, and a clear word.
		code, body, _ := get(t, base+"/blob/wip/parts/bracket.scad", nil)
		if code != 200 || !strings.Contains(body, "Not built for this version") || strings.Contains(body, `class="viewer"`) || strings.Contains(body, "80.0 × 30.0") || !strings.Contains(body, "plate(100, 20)") {
			t.Errorf("part page at an unbuilt branch: %d\n%s", code, body)
		}
		for _, p := range []string{"/mesh/wip/parts/bracket.scad", "/preview/wip/parts/bracket.scad.png"} {
			if code, _, _ := get(t, base+p, nil); code != 404 {
				t.Errorf("GET %s: %d, want 404", p, code)
			}
		}
	})

	t.Run("private", func(t *testing.T) {
		const pw = "a long enough password"
		srv.SetPassword(t, owner, pw)
		maker, anon := testenv.NewWebClient(t, srv.URL), testenv.NewWebClient(t, srv.URL)
		maker.SignIn(owner, pw)
		runs := scadRuns(t, s)
		testenv.Git(t, dir, "push", "-q", "-o", "visibility=private", srv.Remote(owner, s.token, owner, "secret-machine"), "main")
		deadline := time.Now().Add(90 * time.Second)
		for {
			_, body, _ := maker.Do("GET", "/"+owner+"/secret-machine", nil, nil)
			if m := catalogState.FindStringSubmatch(body); m != nil && m[1] == "done" && m[2] == "false" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("private project not catalogued\n%s", srv.Log())
			}
			time.Sleep(200 * time.Millisecond)
		}
		// The same files build the same parts: nothing is built again.
		if again := scadRuns(t, s); !equalCounts(again, runs) {
			t.Errorf("the same versions in another project ran openscad: %v, then %v", runs, again)
		}
		p := "/" + owner + "/secret-machine"
		for _, path := range []string{p + "/commit/" + second, p + "/blob/" + first + "/parts/bracket.scad", p + "/mesh/" + first + "/parts/bracket.scad", p + "/preview/" + first + "/parts/bracket.scad.png"} {
			if code, _, _ := anon.Do("GET", path, nil, nil); code != 404 {
				t.Errorf("anonymous GET %s: %d, want 404", path, code)
			}
			code, body, hd := maker.Do("GET", path, nil, nil)
			if code != 200 && code != 302 {
				t.Errorf("the owner's GET %s: %d", path, code)
			}
			if strings.Contains(path, "/mesh/") && (code != 200 || stlMaxX(t, body) != 40 || !strings.HasPrefix(hd.Get("Cache-Control"), "private")) {
				t.Errorf("the owner's old mesh: %d, Cache-Control %q", code, hd.Get("Cache-Control"))
			}
		}
	})

	t.Run("browser", func(t *testing.T) {
		b := testenv.StartChromium(t)
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1200, 1000), chromedp.Navigate(base+"/commit/"+second), chromedp.WaitVisible(".part-diff")); err != nil {
			t.Fatalf("commit page: %v", err)
		}
		// The pictures are lazy: wait until both have loaded.
		loaded := false
		for i := 0; i < 100 && !loaded; i++ {
			var err error
			loaded, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('.part-diff img')].filter(i => i.complete && i.naturalWidth > 0).length == 2`))
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !loaded {
			t.Errorf("the commit page's two pictures did not load")
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		saveScreenshot(t, "commit-scad.png", shot)
		// A version never built: the source, and the word.
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/blob/wip/parts/bracket.scad"), chromedp.WaitVisible("[data-not-built]")); err != nil {
			t.Fatalf("unbuilt version: %v", err)
		}
		if shot, err = chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
			t.Fatal(err)
		}
		saveScreenshot(t, "part-scad-not-built.png", shot)
	})
}
