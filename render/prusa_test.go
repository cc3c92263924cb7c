package render

import (
	"archive/zip"
	"bytes"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/threemf/threemftest"
)

// prusaInfo is what `prusa-slicer --info` says about a file, its objects
// summed: facets, bounds (in mm) and volume.
type prusaInfo struct {
	facets   int64
	min, max [3]float64
	volume   float64
	sections int
}

var prusaSection = regexp.MustCompile(`(?m)^\[(.+)\]$`)

// runPrusaInfo runs one `prusa-slicer --info` over files and returns its
// report per file name (PrusaSlicer prints one section per object; they
// are summed).
func runPrusaInfo(t *testing.T, files []string) map[string]*prusaInfo {
	t.Helper()
	out, err := exec.Command("prusa-slicer", append([]string{"--info"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("prusa-slicer --info: %v\n%s", err, out)
	}
	res := map[string]*prusaInfo{}
	var cur *prusaInfo
	for _, line := range strings.Split(string(out), "\n") {
		if m := prusaSection.FindStringSubmatch(line); m != nil {
			cur = res[m[1]]
			if cur == nil {
				cur = &prusaInfo{min: [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}, max: [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}}
				res[m[1]] = cur
			}
			cur.sections++
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok || cur == nil {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch k := strings.TrimSpace(k); k {
		case "number_of_facets":
			cur.facets += int64(f)
		case "volume":
			cur.volume += f
		case "min_x", "min_y", "min_z":
			cur.min[k[4]-'x'] = math.Min(cur.min[k[4]-'x'], f)
		case "max_x", "max_y", "max_z":
			cur.max[k[4]-'x'] = math.Max(cur.max[k[4]-'x'], f)
		}
	}
	return res
}

// TestPrusaSlicerDifferential has PrusaSlicer export every corpus part to
// 3MF and to OBJ, and reads each export, the hand-written 3MF cases and
// the real 3MF files of testdata/3mf with both PrusaSlicer (--info) and
// render: facet counts must be equal,
// bounds agree to 0.01 % and volumes to 0.1 %.
func TestPrusaSlicerDifferential(t *testing.T) {
	testenv.RequireTool(t, "prusa-slicer")
	dir := t.TempDir()
	var stls []string
	for _, p := range corpusFiles(t) {
		rel, _ := filepath.Rel("../testdata/corpus", p)
		name := strings.NewReplacer("/", "__", " ", "_", "[", "", "]", "").Replace(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		stls = append(stls, dst)
	}
	for _, flag := range []string{"--export-3mf", "--export-obj"} {
		cmd := exec.Command("prusa-slicer", append([]string{flag}, stls...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("prusa-slicer %s: %v\n%s", flag, err, out)
		}
	}
	var files []string
	for _, s := range stls {
		base := strings.TrimSuffix(s, ".stl")
		files = append(files, base+".3mf", base+".obj")
	}
	for _, c := range threemftest.Cases() {
		if c.Name == "production_extension" {
			continue // PrusaSlicer 2.5 cannot read it: TestProductionExtension
		}
		p := filepath.Join(dir, c.Name+".3mf")
		if err := os.WriteFile(p, c.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	// Real 3MF files saved by slicers (testdata/3mf, licences beside them).
	real, err := filepath.Glob("../testdata/3mf/*.3mf")
	if err != nil || len(real) == 0 {
		t.Fatalf("no real 3MF files in testdata/3mf: %v", err)
	}
	for _, p := range real {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.Base(p))
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, dst)
	}
	infos := runPrusaInfo(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := infos[filepath.Base(f)]
			if want == nil {
				t.Fatalf("prusa-slicer --info said nothing about %s", f)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Inspect(bytes.NewReader(data), filepath.Base(f), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			wantFormat := strings.TrimPrefix(filepath.Ext(f), ".")
			if got.Format != wantFormat {
				t.Errorf("format %q, want %q", got.Format, wantFormat)
			}
			if got.Triangles != want.facets {
				t.Errorf("facets %d, PrusaSlicer %d", got.Triangles, want.facets)
			}
			if strings.HasSuffix(f, ".3mf") && bytes.Contains(data, []byte("Metadata/Slic3r_PE_model.config")) {
				// PrusaSlicer's --info prints its raw mesh, without the
				// build item's transform (a move onto the bed), which we
				// apply: the part is the build as placed.
				shift := itemTranslation(t, data)
				for k := range 3 {
					want.min[k] += shift[k]
					want.max[k] += shift[k]
				}
			}
			scale := 0.0
			for k := range 3 {
				scale = math.Max(scale, want.max[k]-want.min[k])
			}
			for k := range 3 {
				if math.Abs(got.BBoxMin[k]-want.min[k]) > 1e-4*scale || math.Abs(got.BBoxMax[k]-want.max[k]) > 1e-4*scale {
					t.Errorf("axis %d: %g..%g, PrusaSlicer %g..%g", k, got.BBoxMin[k], got.BBoxMax[k], want.min[k], want.max[k])
				}
			}
			if math.Abs(got.Volume-want.volume) > 1e-3*math.Abs(want.volume) {
				t.Errorf("volume %g, PrusaSlicer %g", got.Volume, want.volume)
			}
		})
	}
}

// itemTranslation reads the one build item of a 3MF that PrusaSlicer
// wrote and returns its translation; it fails unless the transform is a
// pure translation.
func itemTranslation(t *testing.T, data []byte) [3]float64 {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.Open("3D/3dmodel.model")
	if err != nil {
		t.Fatal(err)
	}
	model, _ := io.ReadAll(rc)
	items := regexp.MustCompile(`<item objectid="\d+" transform="([^"]*)"`).FindAllSubmatch(model, -1)
	if len(items) != 1 {
		t.Fatalf("PrusaSlicer's export has %d build items with transforms, want 1", len(items))
	}
	f := strings.Fields(string(items[0][1]))
	if len(f) != 12 || strings.Join(f[:9], " ") != "1 0 0 0 1 0 0 0 1" {
		t.Fatalf("build item transform %q is not a pure translation", items[0][1])
	}
	var v [3]float64
	for k := range 3 {
		v[k], _ = strconv.ParseFloat(f[9+k], 64)
	}
	return v
}

// TestProductionExtension reads the Production extension case, which
// PrusaSlicer 2.5 refuses ("Found component with invalid object id"), and
// checks it against the figures worked out by hand.
func TestProductionExtension(t *testing.T) {
	c := threemftest.Production()
	got, err := Inspect(bytes.NewReader(c.Bytes()), "bambu.3mf", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Triangles != c.Triangles || got.Objects != c.Objects || got.Units != c.Unit || got.Format != Format3MF {
		t.Fatalf("got %+v", got)
	}
	for k := range 3 {
		if got.BBoxMin[k] != c.Min[k] || got.BBoxMax[k] != c.Max[k] {
			t.Fatalf("bounds %v..%v, want %v..%v", got.BBoxMin, got.BBoxMax, c.Min, c.Max)
		}
	}
	if !threemftest.Close(got.Volume, c.Volume, 1e-6, 1) {
		t.Fatalf("volume %g, want %g", got.Volume, c.Volume)
	}
}
