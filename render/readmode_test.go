package render

import (
	"bytes"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
)

// TestReadModesAgree checks the shortcuts of Inspect (no coordinates kept)
// and ReadPreviewMesh (no SHA-256) against ReadMesh: the same measurements
// and, for the preview, the same pixels.
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
		pm, err := ReadPreviewMesh(bytes.NewReader(buf.Bytes()), "torus.stl", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		p := pm.Part()
		if p.SHA256 != "" {
			t.Errorf("ascii=%v: preview mesh has a SHA-256", ascii)
		}
		p.SHA256 = want.SHA256
		if p != want {
			t.Errorf("ascii=%v: ReadPreviewMesh gives %+v, ReadMesh %+v", ascii, p, want)
		}
		a, err := full.Render(128)
		if err != nil {
			t.Fatal(err)
		}
		b, err := pm.Render(128)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Pix, b.Pix) {
			t.Errorf("ascii=%v: previews differ", ascii)
		}
	}
}
