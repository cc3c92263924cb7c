package pack

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Mixed parts as open-hardware projects have them: many small (clips,
// spacers, knobs), a good share of middling (brackets, carriages), a few
// large (housings, panels), sides in mm.
func mixedParts(n int, seed uint64) []Rect {
	rng := rand.New(rand.NewPCG(seed, 17))
	out := make([]Rect, n)
	for i := range out {
		var lo, hi float64
		switch r := rng.Float64(); {
		case r < 0.5:
			lo, hi = 8, 40
		case r < 0.85:
			lo, hi = 30, 100
		default:
			lo, hi = 80, 190
		}
		w := lo + rng.Float64()*(hi-lo)
		h := w * (0.3 + 0.7*rng.Float64())
		out[i] = Rect{W: math.Round(w*10) / 10, H: math.Round(h*10) / 10}
	}
	return out
}

// Bound is the area lower bound on bins: the rectangles' area over the
// bin's, rounded up.
func bound(rects []Rect, w, h float64) int {
	a := 0.0
	for _, r := range rects {
		a += r.W * r.H
	}
	return int(math.Ceil(a/(w*h) - 1e-9))
}

// check fails unless every rectangle is in its bin, gap from the others.
func check(t *testing.T, rects []Rect, res Result, w, h, gap float64) {
	t.Helper()
	type box struct{ x0, y0, x1, y1 float64 }
	byBin := map[int][]box{}
	for i, s := range res.Spots {
		if s.Bin < 0 || s.Bin >= res.Bins {
			t.Fatalf("rect %d (%v) in bin %d of %d", i, rects[i], s.Bin, res.Bins)
		}
		rw, rh := rects[i].W, rects[i].H
		if s.Turned {
			rw, rh = rh, rw
		}
		b := box{s.X, s.Y, s.X + rw, s.Y + rh}
		if b.x0 < -eps || b.y0 < -eps || b.x1 > w+1e-6 || b.y1 > h+1e-6 {
			t.Fatalf("rect %d %v at %+v leaves the %gx%g bin", i, rects[i], b, w, h)
		}
		for _, o := range byBin[s.Bin] {
			// Apart by gap along at least one axis.
			if b.x0 < o.x1+gap-1e-6 && o.x0 < b.x1+gap-1e-6 && b.y0 < o.y1+gap-1e-6 && o.y0 < b.y1+gap-1e-6 {
				t.Fatalf("rect %d %+v is closer than %g mm to %+v in bin %d", i, b, gap, o, s.Bin)
			}
		}
		byBin[s.Bin] = append(byBin[s.Bin], b)
	}
}

func TestPackQuality(t *testing.T) {
	beds := []struct{ w, h float64 }{{250, 210}, {180, 180}, {256, 256}, {350, 350}}
	for _, n := range []int{50, 500} {
		for seed := uint64(1); seed <= 5; seed++ {
			all := mixedParts(n, seed)
			for _, bed := range beds {
				t.Run(fmt.Sprintf("%d/seed%d/%gx%g", n, seed, bed.w, bed.h), func(t *testing.T) {
					// Rectangles larger than the bed are the plan's business
					// (a note); the bound is over those that fit.
					var rects []Rect
					for _, r := range all {
						if r.W <= bed.w && r.H <= bed.h || r.H <= bed.w && r.W <= bed.h {
							rects = append(rects, r)
						}
					}
					res := Pack(rects, bed.w, bed.h, 2)
					check(t, rects, res, bed.w, bed.h, 2)
					lb := bound(rects, bed.w, bed.h)
					limit := int(math.Ceil(1.15*float64(lb) - 1e-9))
					t.Logf("%d rects: %d bins, bound %d, limit %d", len(rects), res.Bins, lb, limit)
					if res.Bins > limit {
						t.Errorf("%d bins for %d rectangles on %gx%g: more than ⌈1.15 × %d⌉ = %d", res.Bins, n, bed.w, bed.h, lb, limit)
					}
				})
			}
		}
	}
}

func TestPackTooBig(t *testing.T) {
	rects := []Rect{{100, 50}, {300, 10}, {50, 100}, {240, 200}, {200, 240}, {250, 211}}
	res := Pack(rects, 250, 210, 2)
	want := []int{0, -1, 0, 0, 0, -1}
	for i, s := range res.Spots {
		if (s.Bin < 0) != (want[i] < 0) {
			t.Errorf("rect %d %v: bin %d, want placed=%v", i, rects[i], s.Bin, want[i] >= 0)
		}
	}
	// The 240×200 one fills a bed: the two others need a second, and the
	// one that only fits turned is turned.
	if res.Bins != 3 {
		t.Errorf("%d bins, want 3 (240x200 and 200x240 each fill a bed; the small ones share one)", res.Bins)
	}
	if !res.Spots[4].Turned {
		t.Errorf("200x240 on a 250x210 bed must be turned")
	}
	var placed []Rect
	var spots []Spot
	for i, s := range res.Spots {
		if s.Bin >= 0 {
			placed, spots = append(placed, rects[i]), append(spots, s)
		}
	}
	check(t, placed, Result{Spots: spots, Bins: res.Bins}, 250, 210, 2)
}

func TestPackDeterministic(t *testing.T) {
	rects := mixedParts(200, 9)
	a, b := Pack(rects, 250, 210, 2), Pack(rects, 250, 210, 2)
	for i := range a.Spots {
		if a.Spots[i] != b.Spots[i] {
			t.Fatalf("spot %d differs between runs: %+v and %+v", i, a.Spots[i], b.Spots[i])
		}
	}
}

func TestPackEmpty(t *testing.T) {
	if res := Pack(nil, 250, 210, 2); res.Bins != 0 || len(res.Spots) != 0 {
		t.Errorf("nothing to pack gave %+v", res)
	}
}

func BenchmarkPack500(b *testing.B) {
	rects := mixedParts(500, 1)
	for b.Loop() {
		Pack(rects, 250, 210, 2)
	}
}
