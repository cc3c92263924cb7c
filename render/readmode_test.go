package render

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
)

// TestReadModesAgree checks the shortcuts of Inspect (no coordinates kept)
// and ReadFacets (no welding, topology or SHA-256) against ReadMesh: the
// same measurements and, for the preview, the same pixels.
func TestReadModesAgree(t *testing.T) {
	for _, ascii := range []bool{false, true} {
		var buf bytes.Buffer
		if err := stlgen.WriteTorus(&buf, 40_000, ascii); err != nil {
			t.Fatal(err)
		}
		full, err := ReadMesh(bytes.NewReader(buf.Bytes()), "torus.stl", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		want := full.Part()
		if want.SHA256 == "" || !want.Watertight || want.Shells != 1 {
			t.Fatalf("ascii=%v: implausible part %+v", ascii, want)
		}
		got, err := Inspect(bytes.NewReader(buf.Bytes()), "torus.stl", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("ascii=%v: Inspect gives %+v, ReadMesh %+v", ascii, got, want)
		}
		fc, err := ReadFacets(bytes.NewReader(buf.Bytes()), "torus.stl", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if int64(fc.Len()) != want.Triangles {
			t.Errorf("ascii=%v: ReadFacets read %d facets, ReadMesh %d", ascii, fc.Len(), want.Triangles)
		}
		samePreview(t, full, fc, 128)
	}
}

// TestFacetsRenderLikeMesh: the CLI's quick preview (ReadFacets) and the
// server's (ReadMesh) give the same pixels for every corpus part.
func TestFacetsRenderLikeMesh(t *testing.T) {
	for _, path := range corpusFiles(t) {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ReadMesh(bytes.NewReader(data), path, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			fc, err := ReadFacets(bytes.NewReader(data), path, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			samePreview(t, m, fc, 96)
		})
	}
}

func samePreview(t *testing.T, m *Mesh, fc *Facets, size int) {
	t.Helper()
	a, err := m.Render(size)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fc.Render(size)
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for i := range a.Pix {
		if a.Pix[i] != b.Pix[i] {
			differ++
		}
	}
	if differ > 0 {
		t.Errorf("%s: the facets' preview differs from the mesh's in %d of %d bytes", m.Name(), differ, len(a.Pix))
	}
	bg := Background()
	drawn := 0
	for y := range size {
		for x := range size {
			if a.RGBAAt(x, y) != bg {
				drawn++
			}
		}
	}
	if drawn < size*size/50 {
		t.Errorf("%s: only %d pixels drawn", m.Name(), drawn)
	}
}

// TestFacetsRefuseNonFinite: ReadFacets checks every coordinate of a
// binary facet, as ReadMesh does, and names the same byte.
func TestFacetsRefuseNonFinite(t *testing.T) {
	var buf bytes.Buffer
	if err := stlgen.WriteTorus(&buf, 1000, false); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, bits := range []uint32{0x7fc00000, 0x7f800000, 0xff800000, 0x7f800001} {
		for coord := range 9 {
			data := bytes.Clone(good)
			at := 84 + 50*500 + 12 + 4*coord // facet 500
			binary.LittleEndian.PutUint32(data[at:], bits)
			_, merr := ReadMesh(bytes.NewReader(data), "bad.stl", Limits{})
			_, ferr := ReadFacets(bytes.NewReader(data), "bad.stl", Limits{})
			if merr == nil || ferr == nil {
				t.Fatalf("%#x at coordinate %d: ReadMesh %v, ReadFacets %v", bits, coord, merr, ferr)
			}
			if merr.Error() != ferr.Error() || !strings.Contains(ferr.Error(), fmt.Sprintf("byte %d", at)) {
				t.Errorf("%#x at coordinate %d: ReadFacets says %q, ReadMesh %q", bits, coord, ferr, merr)
			}
		}
	}
}
