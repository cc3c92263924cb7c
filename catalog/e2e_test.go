package catalog_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/ui/api"
	"github.com/blueprints-hq/blueprints/ui/api/apitest"
)

// corpusProject is one testdata/corpus folder pushed as its own project.
type corpusProject struct {
	dir, name, license string
	parts              []string // paths of the STL files
}

func readCorpus(t *testing.T) []*corpusProject {
	t.Helper()
	var out []*corpusProject
	for _, p := range testenv.Corpus(t) {
		out = append(out, &corpusProject{dir: p.Dir, name: p.Name, license: p.License, parts: p.Parts})
	}
	return out
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, data)
}

func writeFile(t *testing.T, dst string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// workTree lays a corpus folder out as a repository: its STL files, its
// README excerpt as README.md and its licence file.
func workTree(t *testing.T, p *corpusProject) string {
	t.Helper()
	return testenv.CorpusWorkTree(t, testenv.CorpusProject{Dir: p.dir, Name: p.name, License: p.license, Parts: p.parts})
}

func commitAll(t *testing.T, work, msg string) string {
	t.Helper()
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "--quiet", "-m", msg)
	return strings.TrimSpace(testenv.Git(t, work, "rev-parse", "HEAD"))
}

// validators check API answers against the OpenAPI document each server
// serves, by server URL.
var validators sync.Map

// getJSON asks the API, checks the answer against the server's OpenAPI
// document and decodes it into v.
func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	origin := req.URL.Scheme + "://" + req.URL.Host
	val, ok := validators.Load(origin)
	if !ok {
		docResp, err := http.Get(origin + "/api/v1/openapi.json")
		if err != nil {
			t.Fatalf("GET the OpenAPI document: %v", err)
		}
		doc, _ := io.ReadAll(docResp.Body)
		docResp.Body.Close()
		val, _ = validators.LoadOrStore(origin, apitest.New(t, doc))
	}
	val.(*apitest.Validator).Check(t, req, resp.StatusCode, resp.Header, body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: content type %q: %s", u, ct, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
	return resp.StatusCode
}

// waitCatalogued waits until the project's catalog is done at commit.
func waitCatalogued(t *testing.T, s *testenv.Server, project, commit string) api.ProjectDetail {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var d api.ProjectDetail
	for time.Now().Before(deadline) {
		d = api.ProjectDetail{}
		code := getJSON(t, s.URL+"/api/v1/projects/"+project, &d)
		if code == http.StatusOK && d.Catalog.State == "done" && d.Catalog.Pending == 0 && d.LatestCommit == commit {
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not catalogued at %s within 90 s: %+v\n%s", project, commit, d.Catalog, s.Log())
	return d
}

type searchAnswer struct {
	Total  int                     `json:"total"`
	Hits   []api.Hit               `json:"hits"`
	Facets map[string][]facetCount `json:"facets"`
	Error  string                  `json:"error"`
}

type facetCount struct {
	Term  string `json:"term"`
	Count int    `json:"count"`
}

func search(t *testing.T, s *testenv.Server, params url.Values) searchAnswer {
	t.Helper()
	var a searchAnswer
	code := getJSON(t, s.URL+"/api/v1/search?"+params.Encode(), &a)
	if code != http.StatusOK {
		t.Fatalf("search %s: status %d: %s", params.Encode(), code, a.Error)
	}
	return a
}

func facet(a searchAnswer, name string) map[string]int {
	out := map[string]int{}
	for _, f := range a.Facets[name] {
		out[f.Term] = f.Count
	}
	return out
}

// allParts pages through every part hit.
func allParts(t *testing.T, s *testenv.Server) []api.Hit {
	t.Helper()
	var out []api.Hit
	for page := 1; ; page++ {
		a := search(t, s, url.Values{"kind": {"part"}, "per_page": {"100"}, "page": {fmt.Sprint(page)}})
		out = append(out, a.Hits...)
		if len(a.Hits) < 100 {
			return out
		}
	}
}

func fits(size [3]float64, box [3]float64) bool {
	s, b := size[:], box[:]
	s = slices.Clone(s)
	b = slices.Clone(b)
	sort.Float64s(s)
	sort.Float64s(b)
	for i := range s {
		if s[i] > b[i] {
			return false
		}
	}
	return true
}

func TestEndToEndCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: pushes the corpus through the real binary")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "maker")
	corpus := readCorpus(t)
	if len(corpus) != 5 {
		t.Fatalf("corpus has %d projects, want 5", len(corpus))
	}

	heads := map[string]string{}
	for _, p := range corpus {
		work := workTree(t, p)
		heads[p.name] = commitAll(t, work, "import "+p.dir)
		out := testenv.Git(t, work, "push", srv.Remote("maker", token, "maker", p.name), "main")
		want := fmt.Sprintf("remote: Blueprints: %d parts queued for cataloguing", len(p.parts))
		if !strings.Contains(out, want) || !strings.Contains(out, "remote: see "+srv.URL+"/maker/"+p.name) {
			t.Errorf("push of %s: output lacks %q and the project URL:\n%s", p.name, want, out)
		}
	}
	for _, p := range corpus {
		d := waitCatalogued(t, srv, "maker/"+p.name, heads[p.name])
		if d.License != p.license || len(d.Parts) != len(p.parts) || d.PartCount != len(p.parts) || len(d.Catalog.Failures) != 0 || d.DefaultBranch != "main" {
			t.Errorf("%s: license %q (want %q), %d parts (want %d), failures %+v", p.name, d.License, p.license, len(d.Parts), len(p.parts), d.Catalog.Failures)
		}
		if d.Title == "" || d.Description == "" {
			t.Errorf("%s: title %q, description %q", p.name, d.Title, d.Description)
		}
	}

	// Names in several forms find the expected part first.
	for _, c := range []struct{ q, want string }{
		{"z carriage", "STLs/Z_Assembly/z_carriage_rear.stl"},
		{"Z_Carriage", "STLs/Z_Assembly/z_carriage_rear.stl"},
		{"xy joint", "STLs/Gantry/X_Axis/XY_Joints/[a]_xy_left.stl"},
		{"spool holder", "Printed-Parts/STL/Spool-holder.stl"},
		{"potensiometer covers", "components/vehicle-steering/assets/3d-print-feedback-potensiometer-covers/potensiometerCoversL.stl"},
		{"motors driver fins", "components/mobility/motors_hub_driver/structural/box_fins/3d_print/motorsDriverFinsInner.stl"},
		{"brackets", "STLs/electronics_bay/raspberrypi_bracket.stl"},
		{"extruder bdy", "Printed-Parts/STL/extruder-body.stl"},
		{"drill guide", "STLs/Tools/140mm_extrusion_drill_guide.stl"},
	} {
		a := search(t, srv, url.Values{"q": {c.q}, "kind": {"part"}})
		if len(a.Hits) == 0 || a.Hits[0].Path != c.want {
			var got []string
			for _, h := range a.Hits {
				got = append(got, h.Path)
			}
			t.Errorf("q=%q: hits %q, want %q first", c.q, got, c.want)
			continue
		}
		h := a.Hits[0]
		if h.Kind != "part" || h.Part == nil || h.Triangles == 0 || h.SHA256 == "" ||
			!strings.HasPrefix(h.PreviewURL, srv.URL+"/"+h.Project+"/preview/main/") || !strings.HasPrefix(h.DownloadURL, srv.URL+"/"+h.Project+"/raw/main/") || h.Score <= 0 {
			t.Errorf("q=%q: hit %+v", c.q, h)
		}
	}
	proj := search(t, srv, url.Values{"q": {"agrofelis"}, "kind": {"project"}})
	if len(proj.Hits) == 0 || proj.Hits[0].Project != "maker/agrofelis" || proj.Hits[0].Parts == nil || *proj.Hits[0].Parts != 4 {
		t.Errorf("project search: %+v", proj.Hits)
	}

	// Facets count what the manifest says.
	parts := allParts(t, srv)
	if len(parts) != 34 {
		t.Fatalf("%d parts indexed, want 34", len(parts))
	}
	all := search(t, srv, url.Values{"kind": {"part"}})
	wantLicense, wantProject := map[string]int{}, map[string]int{}
	for _, p := range corpus {
		wantLicense[p.license] += len(p.parts)
		wantProject["maker/"+p.name] += len(p.parts)
	}
	if got := facet(all, "license"); fmt.Sprint(got) != fmt.Sprint(wantLicense) {
		t.Errorf("license facet %v, want %v", got, wantLicense)
	}
	if got := facet(all, "project"); fmt.Sprint(got) != fmt.Sprint(wantProject) {
		t.Errorf("project facet %v, want %v", got, wantProject)
	}
	mit := search(t, srv, url.Values{"kind": {"part"}, "license": {"MIT"}, "per_page": {"100"}})
	if mit.Total != wantLicense["MIT"] {
		t.Errorf("license=MIT: %d parts, want %d", mit.Total, wantLicense["MIT"])
	}

	// Filters: the build volume lets parts turn by 90°; compare with the
	// measurements themselves.
	ref := parts[0]
	for _, h := range parts {
		if h.Path == "STLs/Z_Assembly/z_carriage_rear.stl" {
			ref = h
		}
	}
	s := ref.Size
	for _, box := range [][3]float64{
		{s[2] + 0.01, s[0] + 0.01, s[1] + 0.01}, // rotated: fits
		{s[0] + 0.01, s[1] + 0.01, s[2] - 0.5},  // one side short
		{60, 60, 60},
		{250, 250, 250},
		{30, 200, 10},
	} {
		want := map[string]bool{}
		for _, h := range parts {
			if fits(h.Size, box) {
				want[h.Project+":"+h.Path] = true
			}
		}
		a := search(t, srv, url.Values{"kind": {"part"}, "per_page": {"100"},
			"max_x": {fmt.Sprint(box[0])}, "max_y": {fmt.Sprint(box[1])}, "max_z": {fmt.Sprint(box[2])}})
		got := map[string]bool{}
		for _, h := range a.Hits {
			got[h.Project+":"+h.Path] = true
		}
		if a.Total != len(want) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("fits %v: %d hits, want %d", box, a.Total, len(want))
		}
	}
	if a := search(t, srv, url.Values{"q": {"z carriage"}, "max_x": {fmt.Sprint(s[2] + 0.01)}, "max_y": {fmt.Sprint(s[0] + 0.01)}, "max_z": {fmt.Sprint(s[1] + 0.01)}}); len(a.Hits) == 0 || a.Hits[0].Path != ref.Path {
		t.Errorf("z carriage in its rotated build volume not found first")
	}
	minV, maxV := 5000.0, 50000.0
	wantV := 0
	for _, h := range parts {
		if h.Volume >= minV && h.Volume <= maxV {
			wantV++
		}
	}
	if a := search(t, srv, url.Values{"kind": {"part"}, "min_volume": {fmt.Sprint(minV)}, "max_volume": {fmt.Sprint(maxV)}}); a.Total != wantV || wantV == 0 {
		t.Errorf("volume %g..%g: %d parts, want %d", minV, maxV, a.Total, wantV)
	}

	// Malformed queries are 400 with a message, never 500.
	for _, bad := range []string{"max_x=abc", "per_page=0", "kind=banana", "min_volume=5&max_volume=1", "page=-1"} {
		var p api.Problem
		if code := getJSON(t, srv.URL+"/api/v1/search?"+bad, &p); code != http.StatusBadRequest || p.Error == "" {
			t.Errorf("search?%s: status %d, error %q", bad, code, p.Error)
		}
	}
	var list api.ProjectList
	getJSON(t, srv.URL+"/api/v1/projects?per_page=2", &list)
	if list.Total != 5 || len(list.Projects) != 2 || list.Projects[0].Name != corpus[4].name {
		t.Errorf("project list: total %d, first page %+v", list.Total, list.Projects)
	}
	var missing api.Problem
	if code := getJSON(t, srv.URL+"/api/v1/projects/maker/nothing", &missing); code != http.StatusNotFound {
		t.Errorf("missing project: status %d", code)
	}

	// A second push renames one part, changes one, deletes one and adds a
	// corrupt one.
	voron := corpus[0]
	if voron.name != "Voron-Trident" {
		t.Fatalf("corpus order changed: %s", voron.name)
	}
	work := t.TempDir()
	testenv.Git(t, work, "clone", "--quiet", srv.Remote("maker", token, "maker", voron.name), ".")
	testenv.Git(t, work, "mv", "STLs/Tools/MGN9_rail_guide_x2.stl", "STLs/Tools/mgn9_rail_guide_v2_x2.stl")
	copyFile(t, filepath.Join("..", "testdata", "corpus", "uwo-fast__OpenAgriS3D", "src/plant-pot/tests/pot_wall_snap.stl"), filepath.Join(work, "STLs/Skirt/[a]_skirt_logo_x2.stl"))
	testenv.Git(t, work, "rm", "--quiet", "STLs/Panels/Front_Doors/handle_a_x2.stl")
	writeFile(t, filepath.Join(work, "STLs/broken_part.stl"), []byte("solid x\nfacet normal 0 0 1\nouter loop\nvertex 1 2\n"))
	head := commitAll(t, work, "rename, change, delete, break")
	out := testenv.Git(t, work, "push", srv.Remote("maker", token, "maker", voron.name), "main")
	if !strings.Contains(out, "remote: Blueprints: 4 parts queued for cataloguing") {
		t.Errorf("second push output:\n%s", out)
	}
	d := waitCatalogued(t, srv, "maker/"+voron.name, head)
	paths := map[string]api.Part{}
	for _, p := range d.Parts {
		paths[p.Path] = p
	}
	if _, ok := paths["STLs/Tools/mgn9_rail_guide_v2_x2.stl"]; !ok || len(paths) != 9 {
		t.Errorf("parts after second push: %v", keysOf(paths))
	}
	for _, gone := range []string{"STLs/Tools/MGN9_rail_guide_x2.stl", "STLs/Panels/Front_Doors/handle_a_x2.stl"} {
		if _, ok := paths[gone]; ok {
			t.Errorf("%s still listed", gone)
		}
		if a := search(t, srv, url.Values{"project": {"maker/" + voron.name}, "kind": {"part"}, "per_page": {"100"}}); containsPath(a.Hits, gone) || a.Total != 9 {
			t.Errorf("index after second push: %d parts, %s present: %v", a.Total, gone, containsPath(a.Hits, gone))
		}
	}
	if logo := paths["STLs/Skirt/[a]_skirt_logo_x2.stl"]; logo.Part == nil || logo.Commit != head {
		t.Errorf("changed part: %+v", logo)
	}
	if len(d.Catalog.Failures) != 1 || d.Catalog.Failures[0].Path != "STLs/broken_part.stl" || !strings.Contains(d.Catalog.Failures[0].Error, "broken_part.stl") {
		t.Errorf("failures %+v", d.Catalog.Failures)
	}
	if a := search(t, srv, url.Values{"q": {"mgn9 rail guide"}, "kind": {"part"}}); len(a.Hits) == 0 || a.Hits[0].Path != "STLs/Tools/mgn9_rail_guide_v2_x2.stl" {
		t.Errorf("renamed part not found by its new name")
	}

	// reindex refuses while the server runs, and rebuilds the same answers.
	if out, err := srv.Run(t, "reindex"); err == nil || !strings.Contains(out, "stop it first") {
		t.Errorf("reindex beside a running server: err %v, output %s", err, out)
	}
	queries := []url.Values{
		{"q": {"z carriage"}},
		{"q": {"holder"}, "per_page": {"50"}},
		{"kind": {"part"}, "per_page": {"100"}},
		{"kind": {"project"}},
		{"license": {"GPL-3.0-only"}, "sort": {"volume"}},
		{"q": {"gear"}, "max_x": {"100"}, "max_y": {"100"}, "max_z": {"100"}},
	}
	before := make([]searchAnswer, len(queries))
	for i, q := range queries {
		before[i] = search(t, srv, q)
	}
	srv.Stop(t)
	if out, err := srv.Run(t, "reindex"); err != nil || !strings.Contains(out, "reindexed 5 projects: 33 parts (1 failed") {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
	srv.Start(t)
	for i, q := range queries {
		after := search(t, srv, q)
		if diff := compareAnswers(before[i], after); diff != "" {
			t.Errorf("after reindex, search %s differs: %s", q.Encode(), diff)
		}
	}
}

func containsPath(hits []api.Hit, p string) bool {
	for _, h := range hits {
		if h.Path == p {
			return true
		}
	}
	return false
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// compareAnswers compares two answers hit by hit. Scores may differ in
// the last digits (index statistics); hits with equal scores may come in
// either order; nothing else may differ.
func compareAnswers(a, b searchAnswer) string {
	if a.Total != b.Total || len(a.Hits) != len(b.Hits) {
		return fmt.Sprintf("total %d → %d, hits %d → %d", a.Total, b.Total, len(a.Hits), len(b.Hits))
	}
	same := func(x, y float64) bool { return math.Abs(x-y) <= 1e-6*math.Max(1, math.Abs(x)) }
	for i := 0; i < len(a.Hits); {
		j := i + 1
		for j < len(a.Hits) && same(a.Hits[j].Score, a.Hits[i].Score) {
			j++
		}
		var xs, ys []string
		for k := i; k < j; k++ {
			if !same(a.Hits[k].Score, b.Hits[k].Score) {
				return fmt.Sprintf("hit %d score %g → %g", k, a.Hits[k].Score, b.Hits[k].Score)
			}
			x, y := a.Hits[k], b.Hits[k]
			x.Score, y.Score = 0, 0
			xj, _ := json.Marshal(x)
			yj, _ := json.Marshal(y)
			xs, ys = append(xs, string(xj)), append(ys, string(yj))
		}
		sort.Strings(xs)
		sort.Strings(ys)
		for k := range xs {
			if xs[k] != ys[k] {
				return fmt.Sprintf("hits %d..%d:\n%s\n%s", i, j-1, xs[k], ys[k])
			}
		}
		i = j
	}
	if fmt.Sprint(a.Facets) != fmt.Sprint(b.Facets) {
		return fmt.Sprintf("facets %v → %v", a.Facets, b.Facets)
	}
	return ""
}

func TestEndToEndCrashMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: kills the real binary")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "maker")
	work := t.TempDir()
	testenv.Git(t, work, "init", "--quiet", "-b", "main")
	var big bytes.Buffer
	if err := stlgen.WriteTorus(&big, 1_000_000, false); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "big_torus.stl"), big.Bytes())
	var small bytes.Buffer
	stlgen.WriteTorus(&small, 500, true)
	writeFile(t, filepath.Join(work, "small/ring_clamp.stl"), small.Bytes())
	head := commitAll(t, work, "big")
	testenv.Git(t, work, "push", "--quiet", srv.Remote("maker", token, "maker", "big"), "main")

	// Kill the server while the job runs.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var d api.ProjectDetail
		getJSON(t, srv.URL+"/api/v1/projects/maker/big", &d)
		if d.Catalog.State == "running" {
			break
		}
		if d.Catalog.State == "done" {
			t.Fatalf("job finished before it could be interrupted; make the part bigger")
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never ran: %+v", d.Catalog)
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.Kill(t)
	srv.Start(t)
	d := waitCatalogued(t, srv, "maker/big", head)
	if len(d.Parts) != 2 || len(d.Catalog.Failures) != 0 {
		t.Fatalf("after restart: parts %+v, failures %+v", d.Parts, d.Catalog.Failures)
	}
	a := search(t, srv, url.Values{"project": {"maker/big"}})
	if a.Total != 3 || facet(a, "kind")["part"] != 2 || facet(a, "kind")["project"] != 1 {
		t.Errorf("index after crash: %d documents, kinds %v; want 2 parts and 1 project", a.Total, facet(a, "kind"))
	}
	if a := search(t, srv, url.Values{"q": {"big torus"}, "kind": {"part"}}); len(a.Hits) == 0 || a.Hits[0].Path != "big_torus.stl" || a.Hits[0].Triangles != int64(stlgen.TorusTriangles(1_000_000)) {
		t.Errorf("big torus: %d hits %+v", a.Total, a.Hits)
	}
	if !strings.Contains(srv.Log(), "resuming interrupted catalog jobs") {
		t.Errorf("server log does not say the job resumed:\n%s", srv.Log())
	}
}

func torus(t *testing.T, triangles int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := stlgen.WriteTorus(&b, triangles, false); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestEndToEndNamesManifestAndLFS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: pushes through the real binary")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "git-lfs")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "maker")
	work := t.TempDir()
	testenv.Git(t, work, "init", "--quiet", "-b", "main")
	// Distinct sizes, so each file is its own part.
	for i, name := range []string{"[a]_idler_front_x2.stl", "idler_rear.stl", "front_panel.stl", "xyJoint.stl", "x_joint_cap.stl", "clamp.stl", "Spool-holder.stl"} {
		writeFile(t, filepath.Join(work, "parts", name), torus(t, 200+40*i))
	}
	writeFile(t, filepath.Join(work, "okh.toml"), []byte(`okhv = "OKH-LOSHv1.0"
name = "Seed Drill"
version = "0.3.1"
license = "CERN-OHL-S-2.0"
function = "A two-row seed drill for small farms."
documentation-language = "en"
category = "Agriculture"
keywords = ["farming", "seeder"]

[[part]]
name = "front idler"
source = "parts/[a]_idler_front_x2.stl"
`))
	writeFile(t, filepath.Join(work, "README.md"), []byte("# Seed drill\n\nPlants seeds.\n"))
	testenv.Git(t, work, "lfs", "install", "--local")
	testenv.Git(t, work, "lfs", "track", "lfs/*.stl")
	writeFile(t, filepath.Join(work, "lfs", "hopper_lid.stl"), torus(t, 3000))
	head := commitAll(t, work, "seed drill")
	out := testenv.Git(t, work, "push", srv.Remote("maker", token, "maker", "seed-drill"), "main")
	if !strings.Contains(out, "remote: Blueprints: 8 parts queued for cataloguing") {
		t.Errorf("push output:\n%s", out)
	}
	d := waitCatalogued(t, srv, "maker/seed-drill", head)
	if d.Title != "Seed Drill" || d.License != "CERN-OHL-S-2.0" || d.Category != "agriculture" || strings.Join(d.Tags, ",") != "farming,seeder" ||
		d.Version != "0.3.1" || d.Description != "Plants seeds." || len(d.Catalog.Problems) != 0 || len(d.Parts) != 8 || len(d.Catalog.Failures) != 0 {
		t.Errorf("project %+v", d)
	}
	for _, p := range d.Parts {
		if p.Path == "lfs/hopper_lid.stl" && (p.Part == nil || p.Triangles != int64(stlgen.TorusTriangles(3000))) {
			t.Errorf("LFS part not measured from its content: %+v", p)
		}
	}
	for _, c := range []struct{ q, want string }{
		{"front idler", "parts/[a]_idler_front_x2.stl"},
		{"idler front", "parts/[a]_idler_front_x2.stl"},
		{"xy joint", "parts/xyJoint.stl"},
		{"xyjoint", "parts/xyJoint.stl"},
		{"clamps", "parts/clamp.stl"},
		{"spool holder", "parts/Spool-holder.stl"},
		{"spool holdr", "parts/Spool-holder.stl"},
		{"hopper lid", "lfs/hopper_lid.stl"},
	} {
		a := search(t, srv, url.Values{"q": {c.q}, "kind": {"part"}})
		if len(a.Hits) == 0 || a.Hits[0].Path != c.want {
			var got []string
			for _, h := range a.Hits {
				got = append(got, h.Path)
			}
			t.Errorf("q=%q: hits %q, want %q first", c.q, got, c.want)
		}
	}
	a := search(t, srv, url.Values{"category": {"agriculture"}})
	if a.Total != 9 || facet(a, "license")["CERN-OHL-S-2.0"] != 9 {
		t.Errorf("category=agriculture: %d hits, facets %v", a.Total, a.Facets)
	}
}
