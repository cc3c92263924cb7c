// Package pack lays rectangles (parts' footprints) into as few equal bins
// (print beds) as it can, keeping a gap between them. Rectangles come in
// as sizes, and leave as spots: a bin number, a position and whether the
// rectangle was turned a quarter turn. Nothing else enters or leaves; the
// package knows nothing of parts or printers.
//
// The method is MaxRects (J. Jylänki, "A Thousand Ways to Pack the Bin",
// 2010): each bin keeps the maximal free rectangles left between what it
// holds, and every rectangle goes, among all open bins, where a heuristic
// scores it best; a new bin is opened only when it fits in none. Several
// orders and heuristics are tried and the packing with the fewest bins
// kept (then the one whose last bin is emptiest, to leave the most room
// on the others' side).
package pack

import (
	"math"
	"sort"
)

// Rect is a rectangle to lay, W along X and H along Y.
type Rect struct {
	W, H float64
}

// Spot is where a rectangle went: bin Bin (from 0), its lower left corner
// at (X, Y), turned a quarter turn when Turned (then it spans H along X
// and W along Y). Bin is -1 for a rectangle larger than a bin.
type Spot struct {
	Bin    int
	X, Y   float64
	Turned bool
}

// Result is a packing.
type Result struct {
	Spots []Spot // one per rectangle, in the order given
	Bins  int
}

const eps = 1e-9

// Pack lays rects into bins of binW × binH with at least gap between any
// two rectangles (none between a rectangle and the bin's edge).
// Rectangles may be turned. It is deterministic: the same input gives the
// same spots.
func Pack(rects []Rect, binW, binH, gap float64) Result {
	best := Result{Bins: math.MaxInt}
	var bestLast float64
	for _, order := range orders {
		for _, h := range heuristics {
			res, last := packOnce(rects, binW, binH, gap, order, h)
			if res.Bins < best.Bins || res.Bins == best.Bins && last < bestLast-eps {
				best, bestLast = res, last
			}
		}
	}
	return best
}

// An order sorts rectangles before they are laid, larger first.
type order func(a, b Rect) bool

var orders = []order{
	func(a, b Rect) bool { return a.W*a.H > b.W*b.H },                                         // area
	func(a, b Rect) bool { return max(a.W, a.H) > max(b.W, b.H) },                             // longer side
	func(a, b Rect) bool { return a.W+a.H > b.W+b.H },                                         // perimeter
	func(a, b Rect) bool { return min(a.W, a.H) > min(b.W, b.H) },                             // shorter side
	func(a, b Rect) bool { return max(a.W, a.H)/min(a.W, a.H) > max(b.W, b.H)/min(b.W, b.H) }, // slenderness
}

// A heuristic scores a w×h rectangle in free rectangle f of bin b: lower
// is better, compared as (primary, secondary).
type heuristic func(b *bin, f rect, w, h float64) (float64, float64)

var heuristics = []heuristic{
	// Best short side fit.
	func(_ *bin, f rect, w, h float64) (float64, float64) {
		dw, dh := f.w-w, f.h-h
		return min(dw, dh), max(dw, dh)
	},
	// Best area fit.
	func(_ *bin, f rect, w, h float64) (float64, float64) {
		dw, dh := f.w-w, f.h-h
		return f.w*f.h - w*h, min(dw, dh)
	},
	// Bottom left.
	func(_ *bin, f rect, w, h float64) (float64, float64) { return f.y + h, f.x },
	// Contact point: most of the perimeter against edges and neighbours.
	func(b *bin, f rect, w, h float64) (float64, float64) { return -b.contact(f.x, f.y, w, h), f.y },
}

type rect struct{ x, y, w, h float64 }

func (r rect) contains(o rect) bool {
	return o.x >= r.x-eps && o.y >= r.y-eps && o.x+o.w <= r.x+r.w+eps && o.y+o.h <= r.y+r.h+eps
}

// bin is one bin being filled: its free rectangles and what it holds.
type bin struct {
	w, h float64
	free []rect
	used []rect
	area float64
}

func newBin(w, h float64) *bin {
	return &bin{w: w, h: h, free: []rect{{0, 0, w, h}}}
}

// packOnce lays the rectangles in one order with one heuristic. It returns
// the packing and the area used in its last bin.
func packOnce(rects []Rect, binW, binH, gap float64, less order, score heuristic) (Result, float64) {
	idx := make([]int, len(rects))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return less(rects[idx[i]], rects[idx[j]]) })
	// Every rectangle and the bin grow by the gap: rectangles that touch
	// in the grown bin are gap apart in the real one.
	bw, bh := binW+gap, binH+gap
	res := Result{Spots: make([]Spot, len(rects))}
	var bins []*bin
	for _, i := range idx {
		w, h := rects[i].W+gap, rects[i].H+gap
		if !(w <= bw+eps && h <= bh+eps) && !(h <= bw+eps && w <= bh+eps) {
			res.Spots[i] = Spot{Bin: -1}
			continue
		}
		bi, fr, turned := -1, rect{}, false
		s1, s2 := math.Inf(1), math.Inf(1)
		for k, b := range bins {
			for _, f := range b.free {
				for _, t := range [2]bool{false, true} {
					rw, rh := w, h
					if t {
						rw, rh = h, w
					}
					if rw > f.w+eps || rh > f.h+eps {
						continue
					}
					a1, a2 := score(b, f, rw, rh)
					if a1 < s1-eps || a1 <= s1+eps && a2 < s2-eps {
						bi, fr, turned, s1, s2 = k, rect{f.x, f.y, rw, rh}, t, a1, a2
					}
				}
			}
		}
		if bi < 0 {
			b := newBin(bw, bh)
			bins = append(bins, b)
			bi = len(bins) - 1
			// An empty bin: the lower left corner, turned only if it
			// would not fit otherwise.
			fr = rect{0, 0, w, h}
			turned = false
			if w > bw+eps || h > bh+eps {
				fr, turned = rect{0, 0, h, w}, true
			}
		}
		bins[bi].place(fr)
		res.Spots[i] = Spot{Bin: bi, X: fr.x, Y: fr.y, Turned: turned}
	}
	res.Bins = len(bins)
	last := 0.0
	if len(bins) > 0 {
		last = bins[len(bins)-1].area
	}
	return res, last
}

// place takes r out of the bin's free space.
func (b *bin) place(r rect) {
	b.used = append(b.used, r)
	b.area += r.w * r.h
	var next []rect
	for _, f := range b.free {
		if r.x >= f.x+f.w-eps || r.x+r.w <= f.x+eps || r.y >= f.y+f.h-eps || r.y+r.h <= f.y+eps {
			next = append(next, f)
			continue
		}
		// Up to four maximal rectangles of f around r.
		if r.x > f.x+eps {
			next = append(next, rect{f.x, f.y, r.x - f.x, f.h})
		}
		if r.x+r.w < f.x+f.w-eps {
			next = append(next, rect{r.x + r.w, f.y, f.x + f.w - (r.x + r.w), f.h})
		}
		if r.y > f.y+eps {
			next = append(next, rect{f.x, f.y, f.w, r.y - f.y})
		}
		if r.y+r.h < f.y+f.h-eps {
			next = append(next, rect{f.x, r.y + r.h, f.w, f.y + f.h - (r.y + r.h)})
		}
	}
	// Drop free rectangles inside others.
	pruned := next[:0]
	for i, f := range next {
		inside := false
		for j, g := range next {
			if i != j && g.contains(f) && (!f.contains(g) || j < i) {
				inside = true
				break
			}
		}
		if !inside {
			pruned = append(pruned, f)
		}
	}
	b.free = pruned
}

// contact is the length of a w×h rectangle at (x, y)'s perimeter that
// touches the bin's edges or the rectangles it holds.
func (b *bin) contact(x, y, w, h float64) float64 {
	c := 0.0
	if x <= eps || x+w >= b.w-eps {
		c += h
	}
	if y <= eps || y+h >= b.h-eps {
		c += w
	}
	overlap := func(a0, a1, b0, b1 float64) float64 { return max(0, min(a1, b1)-max(a0, b0)) }
	for _, u := range b.used {
		if math.Abs(u.x-(x+w)) < eps || math.Abs(u.x+u.w-x) < eps {
			c += overlap(u.y, u.y+u.h, y, y+h)
		}
		if math.Abs(u.y-(y+h)) < eps || math.Abs(u.y+u.h-y) < eps {
			c += overlap(u.x, u.x+u.w, x, x+w)
		}
	}
	return c
}
