package print

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/render"
)

// testMesh is a Mesh built in a test.
type testMesh struct {
	v [][3]float32
	f [][3]int32
}

func (m *testMesh) Vertices() int           { return len(m.v) }
func (m *testMesh) Vertex(i int) [3]float32 { return m.v[i] }
func (m *testMesh) Len() int                { return len(m.f) }
func (m *testMesh) Facet(i int) [3]int32    { return m.f[i] }

// box is a w×d×h box from the origin, facets wound outward.
func box(w, d, h float64) *testMesh {
	m := &testMesh{}
	for i := range 8 {
		m.v = append(m.v, [3]float32{float32(w * float64(i&1)), float32(d * float64(i>>1&1)), float32(h * float64(i>>2&1))})
	}
	m.f = [][3]int32{
		{0, 2, 1}, {1, 2, 3}, // bottom, facing -Z
		{4, 5, 6}, {5, 7, 6}, // top
		{0, 1, 4}, {1, 5, 4}, // front, -Y
		{2, 6, 3}, {3, 6, 7}, // back
		{0, 4, 2}, {2, 4, 6}, // left, -X
		{1, 3, 5}, {3, 7, 5}, // right
	}
	return m
}

// turned returns m rotated by r and moved by t.
func turned(m *testMesh, r [9]float64, t [3]float64) *testMesh {
	out := &testMesh{f: m.f}
	for _, v := range m.v {
		w := apply(r, [3]float64{float64(v[0]), float64(v[1]), float64(v[2])})
		out.v = append(out.v, [3]float32{float32(w[0] + t[0]), float32(w[1] + t[1]), float32(w[2] + t[2])})
	}
	return out
}

func inverted(m *testMesh) *testMesh {
	out := &testMesh{v: m.v}
	for _, f := range m.f {
		out.f = append(out.f, [3]int32{f[0], f[2], f[1]})
	}
	return out
}

func rotX(a float64) [9]float64 {
	c, s := math.Cos(a), math.Sin(a)
	return [9]float64{1, 0, 0, 0, c, -s, 0, s, c}
}
func rotY(a float64) [9]float64 {
	c, s := math.Cos(a), math.Sin(a)
	return [9]float64{c, 0, s, 0, 1, 0, -s, 0, c}
}
func rotZ(a float64) [9]float64 {
	c, s := math.Cos(a), math.Sin(a)
	return [9]float64{c, -s, 0, s, c, 0, 0, 0, 1}
}

// sphere is a UV sphere of radius r: no flat face anywhere.
func sphere(r float64, rings, segs int) *testMesh {
	m := &testMesh{}
	m.v = append(m.v, [3]float32{0, 0, float32(-r)})
	for i := 1; i < rings; i++ {
		phi := math.Pi * float64(i) / float64(rings)
		for j := range segs {
			th := 2 * math.Pi * float64(j) / float64(segs)
			m.v = append(m.v, [3]float32{float32(r * math.Sin(phi) * math.Cos(th)), float32(r * math.Sin(phi) * math.Sin(th)), float32(-r * math.Cos(phi))})
		}
	}
	m.v = append(m.v, [3]float32{0, 0, float32(r)})
	top := int32(len(m.v) - 1)
	at := func(i, j int) int32 { return int32(1 + (i-1)*segs + (j % segs)) }
	for j := range segs {
		m.f = append(m.f, [3]int32{0, at(1, j+1), at(1, j)})
		m.f = append(m.f, [3]int32{top, at(rings-1, j), at(rings-1, j+1)})
	}
	for i := 1; i < rings-1; i++ {
		for j := range segs {
			m.f = append(m.f, [3]int32{at(i, j), at(i, j+1), at(i+1, j)})
			m.f = append(m.f, [3]int32{at(i, j+1), at(i+1, j+1), at(i+1, j)})
		}
	}
	return m
}

// checkPose fails unless pose lays m on the bed plane inside its box.
func checkPose(t *testing.T, m Mesh, p Pose) {
	t.Helper()
	lo := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for i := range m.Vertices() {
		v := m.Vertex(i)
		w := apply(p.Rotation, [3]float64{float64(v[0]), float64(v[1]), float64(v[2])})
		for k := range 3 {
			lo[k], hi[k] = min(lo[k], w[k]), max(hi[k], w[k])
		}
	}
	for k := range 3 {
		if math.Abs(lo[k]-p.Min[k]) > 1e-3 || math.Abs(hi[k]-lo[k]-p.Size[k]) > 1e-3 {
			t.Errorf("axis %d: turned part spans %.4f..%.4f, pose says min %.4f size %.4f", k, lo[k], hi[k], p.Min[k], p.Size[k])
		}
	}
	// A rotation: orthonormal with determinant 1 (no mirroring).
	r := p.Rotation
	det := r[0]*(r[4]*r[8]-r[5]*r[7]) - r[1]*(r[3]*r[8]-r[5]*r[6]) + r[2]*(r[3]*r[7]-r[4]*r[6])
	if math.Abs(det-1) > 1e-9 {
		t.Errorf("rotation %v has determinant %g", r, det)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-3 }

func sizeIs(p Pose, x, y, z float64) bool {
	return near(p.Size[0], x) && near(p.Size[1], y) && near(p.Size[2], z)
}

func TestAnalyseBoxes(t *testing.T) {
	for _, c := range []struct {
		name    string
		m       *testMesh
		kind    string
		x, y, z float64
	}{
		{"flat as modelled", box(40, 20, 10), PoseAsModelled, 40, 20, 10},
		{"standing, kept as modelled", box(10, 20, 40), PoseAsModelled, 20, 10, 40},
		{"tall and thin, laid down", box(5, 5, 100), PoseFlatFace, 100, 5, 5},
		{"tumbled, laid on its largest face", turned(box(40, 20, 10), mul(rotX(0.5), rotY(0.3)), [3]float64{5, -7, 3}), PoseFlatFace, 40, 20, 10},
		{"inside out and tumbled", inverted(turned(box(40, 20, 10), mul(rotY(1.1), rotX(-0.4)), [3]float64{})), PoseFlatFace, 40, 20, 10},
		{"turned about Z only: footprint squared up", turned(box(40, 20, 10), rotZ(0.5), [3]float64{100, 100, 0}), PoseAsModelled, 40, 20, 10},
		{"upside down: lies on its top", turned(box(40, 20, 10), rotX(math.Pi), [3]float64{0, 0, 50}), PoseAsModelled, 40, 20, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Analyse(c.m)
			if len(s.Poses) == 0 {
				t.Fatal("no poses")
			}
			p := s.Poses[0]
			if p.Kind != c.kind || !sizeIs(p, c.x, c.y, c.z) {
				t.Errorf("first pose %s, %.3f × %.3f × %.3f; want %s, %g × %g × %g", p.Kind, p.Size[0], p.Size[1], p.Size[2], c.kind, c.x, c.y, c.z)
			}
			for _, q := range s.Poses {
				checkPose(t, c.m, q)
			}
			if p.Kind != PoseNoFlat && p.Contact < 0.99*p.Size[0]*p.Size[1] {
				t.Errorf("a box rests on a whole face: contact %.1f mm² of %.1f", p.Contact, p.Size[0]*p.Size[1])
			}
		})
	}
}

func TestAnalyseSphere(t *testing.T) {
	m := sphere(20, 24, 48)
	s := Analyse(m)
	if len(s.Poses) != 1 || s.Poses[0].Kind != PoseNoFlat {
		t.Fatalf("a ball has no flat face: %+v", s.Poses)
	}
	checkPose(t, m, s.Poses[0])
}

// A standing plate has other poses for printers too low for it.
func TestAnalyseOtherPoses(t *testing.T) {
	s := Analyse(box(30, 8, 60))
	if len(s.Poses) < 3 {
		t.Fatalf("%d poses, want the box's three face sizes", len(s.Poses))
	}
	heights := map[float64]bool{}
	for _, p := range s.Poses {
		heights[math.Round(p.Size[2])] = true
	}
	for _, h := range []float64{60, 8, 30} {
		if !heights[h] {
			t.Errorf("no pose %g mm tall among %+v", h, s.Poses)
		}
	}
	// It prefers lying on its largest face, 60 × 30: on a 50 mm bed it
	// stands instead.
	if p := s.Poses[0]; p.Kind != PoseFlatFace || !sizeIs(p, 60, 30, 8) {
		t.Errorf("first pose %+v, want lying flat, 60 × 30 × 8", p)
	}
	pr := Printer{ID: "small", Name: "Small", X: 50, Y: 50, Z: 100}
	var b Bill
	pl := Build([]Input{{Path: "plate.stl", SHA256: "x", Shape: s, Volume: 30 * 8 * 60}}, &b, pr, nil, DefaultSpacing)
	if p := pl.Parts[0].Pose; !pl.Parts[0].Fits || p.Kind != PoseToFit || max(p.Size[0], p.Size[1]) > 50 {
		t.Errorf("on a 50 mm bed: %+v", p)
	}
	if len(pl.Plates) != 1 || len(pl.TooBig) != 0 {
		t.Errorf("%d plates, too big %v", len(pl.Plates), pl.TooBig)
	}
}

// Every corpus part: its poses are sound, and parts modelled for printing
// (the Voron and Prusa parts) mostly keep their modelled pose.
func TestAnalyseCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus")
	}
	root := filepath.Join("..", "testdata", "corpus")
	kept, total := 0, 0
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.EqualFold(filepath.Ext(p), ".stl") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := render.ReadMesh(f, p, render.DefaultLimits())
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		s := Analyse(m)
		for _, q := range s.Poses {
			checkPose(t, m, q)
		}
		rel, _ := filepath.Rel(root, p)
		first := s.Poses[0]
		t.Logf("%-90s %-13s %6.1f × %6.1f × %6.1f contact %7.1f, %d poses", rel, first.Kind, first.Size[0], first.Size[1], first.Size[2], first.Contact, len(s.Poses))
		if strings.Contains(rel, "Voron") || strings.Contains(rel, "Prusa") {
			total++
			if first.Kind == PoseAsModelled {
				kept++
			}
		}
		return nil
	})
	if total == 0 || kept < total*3/4 {
		t.Errorf("%d of %d Voron and Prusa parts (modelled for printing) keep their pose; want at least three quarters", kept, total)
	}
}

// A part exactly the bed's size (give or take float rounding) is placed,
// never dropped.
func TestBuildBedSized(t *testing.T) {
	pr := Printer{ID: "p", Name: "P", X: 100, Y: 80, Z: 50}
	var b Bill
	shape := Shape{Version: ShapeVersion, Poses: []Pose{{Rotation: identity(), Size: [3]float64{100 + 5e-7, 80, 10}, Kind: PoseAsModelled}}}
	pl := Build([]Input{{Path: "plate.stl", SHA256: "x", Shape: shape}}, &b, pr, nil, DefaultSpacing)
	if !pl.Parts[0].Fits || len(pl.Plates) != 1 || len(pl.Plates[0].Pieces) != 1 || len(pl.Notes) != 0 {
		t.Errorf("bed-sized part: fits %v, %d plates, notes %q", pl.Parts[0].Fits, len(pl.Plates), pl.Notes)
	}
}
