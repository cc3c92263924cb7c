package ui_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/threemf/threemftest"
)

// boxOBJ is a 20 × 10 × 5 mm box written as an exporter would: quads,
// texture and normal references, a negative index, groups and materials.
const boxOBJ = `# box, 20 x 10 x 5
mtllib box.mtl
o box
v 0 0 0
v 20 0 0
v 0 10 0
v 20 10 0
v 0 0 5
v 20 0 5
v 0 10 5
v 20 10 5
vt 0 0
vn 0 0 1
g bottom
usemtl grey
f 1/1/1 3/1/1 4/1/1 2/1/1
g top
f 5//1 6//1 8//1 7//1
s off
f 1 2 6 5
f 3 7 8 -5
f 1 5 7 3
f 2 4 8 6
`

// formatsHit is the part of a search hit these tests read.
type formatsHit struct {
	Path      string     `json:"path"`
	Format    string     `json:"format"`
	Triangles int64      `json:"triangles"`
	Objects   int        `json:"objects"`
	Units     string     `json:"units"`
	BBoxMin   [3]float64 `json:"bbox_min"`
	BBoxMax   [3]float64 `json:"bbox_max"`
	Volume    float64    `json:"volume"`
	Preview   string     `json:"preview_url"`
}

func searchParts(t *testing.T, s *site, query string) []formatsHit {
	t.Helper()
	code, body, _ := get(t, s.srv.URL+"/api/v1/search?kind=part&"+query, nil)
	if code != 200 {
		t.Fatalf("search %s: %d %s", query, code, body)
	}
	var res struct {
		Hits []formatsHit `json:"hits"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	return res.Hits
}

// TestFormats pushes 3MF (the Bambu Studio layout, with the Production
// extension, and a build of three placed objects) and OBJ parts, and
// checks them everywhere a part appears: the API and search (build-volume
// filter included), the part page, the preview, the viewer's mesh, the
// archive and, in Chromium, the 3D view.
func TestFormats(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a server")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	s := &site{srv: srv, token: srv.AddUser(t, owner), work: t.TempDir()}
	dir := filepath.Join(s.work, "formats")
	os.MkdirAll(filepath.Join(dir, "parts"), 0o755)
	testenv.Git(t, dir, "init", "-q", "-b", "main")
	prod, build := threemftest.Production(), threemftest.BuildTransforms()
	os.WriteFile(filepath.Join(dir, "parts", "bambu_bracket.3mf"), prod.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "parts", "three_blocks.3MF"), build.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "parts", "scanned_box.obj"), []byte(boxOBJ), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Formats\n\nParts in 3MF and OBJ.\n"), 0o644)
	s.commitAndPush(t, dir, "formats", "Parts in three formats")
	s.waitCatalogued(t, "formats")

	hits := searchParts(t, s, "project=maker/formats")
	byPath := map[string]formatsHit{}
	for _, h := range hits {
		byPath[h.Path] = h
	}
	if len(byPath) != 3 {
		t.Fatalf("search finds %d parts, want 3: %+v", len(byPath), hits)
	}
	want := map[string]struct {
		format    string
		triangles int64
		objects   int
		units     string
		min, max  [3]float64
		volume    float64
	}{
		"parts/bambu_bracket.3mf": {"3mf", prod.Triangles, prod.Objects, "millimeter", prod.Min, prod.Max, prod.Volume},
		"parts/three_blocks.3MF":  {"3mf", build.Triangles, build.Objects, "millimeter", build.Min, build.Max, build.Volume},
		"parts/scanned_box.obj":   {"obj", 12, 1, "", [3]float64{0, 0, 0}, [3]float64{20, 10, 5}, 1000},
	}
	for p, w := range want {
		h, ok := byPath[p]
		if !ok {
			t.Errorf("%s is not a searchable part", p)
			continue
		}
		if h.Format != w.format || h.Triangles != w.triangles || h.Objects != w.objects || h.Units != w.units || h.BBoxMin != w.min || h.BBoxMax != w.max || !threemftest.Close(h.Volume, w.volume, 1e-6, 1) {
			t.Errorf("%s: got %+v, want %+v", p, h, w)
		}
		if h.Preview == "" {
			t.Errorf("%s has no preview", p)
		} else {
			// The API's preview_url is absolute (issue 18: --public-url).
			code, _, hd := get(t, h.Preview, nil)
			if code == 302 {
				code, body, hd := get(t, s.srv.URL+hd.Get("Location"), nil)
				if code != 200 || hd.Get("Content-Type") != "image/png" || len(body) < 500 {
					t.Errorf("%s preview: %d %s, %d bytes", p, code, hd.Get("Content-Type"), len(body))
				}
			} else {
				t.Errorf("%s preview: %d, want a redirect to the stored picture", p, code)
			}
		}
	}
	// The build-volume filter: the three blocks span 70 × 50 × 7 mm.
	fits := func(q string) bool {
		for _, h := range searchParts(t, s, "project=maker/formats&"+q) {
			if h.Path == "parts/three_blocks.3MF" {
				return true
			}
		}
		return false
	}
	if !fits("max_x=75&max_y=55&max_z=10") || fits("max_x=60&max_y=60&max_z=60") {
		t.Errorf("build-volume filter does not place the 70 × 50 × 7 mm build right")
	}
	if hits := searchParts(t, s, "q=scanned+box"); len(hits) == 0 || hits[0].Path != "parts/scanned_box.obj" {
		t.Errorf("search for \"scanned box\" finds %+v", hits)
	}

	base := s.srv.URL + "/" + owner + "/formats"
	t.Run("part page and mesh", func(t *testing.T) {
		code, body, _ := get(t, base+"/blob/main/parts/bambu_bracket.3mf", nil)
		if code != 200 {
			t.Fatalf("part page: %d", code)
		}
		for _, w := range []string{"Download 3MF", `data-src="/maker/formats/mesh/`, "<td>3MF</td>", "Objects", "millimeter (shown in mm)", "Download the mesh as STL"} {
			if !strings.Contains(body, w) {
				t.Errorf("part page lacks %q", w)
			}
		}
		code, mesh, hd := get(t, base+"/mesh/main/parts/bambu_bracket.3mf", nil)
		if code != 200 || hd.Get("Content-Type") != "model/stl" || len(mesh) != 84+50*int(prod.Triangles) {
			t.Errorf("mesh: %d %s, %d bytes, want %d", code, hd.Get("Content-Type"), len(mesh), 84+50*prod.Triangles)
		}
		code, _, _ = get(t, base+"/mesh/main/parts/none.3mf", nil)
		if code != 404 {
			t.Errorf("mesh of a missing part: %d", code)
		}
		code, _, _ = get(t, base+"/mesh/main/README.md", nil)
		if code != 404 {
			t.Errorf("mesh of a README: %d", code)
		}
		code, raw, _ := get(t, base+"/raw/main/parts/bambu_bracket.3mf", nil)
		if code != 200 || raw != string(prod.Bytes()) {
			t.Errorf("raw 3MF: %d, %d bytes", code, len(raw))
		}
		code, zipped, _ := get(t, base+"/archive/main.zip", nil)
		zr, err := zip.NewReader(bytes.NewReader([]byte(zipped)), int64(len(zipped)))
		if code != 200 || err != nil {
			t.Fatalf("archive: %d %v", code, err)
		}
		names := map[string]bool{}
		for _, f := range zr.File {
			names[strings.SplitN(f.Name, "/", 2)[1]] = true
		}
		for p := range want {
			if !names[p] {
				t.Errorf("archive lacks %s", p)
			}
		}
	})

	t.Run("viewer", func(t *testing.T) {
		b := testenv.StartChromium(t)
		for _, p := range []string{"parts/bambu_bracket.3mf", "parts/scanned_box.obj"} {
			ctx, cancel := b.Tab(t, time.Minute)
			err := chromedp.Do(ctx, chromedp.Navigate(base+"/blob/main/"+p), chromedp.WaitReady(`.viewer[data-state="ready"]`))
			if err != nil {
				cancel()
				t.Fatalf("%s: load the viewer: %v", p, err)
			}
			n, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.viewer').dataset.triangles`))
			if err != nil || n != map[string]string{"parts/bambu_bracket.3mf": "24", "parts/scanned_box.obj": "12"}[p] {
				t.Errorf("%s: viewer loaded %q triangles (%v)", p, n, err)
			}
			frac := canvasPartFraction(t, ctx)
			if frac < 0.03 {
				t.Errorf("%s: the part covers %.1f%% of the canvas, want at least 3%%", p, 100*frac)
			}
			shot, _ := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			saveScreenshot(t, "part-"+strings.ReplaceAll(filepath.Base(p), ".", "-")+".png", shot)
			cancel()
		}
	})
}

// canvasPartFraction reads the viewer's canvas back and returns the share
// of its pixels that show the part (drawn in blue on transparency).
func canvasPartFraction(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	frac, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => {
		const c = document.querySelector('.viewer-canvas');
		const g = c.getContext('webgl2') || c.getContext('webgl');
		const w = g.drawingBufferWidth, h = g.drawingBufferHeight;
		const px = new Uint8Array(w * h * 4);
		g.readPixels(0, 0, w, h, g.RGBA, g.UNSIGNED_BYTE, px);
		let part = 0;
		for (let i = 0; i < px.length; i += 4) {
			if (px[i+3] > 200 && px[i+2] > px[i] + 40) part++;
		}
		return part / (w * h);
	})()`))
	if err != nil {
		t.Fatalf("read canvas: %v", err)
	}
	return frac
}
