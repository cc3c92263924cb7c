package render

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/hschendel/stl"
)

// admeshReport is what admesh says about a file.
type admeshReport struct {
	facets       int64
	min, max     [3]float64
	volume       float64
	disconnected int64
	parts        int
}

var (
	admeshFacets       = regexp.MustCompile(`Number of facets\s*:\s*(\d+)`)
	admeshRange        = regexp.MustCompile(`Min ([XYZ]) =\s*(\S+), Max [XYZ] =\s*(\S+)`)
	admeshVolume       = regexp.MustCompile(`Volume\s*:\s*(\S+)`)
	admeshDisconnected = regexp.MustCompile(`Total disconnected facets\s*:\s*(\d+)`)
	admeshParts        = regexp.MustCompile(`Number of parts\s*:\s*(\d+)`)
)

// runAdmesh runs admesh twice: --exact --normal-values (facets as read;
// admesh computes volume from the stored normals, so they are recomputed
// first, as many files carry zero normals) and --exact --normal-directions
// (which counts parts).
func runAdmesh(t *testing.T, path string) admeshReport {
	t.Helper()
	var rep admeshReport
	out := admesh(t, "--exact", "--normal-values", path)
	m := admeshFacets.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("admesh output has no facet count:\n%s", out)
	}
	rep.facets, _ = strconv.ParseInt(m[1], 10, 64)
	ranges := admeshRange.FindAllStringSubmatch(out, -1)
	if len(ranges) != 3 {
		t.Fatalf("admesh output has %d ranges:\n%s", len(ranges), out)
	}
	for k, r := range ranges {
		rep.min[k], _ = strconv.ParseFloat(r[2], 64)
		rep.max[k], _ = strconv.ParseFloat(r[3], 64)
	}
	m = admeshVolume.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("admesh output has no volume:\n%s", out)
	}
	rep.volume, _ = strconv.ParseFloat(m[1], 64)
	m = admeshDisconnected.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("admesh output has no disconnected facets:\n%s", out)
	}
	rep.disconnected, _ = strconv.ParseInt(m[1], 10, 64)
	out = admesh(t, "--exact", "--normal-directions", path)
	m = admeshParts.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("admesh output has no part count:\n%s", out)
	}
	rep.parts, _ = strconv.Atoi(m[1])
	return rep
}

func admesh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("admesh", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("admesh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// corpusFiles lists every STL file of the shared test corpus.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("../testdata/corpus", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".stl") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatalf("list corpus: %v", err)
	}
	if len(files) < 30 {
		t.Fatalf("corpus has %d STL files, want the 34 of testdata/corpus", len(files))
	}
	return files
}

// generatedFiles writes meshes with known topology to dir: tori in both
// encodings, two disjoint tori, and a torus with a hole.
func generatedFiles(t testing.TB, dir string) []string {
	t.Helper()
	write := func(name string, fill func(*bytes.Buffer) error) string {
		var buf bytes.Buffer
		if err := fill(&buf); err != nil {
			t.Fatalf("generate %s: %v", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	torus := func(n int, ascii bool) func(*bytes.Buffer) error {
		return func(b *bytes.Buffer) error { return stlgen.WriteTorus(b, n, ascii) }
	}
	return []string{
		write("torus_bin.stl", torus(20000, false)),
		write("torus_ascii.stl", torus(5000, true)),
		write("torus_solid_header.stl", func(b *bytes.Buffer) error {
			return stlgen.Torus{Major: 30, Minor: 4, Center: [3]float64{100, -50, 4}, Triangles: 3000, Header: "solid exported by a CAD tool"}.Write(b)
		}),
		write("two_tori.stl", func(b *bytes.Buffer) error { return writeSolid(b, twoTori(t), false) }),
		write("open_torus.stl", func(b *bytes.Buffer) error { return writeSolid(b, openTorus(t), true) }),
		write("washer.stl", func(b *bytes.Buffer) error {
			return stlgen.Torus{Major: 0.75, Minor: 0.25, Center: [3]float64{0, 0, 0.25}, Triangles: 2000}.Write(b)
		}),
	}
}

func TestAgainstAdmesh(t *testing.T) {
	testenv.RequireTool(t, "admesh")
	files := append(corpusFiles(t), generatedFiles(t, t.TempDir())...)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := ReadMesh(f, path, Limits{})
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			p := m.Part()
			want := runAdmesh(t, path)
			if p.Triangles != want.facets {
				t.Errorf("triangles = %d, admesh %d", p.Triangles, want.facets)
			}
			for k := range 3 {
				if math.Abs(p.BBoxMin[k]-want.min[k]) > 1e-6*max(1, math.Abs(want.min[k])) ||
					math.Abs(p.BBoxMax[k]-want.max[k]) > 1e-6*max(1, math.Abs(want.max[k])) {
					t.Errorf("bbox axis %d = %g..%g, admesh %g..%g", k, p.BBoxMin[k], p.BBoxMax[k], want.min[k], want.max[k])
				}
			}
			if rel := math.Abs(p.Volume-math.Abs(want.volume)) / math.Abs(want.volume); rel > 1e-4 {
				t.Errorf("volume = %f, admesh %f (%.4f %% off)", p.Volume, want.volume, 100*rel)
			}
			// admesh pairs the facets of an edge shared by four, so it finds
			// no disconnected facet where we see non-manifold edges.
			if p.Watertight && want.disconnected != 0 ||
				!p.Watertight && want.disconnected == 0 && (p.OpenEdges != 0 || p.NonManifoldEdges == 0) {
				t.Errorf("watertight = %v (%d open, %d non-manifold edges), admesh has %d disconnected facets",
					p.Watertight, p.OpenEdges, p.NonManifoldEdges, want.disconnected)
			}
			if !p.Watertight && want.disconnected > 0 && p.OpenEdges == 0 {
				t.Errorf("admesh has %d disconnected facets, we see no open edge", want.disconnected)
			}
			if p.Watertight && p.Shells != want.parts {
				t.Errorf("shells = %d, admesh %d parts", p.Shells, want.parts)
			}
			t.Logf("%s: %d facets, watertight %v, shells %d (admesh %d), volume %.3f (admesh %.3f)",
				path, p.Triangles, p.Watertight, p.Shells, want.parts, p.Volume, want.volume)
		})
	}
}

func TestGeneratedTopology(t *testing.T) {
	cases := []struct {
		name       string
		solid      func(testing.TB) *stl.Solid
		watertight bool
		shells     int
	}{
		{"two tori", twoTori, true, 2},
		{"open torus", openTorus, false, 1},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := writeSolid(&buf, c.solid(t), false); err != nil {
			t.Fatal(err)
		}
		p, err := Inspect(&buf, c.name, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p.Watertight != c.watertight || p.Shells != c.shells {
			t.Errorf("%s: watertight %v shells %d, want %v %d", c.name, p.Watertight, p.Shells, c.watertight, c.shells)
		}
	}
}

// TestTopologyPasses: splitting the edge buckets into many passes (as big
// meshes do) changes nothing.
func TestTopologyPasses(t *testing.T) {
	for _, path := range corpusFiles(t)[:12] {
		m, err := readMeshFile(t, path)
		if err != nil {
			t.Fatal(err)
		}
		one := measureTopology(len(m.verts), m.tris, defaultPassEdges)
		for _, pass := range []uint32{uint32(len(m.tris) / 7), uint32(len(m.tris) / 2), 1000} {
			if got := measureTopology(len(m.verts), m.tris, pass); got != one {
				t.Errorf("%s: %d edges a pass: %+v, one pass: %+v", path, pass, got, one)
			}
		}
	}
}

// TestTopologyParallel: big meshes measure their topology on two
// goroutines; the answer is the one the known shapes have, in one pass or
// many.
func TestTopologyParallel(t *testing.T) {
	big := func(center float64) *stl.Solid {
		return torusSolid(t, stlgen.Torus{Major: 20, Minor: 5, Center: [3]float64{center, 0, 0}, Triangles: parallelFacets})
	}
	two := big(0)
	two.Triangles = append(two.Triangles, big(60).Triangles...)
	open := torusSolid(t, stlgen.Torus{Major: 20, Minor: 5, Triangles: 2 * parallelFacets})
	open.Triangles = append(open.Triangles[:500], open.Triangles[503:]...)
	cases := []struct {
		name       string
		solid      *stl.Solid
		watertight bool
		shells     int
	}{{"two big tori", two, true, 2}, {"open big torus", open, false, 1}}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := writeSolid(&buf, c.solid, false); err != nil {
			t.Fatal(err)
		}
		m, err := ReadMesh(&buf, c.name, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(m.tris)/3 < parallelFacets {
			t.Fatalf("%s: %d facets, too few for the parallel path", c.name, len(m.tris)/3)
		}
		one := measureTopology(len(m.verts), m.tris, defaultPassEdges)
		if one.watertight != c.watertight || one.shells != c.shells || c.watertight != (one.openEdges == 0) {
			t.Errorf("%s: %+v, want watertight %v, %d shells", c.name, one, c.watertight, c.shells)
		}
		for _, pass := range []uint32{uint32(len(m.tris) / 5), 777} {
			if got := measureTopology(len(m.verts), m.tris, pass); got != one {
				t.Errorf("%s, %d edges a pass: %+v, one pass: %+v", c.name, pass, got, one)
			}
		}
	}
}
