package render

import (
	"bytes"
	"encoding/binary"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
)

var update = flag.Bool("update", false, "rewrite the golden preview images in testdata/")

func readCorpusMesh(t testing.TB, rel string) *Mesh {
	t.Helper()
	path := filepath.Join("../testdata/corpus", rel)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ReadMesh(f, path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGoldenPreviews compares previews of a few corpus parts with the images
// in testdata/, pixel by pixel with a tolerance (not byte for byte: PNG
// encoders may differ). go test ./render -run Golden -update rewrites them.
func TestGoldenPreviews(t *testing.T) {
	parts := map[string]string{
		"x-carriage":       "prusa3d__Original-Prusa-i3/Printed-Parts/STL/x-carriage.stl",
		"xy_left":          "VoronDesign__Voron-Trident/STLs/Gantry/X_Axis/XY_Joints/[a]_xy_left.stl",
		"large_gear":       "rwb27__openflexure_microscope/stl/large_gear.stl",
		"pot_cup_cleat":    "uwo-fast__OpenAgriS3D/src/plant-pot/fusion-cleat-model/pot_cup_cleat.stl",
		"electronics_base": "meltoner__agrofelis/components/connectivity/assets/3d-print/JetsonElectronicsBase/export_electronics_base.stl",
	}
	for name, rel := range parts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := readCorpusMesh(t, rel)
			var buf bytes.Buffer
			if err := m.WritePNG(&buf, 256); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "preview_"+name+".png")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := decodePNG(t, mustRead(t, golden))
			got := decodePNG(t, buf.Bytes())
			if got.Bounds() != want.Bounds() {
				t.Fatalf("size %v, golden %v", got.Bounds(), want.Bounds())
			}
			off := 0
			b := got.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					r1, g1, b1, _ := got.At(x, y).RGBA()
					r2, g2, b2, _ := want.At(x, y).RGBA()
					if absDiff(r1, r2) > 8<<8 || absDiff(g1, g2) > 8<<8 || absDiff(b1, b2) > 8<<8 {
						off++
					}
				}
			}
			if off > b.Dx()*b.Dy()/200 {
				t.Errorf("%d pixels differ from %s by more than 8 levels (run with -update after checking the new image)", off, golden)
			}
		})
	}
}

// TestPreviewFillsFrame: the part is drawn (not blank), not cropped (no part
// pixel on the border) and fills a reasonable share of the frame, for a 2 mm
// washer, a 2 m ring and corpus parts alike.
func TestPreviewFillsFrame(t *testing.T) {
	meshes := map[string]*Mesh{}
	for name, tor := range map[string]stlgen.Torus{
		"washer 2 mm": {Major: 0.75, Minor: 0.25, Center: [3]float64{0, 0, 0.25}, Triangles: 3000},
		"ring 2 m":    {Major: 800, Minor: 200, Center: [3]float64{5000, -3000, 200}, Triangles: 3000},
		"far away":    {Major: 10, Minor: 3, Center: [3]float64{1e6, 1e6, 1e6}, Triangles: 3000},
	} {
		var buf bytes.Buffer
		if err := tor.Write(&buf); err != nil {
			t.Fatal(err)
		}
		m, err := ReadMesh(&buf, name, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		meshes[name] = m
	}
	meshes["plug-aligner"] = readCorpusMesh(t, "prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl")
	meshes["gears"] = readCorpusMesh(t, "rwb27__openflexure_microscope/stl/gears.stl")
	meshes["handle"] = readCorpusMesh(t, "VoronDesign__Voron-Trident/STLs/Panels/Front_Doors/handle_a_x2.stl")
	for name, m := range meshes {
		for _, size := range []int{64, 512} {
			img, err := m.Render(size)
			if err != nil {
				t.Fatal(err)
			}
			object, border := 0, 0
			minX, minY, maxX, maxY := size, size, -1, -1
			for y := range size {
				for x := range size {
					if img.RGBAAt(x, y) == Background() {
						continue
					}
					object++
					if x == 0 || y == 0 || x == size-1 || y == size-1 {
						border++
					}
					minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
				}
			}
			share := float64(object) / float64(size*size)
			extent := float64(max(maxX-minX, maxY-minY)+1) / float64(size)
			if border > 0 || share < 0.10 || extent < 0.8 {
				t.Errorf("%s at %d px: %d border pixels, part covers %.0f %% of the frame, spans %.0f %% of it",
					name, size, border, 100*share, 100*extent)
			}
			// Lit, not black: the mean part pixel is well above dark.
			var sum float64
			for y := range size {
				for x := range size {
					if c := img.RGBAAt(x, y); c != Background() {
						sum += float64(c.R) + float64(c.G) + float64(c.B)
					}
				}
			}
			if mean := sum / float64(3*max(object, 1)); mean < 70 {
				t.Errorf("%s at %d px: mean part brightness %.0f, too dark", name, size, mean)
			}
		}
	}
}

func TestPreviewDeterministic(t *testing.T) {
	m := readCorpusMesh(t, "VoronDesign__Voron-Trident/STLs/Gantry/X_Axis/XY_Joints/[a]_xy_left.stl")
	var a, b bytes.Buffer
	if err := m.WritePNG(&a, 300); err != nil {
		t.Fatal(err)
	}
	if err := m.WritePNG(&b, 300); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two renders of the same mesh differ")
	}
	if _, err := m.Render(5); err == nil {
		t.Error("size 5 accepted")
	}
}

// TestPreviewUpright: Z is up. A tall thin part (a torus standing on its
// rim would not do; use a torus lying flat, stretched in Z by its tube) has
// its top drawn near the top of the frame: the flat torus's hole shows as
// background above the part's lower half.
func TestPreviewUpright(t *testing.T) {
	// A column of two tori, the lower one wider: upright, the wide ring is
	// at the bottom of the picture.
	var buf bytes.Buffer
	if err := writeSolid(&buf, stackedTori(t), false); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMesh(&buf, "stack", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := m.Render(128)
	if err != nil {
		t.Fatal(err)
	}
	width := func(y0, y1 int) int {
		w := 0
		for y := y0; y < y1; y++ {
			lo, hi := 128, -1
			for x := range 128 {
				if img.RGBAAt(x, y) != Background() {
					lo, hi = min(lo, x), max(hi, x)
				}
			}
			w = max(w, hi-lo+1)
		}
		return w
	}
	if top, bottom := width(0, 64), width(64, 128); bottom <= top {
		t.Errorf("wide ring should be at the bottom: top half %d px wide, bottom half %d px", top, bottom)
	}
}

func decodePNG(t testing.TB, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./render -run Golden -update)", err)
	}
	return b
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestWorkersDrawAlike: one worker or two, with frames merged, give the
// same pixels, including where facets meet at equal depth.
func TestWorkersDrawAlike(t *testing.T) {
	for _, rel := range []string{
		"rwb27__openflexure_microscope/stl/large_gear.stl",
		"prusa3d__Original-Prusa-i3/Printed-Parts/STL/x-carriage.stl",
	} {
		m := readCorpusMesh(t, rel)
		var pix [2][]byte
		for w := 1; w <= 2; w++ {
			r := newRaster(3*128, w)
			r.fit(m.verts)
			r.draw(m.verts, m.tris, Limits{})
			img := r.resolve(128, 3)
			drawn := 0
			for y := range 128 {
				for x := range 128 {
					if img.RGBAAt(x, y) != Background() {
						drawn++
					}
				}
			}
			if drawn < 128*128/20 {
				t.Fatalf("%s, %d workers: only %d pixels drawn", rel, w, drawn)
			}
			pix[w-1] = img.Pix
		}
		if !bytes.Equal(pix[0], pix[1]) {
			t.Errorf("%s: two workers draw other pixels than one", rel)
		}
	}
}

// TestShadeTableFile: the shading table kept in shade.bin is the one the
// lighting gives, cell for cell (-update writes it again).
func TestShadeTableFile(t *testing.T) {
	want := computeShadeTable()
	file := make([]byte, 4*len(want))
	for i, c := range want {
		binary.LittleEndian.PutUint32(file[4*i:], c)
	}
	if *update {
		if err := os.WriteFile("shade.bin", file, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(shadeTableFile, file) {
		t.Fatal("shade.bin is not the shading table the lighting gives (go test -run ShadeTableFile -update writes it)")
	}
	if got := shadeTable(); *got != *want {
		t.Error("shadeTable differs from the table the lighting gives")
	}
}
