package render

import (
	"bytes"
	"image"
	"image/png"
	"math/rand/v2"
	"testing"
)

// TestEncodePNG: what EncodePNG writes decodes (with image/png) to the
// pixels it was given, for images of one band and of two, with noise and
// with flat regions, and odd sizes.
func TestEncodePNG(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range [][2]int{{1, 1}, {17, 5}, {64, 64}, {512, 512}, {300, 129}} {
		img := image.NewRGBA(image.Rect(0, 0, size[0], size[1]))
		for i := range img.Pix {
			switch {
			case i%4 == 3:
				img.Pix[i] = 255
			case i < len(img.Pix)/3:
				img.Pix[i] = byte(rng.IntN(256))
			default:
				img.Pix[i] = byte(i / 4 / size[0] % 7) // flat rows
			}
		}
		var buf bytes.Buffer
		if err := EncodePNG(&buf, img); err != nil {
			t.Fatal(err)
		}
		got, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("%v: %v", size, err)
		}
		if got.Bounds() != img.Bounds() {
			t.Fatalf("%v: bounds %v", size, got.Bounds())
		}
		for y := range size[1] {
			for x := range size[0] {
				if got.At(x, y) != img.At(x, y) {
					r1, g1, b1, _ := got.At(x, y).RGBA()
					t.Fatalf("%v: pixel %d,%d is %d,%d,%d, want %v", size, x, y, r1>>8, g1>>8, b1>>8, img.At(x, y))
				}
			}
		}
	}
}
