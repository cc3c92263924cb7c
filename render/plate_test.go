package render

import (
	"bytes"
	"context"
	"errors"
	"image/color"
	"image/png"
	"strings"
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
	for _, tr := range [][12]float64{{1, 0, 0, 0, 1, 0, 0, 0, 1, 10, 10, 0}, {0, -1, 0, 1, 0, 0, 0, 0, 1, 170, 60, 0}} {
		if err := p.Draw(box, tr); err != nil {
			t.Fatalf("draw a box: %v", err)
		}
	}
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
	if err := p.Draw(far, [12]float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if err := p.DrawMesh(&Mesh{verts: []stl.Vec3{{1e7, 1e7, 0}, {2e7, 1e7, 0}, {1e7, 2e7, 3}}, tris: []int32{0, 1, 2}}, [12]float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
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

// A part over its preview budget, or whose context ended, is left out of
// the plate with an error naming it; the parts drawn before it stay, and
// the picture can still be taken.
func TestPlateDrawOverBudget(t *testing.T) {
	p, err := NewPlate(100, 100, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	id := [12]float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}
	if err := p.Draw(boxFacets(20, 20, 10), id); err != nil {
		t.Fatalf("a small box: %v", err)
	}
	// 40 facets each covering half the bed, at different heights (not
	// exact duplicates): about 20 pictures' worth of samples, against a
	// budget of 2.
	heavy := &Facets{name: "parts/heavy.stl", lim: Limits{MaxOverdraw: 2}}
	for i := range 40 {
		z := float32(i) / 8
		heavy.v = append(heavy.v, 0, 0, z, 100, 0, z, 0, 100, z)
	}
	err = p.Draw(heavy, id)
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "parts/heavy.stl") {
		t.Fatalf("over budget: %v, want ErrBudget naming parts/heavy.stl", err)
	}
	mesh := &Mesh{name: "parts/heavy-mesh.stl", lim: Limits{MaxOverdraw: 2}, verts: []stl.Vec3{{0, 0, 1}, {100, 0, 1}, {0, 100, 1}, {0, 0, 2}, {100, 0, 2}, {0, 100, 2}}}
	for i := range 40 {
		o := int32(3 * (i % 2))
		mesh.tris = append(mesh.tris, o, o+1, o+2)
	}
	if err := p.DrawMesh(mesh, id); !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "parts/heavy-mesh.stl") {
		t.Fatalf("mesh over budget: %v, want ErrBudget naming parts/heavy-mesh.stl", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	late := boxFacets(10, 10, 5)
	late.name, late.lim = "late.stl", Limits{Context: ctx}
	if err := p.Draw(late, id); err == nil || errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "late.stl") {
		t.Fatalf("cancelled: %v, want an error naming late.stl that is not the budget's", err)
	}
	if img := p.Image(); img.Bounds().Dx() != 64 {
		t.Fatalf("picture of %v", img.Bounds())
	}
}
