package threemf

import (
	"archive/zip"
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/hschendel/stl"
)

// cube is a unit-ish w×d×h box as a welded mesh, with one degenerate
// facet that the writer must leave out.
type cube struct {
	w, d, h float32
}

func (c cube) Vertices() int { return 8 }
func (c cube) Vertex(i int) [3]float32 {
	return [3]float32{c.w * float32(i&1), c.d * float32(i>>1&1), c.h * float32(i>>2&1)}
}
func (c cube) Len() int { return 13 }
func (c cube) Facet(i int) [3]int32 {
	f := [][3]int32{{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4}, {2, 6, 3}, {3, 6, 7}, {0, 4, 2}, {2, 4, 6}, {1, 3, 5}, {3, 7, 5}, {0, 0, 1}}
	return f[i]
}

// items records each build item's bounds.
type items struct {
	cur int
	lo  map[int][3]float32
	hi  map[int][3]float32
	n   map[int]int
}

func (s *items) SetName(string)          {}
func (s *items) SetBinaryHeader([]byte)  {}
func (s *items) SetASCII(bool)           {}
func (s *items) SetTriangleCount(uint32) {}
func (s *items) BeginItem(i int)         { s.cur = i }
func (s *items) AppendTriangle(t stl.Triangle) {
	lo, ok := s.lo[s.cur]
	hi := s.hi[s.cur]
	for _, v := range t.Vertices {
		for k := range 3 {
			if !ok || v[k] < lo[k] {
				lo[k] = v[k]
			}
			if !ok || v[k] > hi[k] {
				hi[k] = v[k]
			}
		}
		ok = true
	}
	s.lo[s.cur], s.hi[s.cur] = lo, hi
	s.n[s.cur]++
}

// What Writer writes, Read reads back: every item where its transform
// put it, degenerate facets left out, names escaped.
func TestWriteRead(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, `Plate <1> & "all"`)
	if err != nil {
		t.Fatal(err)
	}
	a, err := w.AddObject("block & <co>", cube{10, 20, 5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.AddObject("plate", cube{30, 4, 2})
	if err != nil {
		t.Fatal(err)
	}
	// A quarter turn about Z (x, y) → (-y, x), then moved.
	turn := [12]float64{0, -1, 0, 1, 0, 0, 0, 0, 1, 100, 50, 0}
	move := [12]float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 5, 7, 0}
	for _, it := range []struct {
		id int
		t  [12]float64
	}{{a, move}, {a, turn}, {b, move}} {
		if err := w.AddItem(it.id, it.t, "piece"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddItem(7, move, ""); err == nil {
		t.Error("an item of no object was accepted")
	}
	w.SetThumbnail([]byte("\x89PNG fake"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sink := &items{lo: map[int][3]float32{}, hi: map[int][3]float32{}, n: map[int]int{}}
	info, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "plate.3mf", Limits{}, sink)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if info.Objects != 3 || info.Triangles != 36 || info.Unit != "millimeter" {
		t.Errorf("info %+v, want 3 items of 12 facets in mm", info)
	}
	want := []struct{ lo, hi [3]float32 }{
		{[3]float32{5, 7, 0}, [3]float32{15, 27, 5}},
		{[3]float32{80, 50, 0}, [3]float32{100, 60, 5}},
		{[3]float32{5, 7, 0}, [3]float32{35, 11, 2}},
	}
	for i, wnt := range want {
		for k := range 3 {
			if math.Abs(float64(sink.lo[i][k]-wnt.lo[k])) > 1e-4 || math.Abs(float64(sink.hi[i][k]-wnt.hi[k])) > 1e-4 {
				t.Errorf("item %d spans %v..%v, want %v..%v", i, sink.lo[i], sink.hi[i], wnt.lo, wnt.hi)
				break
			}
		}
		if sink.n[i] != 12 {
			t.Errorf("item %d has %d facets, want 12", i, sink.n[i])
		}
	}
	zr, _ := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	names := []string{}
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "3D/3dmodel.model,Metadata/thumbnail.png,_rels/.rels,[Content_Types].xml" {
		t.Errorf("entries %s", got)
	}
}

func TestWriteRefuses(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, "x")
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "at least one item") {
		t.Errorf("an empty build: %v", err)
	}
	w, _ = NewWriter(&buf, "x")
	if _, err := w.AddObject("flat", flat{}); err == nil {
		t.Error("an object with only degenerate facets was written")
	}
}

type flat struct{}

func (flat) Vertices() int           { return 3 }
func (flat) Vertex(i int) [3]float32 { return [3]float32{float32(i), 0, 0} }
func (flat) Len() int                { return 1 }
func (flat) Facet(int) [3]int32      { return [3]int32{0, 1, 1} }
