package threemf

import (
	"os"
	"testing"

	"github.com/hschendel/stl"
)

// countSink counts facets and sums a coordinate, so nothing is optimised
// away.
type countSink struct {
	n   int64
	sum float64
}

func (c *countSink) SetName(string)                {}
func (c *countSink) SetBinaryHeader([]byte)        {}
func (c *countSink) SetASCII(bool)                 {}
func (c *countSink) SetTriangleCount(uint32)       {}
func (c *countSink) AppendTriangle(t stl.Triangle) { c.n++; c.sum += float64(t.Vertices[0][0]) }

// BenchmarkRead reads the file named by BLUEPRINTS_3MF_BENCH.
func BenchmarkRead(b *testing.B) {
	name := os.Getenv("BLUEPRINTS_3MF_BENCH")
	if name == "" {
		b.Skip("BLUEPRINTS_3MF_BENCH names no 3MF file")
	}
	f, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	for b.Loop() {
		var c countSink
		if _, err := Read(f, fi.Size(), name, Limits{}, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuickElements reads the vertex and triangle forms PrusaSlicer
// writes with the one-pass readers.
func BenchmarkQuickElements(b *testing.B) {
	v := []byte(`<vertex x="64.9991455" y="0.333392054" z="15.2309904"/>` + "\n     <vertex")
	t := []byte(`<triangle v1="123456" v2="123457" v3="123458"/>` + "\n     <triangle")
	for b.Loop() {
		quickVertex(v)
		quickTriangle(t)
	}
}
