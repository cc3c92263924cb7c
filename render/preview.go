package render

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"sync"

	"github.com/hschendel/stl"
)

// DefaultPreviewSize is the edge of a preview in pixels.
const DefaultPreviewSize = 512

// Preview sizes accepted by Render and WritePNG.
const (
	MinPreviewSize = 16
	MaxPreviewSize = 2048
)

// The look of a preview: a three-quarter view from the front right and
// above, Z up, the part a slightly warm grey-blue on a neutral background,
// lit by a key light from the viewer's upper left, a weak fill from the
// right, a sky-to-ground ambient term and a soft highlight (see shade).

// Background returns the colour around the part in every preview.
func Background() color.RGBA { return color.RGBA{R: 244, G: 245, B: 247, A: 255} }

// The part's base colour in linear light: sRGB about (170, 178, 194), a
// slightly warm grey-blue.
const partR, partG, partB = 0.40, 0.45, 0.55

const (
	viewAzimuth   = -55 * math.Pi / 180 // camera at +X, -Y: the front right
	viewElevation = 28 * math.Pi / 180
	frameMargin   = 0.06 // share of the frame left empty on each side
	subSamples    = 3    // supersampling per axis, for anti-aliasing
	subBits       = 4    // fixed-point bits below one sample
)

// WritePNG renders the mesh as a size×size preview (0 means 512) and writes
// it as PNG.
func (m *Mesh) WritePNG(w io.Writer, size int) error {
	return writePNG(w, m.name, size, m.Render)
}

// WritePNG renders the facets as a size×size preview (0 means 512) and
// writes it as PNG; the image is the one Mesh.WritePNG gives.
func (f *Facets) WritePNG(w io.Writer, size int) error {
	return writePNG(w, f.name, size, f.Render)
}

func writePNG(w io.Writer, name string, size int, render func(int) (*image.RGBA, error)) error {
	img, err := render(size)
	if err != nil {
		return err
	}
	if err := EncodePNG(w, img); err != nil {
		return fmt.Errorf("write preview of %s: %w", name, err)
	}
	return nil
}

// Render draws the mesh as a size×size image (0 means 512): the part fills
// the frame whatever its size, is z-buffered, flat-shaded so facets show,
// and anti-aliased by supersampling. The same mesh always gives the same
// pixels, the same as Facets.Render on the same file. It uses every core,
// sharing one copy of the mesh.
func (m *Mesh) Render(size int) (*image.RGBA, error) {
	return render(m.name, size, m.verts, m.tris, m.lim)
}

// Render draws the facets as Mesh.Render draws the mesh of the same file.
func (f *Facets) Render(size int) (*image.RGBA, error) {
	return render(f.name, size, f.vertices(), nil, f.lim)
}

// render draws the facets tris (three vertex indices each) of verts, or,
// when tris is nil, the facets made of each three vertices in turn, within
// lim's budget (see budget.go).
func render(name string, size int, verts []stl.Vec3, tris []int32, lim Limits) (*image.RGBA, error) {
	lim = lim.withDefaults()
	if size == 0 {
		size = DefaultPreviewSize
	}
	if size < MinPreviewSize || size > MaxPreviewSize {
		return nil, fmt.Errorf("render %s: preview size %d is outside %d..%d", name, size, MinPreviewSize, MaxPreviewSize)
	}
	ss := ssFor(size)
	nt := len(verts) / 3
	if tris != nil {
		nt = len(tris) / 3
	}
	workers := 1
	if nt >= parallelFacets {
		workers = cores()
	}
	if allDegenerate(verts, tris) {
		return nil, malformed(name, -1, 0, "all %d facets are degenerate (zero area)", nt)
	}
	r := newRaster(size*ss, workers)
	r.fit(verts)
	works := r.draw(verts, tris, lim)
	if err := budgetSpent(name, nt, lim, works); err != nil {
		r.done()
		return nil, err
	}
	img := r.resolve(size, ss)
	r.done()
	return img, nil
}

// raster draws a part: the projection that fits it to the frame, and one
// supersampled frame per worker (resolve merges them).
type raster struct {
	n        int // samples per side
	workers  int
	wideFrom int64 // a facet this many samples wide or more is drawn by runs (fillRuns)
	frames   []*frame
	view
}

// lighting is what the shading table is worked out from: the lights, in
// camera space, and the encoding of linear light to sRGB.
type lighting struct {
	key    [3]float64
	fill   [3]float64
	half   [3]float64 // between the key light and the viewer
	toSRGB [4096]uint8
}

func newLighting() *lighting {
	l := &lighting{}
	l.key = normalize([3]float64{-0.45, 0.75, 0.5})
	l.fill = normalize([3]float64{0.75, -0.05, 0.65})
	l.half = normalize([3]float64{l.key[0], l.key[1], l.key[2] + 1})
	for i := range l.toSRGB {
		v := float64(i) / float64(len(l.toSRGB)-1)
		if v <= 0.0031308 {
			v *= 12.92
		} else {
			v = 1.055*math.Pow(v, 1/2.4) - 0.055
		}
		l.toSRGB[i] = uint8(math.Round(255 * v))
	}
	return l
}

// view is the camera and the fit of the part to the frame.
type view struct {
	right, up, toCam [3]float64 // camera axes: x right, y up, z toward the viewer
	// Screen position (1/16 sample) = halfS ± (camera x|y - cx|cy) · scale;
	// depth = 1 + (camera z - minZ) · zInv, from 1 (far) to 65534 (near).
	scale, cx, cy, halfS, minZ, zInv float64
}

// screen returns the screen position of camera x, y.
func (m *view) screen(x, y float64) (int64, int64) {
	return int64(m.halfS + (x-m.cx)*m.scale + 0.5), int64(m.halfS - (y-m.cy)*m.scale + 0.5)
}

// depth returns the depth of camera z.
func (m *view) depth(z float64) float32 { return float32(1 + (z-m.minZ)*m.zInv) }

func newRaster(n, workers int) *raster {
	r := &raster{n: n, workers: max(1, workers), wideFrom: 6}
	ce, se := math.Cos(viewElevation), math.Sin(viewElevation)
	ca, sa := math.Cos(viewAzimuth), math.Sin(viewAzimuth)
	r.toCam = [3]float64{ce * ca, ce * sa, se}
	// right = forward × Z, up = right × forward, with forward = -toCam.
	r.right = normalize([3]float64{-r.toCam[1], r.toCam[0], 0})
	f := [3]float64{-r.toCam[0], -r.toCam[1], -r.toCam[2]}
	r.up = cross(r.right, f)
	return r
}

// extent is the bounds of a part in camera space.
type extent struct{ minX, maxX, minY, maxY, minZ, maxZ float64 }

func emptyExtent() extent {
	return extent{math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)}
}

// union is the extent covering e and o.
func (e extent) union(o extent) extent {
	return extent{min(e.minX, o.minX), max(e.maxX, o.maxX), min(e.minY, o.minY), max(e.maxY, o.maxY), min(e.minZ, o.minZ), max(e.maxZ, o.maxZ)}
}

// fit scales and centres the part's projected extent (not its bounding
// box) to fill the frame; the workers take half of the vertices each.
func (r *raster) fit(verts []stl.Vec3) {
	var ext [2]extent
	parallel(r.workers, func(h int) {
		ext[h] = r.extend(emptyExtent(), verts[len(verts)*h/r.workers:len(verts)*(h+1)/r.workers])
	})
	e := ext[0]
	if r.workers == 2 {
		e = e.union(ext[1])
	}
	r.fitExtent(e)
}

// extend returns e grown to hold verts, projected to camera space.
func (r *raster) extend(e extent, verts []stl.Vec3) extent {
	m := r.view
	for i := range verts {
		v := &verts[i]
		v0, v1, v2 := float64(v[0]), float64(v[1]), float64(v[2])
		x := v0*m.right[0] + v1*m.right[1] + v2*m.right[2] // camera, by hand
		y := v0*m.up[0] + v1*m.up[1] + v2*m.up[2]
		z := v0*m.toCam[0] + v1*m.toCam[1] + v2*m.toCam[2]
		// Plain comparisons: min and max on floats also order NaNs and
		// zeros, which coordinates checked finite do not need, and cost
		// several times more.
		if x < e.minX {
			e.minX = x
		}
		if x > e.maxX {
			e.maxX = x
		}
		if y < e.minY {
			e.minY = y
		}
		if y > e.maxY {
			e.maxY = y
		}
		if z < e.minZ {
			e.minZ = z
		}
		if z > e.maxZ {
			e.maxZ = z
		}
	}
	return e
}

// fitExtent sets the view that fits extent e to the frame.
func (r *raster) fitExtent(e extent) {
	span := max(e.maxX-e.minX, e.maxY-e.minY)
	if span == 0 || math.IsInf(span, 0) {
		span = 1
	}
	n := float64(r.n)
	r.scale = n * (1 - 2*frameMargin) / span * (1 << subBits)
	r.cx, r.cy = (e.minX+e.maxX)/2, (e.minY+e.maxY)/2
	r.halfS = n / 2 * (1 << subBits)
	r.minZ, r.zInv = e.minZ, 0
	if e.maxZ > e.minZ {
		r.zInv = 65533 / (e.maxZ - e.minZ)
	}
}

// draw rasterises the facets, each worker half of them into its own frame
// (resolve merges the frames). A sample keeps the largest value
// drawn there: the nearest facet, and of facets at the same depth the one
// with the higher shading cell. That depends on no drawing order, so the
// frames merge by taking the larger value, and the pixels do not depend
// on the number of workers. Facets that cannot cover a sample are left
// out early: degenerate ones and the many that fall between sample
// centres when a big mesh is drawn small.
func (r *raster) draw(verts []stl.Vec3, tris []int32, lim Limits) []*work {
	nt := len(verts) / 3
	if tris != nil {
		nt = len(tris) / 3
	}
	r.newFrames(lim.OneShot)
	works := r.newWorks(lim)
	parallel(r.workers, func(h int) {
		r.drawFacets(r.frames[h], meshCorners(verts, tris), nt*h/r.workers, nt*(h+1)/r.workers, works[h])
	})
	return works
}

// newFrames takes one empty frame per worker. Zeroed, a frame is empty:
// resolve shows the background where a sample is 0 (its cell, 0, holds
// the background colour). A one-shot render (see Limits.OneShot) maps
// new frames.
func (r *raster) newFrames(oneShot bool) {
	r.frames = make([]*frame, r.workers)
	for h := range r.frames {
		r.frames[h] = getFrame(r.n, oneShot)
	}
}

// done hands the frames back for the next preview.
func (r *raster) done() {
	for _, f := range r.frames {
		putFrame(f)
	}
	r.frames = nil
}

// drawFacets rasterises facets from to to of src into fr.
func (r *raster) drawFacets(fr *frame, src corners, from, to int, w *work) {
	const one = 1 << subBits
	const halfS = one / 2
	last := int64(r.n - 1)
	facing := uint16(shadeGrid/2*shadeGrid + shadeGrid/2)
	m := r.view // a copy the compiler can keep in registers
	src.check(from, to)
	for t := from; t < to && !w.stop; t++ {
		if t&(checkFacets-1) == 0 && w.cancelled() {
			return
		}
		a, b, c := src.of(t)
		// Camera space, then the screen in 1/16 sample: positions are
		// positive, so adding ½ and truncating rounds.
		// (camera, by hand: the compiler does not inline it.)
		a0, a1, a2 := float64(a[0]), float64(a[1]), float64(a[2])
		b0, b1, b2 := float64(b[0]), float64(b[1]), float64(b[2])
		c0, c1, c2 := float64(c[0]), float64(c[1]), float64(c[2])
		ax, ay, az := a0*m.right[0]+a1*m.right[1]+a2*m.right[2], a0*m.up[0]+a1*m.up[1]+a2*m.up[2], a0*m.toCam[0]+a1*m.toCam[1]+a2*m.toCam[2]
		bx, by, bz := b0*m.right[0]+b1*m.right[1]+b2*m.right[2], b0*m.up[0]+b1*m.up[1]+b2*m.up[2], b0*m.toCam[0]+b1*m.toCam[1]+b2*m.toCam[2]
		cx, cy, cz := c0*m.right[0]+c1*m.right[1]+c2*m.right[2], c0*m.up[0]+c1*m.up[1]+c2*m.up[2], c0*m.toCam[0]+c1*m.toCam[1]+c2*m.toCam[2]
		x0, y0 := m.screen(ax, ay)
		x1, y1 := m.screen(bx, by)
		x2, y2 := m.screen(cx, cy)
		area := (x1-x0)*(y2-y0) - (y1-y0)*(x2-x0)
		if area == 0 {
			continue // degenerate, or seen edge-on
		}
		minX := max((min(x0, x1, x2)-halfS+one-1)>>subBits, 0)
		maxX := min((max(x0, x1, x2)-halfS)>>subBits, last)
		minY := max((min(y0, y1, y2)-halfS+one-1)>>subBits, 0)
		maxY := min((max(y0, y1, y2)-halfS)>>subBits, last)
		if minX > maxX || minY > maxY {
			continue // between sample centres
		}
		if !fr.markOne(minX, maxX, minY, maxY) {
			fr.mark(minX, maxX, minY, maxY)
		}
		// The normal, from the geometry (the file's normals are often
		// wrong), turned toward the viewer: facets seen from behind are
		// lit as if flipped, so open meshes and inverted facets still
		// read well.
		ux, uy, uz := bx-ax, by-ay, bz-az
		wx, wy, wz := cx-ax, cy-ay, cz-az
		nx, ny, nz := uy*wz-uz*wy, uz*wx-ux*wz, ux*wy-uy*wx
		if nz < 0 {
			nx, ny, nz = -nx, -ny, -nz
		}
		// The facet's colour: the shading table's cell for the
		// octahedral projection of its normal.
		k := (shadeGrid - 1) / 2 / (math.Abs(nx) + math.Abs(ny) + nz)
		cell := facing // a facet too small for a normal faces the viewer
		if !math.IsInf(k, 0) {
			i := int(nx*k + (shadeGrid-1)/2.0 + 0.5)
			j := int(ny*k + (shadeGrid-1)/2.0 + 0.5)
			cell = uint16(j*shadeGrid + i)
		}
		z0, z1, z2 := m.depth(az), m.depth(bz), m.depth(cz)
		if area < 0 {
			x1, y1, x2, y2 = x2, y2, x1, y1
			z1, z2 = z2, z1
			area = -area
		}
		// The work budget: the samples this facet's extent tests. Past a
		// few pictures' worth, exact duplicates (which change no sample:
		// a sample keeps the larger value) are dropped first.
		if w.dup != nil && w.dup.seen(drawnFacet{x0, y0, x1, y1, x2, y2, z0, z1, z2, cell}) {
			continue
		}
		if !w.spend((maxX - minX + 1) * (maxY - minY + 1)) {
			return
		}
		// Rasterise with exact integer edge functions and a tie rule, so
		// facets sharing an edge leave no cracks. Sample (i, j) sits at
		// (i·16+8, j·16+8). Edge a→b: E(p) = (bx-ax)(py-ay) -
		// (by-ay)(px-ax), ≥ 0 inside. A sample exactly on an edge belongs
		// to one facet only: bias is -1 on the edges that do not own their
		// ties.
		e0a, e0b, e0c := edge(x1, y1, x2, y2) // weight of vertex 0
		e1a, e1b, e1c := edge(x2, y2, x0, y0) // weight of vertex 1
		e2a, e2b, e2c := edge(x0, y0, x1, y1) // weight of vertex 2
		px0 := minX<<subBits + halfS
		py := minY<<subBits + halfS
		cell32 := uint32(cell)
		samples := fr.samples
		s0, s1, s2 := e0a*one, e1a*one, e2a*one
		// Depth is a plane over the facet: at each row's first sample,
		// from the exact edge functions (weights of the vertices), then
		// dz a sample along the row. Both ways of drawing below work it
		// out by the same expression, so they draw the same samples.
		p := plane{z: [3]float64{float64(z0), float64(z1), float64(z2)}, inv: 1 / float64(area)}
		p.dz = (float64(s0)*p.z[0] + float64(s1)*p.z[1] + float64(s2)*p.z[2]) * p.inv
		if maxX-minX >= r.wideFrom {
			// Across a wide facet, each row's run of samples inside it
			// is worked out from the edge functions (no test per
			// sample); across a narrow one, testing each sample is
			// quicker.
			fillRuns(fr, r.n, minX, maxX, minY, maxY, [3]int64{e0a*px0 + e0b*py + e0c, e1a*px0 + e1b*py + e1c, e2a*px0 + e2b*py + e2c},
				[3]int64{e0b * one, e1b * one, e2b * one}, [3]int64{s0, s1, s2}, &p, cell32)
			continue
		}
		for y := minY; y <= maxY; y, py = y+1, py+one {
			w0 := e0a*px0 + e0b*py + e0c
			w1 := e1a*px0 + e1b*py + e1c
			w2 := e2a*px0 + e2b*py + e2c
			zr := p.row(w0, w1, w2)
			row := int(y) * r.n
			for x := minX; x <= maxX; x++ {
				if w0|w1|w2 >= 0 {
					// Weights are not negative: z lies between the
					// vertices' depths, 1..65534, and rounds to 16 bits.
					z := zr + float64(float64(x-minX)*p.dz)
					v := uint32(z+0.5)<<16 | cell32
					i := row + int(x)
					samples[i] = max(samples[i], v)
				}
				w0 += s0
				w1 += s1
				w2 += s2
			}
		}
	}
}

// plane is a facet's depth over the screen: z holds its vertices' depths,
// inv 1 / the edge functions' sum (twice its area), dz the change from a
// sample to the next along a row.
type plane struct {
	z       [3]float64
	inv, dz float64
}

// row is the depth where the edge functions are w0, w1, w2. The sample k
// further along the row has depth row + float64(float64(k)·dz): written
// so (the conversion stops the compiler fusing the multiply and the add)
// it is the same float wherever it is worked out.
func (p *plane) row(w0, w1, w2 int64) float64 {
	return (float64(w0)*p.z[0] + float64(w1)*p.z[1] + float64(w2)*p.z[2]) * p.inv
}

// fillRuns draws a facet row by row as drawFacets does, each row's run
// of samples inside the facet found from the edge functions: w holds
// their values at the first sample of the first row, dy their change
// from a row to the next, dx from a sample to the next; p is its depth.
func fillRuns(fr *frame, n int, minX, maxX, minY, maxY int64, w, dy, dx [3]int64, p *plane, cell uint32) {
	var inv [3]float64
	for e := range 3 {
		inv[e] = 1 / float64(dx[e])
	}
	dz := p.dz
	for y := minY; y <= maxY; y++ {
		lo, hi, ok := int64(0), maxX-minX, true
		for e := 0; e < 3 && ok; e++ {
			lo, hi, ok = runOf(w[e], dx[e], inv[e], lo, hi)
		}
		if ok && lo <= hi {
			zr := p.row(w[0], w[1], w[2])
			row := int(y) * n
			run := fr.samples[row+int(minX+lo) : row+int(minX+hi)+1]
			for i := range run {
				z := zr + float64(float64(lo+int64(i))*dz)
				run[i] = max(run[i], uint32(z+0.5)<<16|cell)
			}
		}
		w[0] += dy[0]
		w[1] += dy[1]
		w[2] += dy[2]
	}
}

// runOf narrows [lo, hi], offsets along a row, to the k where an edge
// function w + step·k is not negative (inv is 1/step); ok is false when
// none is. The estimate from inv is corrected exactly in integers.
func runOf(w, step int64, inv float64, lo, hi int64) (int64, int64, bool) {
	switch {
	case step == 0:
		return lo, hi, w >= 0
	case step > 0:
		if w >= 0 {
			return lo, hi, true
		}
		k := int64(math.Ceil(float64(-w) * inv))
		for w+step*k < 0 {
			k++
		}
		for k > 0 && w+step*(k-1) >= 0 {
			k--
		}
		return max(lo, k), hi, true
	default:
		if w < 0 {
			return lo, hi, false
		}
		k := int64(float64(w) * -inv)
		for k > 0 && w+step*k < 0 {
			k--
		}
		for w+step*(k+1) >= 0 {
			k++
		}
		return lo, min(hi, k), true
	}
}

// edge returns the edge function of a→b, E(p) = a·px + b·py + c, with the
// tie bias folded into c.
func edge(ax, ay, bx, by int64) (a, b, c int64) {
	dx, dy := bx-ax, by-ay
	c = dx*(-ay) + dy*ax
	if !(dy > 0 || dy == 0 && dx < 0) {
		c-- // this edge does not own its ties
	}
	return -dy, dx, c
}

// allDegenerate reports whether the facets have no area at all, worked out
// as ReadMesh works it out (with the same -0 and reference point), so that
// a preview refuses exactly the files ReadMesh refuses: a part whose
// facets all lie edge-on to the camera gets a blank preview, and a file of
// collinear facets an error even if rounding on screen would draw it. It
// stops at the first facet with an area, usually the first.
func allDegenerate(verts []stl.Vec3, tris []int32) bool {
	nt := len(verts) / 3
	if tris != nil {
		nt = len(tris) / 3
	}
	var ref [3]float64
	for t := range nt {
		var f [3]stl.Vec3
		for i := range 3 {
			if tris != nil {
				f[i] = verts[tris[3*t+i]]
			} else {
				f[i] = verts[3*t+i]
			}
		}
		if t == 0 {
			ref = [3]float64{float64(f[0][0] + 0), float64(f[0][1] + 0), float64(f[0][2] + 0)}
		}
		if hasArea(&f, &ref) {
			return false
		}
	}
	return true
}

// hasArea reports whether facet v has an area as ReadMesh works it out,
// from the reference point ref (the first vertex of the file, -0 as +0).
func hasArea(v *[3]stl.Vec3, ref *[3]float64) bool {
	f := *v
	for i := range 3 {
		for k := range 3 {
			f[i][k] += 0 // -0 becomes +0
		}
	}
	_, da := facetMeasures(&f, ref)
	return da != 0
}

// ssFor is the supersampling per axis of a size×size preview.
func ssFor(size int) int {
	if size > 1024 {
		return 2
	}
	return subSamples
}

// The shading table holds the colour of a normal facing the viewer's half
// of space, by its octahedral projection (x, y)/(|x|+|y|+|z|) on a
// shadeGrid² grid: cell (i, j) = round((x, y)/(|x|+|y|+|z|) · (shadeGrid-1)/2
// + (shadeGrid-1)/2). A lookup replaces a normalisation and the lighting
// sums per facet. Cells are under a degree apart: no banding shows on
// curved surfaces (a 1M-facet torus looks the same as with a 512² table,
// which takes 4 times longer to fill, in every one-shot render).
const shadeGrid = 256

// shadeTableFile is the shading table as computeShadeTable makes it,
// each cell 4 bytes little-endian: working it out took a one-shot
// render a few milliseconds of both cores. TestShadeTableFile checks it
// (go test ./render -run ShadeTableFile -update writes it again).
//
//go:embed shade.bin
var shadeTableFile []byte

// shadeTable is the shading table, once per process: shadeTableFile's,
// or worked out if that does not hold one.
var shadeTable = sync.OnceValue(func() *[shadeGrid * shadeGrid]uint32 {
	if len(shadeTableFile) != 4*shadeGrid*shadeGrid {
		return computeShadeTable()
	}
	lut := new([shadeGrid * shadeGrid]uint32)
	for i := range lut {
		lut[i] = binary.LittleEndian.Uint32(shadeTableFile[4*i:])
	}
	return lut
})

// computeShadeTable works out the shading table. Lighting happens in
// linear light, encoded to sRGB at the end.
func computeShadeTable() *[shadeGrid * shadeGrid]uint32 {
	l := newLighting()
	lut := new([shadeGrid * shadeGrid]uint32)
	workers := cores()
	parallel(workers, func(h int) {
		for j := shadeGrid * h / workers; j < shadeGrid*(h+1)/workers; j++ {
			for i := range shadeGrid {
				x := float64(i)/((shadeGrid-1)/2.0) - 1
				y := float64(j)/((shadeGrid-1)/2.0) - 1
				if s := math.Abs(x) + math.Abs(y); s > 1 {
					x, y = x/s, y/s // outside the diamond: its nearest edge
				}
				lut[j*shadeGrid+i] = l.light(normalize([3]float64{x, y, 1 - math.Abs(x) - math.Abs(y)}))
			}
		}
	})
	// No normal reaches cell 0 (it needs x and y both near -1), so it
	// holds the background, where nothing was drawn.
	bg := Background()
	lut[0] = uint32(bg.R)<<16 | uint32(bg.G)<<8 | uint32(bg.B)
	return lut
}

// pixelTable is shadeTable's colours as opaque RGBA pixels, packed to be
// stored little-endian: red in the low byte, alpha 255 in the high one.
var pixelTable = sync.OnceValue(func() *[shadeGrid * shadeGrid]uint32 {
	var t [shadeGrid * shadeGrid]uint32
	for i, c := range shadeTable() {
		t[i] = c>>16&0xff | (c>>8&0xff)<<8 | (c&0xff)<<16 | 0xff<<24
	}
	return &t
})

// light returns the colour of a surface whose unit normal, in camera
// space, is n (n[2] ≥ 0): a key light from the upper left, a weak fill
// from the right, a sky-to-ground ambient term and a soft highlight.
func (l *lighting) light(n [3]float64) uint32 {
	nx, ny, nz := n[0], n[1], n[2]
	dk := max(0, nx*l.key[0]+ny*l.key[1]+nz*l.key[2])
	df := max(0, nx*l.fill[0]+ny*l.fill[1]+nz*l.fill[2])
	ambient := 0.12 + 0.06*ny // sky above, ground below
	spec := max(0, nx*l.half[0]+ny*l.half[1]+nz*l.half[2])
	for range 4 {
		spec *= spec // spec^16
	}
	spec *= spec * spec * 0.18 // spec^48
	light := ambient + 0.85*dk + 0.10*df
	return l.srgb(partR*light+spec)<<16 | l.srgb(partG*light+spec)<<8 | l.srgb(partB*light+spec)
}

// srgb encodes a linear-light component as 8-bit sRGB.
func (l *lighting) srgb(v float64) uint32 {
	i := int(v*float64(len(l.toSRGB)-1) + 0.5)
	return uint32(l.toSRGB[min(max(i, 0), len(l.toSRGB)-1)])
}

// resolve averages each ss×ss block of samples into one pixel, merging
// the workers' frames as it reads them: a sample is the larger of the
// frames' values. It works in blocks of resolveBlock² pixels: a block
// whose tiles no worker marked is background.
func (r *raster) resolve(size, ss int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	samples, other := r.frames[0].samples, r.frames[0].samples
	if len(r.frames) == 2 {
		other = r.frames[1].samples
	}
	lut, pix := shadeTable(), pixelTable()
	bg := pix[0]
	n := r.n
	blocks := (size + resolveBlock - 1) / resolveBlock
	parallel(r.workers, func(h int) {
		for by := blocks * h / r.workers; by < blocks*(h+1)/r.workers; by++ {
			y0, y1 := by*resolveBlock, min((by+1)*resolveBlock, size)
			for bx := range blocks {
				x0, x1 := bx*resolveBlock, min((bx+1)*resolveBlock, size)
				tx0, tx1 := x0*ss>>tileShift, (x1*ss-1)>>tileShift
				ty0, ty1 := y0*ss>>tileShift, (y1*ss-1)>>tileShift
				drawn := false
				for _, f := range r.frames {
					drawn = drawn || f.anyTouched(tx0, tx1, ty0, ty1)
				}
				for y := y0; y < y1; y++ {
					dst := img.Pix[y*img.Stride+4*x0 : y*img.Stride+4*x1]
					switch {
					case !drawn:
						for d := 0; d+4 <= len(dst); d += 4 {
							binary.LittleEndian.PutUint32(dst[d:], bg)
						}
					case ss == 3:
						// The block's three rows of samples, of each frame.
						k0, k1 := 3*y*n+3*x0, 3*y*n+3*x1
						s0, s1, s2 := samples[k0:k1], samples[k0+n:k1+n], samples[k0+2*n:k1+2*n]
						o0, o1, o2 := other[k0:k1], other[k0+n:k1+n], other[k0+2*n:k1+2*n]
						for j, d := 0, 0; j+3 <= len(s0) && j+3 <= len(s1) && j+3 <= len(s2) && d+4 <= len(dst); j, d = j+3, d+4 {
							// Inside a facet, all nine samples have its
							// cell: one look-up gives their average.
							c := uint16(max(s0[j], o0[j]))
							if c == uint16(max(s0[j+1], o0[j+1])) && c == uint16(max(s0[j+2], o0[j+2])) &&
								c == uint16(max(s1[j], o1[j])) && c == uint16(max(s1[j+1], o1[j+1])) && c == uint16(max(s1[j+2], o1[j+2])) &&
								c == uint16(max(s2[j], o2[j])) && c == uint16(max(s2[j+1], o2[j+1])) && c == uint16(max(s2[j+2], o2[j+2])) {
								binary.LittleEndian.PutUint32(dst[d:], pix[c])
								continue
							}
							var sum [3]uint32
							addSamples(&sum, lut, s0[j:j+3], o0[j:j+3])
							addSamples(&sum, lut, s1[j:j+3], o1[j:j+3])
							addSamples(&sum, lut, s2[j:j+3], o2[j:j+3])
							binary.LittleEndian.PutUint32(dst[d:], average(sum, 9))
						}
					default:
						for x := x0; x < x1; x++ {
							var sum [3]uint32
							for j := range ss {
								k := (y*ss+j)*n + x*ss
								addSamples(&sum, lut, samples[k:k+ss], other[k:k+ss])
							}
							binary.LittleEndian.PutUint32(dst[4*(x-x0):], average(sum, uint32(ss*ss)))
						}
					}
				}
			}
		}
	})
	return img
}

// addSamples adds the colours of the samples a (merged with those of b,
// the other frame) to sum, red, green and blue.
func addSamples(sum *[3]uint32, lut *[shadeGrid * shadeGrid]uint32, a, b []uint32) {
	for i, v := range a {
		c := lut[uint16(max(v, b[i]))]
		sum[0] += c >> 16 & 0xff
		sum[1] += c >> 8 & 0xff
		sum[2] += c & 0xff
	}
}

// average is the opaque pixel (as pixelTable packs it) of the mean of
// div colours summing to sum, rounded.
func average(sum [3]uint32, div uint32) uint32 {
	return (sum[0]+div/2)/div | (sum[1]+div/2)/div<<8 | (sum[2]+div/2)/div<<16 | 0xff<<24
}

// resolveBlock is the side, in pixels, of the blocks resolve looks at:
// 16 pixels are whole tiles at 2 or 3 samples a pixel.
const resolveBlock = 16

func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func normalize(a [3]float64) [3]float64 {
	l := math.Sqrt(dot(a, a))
	if l == 0 {
		return a
	}
	return [3]float64{a[0] / l, a[1] / l, a[2] / l}
}
