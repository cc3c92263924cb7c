package render

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
)

// renderBoth draws the file at path with RenderFile and with ReadFacets
// and Facets.Render, and requires the same pixels or the same error.
func renderBoth(t *testing.T, path string, size int, lim Limits) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, gerr := RenderFile(f, path, size, lim)
	var want []byte
	data, _ := os.ReadFile(path)
	fc, werr := ReadFacets(bytes.NewReader(data), path, lim)
	if werr == nil {
		img, err := fc.Render(size)
		werr = err
		if img != nil {
			want = img.Pix
		}
	}
	switch {
	case (gerr == nil) != (werr == nil):
		t.Fatalf("%s: RenderFile says %v, ReadFacets and Render %v", path, gerr, werr)
	case gerr != nil:
		if gerr.Error() != werr.Error() {
			t.Errorf("%s: RenderFile says %q, ReadFacets and Render %q", path, gerr, werr)
		}
	case !bytes.Equal(got.Pix, want):
		t.Errorf("%s: RenderFile's pixels differ from Facets.Render's", path)
	}
}

// TestRenderFileLikeFacets: drawing straight from the file gives the
// pixels of ReadFacets and Render, for every corpus part (binary and
// ASCII) and for a part big enough to be drawn by two workers.
func TestRenderFileLikeFacets(t *testing.T) {
	for _, path := range corpusFiles(t) {
		renderBoth(t, path, 96, Limits{})
	}
	big := filepath.Join(t.TempDir(), "torus.stl")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := stlgen.WriteTorus(f, 3*parallelFacets+7, false); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, size := range []int{64, 512, 1200} {
		renderBoth(t, big, size, Limits{})
	}
}

// TestRenderFileRefusesAsReadFacets: a file that ReadFacets or Render
// refuses gets the same error from RenderFile.
func TestRenderFileRefusesAsReadFacets(t *testing.T) {
	var buf bytes.Buffer
	if err := stlgen.WriteTorus(&buf, 2*parallelFacets, false); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A NaN in the second worker's share, and in the first facet.
	for i, at := range []int{84 + 50*(3*parallelFacets/2) + 12 + 4*7, 84 + 12} {
		data := bytes.Clone(good)
		binary.LittleEndian.PutUint32(data[at:], 0x7fc00000)
		renderBoth(t, write("nan"+string(rune('a'+i))+".stl", data), 64, Limits{})
	}
	// Truncated: the header promises more facets than the file holds.
	renderBoth(t, write("short.stl", good[:len(good)-30]), 64, Limits{})
	// A count of 0: the facets run to the end of the file.
	zero := bytes.Clone(good)
	binary.LittleEndian.PutUint32(zero[80:], 0)
	renderBoth(t, write("zero.stl", zero), 64, Limits{})
	// Over the limits.
	renderBoth(t, write("many.stl", good), 64, Limits{MaxTriangles: 100})
	renderBoth(t, write("big.stl", good), 64, Limits{MaxBytes: 1000})
	// Every facet degenerate: all three vertices the same point.
	flat := bytes.Clone(good)
	for t := range (len(flat) - 84) / 50 {
		v := flat[84+50*t+12 : 84+50*t+24]
		copy(flat[84+50*t+24:], v)
		copy(flat[84+50*t+36:], v)
	}
	renderBoth(t, write("flat.stl", flat), 64, Limits{})
	// Bad sizes.
	renderBoth(t, write("good.stl", good), MaxPreviewSize+1, Limits{})
	renderBoth(t, write("tiny.stl", good[:40]), 64, Limits{})
}
