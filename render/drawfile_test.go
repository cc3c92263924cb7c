package render

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/hschendel/stl"
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

// TestScanCountsRepeatedVertices: the first pass skips a vertex that
// repeats one of the previous facet's, and still finds the extent of
// every vertex (as extend does) and every non-finite coordinate, also
// where the extreme vertex is the origin (all bits zero) at the start of
// a chunk, or a repeat is what is not finite.
func TestScanCountsRepeatedVertices(t *testing.T) {
	facet := func(v ...[3]float32) []byte {
		b := make([]byte, binaryFacetSize)
		for i, p := range v {
			for k, c := range p {
				binary.LittleEndian.PutUint32(b[12+12*i+4*k:], math.Float32bits(c))
			}
		}
		return b
	}
	var torus bytes.Buffer
	if err := stlgen.WriteTorus(&torus, 5000, false); err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	cases := map[string][]byte{
		"torus": torus.Bytes()[binaryHeaderSize:],
		"origin first": slices.Concat(facet([3]float32{0, 0, 0}, [3]float32{1, 2, 3}, [3]float32{2, 1, 3}),
			facet([3]float32{1, 2, 3}, [3]float32{2, 1, 3}, [3]float32{3, 3, 3})),
		"origin again": slices.Concat(facet([3]float32{1, 2, 3}, [3]float32{2, 1, 3}, [3]float32{3, 3, 3}),
			facet([3]float32{0, 0, 0}, [3]float32{1, 2, 3}, [3]float32{2, 1, 3}),
			facet([3]float32{2, 1, 3}, [3]float32{0, 0, 0}, [3]float32{5, 1, 3})),
		"NaN repeated": slices.Concat(facet([3]float32{1, 2, 3}, [3]float32{nan, 1, 3}, [3]float32{3, 3, 3}),
			facet([3]float32{nan, 1, 3}, [3]float32{1, 2, 3}, [3]float32{3, 3, 4})),
	}
	r := newRaster(300, 1)
	for name, buf := range cases {
		verts := make([]stl.Vec3, 3*(len(buf)/binaryFacetSize))
		vertices(buf, verts)
		want := r.extend(emptyExtent(), verts)
		wantBad := slices.ContainsFunc(verts, func(v stl.Vec3) bool {
			return math.IsNaN(float64(v[0])) || math.IsNaN(float64(v[1])) || math.IsNaN(float64(v[2]))
		})
		area := true
		got, bad := r.scanFacets(emptyExtent(), buf, &[3]float64{}, &area)
		if bad != wantBad || !bad && got != want {
			t.Errorf("%s: scanFacets gives %+v (bad %v), want %+v (bad %v)", name, got, bad, want, wantBad)
		}
	}
}

// TestMappedFileCutShort: a file cut short after it was mapped (reading
// the lost part faults) makes the reading worker report a failure, and
// RenderFile then reads the file the usual way and gives ReadFacets'
// error, instead of the process dying of SIGBUS.
func TestMappedFileCutShort(t *testing.T) {
	var buf bytes.Buffer
	if err := stlgen.WriteTorus(&buf, 50_000, false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "torus.stl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := openFacetFile(f, int64(buf.Len()))
	defer src.close()
	if src.mapped == nil {
		t.Skip("no mapping on this system")
	}
	if err := os.Truncate(path, 1000); err != nil {
		t.Fatal(err)
	}
	failed := false
	var sum byte
	src.guard(&failed, func() {
		data, bad := src.facets(nil, 40_000, 100)
		if bad {
			t.Fatal("the mapping is shorter than the file was")
		}
		for _, b := range data {
			sum += b
		}
	})
	if !failed {
		t.Errorf("reading past the end of a file cut short did not fail (sum %d)", sum)
	}
	// Drawing reads the facets where they lie in the mapping: a fault
	// there is caught the same way.
	if binaryVerticesInPlace() {
		r := newRaster(64, 1)
		r.fitExtent(extent{-50, 50, -50, 50, -50, 50})
		r.newFrames(false)
		works := r.newWorks(Limits{})
		failed = false
		src.guard(&failed, func() {
			data, _ := src.facets(nil, 40_000, 100)
			r.drawFacets(r.frames[0], fileCorners(data), 0, 100, works[0])
		})
		r.done()
		if !failed {
			t.Error("drawing facets past the end of a file cut short did not fail")
		}
	}
	renderBoth(t, path, 64, Limits{})
}
