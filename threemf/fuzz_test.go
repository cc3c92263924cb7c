package threemf

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hschendel/stl"

	"github.com/blueprints-hq/blueprints/threemf/threemftest"
)

// finiteSink fails the test on a non-finite vertex.
type finiteSink struct {
	t *testing.T
	n int64
}

func (s *finiteSink) SetName(string)          {}
func (s *finiteSink) SetBinaryHeader([]byte)  {}
func (s *finiteSink) SetASCII(bool)           {}
func (s *finiteSink) SetTriangleCount(uint32) {}
func (s *finiteSink) AppendTriangle(t stl.Triangle) {
	for _, v := range t.Vertices {
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				s.t.Fatalf("non-finite vertex %v", t.Vertices)
			}
		}
	}
	s.n++
}

// FuzzRead feeds packages to Read: every error is a one-line *Error
// naming the file; a success hands on as many facets as it reports.
func FuzzRead(f *testing.F) {
	for _, c := range threemftest.Cases() {
		f.Add(c.Bytes())
	}
	f.Add(withModel(threemftest.Model("", "", `<object id="1"><components><component objectid="1"/></components></object>`, threemftest.Item(1, ""))))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxTriangles: 10000, MaxEntries: 64, MaxEntryBytes: 4 << 20, MaxTotalBytes: 16 << 20}
		s := &finiteSink{t: t}
		info, err := Read(bytes.NewReader(data), int64(len(data)), "fuzz.3mf", lim, s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "fuzz.3mf: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line naming the file", msg)
			}
			return
		}
		if info.Triangles != s.n || s.n > lim.MaxTriangles {
			t.Fatalf("reported %d facets, handed on %d", info.Triangles, s.n)
		}
	})
}

// FuzzModel feeds model XML (the root model of an otherwise good
// package) to Read: the scanner and the decoder must never disagree in a
// way that panics or hangs.
func FuzzModel(f *testing.F) {
	for _, c := range threemftest.Cases() {
		f.Add(c.Files["3D/3dmodel.model"])
	}
	f.Add(`<model xmlns="` + threemftest.NSCore + `"><resources><object id="1"><mesh><vertices><vertex x='1' y="2" z="3"></vertex><!--x--><vertex x="1" y="&#50;" z="3"/>junk<vertex x="0" y="0" z="0"/></vertices><triangles><triangle v1="0" v2="1" v3="2"/></triangles></mesh></object></resources><build><item objectid="1"/></build></model>`)
	f.Fuzz(func(t *testing.T, model string) {
		data := threemftest.Zip(threemftest.Package(model, nil))
		lim := Limits{MaxTriangles: 10000, MaxDepth: 32}
		s := &finiteSink{t: t}
		info, err := Read(bytes.NewReader(data), int64(len(data)), "fuzz.3mf", lim, s)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "fuzz.3mf: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line naming the file", msg)
			}
			return
		}
		if info.Triangles != s.n {
			t.Fatalf("reported %d facets, handed on %d", info.Triangles, s.n)
		}
	})
}
