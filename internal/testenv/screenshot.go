package testenv

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
)

// SaveScreenshot keeps a half-size copy of a PNG screenshot as name: in
// testdata/screenshots when keep is set (the tests' -screenshots flag),
// in the test's temp folder otherwise (so the decoding is still checked).
func SaveScreenshot(t T, name string, shot []byte, keep bool) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode screenshot %s: %v", name, err)
	}
	small := Shrink(img, 2)
	dir := t.TempDir()
	if keep {
		dir = filepath.Join(ModuleRoot(t), "testdata", "screenshots")
		os.MkdirAll(dir, 0o755)
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, small); err != nil {
		t.Fatalf("encode screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
		t.Fatalf("write screenshot %s: %v", name, err)
	}
}

// Shrink scales img down k times, averaging each k×k square.
func Shrink(img image.Image, k int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()/k, b.Dy()/k))
	for y := 0; y < b.Dy()/k; y++ {
		for x := 0; x < b.Dx()/k; x++ {
			var r, g, bl, a uint32
			for dy := range k {
				for dx := range k {
					cr, cg, cb, ca := img.At(b.Min.X+x*k+dx, b.Min.Y+y*k+dy).RGBA()
					r, g, bl, a = r+cr, g+cg, bl+cb, a+ca
				}
			}
			n := uint32(k * k * 257)
			i := out.PixOffset(x, y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(r/n), uint8(g/n), uint8(bl/n), uint8(a/n)
		}
	}
	return out
}
