package print_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hschendel/stl"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/threemf"
	"github.com/blueprints-hq/blueprints/threemf/threemftest"
	"github.com/blueprints-hq/blueprints/ui/api/apitest"
)

// The end-to-end tests of print plans: a real server holding the corpus
// projects, their plans over the API, every plate's 3MF read back and
// sliced by PrusaSlicer, the page in Chromium, and bad input.

const owner = "maker"

// printSite is a server with every corpus project pushed and catalogued,
// and one project whose print.toml is nonsense.
type printSite struct {
	srv      *testenv.Server
	token    string
	projects []string
}

func startPrintSite(t *testing.T, args ...string) *printSite {
	t.Helper()
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: args})
	s := &printSite{srv: srv, token: srv.AddUser(t, owner)}
	for _, p := range testenv.Corpus(t) {
		work := testenv.CorpusWorkTree(t, p)
		s.push(t, work, p.Name)
	}
	// A project whose print.toml says nonsense about two parts' counts,
	// with one part in Git LFS.
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	testenv.Git(t, work, "lfs", "install", "--local")
	testenv.Git(t, work, "lfs", "track", "lfs/*.stl")
	src := filepath.Join(testenv.ModuleRoot(t), "testdata", "corpus", "rwb27__openflexure_microscope", "stl")
	for _, f := range [][2]string{{"sample_clips.stl", "clips/sample_clips_x2.stl"}, {"picam1_board_gripper.stl", "gripper.stl"}, {"large_gear.stl", "gear.stl"}, {"feet.stl", "lfs/feet.stl"}} {
		data, err := os.ReadFile(filepath.Join(src, f[0]))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(work, f[1])), 0o755)
		os.WriteFile(filepath.Join(work, f[1]), data, 0o644)
	}
	// Parts of the other kinds: a 3MF block and an OBJ post modelled
	// standing, which lies down.
	os.WriteFile(filepath.Join(work, "cover.3mf"), threemftest.Zip(threemftest.Package(threemftest.Model("millimeter", "", threemftest.Box(1, 40, 30, 8), threemftest.Item(1, threemftest.Translate(5, 5, 0))), nil)), 0o644)
	os.WriteFile(filepath.Join(work, "post.obj"), []byte(objBox(10, 5, 60)), 0o644)
	os.WriteFile(filepath.Join(work, "print.toml"), []byte(`# counts for the clips
[[part]]
file = "clips/sample_clips_x2.stl"
quantity = -4

[[part]]
file = "gripper.stl"
quantity = "lots"

[[part]]
file = "gear.stl"
quantity = 1e12

[[part]]
file = "gear.stl"
role = "accent"
`), 0o644)
	s.push(t, work, "nonsense")
	for _, name := range s.projects {
		s.waitCatalogued(t, name)
	}
	return s
}

// objBox is an OBJ file of a w×d×h box from the origin.
func objBox(w, d, h float64) string {
	var b strings.Builder
	for i := range 8 {
		fmt.Fprintf(&b, "v %g %g %g\n", w*float64(i&1), d*float64(i>>1&1), h*float64(i>>2&1))
	}
	for _, f := range [][3]int{{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4}, {2, 6, 3}, {3, 6, 7}, {0, 4, 2}, {2, 4, 6}, {1, 3, 5}, {3, 7, 5}} {
		fmt.Fprintf(&b, "f %d %d %d\n", f[0]+1, f[1]+1, f[2]+1)
	}
	return b.String()
}

func (s *printSite) push(t *testing.T, work, name string) {
	t.Helper()
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "import "+name)
	testenv.Git(t, work, "push", "-q", s.srv.Remote(owner, s.token, owner, name), "main")
	s.projects = append(s.projects, name)
}

func (s *printSite) waitCatalogued(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var p struct {
			Catalog struct {
				State   string `json:"state"`
				Pending int    `json:"pending_jobs"`
			} `json:"catalog"`
		}
		code, body := get(t, s.srv.URL+"/api/v1/projects/"+owner+"/"+name)
		if code == 200 && json.Unmarshal(body, &p) == nil && p.Catalog.State == "done" && p.Catalog.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not catalogued after 3 minutes (%d %s)\n%s", name, code, body, s.srv.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Minute}
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return res.StatusCode, body
}

// apiPlan is what the tests read of the plan API.
type apiPlan struct {
	Printer struct {
		ID      string
		X, Y, Z float64
	} `json:"printer"`
	Spacing float64 `json:"spacing"`
	Parts   []struct {
		Path         string `json:"path"`
		Quantity     int    `json:"quantity"`
		QuantityFrom string `json:"quantity_from"`
		Role         string `json:"role"`
		RoleFrom     string `json:"role_from"`
		Fit          bool   `json:"fit"`
		Pose         struct {
			Kind string     `json:"kind"`
			Size [3]float64 `json:"size"`
		} `json:"pose"`
		PartURL     string `json:"part_3mf_url"`
		DownloadURL string `json:"download_url"`
		Estimate    *struct {
			Seconds float64 `json:"seconds"`
			Grams   float64 `json:"grams"`
			Metres  float64 `json:"metres"`
			Pending bool    `json:"pending"`
			Error   string  `json:"error"`
		} `json:"estimate"`
		Handoff []struct{ Name, URL string } `json:"handoff"`
	} `json:"parts"`
	Plates []struct {
		N           int    `json:"n"`
		Role        string `json:"role"`
		DownloadURL string `json:"download_url"`
		PictureURL  string `json:"picture_url"`
		Pieces      []struct {
			Part int `json:"part"`
		} `json:"pieces"`
		Handoff []struct{ Name, URL string } `json:"handoff"`
	} `json:"plates"`
	TooBig    []int    `json:"too_big"`
	Bound     int      `json:"area_bound"`
	PlatesURL string   `json:"plates_url"`
	Notes     []string `json:"notes"`
	Pieces    int      `json:"pieces"`
}

func (s *printSite) plan(t *testing.T, project, query string) apiPlan {
	t.Helper()
	code, body := getAPI(t, s.srv.URL+"/api/v1/projects/"+owner+"/"+project+"/print?"+query)
	if code != 200 {
		t.Fatalf("plan of %s (%s): %d %s", project, query, code, body)
	}
	var p apiPlan
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("plan of %s: %v\n%s", project, err, body)
	}
	// Addresses are absolute, as elsewhere in the API.
	for _, pl := range p.Plates {
		if !strings.HasPrefix(pl.DownloadURL, s.srv.URL+"/") || !strings.HasPrefix(pl.PictureURL, s.srv.URL+"/") {
			t.Errorf("plan of %s: plate %d at %q and %q, want absolute addresses", project, pl.N, pl.DownloadURL, pl.PictureURL)
		}
	}
	return p
}

// validators holds each server's OpenAPI validator, by origin.
var validators sync.Map

// getAPI gets an answer of the JSON API and checks it against the
// server's OpenAPI document (/api/v1/openapi.json).
func getAPI(t *testing.T, u string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	origin := req.URL.Scheme + "://" + req.URL.Host
	val, ok := validators.Load(origin)
	if !ok {
		code, doc := get(t, origin+"/api/v1/openapi.json")
		if code != 200 {
			t.Fatalf("GET the OpenAPI document: %d", code)
		}
		val, _ = validators.LoadOrStore(origin, apitest.New(t, doc))
	}
	val.(*apitest.Validator).Check(t, req, res.StatusCode, res.Header, body)
	return res.StatusCode, body
}

// placedItem is a build item's extent on the bed.
type placedItem struct {
	name                   string
	x0, y0, z0, x1, y1, z1 float64
}

// itemBounds is an stl.Writer that keeps the bounds of each build item's
// facets, as threemf.Read places them.
type itemBounds struct {
	items []placedItem
}

func (s *itemBounds) SetName(string)          {}
func (s *itemBounds) SetBinaryHeader([]byte)  {}
func (s *itemBounds) SetASCII(bool)           {}
func (s *itemBounds) SetTriangleCount(uint32) {}
func (s *itemBounds) BeginItem(i int) {
	s.items = append(s.items, placedItem{name: fmt.Sprintf("item %d", i+1), x0: math.Inf(1), y0: math.Inf(1), z0: math.Inf(1), x1: math.Inf(-1), y1: math.Inf(-1), z1: math.Inf(-1)})
}
func (s *itemBounds) AppendTriangle(t stl.Triangle) {
	p := &s.items[len(s.items)-1]
	for _, v := range t.Vertices {
		x, y, z := float64(v[0]), float64(v[1]), float64(v[2])
		p.x0, p.y0, p.z0 = min(p.x0, x), min(p.y0, y), min(p.z0, z)
		p.x1, p.y1, p.z1 = max(p.x1, x), max(p.y1, y), max(p.z1, z)
	}
}

// read3MF reads a 3MF package with the project's reader and returns where
// each build item lies; names gives the items' names, in order, for
// messages.
func read3MF(t *testing.T, data []byte, names ...string) []placedItem {
	t.Helper()
	var sink itemBounds
	info, err := threemf.Read(bytes.NewReader(data), int64(len(data)), "plate.3mf", threemf.Limits{}, &sink)
	if err != nil {
		t.Fatalf("read 3MF: %v", err)
	}
	if info.Unit != "millimeter" || info.Objects != len(sink.items) {
		t.Errorf("3MF: %+v, %d items seen", info, len(sink.items))
	}
	for i := range sink.items {
		if i < len(names) {
			sink.items[i].name = names[i]
		}
	}
	return sink.items
}

// checkPlacements fails t unless every item is on the bed, resting on it,
// and gap away from every other.
func checkPlacements(t *testing.T, what string, items []placedItem, bx, by, bz, gap float64) {
	t.Helper()
	const tol = 1e-3
	for i, a := range items {
		if a.x0 < -tol || a.y0 < -tol || a.x1 > bx+tol || a.y1 > by+tol || a.z1 > bz+tol {
			t.Errorf("%s: %s leaves the %g × %g × %g bed: x %.3f..%.3f, y %.3f..%.3f, top %.3f", what, a.name, bx, by, bz, a.x0, a.x1, a.y0, a.y1, a.z1)
		}
		if math.Abs(a.z0) > tol {
			t.Errorf("%s: %s floats or sinks: lowest point z = %.4f", what, a.name, a.z0)
		}
		for _, b := range items[i+1:] {
			if a.x0 < b.x1+gap-tol && b.x0 < a.x1+gap-tol && a.y0 < b.y1+gap-tol && b.y0 < a.y1+gap-tol {
				t.Errorf("%s: the footprints of %s and %s are closer than %g mm (x %.2f..%.2f / %.2f..%.2f, y %.2f..%.2f / %.2f..%.2f)",
					what, a.name, b.name, gap, a.x0, a.x1, b.x0, b.x1, a.y0, a.y1, b.y0, b.y1)
			}
		}
	}
}

// acceptanceProfile is a quick PrusaSlicer profile for the acceptance
// slicing, which only needs the plates to slice without error: thick
// layers, one perimeter, no infill, the seam at the rear (the default
// "aligned" seam costs seconds of ray casting per part), meshes and paths
// simplified to 0.1 mm.
var acceptanceProfile = []string{
	"--nozzle-diameter", "0.8", "--layer-height", "0.6", "--first-layer-height", "0.6",
	"--perimeter-generator", "classic", "--perimeters", "1", "--fill-density", "0%",
	"--top-solid-layers", "0", "--bottom-solid-layers", "0", "--skirts", "0", "--seam-position", "rear",
	"--resolution", "0.1", "--gcode-resolution", "0.1",
}

var gcodeXY = regexp.MustCompile(`\b([XYE])(-?[0-9.]+)`)

// slice runs PrusaSlicer's command line on a 3MF for a bed and checks
// that it exports G-code whose extruding moves all lie on the bed.
func slice(t *testing.T, what, file string, bx, by, bz float64) {
	t.Helper()
	out := file + ".gcode"
	args := append([]string{"--export-gcode", "--loglevel", "1", "--dont-arrange",
		"--bed-shape", fmt.Sprintf("0x0,%gx0,%gx%g,0x%g", bx, bx, by, by), "--max-print-height", fmt.Sprint(bz),
		"--output", out}, acceptanceProfile...)
	args = append(args, file)
	cmd := exec.Command("prusa-slicer", args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s: prusa-slicer failed: %v\n%s", what, err, tail(res))
		return
	}
	f, err := os.Open(out)
	if err != nil {
		t.Errorf("%s: prusa-slicer wrote no G-code: %v\n%s", what, err, tail(res))
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	x, y := 0.0, 0.0
	moves := 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "G1 ") {
			continue
		}
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		extrude := false
		for _, m := range gcodeXY.FindAllStringSubmatch(line, -1) {
			v, _ := strconv.ParseFloat(m[2], 64)
			switch m[1] {
			case "X":
				x = v
			case "Y":
				y = v
			case "E":
				extrude = v > 0
			}
		}
		if extrude && strings.ContainsAny(line, "XY") {
			moves++
			if x < -0.01 || y < -0.01 || x > bx+0.01 || y > by+0.01 {
				t.Errorf("%s: the G-code extrudes off the bed at X%.3f Y%.3f", what, x, y)
				return
			}
		}
	}
	if moves == 0 {
		t.Errorf("%s: the G-code extrudes nothing", what)
	}
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func TestPrintEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a server, pushes the corpus and slices its plates")
	}
	testenv.RequireTool(t, "prusa-slicer")
	s := startPrintSite(t)
	corpus := testenv.Corpus(t)

	// Every plate of every corpus project, for three printers, read back
	// and sliced. The slicing runs last, over the files gathered here.
	type plateFile struct {
		what       string
		path       string
		bx, by, bz float64
	}
	var files []plateFile
	dir := t.TempDir()
	projects := []string{"nonsense"} // 3MF, OBJ and LFS parts beside STL ones
	for _, p := range corpus {
		projects = append(projects, p.Name)
	}
	t.Run("plates", func(t *testing.T) {
		for _, name := range projects {
			for _, printer := range []string{"mk4", "mini", "xl"} {
				plan := s.plan(t, name, "printer="+printer)
				pieces := 0
				for _, pt := range plan.Parts {
					if pt.Fit {
						pieces += pt.Quantity
					}
				}
				placed := 0
				for _, pl := range plan.Plates {
					what := fmt.Sprintf("%s on %s, plate %d", name, printer, pl.N)
					if !strings.HasSuffix(pl.DownloadURL, ".3mf") {
						t.Errorf("%s: download URL %q", what, pl.DownloadURL)
					}
					code, data := get(t, pl.DownloadURL)
					if code != 200 {
						t.Fatalf("%s: GET %s: %d %s", what, pl.DownloadURL, code, data)
					}
					var names []string
					for _, c := range pl.Pieces {
						names = append(names, plan.Parts[c.Part].Path)
					}
					items := read3MF(t, data, names...)
					if len(items) != len(pl.Pieces) {
						t.Errorf("%s: %d build items, the plan has %d pieces", what, len(items), len(pl.Pieces))
					}
					placed += len(items)
					checkPlacements(t, what, items, plan.Printer.X, plan.Printer.Y, plan.Printer.Z, plan.Spacing)
					file := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.3mf", name, printer, pl.N))
					if err := os.WriteFile(file, data, 0o644); err != nil {
						t.Fatal(err)
					}
					files = append(files, plateFile{what, file, plan.Printer.X, plan.Printer.Y, plan.Printer.Z})
				}
				if placed != pieces {
					t.Errorf("%s on %s: %d pieces on plates, want %d", name, printer, placed, pieces)
				}
				limit := int(math.Ceil(1.15*float64(plan.Bound) - 1e-9))
				if len(plan.Plates) > limit {
					t.Errorf("%s on %s: %d plates, more than ⌈1.15 × %d⌉", name, printer, len(plan.Plates), plan.Bound)
				}
				if len(plan.TooBig) > 0 && !strings.Contains(strings.Join(plan.Notes, "\n"), "does not fit") {
					t.Errorf("%s on %s: parts too big without a note: %v", name, printer, plan.Notes)
				}
			}
		}
	})
	t.Run("prusa-slicer slices every plate", func(t *testing.T) {
		// Two at a time: much of a run (start-up, G-code export) uses one
		// core.
		start := time.Now()
		work := make(chan plateFile)
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for f := range work {
					slice(t, f.what, f.path, f.bx, f.by, f.bz)
				}
			}()
		}
		for _, f := range files {
			work <- f
		}
		close(work)
		wg.Wait()
		t.Logf("sliced %d plates in %s", len(files), time.Since(start).Round(time.Millisecond))
	})

	t.Run("quantities and roles", func(t *testing.T) {
		plan := s.plan(t, "Voron-Trident", "printer=mk4")
		for _, pt := range plan.Parts {
			base := filepath.Base(pt.Path)
			wantN, wantRole := 1, "main"
			if strings.HasSuffix(base, "_x2.stl") {
				wantN = 2
			}
			if strings.HasPrefix(base, "[a]_") {
				wantRole = "accent"
			}
			if pt.Quantity != wantN || pt.Role != wantRole {
				t.Errorf("%s: %d %s, want %d %s", pt.Path, pt.Quantity, pt.Role, wantN, wantRole)
			}
		}
		for _, pl := range plan.Plates {
			for _, c := range pl.Pieces {
				if plan.Parts[c.Part].Role != pl.Role {
					t.Errorf("plate %d (%s) holds %s", pl.N, pl.Role, plan.Parts[c.Part].Path)
				}
			}
		}
	})

	t.Run("nonsense quantities fall back with a note", func(t *testing.T) {
		plan := s.plan(t, "nonsense", "printer=mk4")
		want := map[string][3]string{
			"clips/sample_clips_x2.stl": {"2", "file name", "main"},
			"gripper.stl":               {"1", "default", "main"},
			"gear.stl":                  {"1", "default", "accent"},
			"cover.3mf":                 {"1", "default", "main"},
			"post.obj":                  {"1", "default", "main"},
			"lfs/feet.stl":              {"1", "default", "main"},
		}
		if len(plan.Parts) != len(want) {
			t.Errorf("%d parts in the plan, want %d", len(plan.Parts), len(want))
		}
		for _, pt := range plan.Parts {
			w := want[pt.Path]
			if got := [3]string{strconv.Itoa(pt.Quantity), pt.QuantityFrom, pt.Role}; got != w {
				t.Errorf("%s: %v, want %v", pt.Path, got, w)
			}
			// The 3MF block keeps its pose; the OBJ post lies down.
			size := fmt.Sprintf("%.1f×%.1f×%.1f", pt.Pose.Size[0], pt.Pose.Size[1], pt.Pose.Size[2])
			if pt.Path == "cover.3mf" && (size != "40.0×30.0×8.0" || pt.Pose.Kind != "as modelled") || pt.Path == "post.obj" && (size != "60.0×10.0×5.0" || pt.Pose.Kind != "flat face") {
				t.Errorf("%s lies %s, %s", pt.Path, pt.Pose.Kind, size)
			}
		}
		notes := strings.Join(plan.Notes, "\n")
		for _, n := range []string{`quantity -4 is not a count`, `quantity "lots" is not a count`, `quantity 1e+12 is not a whole count`} {
			if !strings.Contains(notes, n) {
				t.Errorf("notes lack %q: %q", n, notes)
			}
		}
		code, body := get(t, s.srv.URL+"/"+owner+"/nonsense/print?printer=mk4")
		if code != 200 {
			t.Fatalf("print page: %d", code)
		}
		for _, n := range []string{`quantity -4 is not a count from 1 to 1000; counted from the file name instead`, `data-path="clips/sample_clips_x2.stl" data-quantity="2"`} {
			if !strings.Contains(string(body), strings.ReplaceAll(n, `"`, "&#34;")) && !strings.Contains(string(body), n) {
				t.Errorf("print page lacks %q", n)
			}
		}
	})

	t.Run("custom printers out of range are refused", func(t *testing.T) {
		for _, q := range []string{"x=0&y=0&z=0", "x=100000&y=100000&z=100000", "x=250&y=210&z=-5", "x=abc&y=1&z=1", "printer=custom-0x0x0", "printer=nosuch", "x=NaN&y=200&z=200", "x=Inf&y=200&z=200"} {
			code, body := getAPI(t, s.srv.URL+"/api/v1/projects/"+owner+"/Voron-Trident/print?"+q)
			var prob struct{ Error string }
			if code != 400 || json.Unmarshal(body, &prob) != nil || prob.Error == "" {
				t.Errorf("API %s: %d %s, want 400 with an error", q, code, body)
			}
			code, body = get(t, s.srv.URL+"/"+owner+"/Voron-Trident/print?"+q)
			if code != 400 || !strings.Contains(string(body), `data-error`) {
				t.Errorf("page %s: %d, want 400 with the error shown", q, code)
			}
		}
		code, body := get(t, s.srv.URL+"/api/v1/projects/"+owner+"/Voron-Trident/print?x=0&y=0&z=0")
		if code != 400 || !strings.Contains(string(body), "out of range: each side must be from 20 to 2000 mm") {
			t.Errorf("0 mm printer: %d %s", code, body)
		}
		code, body = get(t, s.srv.URL+"/"+owner+"/Voron-Trident/print/custom-100000x1x1/plate-1.3mf")
		if code != 400 {
			t.Errorf("plate of a 100 m printer: %d %s", code, body)
		}
		// A custom size in range plans.
		plan := s.plan(t, "Voron-Trident", "x=120&y=120&z=100")
		if plan.Printer.ID != "custom-120x120x100" || len(plan.TooBig) == 0 {
			t.Errorf("120 mm printer: %s, too big %v", plan.Printer.ID, plan.TooBig)
		}
	})

	t.Run("plate pictures stay on the bed", func(t *testing.T) {
		plan := s.plan(t, "Voron-Trident", "printer=mk4")
		for _, pl := range plan.Plates {
			code, data := get(t, pl.PictureURL)
			if code != 200 {
				t.Fatalf("picture %s: %d", pl.PictureURL, code)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("picture %s: %v", pl.PictureURL, err)
			}
			checkPicture(t, img, plan.Printer.X, plan.Printer.Y)
			keep(t, fmt.Sprintf("print-plate-%d.png", pl.N), data)
		}
	})

	t.Run("slicer hand-off and downloads", func(t *testing.T) {
		plan := s.plan(t, "Voron-Trident", "printer=mk4")
		pl := plan.Plates[0]
		schemes := map[string]string{"PrusaSlicer": "prusaslicer://open?file=", "OrcaSlicer": "orcaslicer://open?file=", "Bambu Studio": "bambustudio://open?file=", "Cura": "cura://open?file="}
		for _, h := range pl.Handoff {
			prefix, ok := schemes[h.Name]
			if !ok || !strings.HasPrefix(h.URL, prefix) {
				t.Errorf("hand-off %s: %s", h.Name, h.URL)
				continue
			}
			delete(schemes, h.Name)
			target, err := url.QueryUnescape(strings.TrimPrefix(h.URL, prefix))
			if err != nil || target != pl.DownloadURL {
				t.Errorf("hand-off %s points at %q, want %q", h.Name, target, pl.DownloadURL)
			}
			// The slicer's download works.
			if code, data := get(t, target); code != 200 || !bytes.HasPrefix(data, []byte("PK")) {
				t.Errorf("hand-off target %s: %d", target, code)
			}
		}
		if len(schemes) > 0 {
			t.Errorf("no hand-off to %v", schemes)
		}
		// A part's own file (in the API and on its page) and its laid-flat
		// 3MF.
		pt := plan.Parts[0]
		if len(pt.Handoff) != 4 || !strings.Contains(pt.Handoff[0].URL, url.QueryEscape(pt.DownloadURL)) {
			t.Errorf("part hand-off %+v", pt.Handoff)
		}
		// The part page's link hands the slicer this server's absolute
		// address of the part's file.
		code, page := get(t, s.srv.URL+"/"+owner+"/Voron-Trident/blob/main/"+pt.Path)
		m := regexp.MustCompile(`href="prusaslicer://open\?file=([^"]+)"`).FindStringSubmatch(html.UnescapeString(string(page)))
		if code != 200 || m == nil {
			t.Fatalf("part page (%d) has no PrusaSlicer link", code)
		}
		target, err := url.QueryUnescape(m[1])
		if err != nil || !strings.HasPrefix(target, s.srv.URL+"/") {
			t.Fatalf("part page's PrusaSlicer link points at %q", m[1])
		}
		_, viaPage := get(t, target)
		_, viaAPI := get(t, pt.DownloadURL)
		if len(viaPage) == 0 || !bytes.Equal(viaPage, viaAPI) {
			t.Errorf("the part page hands the slicer %s (%d bytes), not the part's file (%d bytes)", target, len(viaPage), len(viaAPI))
		}
		code, data := get(t, pt.PartURL)
		if code != 200 {
			t.Fatalf("part 3MF %s: %d", pt.PartURL, code)
		}
		items := read3MF(t, data, pt.Path)
		checkPlacements(t, pt.Path, items, plan.Printer.X, plan.Printer.Y, plan.Printer.Z, 0)
		// Every plate in one zip, each a 3MF.
		code, data = get(t, plan.PlatesURL)
		if code != 200 {
			t.Fatalf("plates zip: %d", code)
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil || len(zr.File) != len(plan.Plates) {
			t.Fatalf("plates zip: %v, %d files for %d plates", err, len(zr.File), len(plan.Plates))
		}
	})

	t.Run("browser", func(t *testing.T) { browserTest(t, s) })
}

// checkPicture fails t when a plate picture shows anything off the bed: it
// finds the bed's rim (the darkest grey line framing it) and checks that
// outside it every pixel is the page's background.
func checkPicture(t *testing.T, img image.Image, bx, by float64) {
	t.Helper()
	b := img.Bounds()
	n := b.Dx()
	// The bed's longer side spans 88% of the picture, centred.
	scale := float64(n) * 0.88 / max(bx, by)
	x0 := int(math.Floor(float64(n)/2 - bx/2*scale))
	x1 := int(math.Ceil(float64(n)/2 + bx/2*scale))
	y0 := int(math.Floor(float64(n)/2 - by/2*scale))
	y1 := int(math.Ceil(float64(n)/2 + by/2*scale))
	off, part := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			inside := x >= x0-1 && x <= x1+1 && y >= y0-1 && y <= y1+1
			bg := r>>8 == 244 && g>>8 == 245 && bl>>8 == 247
			if !inside && !bg {
				off++
			}
			// Part pixels: bluer than the grey bed.
			if inside && int(bl>>8)-int(r>>8) > 18 {
				part++
			}
		}
	}
	if off > 0 {
		t.Errorf("%d pixels drawn outside the bed", off)
	}
	if part < n*n/200 {
		t.Errorf("only %d part pixels on the bed", part)
	}
}

// With --slicer prusa-slicer, every part is sliced in the background with
// the profile kept in the repository, and the server's time and filament
// for a part equal what PrusaSlicer writes in the G-code's comments for
// the same file (the part's laid-flat 3MF) and profile.
func TestPrintEstimates(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a server and slices parts")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "prusa-slicer")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--slicer", "prusa-slicer"}})
	s := &printSite{srv: srv, token: srv.AddUser(t, owner)}
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	corpus := filepath.Join(testenv.ModuleRoot(t), "testdata", "corpus")
	for _, f := range [][2]string{
		{"prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl", "plug-aligner_x3.stl"},
		{"rwb27__openflexure_microscope/stl/picam1_board_gripper.stl", "gripper.stl"},
		// Modelled on its side: sliced laid on its largest flat face.
		{"meltoner__agrofelis/components/mobility/motors_hub_driver/structural/box_fins/3d_print/motorsDriverFinsInner.stl", "fins.stl"},
	} {
		data, err := os.ReadFile(filepath.Join(corpus, f[0]))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(work, f[1]), data, 0o644)
	}
	s.push(t, work, "small")
	s.waitCatalogued(t, "small")

	var plan apiPlan
	deadline := time.Now().Add(10 * time.Minute)
	for {
		plan = s.plan(t, "small", "printer=mk4")
		done := len(plan.Parts) == 3
		for _, pt := range plan.Parts {
			if pt.Estimate == nil || pt.Estimate.Pending {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("estimates still pending after 10 minutes\n%s", srv.Log())
		}
		time.Sleep(time.Second)
	}
	profile, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "print", "slicer", "profile.ini"))
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, pt := range plan.Parts {
		e := pt.Estimate
		if e.Error != "" {
			t.Fatalf("%s: the server could not slice it: %s", pt.Path, e.Error)
		}
		code, data := get(t, pt.PartURL)
		if code != 200 {
			t.Fatalf("%s: GET %s: %d", pt.Path, pt.PartURL, code)
		}
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "part.3mf"), data, 0o644)
		os.WriteFile(filepath.Join(dir, "profile.ini"), profile, 0o644)
		cmd := exec.Command("prusa-slicer", "--export-gcode", "--load", "profile.ini", "--dont-arrange", "--output", "part.gcode", "part.3mf")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: prusa-slicer: %v\n%s", pt.Path, err, tail(out))
		}
		gcode, err := os.ReadFile(filepath.Join(dir, "part.gcode"))
		if err != nil {
			t.Fatal(err)
		}
		secs, mm, grams := gcodeComments(t, string(gcode))
		t.Logf("%s: server %.0f s, %.5f m, %.2f g; prusa-slicer %.0f s, %.5f m, %.2f g", pt.Path, e.Seconds, e.Metres, e.Grams, secs, mm/1000, grams)
		if e.Seconds != secs || e.Metres != mm/1000 || e.Grams != grams {
			t.Errorf("%s: the server says %v s, %v m, %v g; PrusaSlicer's G-code says %v s, %v m, %v g", pt.Path, e.Seconds, e.Metres, e.Grams, secs, mm/1000, grams)
		}
		sum += e.Seconds * float64(pt.Quantity)
	}
	// Summed per project, counting each part's pieces.
	code, body := getAPI(t, srv.URL+"/api/v1/projects/"+owner+"/small/print?printer=mk4")
	var total struct {
		Estimate struct{ Seconds float64 } `json:"estimate"`
	}
	if code != 200 || json.Unmarshal(body, &total) != nil || math.Abs(total.Estimate.Seconds-sum) > 1e-6 {
		t.Errorf("project estimate %v s, want the parts' sum %v s", total.Estimate.Seconds, sum)
	}
	code, body = get(t, srv.URL+"/"+owner+"/small/print?printer=mk4")
	if code != 200 || strings.Contains(string(body), "slicing…") || !strings.Contains(string(body), " min · ") {
		t.Errorf("print page does not show the estimates (%d)", code)
	}
	code, body = get(t, srv.URL+"/"+owner+"/small/blob/main/gripper.stl")
	if code != 200 || !regexp.MustCompile(`data-estimate>Slicer estimate: <strong>\d+ min · [0-9.]+ g · [0-9.]+ m</strong>`).Match(body) {
		t.Errorf("part page (%d) does not show the estimate", code)
	}
	// Estimates are kept by content: the same file under a new name, in
	// the next commit, is never sliced again.
	data, _ := os.ReadFile(filepath.Join(work, "gripper.stl"))
	os.WriteFile(filepath.Join(work, "gripper-copy.stl"), data, 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "a copy")
	testenv.Git(t, work, "push", "-q", srv.Remote(owner, s.token, owner, "small"), "main")
	s.waitCatalogued(t, "small")
	plan = s.plan(t, "small", "printer=mk4")
	for _, pt := range plan.Parts {
		if pt.Path == "gripper-copy.stl" && (pt.Estimate == nil || pt.Estimate.Pending || pt.Estimate.Seconds == 0) {
			t.Errorf("the copy of an estimated part waits for slicing: %+v", pt.Estimate)
		}
	}
	if n := strings.Count(srv.Log(), "msg=sliced"); n != 3 {
		t.Errorf("the server sliced %d times for 3 distinct parts", n)
	}
}

// gcodeComments reads PrusaSlicer's estimates from G-code, as a person
// would read the file.
func gcodeComments(t *testing.T, gcode string) (secs, mm, grams float64) {
	t.Helper()
	find := func(re string) string {
		m := regexp.MustCompile(`(?m)^; ` + re + ` = (.+)$`).FindStringSubmatch(gcode)
		if m == nil {
			t.Fatalf("G-code has no %q comment", re)
		}
		return strings.TrimSpace(m[1])
	}
	var err error
	if mm, err = strconv.ParseFloat(find(`filament used \[mm\]`), 64); err != nil {
		t.Fatal(err)
	}
	if grams, err = strconv.ParseFloat(find(`filament used \[g\]`), 64); err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(find(`estimated printing time \(normal mode\)`)) {
		n, err := strconv.Atoi(f[:len(f)-1])
		if err != nil {
			t.Fatalf("print time %q", f)
		}
		secs += float64(n) * map[byte]float64{'d': 86400, 'h': 3600, 'm': 60, 's': 1}[f[len(f)-1]]
	}
	return secs, mm, grams
}
