package render

import (
	"math/bits"
	"runtime"
	"sync"
)

// frame holds, per sample, the drawn facet's depth (16 bits, from 1 far to
// 65534 near) above its shading table cell (16 bits), or 0 where nothing
// was drawn. At 16 bits a part's depth is cut into 65533 steps: 1.5 µm
// for a 100 mm part, far finer than a pixel, and each sample takes 4
// bytes, so a worker's frame stays small enough to cache well.
//
// The frame is cut into tiles of tileSide² samples, and remembers which
// tiles a facet may have drawn into: resolve fills the others with the
// background at once (most of a small part's frame), and a frame is
// cleared for the next preview tile by tile.
type frame struct {
	n       int // samples per side
	samples []uint32
	tiles   int      // tiles per side
	touched []uint64 // a bit per tile, row by row
}

const (
	tileShift = 4
	tileSide  = 1 << tileShift
)

// frames keeps cleared frames for the next previews, by samples per side:
// the catalog draws one preview after another, and a fresh frame is 9 MB
// for the kernel to clear.
var frames sync.Map // int → *sync.Pool of *frame

// getFrame returns an empty frame of n×n samples; a new one is mapped
// when mapped is true (see newFrame). A frame is cleared when it is taken
// again, not when it is handed back: a one-shot render does not clear
// frames no one will use.
func getFrame(n int, mapped bool) *frame {
	if p, ok := frames.Load(n); ok {
		if f, ok := p.(*sync.Pool).Get().(*frame); ok {
			f.clear()
			return f
		}
	}
	return newFrame(n, mapped)
}

// newFrame makes an empty frame of n×n samples. Mapped, it has memory of
// its own (frameSamples), which a one-shot render wants: it draws once
// into fresh memory, and a frame of the Go heap could be cleared there
// first on small pages. Otherwise it is of the heap, as a server wants:
// when a pool drops a frame, its memory serves the next one without the
// system clearing it again.
func newFrame(n int, mapped bool) *frame {
	tiles := (n + tileSide - 1) / tileSide
	var samples []uint32
	var release func()
	if mapped {
		samples, release = frameSamples(n * n)
	} else {
		samples = largeSlice[uint32](n*n, n*n)
	}
	f := &frame{
		n:       n,
		samples: samples,
		tiles:   tiles,
		touched: make([]uint64, (tiles*tiles+63)/64),
	}
	if release != nil {
		// Memory outside the Go heap goes back with the frame: when a
		// pool drops it, or a one-shot render ends without pooling it
		// for long.
		runtime.AddCleanup(f, func(release func()) { release() }, release)
	}
	return f
}

// putFrame keeps f for another preview.
func putFrame(f *frame) {
	p, _ := frames.LoadOrStore(f.n, &sync.Pool{})
	p.(*sync.Pool).Put(f)
}

// markOne records that samples minX..maxX × minY..maxY may be drawn
// when they lie in one tile, as most facets' do (and is small enough to
// be inlined); it returns false, and marks nothing, when they do not.
func (f *frame) markOne(minX, maxX, minY, maxY int64) bool {
	tx, ty := minX>>tileShift, minY>>tileShift
	if tx != maxX>>tileShift || ty != maxY>>tileShift {
		return false
	}
	i := uint(ty)*uint(f.tiles) + uint(tx)
	f.touched[i/64] |= 1 << (i % 64)
	return true
}

// mark records that samples minX..maxX × minY..maxY may be drawn.
func (f *frame) mark(minX, maxX, minY, maxY int64) {
	for ty := int(minY >> tileShift); ty <= int(maxY>>tileShift); ty++ {
		for tx := int(minX >> tileShift); tx <= int(maxX>>tileShift); tx++ {
			i := ty*f.tiles + tx
			f.touched[i>>6] |= 1 << (i & 63)
		}
	}
}

// anyTouched reports whether a tile in tx0..tx1 × ty0..ty1 was marked.
func (f *frame) anyTouched(tx0, tx1, ty0, ty1 int) bool {
	for ty := ty0; ty <= ty1; ty++ {
		for tx := tx0; tx <= tx1; tx++ {
			i := ty*f.tiles + tx
			if f.touched[i>>6]&(1<<(i&63)) != 0 {
				return true
			}
		}
	}
	return false
}

// clear zeroes the marked tiles' samples and forgets the marks.
func (f *frame) clear() {
	for w, word := range f.touched {
		for word != 0 {
			b := word & -word
			word ^= b
			i := w*64 + bits.TrailingZeros64(b)
			tx, ty := i%f.tiles, i/f.tiles
			x0, y0 := tx*tileSide, ty*tileSide
			x1, y1 := min(x0+tileSide, f.n), min(y0+tileSide, f.n)
			for y := y0; y < y1; y++ {
				clear(f.samples[y*f.n+x0 : y*f.n+x1])
			}
		}
		f.touched[w] = 0
	}
}
