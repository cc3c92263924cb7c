package stlgen

import (
	"bytes"
	"testing"

	"github.com/hschendel/stl"
)

// TestTorus reads generated tori back with hschendel/stl: the exact facet
// count, and the same vertices in both encodings.
func TestTorus(t *testing.T) {
	for _, n := range []int{20, 1000, 30001} {
		var bin, text bytes.Buffer
		if err := WriteTorus(&bin, n, false); err != nil {
			t.Fatal(err)
		}
		if err := WriteTorus(&text, n, true); err != nil {
			t.Fatal(err)
		}
		b, err := stl.ReadAll(bytes.NewReader(bin.Bytes()))
		if err != nil {
			t.Fatalf("binary torus of %d: %v", n, err)
		}
		a, err := stl.ReadAll(bytes.NewReader(text.Bytes()))
		if err != nil {
			t.Fatalf("ascii torus of %d: %v", n, err)
		}
		want := TorusTriangles(n)
		if len(b.Triangles) != want || len(a.Triangles) != want || bin.Len() != 84+50*want {
			t.Fatalf("torus of %d: %d binary, %d ascii facets, want %d", n, len(b.Triangles), len(a.Triangles), want)
		}
		for i := range b.Triangles {
			if b.Triangles[i].Vertices != a.Triangles[i].Vertices {
				t.Fatalf("torus of %d: facet %d differs between encodings", n, i)
			}
		}
		if n > 100 && (want < n*9/10 || want > n*11/10) {
			t.Errorf("torus of %d has %d facets, too far off", n, want)
		}
	}
	if err := (Torus{Major: 1, Minor: 2, Triangles: 10}).Write(&bytes.Buffer{}); err == nil {
		t.Error("minor radius above major accepted")
	}
}
