package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hschendel/stl"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/threemf/threemftest"
)

const quadBox = `o box
v 0 0 0
v 20 0 0
v 0 10 0
v 20 10 0
v 0 0 5
v 20 0 5
v 0 10 5
v 20 10 5
vt 0.5 0.5
vn 0 0 -1
f 1/1/1 3/1/1 4/1/1 2/1/1
f 5//1 6//1 8//1 7//1
f 1 2 6 5
f -6 -2 -1 -5
f 1 5 7 3
f 2 4 8 6
`

func TestOBJ(t *testing.T) {
	for _, tc := range []struct {
		name, text string
	}{
		{"quads", quadBox},
		{"CRLF, comments, groups, tabs", strings.ReplaceAll("# made by hand\r\n"+strings.Replace(quadBox, "o box\n", "o box # the box\ng a b\nusemtl x\ns 1\nl 1 2\n", 1), "\n", "\r\n")},
		{"triangles and w", strings.NewReplacer("v 0 0 0\n", "v 0 0 0 1.0\n", "f 1 5 7 3\n", "f 1 5 7\nf 1 7 3\n").Replace(quadBox)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Inspect(strings.NewReader(tc.text), "box.obj", Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Format != FormatOBJ || p.Triangles != 12 || p.Objects != 1 || p.Volume != 1000 || !p.Watertight || p.Size != [3]float64{20, 10, 5} {
				t.Fatalf("got %+v", p)
			}
		})
	}
}

// TestHostileFiles feeds each reader hostile input through the package's
// entry points: every error is one line naming the file, never a panic.
func TestHostileFiles(t *testing.T) {
	threeMF := func(model string) string {
		return string(threemftest.Zip(threemftest.Package(model, nil)))
	}
	box := threemftest.Box(1, 10, 10, 10)
	cases := []struct {
		name, file, data, want string
		tooLarge               bool
	}{
		{"OBJ index out of range", "a.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "line 4 (byte 24): face refers to vertex 4, but 3 vertices are defined before it", false},
		{"OBJ negative index out of range", "a.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 -4\n", "face refers to vertex -4", false},
		{"OBJ index zero", "a.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", "face refers to vertex 0", false},
		{"OBJ NaN", "a.obj", "v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", `line 2 (byte 8): vertex coordinate "nan" is not a finite number`, false},
		{"OBJ infinity", "a.obj", "v 0 0 0\nv 1e99 0 0\nv 0 1 0\nf 1 2 3\n", `vertex coordinate "1e99" is not a finite number`, false},
		{"OBJ two-vertex face", "a.obj", "v 0 0 0\nv 1 0 0\nf 1 2\n", "face with 2 vertices", false},
		{"OBJ no faces", "a.obj", "v 0 0 0\n", "file holds no faces", false},
		{"OBJ empty", "a.obj", "", "file is empty", false},
		{"OBJ binary junk", "a.obj", "\x00\x01\x02" + strings.Repeat("\xff", 600), "not an OBJ file", false},
		{"OBJ bad reference", "a.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 x3\n", `face vertex "x3"`, false},
		{"OBJ short vertex", "a.obj", "v 0 0\n", "vertex has 2 coordinates", false},
		{"3MF zip bomb", "b.3mf", threeMF(strings.Replace(threemftest.Model("", "", box, threemftest.Item(1, "")), "<resources>", "<resources><!--"+strings.Repeat("x", 20<<20)+"-->", 1)), "zip bomb", true},
		{"3MF NaN", "b.3mf", threeMF(threemftest.Model("", "", strings.Replace(box, `x="10"`, `x="nan"`, 1), threemftest.Item(1, ""))), `"nan" is not a finite number`, false},
		{"3MF not a zip", "b.3mf", "solid x\n", "not a 3MF package", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, read := range []struct {
				how string
				f   func(io.Reader) error
			}{
				{"ReadMesh", func(r io.Reader) error { _, err := ReadMesh(r, c.file, Limits{}); return err }},
				{"ReadFacets", func(r io.Reader) error { _, err := ReadFacets(r, c.file, Limits{}); return err }},
				{"stream", func(r io.Reader) error { _, err := Inspect(io.MultiReader(r), c.file, Limits{}); return err }},
			} {
				err := read.f(strings.NewReader(c.data))
				if err == nil {
					t.Fatalf("%s: no error", read.how)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, c.file+": ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
					t.Fatalf("%s: error %q: want one line naming %s and %q", read.how, msg, c.file, c.want)
				}
				if errors.Is(err, ErrTooLarge) != c.tooLarge || errors.Is(err, ErrMalformed) == c.tooLarge {
					t.Fatalf("%s: %q: too large %v, want %v", read.how, msg, errors.Is(err, ErrTooLarge), c.tooLarge)
				}
			}
		})
	}
}

func TestOBJLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
	for range 20 {
		b.WriteString("f 1 2 3\n")
	}
	_, err := Inspect(strings.NewReader(b.String()), "many.obj", Limits{MaxTriangles: 10})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 10 triangles") {
		t.Fatalf("got %v", err)
	}
	_, err = Inspect(strings.NewReader(b.String()), "many.obj", Limits{MaxBytes: 20})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

// TestRealThreeMF reads 3MF files saved by slicers, kept in testdata with
// their licences.
func TestRealThreeMF(t *testing.T) {
	for _, c := range []struct {
		file      string
		triangles int64
		volume    float64
	}{
		// PrusaSlicer 2.7's own test object (AGPL-3.0, PrusaSlicer).
		{"../testdata/3mf/seam_test_object.3mf", 225154, 15550.38},
	} {
		data, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Inspect(bytes.NewReader(data), filepath.Base(c.file), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Triangles != c.triangles || p.Format != Format3MF || !p.Watertight || p.Objects != 1 || p.Units != "millimeter" || !threemftest.Close(p.Volume, c.volume, 1e-3, 1) {
			t.Fatalf("%s: %+v", c.file, p)
		}
	}
}

// TestOBJQuickLines: the lines read in one pass (plain "v x y z" and
// "f i j k") give what the general reader gives for the same file with a
// space before every newline (which it alone reads), and errors on such
// lines name the same line.
func TestOBJQuickLines(t *testing.T) {
	solid := torusSolid(t, stlgen.Torus{Major: 20, Minor: 5, Triangles: 4000})
	var text strings.Builder
	index := map[stl.Vec3]int{}
	var faces []string
	for i, tri := range solid.Triangles {
		var f [3]int
		for k, v := range tri.Vertices {
			id, ok := index[v]
			if !ok {
				id = len(index) + 1
				index[v] = id
				fmt.Fprintf(&text, "v %s %s %s\n", strconv.FormatFloat(float64(v[0]), 'f', -1, 32), strconv.FormatFloat(float64(v[1]), 'e', -1, 32), strconv.FormatFloat(float64(v[2]), 'g', 6, 32))
			}
			f[k] = id
		}
		if i%2 == 1 { // a quad of this facet and the one before, as the same fan
			faces[len(faces)-1] = faces[len(faces)-1][:len(faces[len(faces)-1])-1] + fmt.Sprintf(" %d\n", f[2])
			continue
		}
		faces = append(faces, fmt.Sprintf("f %d %d %d\n", f[0], f[1], f[2]))
	}
	quick := text.String() + strings.Join(faces, "")
	general := strings.ReplaceAll(quick, "\n", " \n")
	read := func(s string) (*Mesh, error) { return ReadMesh(strings.NewReader(s), "torus.obj", Limits{}) }
	a, err := read(quick)
	if err != nil {
		t.Fatal(err)
	}
	b, err := read(general)
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := a.Part(), b.Part()
	pa.SHA256, pb.SHA256 = "", ""
	if pa != pb || !slices.Equal(a.verts, b.verts) || !slices.Equal(a.tris, b.tris) {
		t.Fatalf("quick lines give %+v, the general reader %+v", pa, pb)
	}
	if pa.Triangles != int64(len(solid.Triangles)) {
		t.Fatalf("%d triangles, want %d", pa.Triangles, len(solid.Triangles))
	}

	// An index out of range, and the triangle limit, on quick lines.
	lines := strings.SplitAfter(quick, "\n")
	bad := len(index) + 10
	lines[bad] = fmt.Sprintf("f 1 2 %d\n", len(index)+1)
	broken := strings.Join(lines, "")
	_, qerr := read(broken)
	_, gerr := read(strings.ReplaceAll(broken, "\n", " \n"))
	want := fmt.Sprintf("line %d ", bad+1)
	if qerr == nil || gerr == nil || !strings.Contains(qerr.Error(), want) || !strings.Contains(gerr.Error(), want) || !strings.Contains(qerr.Error(), "face refers to vertex") {
		t.Fatalf("out of range: %v; general reader: %v; want %q", qerr, gerr, want)
	}
	// Every face is a quad: two triangles.
	limit := len(index)
	_, err = Inspect(strings.NewReader(quick), "torus.obj", Limits{MaxTriangles: int64(limit)})
	at := len(strings.Join(strings.SplitAfter(quick, "\n")[:len(index)+limit/2], ""))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("byte %d: more than %d triangles", at, limit)) {
		t.Fatalf("limit: %v, want byte %d", err, at)
	}
}
