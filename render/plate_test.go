package render

import (
	"bytes"
	"image/color"
	"image/png"
	"testing"

	"github.com/hschendel/stl"
)

// boxFacets is a w×d×h box from the origin, as facets.
func boxFacets(w, d, h float32) *Facets {
	v := func(i int) [3]float32 { return [3]float32{w * float32(i&1), d * float32(i>>1&1), h * float32(i>>2&1)} }
	f := &Facets{name: "box"}
	for _, t := range [][3]int{{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4}, {2, 6, 3}, {3, 6, 7}, {0, 4, 2}, {2, 4, 6}, {1, 3, 5}, {3, 7, 5}} {
		for _, i := range t {
			p := v(i)
			f.v = append(f.v, p[0], p[1], p[2])
		}
	}
	return f
}

// A plate picture: the bed fills the frame's width, parts appear where
// their transforms put them, seen from above, and nothing is drawn off
// the bed.
func TestPlate(t *testing.T) {
	p, err := NewPlate(200, 100, 10, 200)
	if err != nil {
		t.Fatal(err)
	}
	// A 20 × 20 × 10 box at (10, 10); a second one turned a quarter turn
	// and moved to (150, 60)..(170, 80).
	box := boxFacets(20, 20, 10)
	p.Draw(box, [12]float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 10, 10, 0})
	p.Draw(box, [12]float64{0, -1, 0, 1, 0, 0, 0, 0, 1, 170, 60, 0})
	img := p.Image()
	// 0.88 px per mm; the bed spans x 12..188 and y 56..144 (image rows
	// grow downwards, bed y upwards).
	px := func(x, y float64) color.RGBA {
		return img.RGBAAt(int(12+x*0.88), int(144-y*0.88))
	}
	isPart := func(c color.RGBA) bool { return int(c.B)-int(c.R) > 18 }
	for _, c := range []struct {
		x, y float64
		part bool
	}{{20, 20, true}, {160, 70, true}, {45, 20, false}, {160, 40, false}, {100, 80, false}} {
		if got := px(c.x, c.y); isPart(got) != c.part {
			t.Errorf("at %g, %g mm: %v, part %v", c.x, c.y, got, c.part)
		}
	}
	if got := px(157, 38); got != bedColour {
		t.Errorf("empty bed at 157, 38 mm: %v, want the bed's colour %v", got, bedColour)
	}
	if got := img.RGBAAt(5, 5); got != Background() {
		t.Errorf("off the bed: %v, want the background", got)
	}
	var buf bytes.Buffer
	if err := p.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	if dec, err := png.Decode(&buf); err != nil || dec.Bounds().Dx() != 200 {
		t.Errorf("PNG: %v", err)
	}
}

// Geometry beyond the frame is pressed onto its edge, never wrapped
// around into the picture.
func TestPlateClamps(t *testing.T) {
	p, err := NewPlate(100, 100, 5, 64)
	if err != nil {
		t.Fatal(err)
	}
	far := &Facets{name: "far", v: []float32{-1e6, -1e6, 0, 1e6, -1e6, 0, 0, 1e6, 1e9}}
	p.Draw(far, [12]float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0})
	p.DrawMesh(&Mesh{verts: []stl.Vec3{{1e7, 1e7, 0}, {2e7, 1e7, 0}, {1e7, 2e7, 3}}, tris: []int32{0, 1, 2}}, [12]float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0})
	p.Image()
	for _, bad := range [][3]float64{{0, 100, 10}, {100, 0, 10}, {100, 100, 0}, {-1, 100, 10}} {
		if _, err := NewPlate(bad[0], bad[1], bad[2], 64); err == nil {
			t.Errorf("NewPlate(%v) accepted", bad)
		}
	}
	if _, err := NewPlate(100, 100, 10, 4096); err == nil {
		t.Error("a 4096 px plate was accepted")
	}
}
