package print

import (
	"bytes"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/render"
)

// BenchmarkAnalyseRing reads and analyses a 2000-facet ring, as a first
// plan does for each part it has no pose for.
func BenchmarkAnalyseRing(b *testing.B) {
	var buf bytes.Buffer
	if err := (stlgen.Torus{Major: 30, Minor: 4, Center: [3]float64{0, 0, 4}, Triangles: 2000}).Write(&buf); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		m, err := render.ReadMesh(bytes.NewReader(buf.Bytes()), "ring.stl", render.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		Analyse(m)
	}
}

func BenchmarkReadRing(b *testing.B) {
	var buf bytes.Buffer
	if err := (stlgen.Torus{Major: 30, Minor: 4, Center: [3]float64{0, 0, 4}, Triangles: 2000}).Write(&buf); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := render.ReadMesh(bytes.NewReader(buf.Bytes()), "ring.stl", render.DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}
