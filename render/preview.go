package render

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
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
	img, err := m.Render(size)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(w, img); err != nil {
		return fmt.Errorf("write preview of %s: %w", m.name, err)
	}
	return nil
}

// Render draws the mesh as a size×size image (0 means 512): the part fills
// the frame whatever its size, is z-buffered, flat-shaded so facets show,
// and anti-aliased by supersampling. The same mesh always gives the same
// pixels. It uses every core, sharing one copy of the mesh.
func (m *Mesh) Render(size int) (*image.RGBA, error) {
	if size == 0 {
		size = DefaultPreviewSize
	}
	if size < MinPreviewSize || size > MaxPreviewSize {
		return nil, fmt.Errorf("render %s: preview size %d is outside %d..%d", m.name, size, MinPreviewSize, MaxPreviewSize)
	}
	ss := subSamples
	if size > 1024 {
		ss = 2
	}
	r := newRaster(size*ss, runtime.GOMAXPROCS(0))
	r.cull = m.outward
	r.project(m)
	r.binFacets(m)
	r.draw()
	img := r.resolve(size, ss)
	endLargeSlice(r.bin)
	endLargeSlice(r.colour)
	endLargeSlice(r.depth)
	return img, nil
}

// raster is the supersampled frame: colour and depth per sample, and the
// projected vertices in fixed point.
type raster struct {
	n       int // samples per side
	workers int
	colour  []uint32
	depth   []float32
	px, py  []int32   // screen position, 1/16 sample
	pz      []float32 // depth, larger is nearer
	right   [3]float64
	up      [3]float64
	toCam   [3]float64
	bands   int
	key     [3]float64 // lights, in camera space
	fill    [3]float64
	half    [3]float64 // between the key light and the viewer
	toSRGB  [4096]uint8
	cull    int      // Mesh.outward, or 0 to draw both sides
	rows    int      // sample rows per band
	binAt   []uint32 // binAt[b]..binAt[b+1] index bin
	bin     []facetRec
}

// facetRec is a facet ready to rasterise: its projected vertices and its
// colour. The bins hold these rather than facet numbers, so drawing a band
// reads them in order instead of chasing vertex ids all over the mesh (on
// a big mesh each of those reads can miss the cache).
type facetRec struct {
	x, y [3]uint16 // screen position in 1/16 sample: within the frame, below 2^16
	z    [3]float32
	col  uint32
}

func newRaster(n, workers int) *raster {
	r := &raster{n: n, workers: max(1, workers)}
	ce, se := math.Cos(viewElevation), math.Sin(viewElevation)
	ca, sa := math.Cos(viewAzimuth), math.Sin(viewAzimuth)
	r.toCam = [3]float64{ce * ca, ce * sa, se}
	// right = forward × Z, up = right × forward, with forward = -toCam.
	r.right = normalize([3]float64{-r.toCam[1], r.toCam[0], 0})
	f := [3]float64{-r.toCam[0], -r.toCam[1], -r.toCam[2]}
	r.up = cross(r.right, f)
	// Lighting happens in linear light, encoded to sRGB at the end.
	r.key = normalize([3]float64{-0.45, 0.75, 0.5})
	r.fill = normalize([3]float64{0.75, -0.05, 0.65})
	r.half = normalize([3]float64{r.key[0], r.key[1], r.key[2] + 1})
	for i := range r.toSRGB {
		v := float64(i) / float64(len(r.toSRGB)-1)
		if v <= 0.0031308 {
			v *= 12.92
		} else {
			v = 1.055*math.Pow(v, 1/2.4) - 0.055
		}
		r.toSRGB[i] = uint8(math.Round(255 * v))
	}
	return r
}

// project maps every vertex to the screen, scaling and centring the part's
// projected extent (not its bounding box) to fill the frame.
func (r *raster) project(m *Mesh) {
	nv := len(m.verts)
	minX, maxX := math.Inf(1), math.Inf(-1)
	minY, maxY := math.Inf(1), math.Inf(-1)
	minZ, maxZ := math.Inf(1), math.Inf(-1)
	for _, v := range m.verts {
		x := float64(v[0])*r.right[0] + float64(v[1])*r.right[1] + float64(v[2])*r.right[2]
		y := float64(v[0])*r.up[0] + float64(v[1])*r.up[1] + float64(v[2])*r.up[2]
		z := float64(v[0])*r.toCam[0] + float64(v[1])*r.toCam[1] + float64(v[2])*r.toCam[2]
		minX, maxX = min(minX, x), max(maxX, x)
		minY, maxY = min(minY, y), max(maxY, y)
		minZ, maxZ = min(minZ, z), max(maxZ, z)
	}
	extent := max(maxX-minX, maxY-minY)
	if extent == 0 || math.IsInf(extent, 0) {
		extent = 1
	}
	n := float64(r.n)
	scale := n * (1 - 2*frameMargin) / extent * (1 << subBits)
	cx, cy := (minX+maxX)/2, (minY+maxY)/2
	half := n / 2 * (1 << subBits)
	zspan := maxZ - minZ
	if zspan == 0 {
		zspan = 1
	}
	r.px = make([]int32, nv)
	r.py = make([]int32, nv)
	r.pz = make([]float32, nv)
	for i, v := range m.verts {
		x := float64(v[0])*r.right[0] + float64(v[1])*r.right[1] + float64(v[2])*r.right[2]
		y := float64(v[0])*r.up[0] + float64(v[1])*r.up[1] + float64(v[2])*r.up[2]
		z := float64(v[0])*r.toCam[0] + float64(v[1])*r.toCam[1] + float64(v[2])*r.toCam[2]
		r.px[i] = int32(math.Round(half + (x-cx)*scale))
		r.py[i] = int32(math.Round(half - (y-cy)*scale))
		r.pz[i] = float32((z - minZ) / zspan)
	}
}

// binFacets sorts facets into horizontal bands of the frame (a counting
// sort), so each worker rasterises one band at a time, reading only the
// facets that overlap it from the one shared mesh. Facets that cannot
// cover a sample are left out here, once, rather than in every band: those
// facing away from the viewer on a consistently wound closed mesh (about
// half), degenerate ones, and the many that fall between sample centres
// when a big mesh is drawn small. Both workers bin half of the facets.
func (r *raster) binFacets(m *Mesh) {
	tris := m.tris
	r.bands = max(1, min(r.n/16, 64))
	r.rows = (r.n + r.bands - 1) / r.bands
	nt := len(tris) / 3
	const one = 1 << subBits
	const halfS = one / 2
	last := int64(r.n - 1)
	// span returns the bands whose sample rows the facet may cover, or
	// b0 > b1 when it covers no sample.
	span := func(t int) (int, int) {
		a, b, c := tris[3*t], tris[3*t+1], tris[3*t+2]
		if a == b || b == c || a == c {
			return 1, 0
		}
		x0, y0 := int64(r.px[a]), int64(r.py[a])
		x1, y1 := int64(r.px[b]), int64(r.py[b])
		x2, y2 := int64(r.px[c]), int64(r.py[c])
		area := (x1-x0)*(y2-y0) - (y1-y0)*(x2-x0)
		if area == 0 || r.cull != 0 && (area > 0) == (r.cull > 0) {
			return 1, 0
		}
		minX := max((min(x0, x1, x2)-halfS+one-1)>>subBits, 0)
		maxX := min((max(x0, x1, x2)-halfS)>>subBits, last)
		minY := max((min(y0, y1, y2)-halfS+one-1)>>subBits, 0)
		maxY := min((max(y0, y1, y2)-halfS)>>subBits, last)
		if minX > maxX || minY > maxY {
			return 1, 0
		}
		return int(minY) / r.rows, int(maxY) / r.rows
	}
	workers := 1
	if nt >= parallelFacets && r.workers > 1 {
		workers = 2
	}
	// count[h][b+1]: entries of band b from facet half h.
	var count [2][]uint32
	parallel(workers, func(h int) {
		c := make([]uint32, r.bands+1)
		for t := nt * h / workers; t < nt*(h+1)/workers; t++ {
			b0, b1 := span(t)
			for b := b0; b <= b1; b++ {
				c[b+1]++
			}
		}
		count[h] = c
	})
	if workers == 1 {
		count[1] = make([]uint32, r.bands+1)
	}
	// Band b holds the first half's facets, then the second half's.
	at := make([]uint32, r.bands+1)
	var fill [2][]uint32
	fill[0], fill[1] = make([]uint32, r.bands), make([]uint32, r.bands)
	for b := range r.bands {
		fill[0][b] = at[b]
		fill[1][b] = at[b] + count[0][b+1]
		at[b+1] = fill[1][b] + count[1][b+1]
	}
	r.bin = largeSlice[facetRec](int(at[r.bands]), int(at[r.bands]))
	parallel(workers, func(h int) {
		f := fill[h]
		for t := nt * h / workers; t < nt*(h+1)/workers; t++ {
			b0, b1 := span(t)
			if b0 > b1 {
				continue
			}
			ia, ib, ic := tris[3*t], tris[3*t+1], tris[3*t+2]
			rec := facetRec{
				x:   [3]uint16{uint16(r.px[ia]), uint16(r.px[ib]), uint16(r.px[ic])},
				y:   [3]uint16{uint16(r.py[ia]), uint16(r.py[ib]), uint16(r.py[ic])},
				z:   [3]float32{r.pz[ia], r.pz[ib], r.pz[ic]},
				col: r.shade(m, ia, ib, ic),
			}
			for b := b0; b <= b1; b++ {
				r.bin[f[b]] = rec
				f[b]++
			}
		}
	})
	r.binAt = at
}

// draw rasterises every band, the workers taking bands in turn.
func (r *raster) draw() {
	r.colour = largeSlice[uint32](r.n*r.n, r.n*r.n)
	r.depth = largeSlice[float32](r.n*r.n, r.n*r.n)
	bgc := Background()
	bg := uint32(bgc.R)<<16 | uint32(bgc.G)<<8 | uint32(bgc.B)
	for i := range r.colour {
		r.colour[i] = bg
		r.depth[i] = -1
	}
	var next atomic.Int32
	var wg sync.WaitGroup
	for range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= r.bands {
					return
				}
				y0 := b * r.rows
				y1 := min(r.n, y0+r.rows) - 1
				for i := range r.bin[r.binAt[b]:r.binAt[b+1]] {
					r.facet(&r.bin[int(r.binAt[b])+i], y0, y1)
				}
			}
		}()
	}
	wg.Wait()
}

// facet rasterises one facet within sample rows y0..y1 with exact integer
// edge functions and a tie rule, so facets sharing an edge leave no cracks.
// Binning left out the facets that are degenerate, culled or cover no
// sample.
func (r *raster) facet(f *facetRec, y0, y1 int) {
	x0, yy0 := int64(f.x[0]), int64(f.y[0])
	x1, yy1 := int64(f.x[1]), int64(f.y[1])
	x2, yy2 := int64(f.x[2]), int64(f.y[2])
	area := (x1-x0)*(yy2-yy0) - (yy1-yy0)*(x2-x0)
	z0, z1, z2 := f.z[0], f.z[1], f.z[2]
	if area < 0 {
		x1, yy1, x2, yy2 = x2, yy2, x1, yy1
		z1, z2 = z2, z1
		area = -area
	}
	const one = 1 << subBits
	const halfS = one / 2
	// Sample (i, j) sits at (i·16+8, j·16+8).
	minX := (min(x0, x1, x2) - halfS + one - 1) >> subBits
	maxX := (max(x0, x1, x2) - halfS) >> subBits
	minY := (min(yy0, yy1, yy2) - halfS + one - 1) >> subBits
	maxY := (max(yy0, yy1, yy2) - halfS) >> subBits
	minX = max(minX, 0)
	maxX = min(maxX, int64(r.n-1))
	minY = max(minY, int64(y0))
	maxY = min(maxY, int64(y1))
	if minX > maxX || minY > maxY {
		return
	}
	// Edge a→b: E(p) = (bx-ax)(py-ay) - (by-ay)(px-ax), ≥ 0 inside. A sample
	// exactly on an edge belongs to one facet only: bias is -1 on the edges
	// that do not own their ties.
	type edge struct{ a, b, c, bias int64 }
	mk := func(ax, ay, bx, by int64) edge {
		dx, dy := bx-ax, by-ay
		e := edge{a: -dy, b: dx, c: dx*(-ay) + dy*ax}
		if !(dy > 0 || dy == 0 && dx < 0) {
			e.bias = -1
		}
		return e
	}
	e0 := mk(x1, yy1, x2, yy2) // weight of vertex 0
	e1 := mk(x2, yy2, x0, yy0) // weight of vertex 1
	e2 := mk(x0, yy0, x1, yy1) // weight of vertex 2
	px0 := minX<<subBits + halfS
	py := minY<<subBits + halfS
	fa := float32(1) / float32(area)
	col := f.col
	for y := minY; y <= maxY; y, py = y+1, py+one {
		w0 := e0.a*px0 + e0.b*py + e0.c + e0.bias
		w1 := e1.a*px0 + e1.b*py + e1.c + e1.bias
		w2 := e2.a*px0 + e2.b*py + e2.c + e2.bias
		row := int(y) * r.n
		for x := minX; x <= maxX; x++ {
			if w0|w1|w2 >= 0 {
				z := (float32(w0)*z0 + float32(w1)*z1 + float32(w2)*z2) * fa
				i := row + int(x)
				if z > r.depth[i] {
					r.depth[i] = z
					r.colour[i] = col
				}
			}
			w0 += e0.a * one
			w1 += e1.a * one
			w2 += e2.a * one
		}
	}
}

// shade returns the facet's colour from its geometric normal (the file's
// normals are often wrong); facets seen from behind are lit as if flipped,
// so open meshes and inverted facets still read well.
func (r *raster) shade(m *Mesh, ia, ib, ic int32) uint32 {
	a, b, c := m.verts[ia], m.verts[ib], m.verts[ic]
	u := [3]float64{float64(b[0] - a[0]), float64(b[1] - a[1]), float64(b[2] - a[2])}
	v := [3]float64{float64(c[0] - a[0]), float64(c[1] - a[1]), float64(c[2] - a[2])}
	n := normalize(cross(u, v))
	// Camera space: x right, y up, z toward the viewer.
	nx := dot(n, r.right)
	ny := dot(n, r.up)
	nz := dot(n, r.toCam)
	if nz < 0 {
		nx, ny, nz = -nx, -ny, -nz
	}
	dk := max(0, nx*r.key[0]+ny*r.key[1]+nz*r.key[2])
	df := max(0, nx*r.fill[0]+ny*r.fill[1]+nz*r.fill[2])
	ambient := 0.12 + 0.06*ny // sky above, ground below
	spec := max(0, nx*r.half[0]+ny*r.half[1]+nz*r.half[2])
	for range 4 {
		spec *= spec // spec^16
	}
	spec *= spec * spec * 0.18 // spec^48
	light := ambient + 0.85*dk + 0.10*df
	return r.srgb(partR*light+spec)<<16 | r.srgb(partG*light+spec)<<8 | r.srgb(partB*light+spec)
}

// srgb encodes a linear-light component as 8-bit sRGB.
func (r *raster) srgb(v float64) uint32 {
	i := int(v*float64(len(r.toSRGB)-1) + 0.5)
	return uint32(r.toSRGB[min(max(i, 0), len(r.toSRGB)-1)])
}

// resolve averages each ss×ss block of samples into one pixel.
func (r *raster) resolve(size, ss int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	var wg sync.WaitGroup
	per := (size + r.workers - 1) / r.workers
	for w := range r.workers {
		wg.Add(1)
		go func(y0, y1 int) {
			defer wg.Done()
			div := uint32(ss * ss)
			for y := y0; y < y1; y++ {
				for x := range size {
					var sr, sg, sb uint32
					for j := range ss {
						row := (y*ss + j) * r.n
						for i := range ss {
							c := r.colour[row+x*ss+i]
							sr += c >> 16 & 0xff
							sg += c >> 8 & 0xff
							sb += c & 0xff
						}
					}
					o := img.PixOffset(x, y)
					img.Pix[o] = uint8((sr + div/2) / div)
					img.Pix[o+1] = uint8((sg + div/2) / div)
					img.Pix[o+2] = uint8((sb + div/2) / div)
					img.Pix[o+3] = 255
				}
			}
		}(min(size, w*per), min(size, (w+1)*per))
	}
	wg.Wait()
	return img
}

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
