package render

import (
	"bytes"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/hschendel/stl"
)

// TestCornersFindVertices: facets read in place from a binary STL file's
// bytes (vertices at unaligned offsets) and from a vertex list give the
// vertices decoding gives, and asking for facets past the end panics
// instead of reading beyond the bytes.
func TestCornersFindVertices(t *testing.T) {
	var file bytes.Buffer
	if err := stlgen.WriteTorus(&file, 301, false); err != nil {
		t.Fatal(err)
	}
	buf := file.Bytes()[binaryHeaderSize:]
	want := make([]stl.Vec3, 3*(len(buf)/binaryFacetSize))
	vertices(buf, want)
	sources := map[string]corners{"list": meshCorners(want, nil)}
	if binaryVerticesInPlace() {
		sources["file"] = fileCorners(buf)
	}
	for name, c := range sources {
		if c.facets != len(want)/3 || c.facets < 300 {
			t.Fatalf("%s: %d facets, want %d", name, c.facets, len(want)/3)
		}
		for f := range c.facets {
			a, b, d := c.of(f)
			if *a != want[3*f] || *b != want[3*f+1] || *d != want[3*f+2] {
				t.Fatalf("%s: facet %d is %v %v %v, want %v", name, f, *a, *b, *d, want[3*f:3*f+3])
			}
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: facets past the end did not panic", name)
				}
			}()
			c.check(c.facets-1, c.facets+1)
		}()
		c.check(0, c.facets)
		c.check(5, 5)
	}
}
