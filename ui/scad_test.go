package ui_test

import (
	"encoding/json"
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

// scadFixture is the repository the formats issue lists: a part that
// uses a library file, the library, a 2D drawing, a file with an error,
// one that imports /etc/passwd, one that includes ../../x, and one that
// never finishes.
var scadFixture = map[string]string{
	"lib/shapes.scad":    "// A library: modules only.\nmodule plate(w, d) { cube([w, d, 3]); }\nmodule peg() { cylinder(h = 10, r = 2, $fn = 24); }\n",
	"parts/bracket.scad": "use <../lib/shapes.scad>\nplate(40, 20);\ntranslate([10, 10, 3]) peg();\n",
	"parts/outline.scad": "square([30, 10]);\n",
	"parts/broken.scad":  "cube([10, 10, 10]\n",
	"parts/sneaky.scad":  "cube(5);\nimport(\"/etc/passwd\");\n",
	"parts/climber.scad": "include <../../x.scad>\ncube(5);\n",
	"parts/forever.scad": "echo(len([for (a = [0:99999]) for (b = [0:99999]) if (a < 0) a]));\ncube(1);\n",
	"README.md":          "# Machine\n\nDesigned in OpenSCAD.\n",
}

var scadRunsRE = regexp.MustCompile(`(?m)^blueprints_openscad_runs_total\{result="(\w+)"\} (\d+)$`)

// scadRuns reads the server's openscad run counters from /metrics.
func scadRuns(t *testing.T, s *site) map[string]int {
	t.Helper()
	code, body, _ := get(t, s.srv.URL+"/metrics", nil)
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	out := map[string]int{}
	for _, m := range scadRunsRE.FindAllStringSubmatch(body, -1) {
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(out) != 4 {
		t.Fatalf("metrics have %d openscad series, want 4:\n%s", len(out), body)
	}
	return out
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, text := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenSCAD pushes the fixture to a server with openscad: the part is
// built and shown like any other (page, viewer, mesh, search), the
// library and the 2D file are skipped quietly, the others fail with
// OpenSCAD's or the sandbox's message on the project page, and pushes
// that touch no part's sources run openscad zero times (/metrics).
func TestOpenSCAD(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a server and runs openscad")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "openscad")
	// Nice 1, not 19: at 19 a busy test machine starves even the small
	// builds past their time limit.
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--scad-timeout", "10s", "--scad-nice", "1"}})
	s := &site{srv: srv, token: srv.AddUser(t, owner), work: t.TempDir()}
	dir := filepath.Join(s.work, "machine")
	writeFiles(t, dir, scadFixture)
	testenv.Git(t, dir, "init", "-q", "-b", "main")
	s.commitAndPush(t, dir, "machine", "A machine in OpenSCAD")
	s.waitCatalogued(t, "machine")

	runs := scadRuns(t, s)
	if want := map[string]int{"built": 1, "skipped": 2, "failed": 1, "timeout": 1}; !equalCounts(runs, want) {
		t.Fatalf("openscad runs %v, want %v (the refused files never run)", runs, want)
	}
	hits := searchParts(t, s, "project=maker/machine")
	if len(hits) != 1 || hits[0].Path != "parts/bracket.scad" || hits[0].Format != "scad" || hits[0].Triangles < 20 {
		t.Fatalf("parts %+v, want the bracket alone, format scad", hits)
	}
	// The plate is 40 × 20 × 3 with a peg 10 high on it.
	if b := hits[0]; b.BBoxMin != [3]float64{0, 0, 0} || b.BBoxMax[0] != 40 || b.BBoxMax[1] != 20 || b.BBoxMax[2] != 13 {
		t.Errorf("bracket bounds %v..%v", b.BBoxMin, b.BBoxMax)
	}

	base := s.srv.URL + "/" + owner + "/machine"
	code, page, _ := get(t, base, nil)
	if code != 200 {
		t.Fatalf("project page: %d", code)
	}
	for _, want := range []string{
		"4 files could not be measured",
		"ERROR: Parser error: syntax error in file parts/broken.scad",
		`import(&#34;/etc/passwd&#34;) refused: absolute paths are not followed`,
		"include &lt;../../x.scad&gt; refused: the path leaves the repository",
		"OpenSCAD did not finish within 10s",
		`href="/maker/machine/blob/main/parts/bracket.scad"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("project page lacks %q", want)
		}
	}
	for _, quiet := range []string{"shapes.scad</code>", "outline.scad</code>"} {
		if strings.Contains(page, quiet) {
			t.Errorf("project page reports %s", quiet)
		}
	}
	code, body, _ := get(t, base+"/blob/main/parts/bracket.scad", nil)
	if code != 200 {
		t.Fatalf("part page: %d", code)
	}
	for _, want := range []string{"Download OpenSCAD source", "Download the mesh as STL", `data-src="/maker/machine/mesh/`, "OpenSCAD source, built to a mesh"} {
		if !strings.Contains(body, want) {
			t.Errorf("bracket page lacks %q", want)
		}
	}
	if code, mesh, hd := get(t, base+"/mesh/main/parts/bracket.scad", nil); code != 200 || hd.Get("Content-Type") != "model/stl" || len(mesh) != 84+50*int(hits[0].Triangles) {
		t.Errorf("bracket mesh: %d %s, %d bytes for %d facets", code, hd.Get("Content-Type"), len(mesh), hits[0].Triangles)
	}
	if code, src, _ := get(t, base+"/raw/main/parts/bracket.scad", nil); code != 200 || src != scadFixture["parts/bracket.scad"] {
		t.Errorf("bracket source: %d %q", code, src)
	}
	// The library is a source, not a part: shown as text.
	if code, body, _ := get(t, base+"/blob/main/lib/shapes.scad", nil); code != 200 || !strings.Contains(body, "module plate") || strings.Contains(body, `class="viewer"`) {
		t.Errorf("library page: %d", code)
	}

	// A push that changes only the README builds nothing again.
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Machine\n\nNow with notes.\n"), 0o644)
	s.commitAndPush(t, dir, "machine", "Notes")
	s.waitCatalogued(t, "machine")
	if again := scadRuns(t, s); !equalCounts(again, runs) {
		t.Fatalf("a README push ran openscad: %v, then %v", runs, again)
	}
	// A push that changes the library builds the part that uses it, and
	// only that.
	os.WriteFile(filepath.Join(dir, "lib/shapes.scad"), []byte(strings.Replace(scadFixture["lib/shapes.scad"], "r = 2", "r = 3", 1)), 0o644)
	s.commitAndPush(t, dir, "machine", "Thicker pegs")
	s.waitCatalogued(t, "machine")
	want := map[string]int{"built": 2, "skipped": 3, "failed": 1, "timeout": 1}
	if after := scadRuns(t, s); !equalCounts(after, want) {
		t.Fatalf("after a library change: %v, want %v (bracket and the library rebuilt)\n%s", after, want, s.srv.Log())
	}

	t.Run("viewer", func(t *testing.T) {
		b := testenv.StartChromium(t)
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/blob/main/parts/bracket.scad"), chromedp.WaitReady(`.viewer[data-state="ready"]`)); err != nil {
			t.Fatalf("load the viewer: %v", err)
		}
		if frac := canvasPartFraction(t, ctx); frac < 0.03 {
			t.Errorf("the part covers %.1f%% of the canvas, want at least 3%%", 100*frac)
		}
		shot, _ := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		saveScreenshot(t, "part-bracket-scad.png", shot)
		// The project page, with the failures' messages.
		if err := chromedp.Do(ctx, chromedp.Navigate(base), chromedp.WaitVisible(".failures"), chromedp.Click(".failures summary")); err != nil {
			t.Fatalf("project page: %v", err)
		}
		shot, _ = chromedp.Run(ctx, chromedp.CaptureScreenshot())
		saveScreenshot(t, "project-scad.png", shot)
	})
}

// TestOpenSCADMissing runs a server without openscad: .scad files are
// listed as sources, and the project page says the server cannot build
// them.
func TestOpenSCADMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a server")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--openscad", "/nonexistent/openscad"}})
	s := &site{srv: srv, token: srv.AddUser(t, owner), work: t.TempDir()}
	dir := filepath.Join(s.work, "machine")
	writeFiles(t, dir, scadFixture)
	testenv.Git(t, dir, "init", "-q", "-b", "main")
	s.commitAndPush(t, dir, "machine", "A machine in OpenSCAD")
	s.waitCatalogued(t, "machine")
	code, page, _ := get(t, s.srv.URL+"/"+owner+"/machine", nil)
	if code != 200 || !strings.Contains(page, "7 OpenSCAD sources (.scad) listed but not built: this server cannot build them") {
		t.Fatalf("project page (%d) does not say the sources are not built", code)
	}
	code, body, _ := get(t, s.srv.URL+"/api/v1/projects/maker/machine", nil)
	var p struct {
		Catalog struct {
			Parts, Failed int
			Problems      []string
		}
	}
	json.Unmarshal([]byte(body), &p)
	if code != 200 || p.Catalog.Parts != 0 || p.Catalog.Failed != 0 || len(p.Catalog.Problems) != 1 {
		t.Errorf("API: %d %+v", code, p)
	}
	if code, tree, _ := get(t, s.srv.URL+"/"+owner+"/machine/tree/main/parts", nil); code != 200 || !strings.Contains(tree, "bracket.scad") {
		t.Errorf("tree does not list the sources: %d", code)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
