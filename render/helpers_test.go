package render

import (
	"bytes"
	"io"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/hschendel/stl"
)

// torusSolid reads a generated torus back with hschendel's reader.
func torusSolid(t testing.TB, tor stlgen.Torus) *stl.Solid {
	t.Helper()
	var buf bytes.Buffer
	if err := tor.Write(&buf); err != nil {
		t.Fatal(err)
	}
	s, err := stl.ReadAll(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("hschendel reads generated torus: %v", err)
	}
	return s
}

// twoTori is two disjoint closed tori in one file: two shells.
func twoTori(t testing.TB) *stl.Solid {
	a := torusSolid(t, stlgen.Torus{Major: 20, Minor: 5, Triangles: 2000})
	b := torusSolid(t, stlgen.Torus{Major: 20, Minor: 5, Center: [3]float64{60, 0, 0}, Triangles: 2000})
	a.Triangles = append(a.Triangles, b.Triangles...)
	return a
}

// openTorus is a torus with three facets missing: one shell, not watertight.
func openTorus(t testing.TB) *stl.Solid {
	a := torusSolid(t, stlgen.Torus{Major: 20, Minor: 5, Triangles: 2000})
	a.Triangles = append(a.Triangles[:100], a.Triangles[103:]...)
	return a
}

func writeSolid(w io.Writer, s *stl.Solid, ascii bool) error {
	s.IsAscii = ascii
	if s.Name == "" {
		s.Name = "test"
	}
	return s.WriteAll(w)
}

// stackedTori is a wide ring on the ground with a narrow one high above it.
func stackedTori(t testing.TB) *stl.Solid {
	a := torusSolid(t, stlgen.Torus{Major: 40, Minor: 5, Center: [3]float64{0, 0, 5}, Triangles: 2000})
	b := torusSolid(t, stlgen.Torus{Major: 8, Minor: 3, Center: [3]float64{0, 0, 120}, Triangles: 2000})
	a.Triangles = append(a.Triangles, b.Triangles...)
	return a
}
