package render

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"

	"github.com/hschendel/stl"
)

// A plate picture: a printer's bed seen from straight above, the parts laid
// on it where a plan placed them, drawn with the previews' rasteriser and
// lighting so a part looks the same on its plate as in its preview. The
// bed fills the frame (its longer side), with a millimetre grid: a line
// every 10 mm, a stronger one every 50 mm, so that sizes and gaps can be
// read off the picture.

// Colours of the bed, its grid and its rim.
var (
	bedColour    = color.RGBA{R: 226, G: 229, B: 234, A: 255}
	gridColour   = color.RGBA{R: 212, G: 216, B: 222, A: 255}
	grid50Colour = color.RGBA{R: 196, G: 201, B: 209, A: 255}
	rimColour    = color.RGBA{R: 120, G: 126, B: 136, A: 255}
)

// Plate draws parts on a bed, one at a time, so that a plate of many big
// parts never holds more than one of them in memory. Create it with
// NewPlate, Draw each part, then take the Image. Not safe for concurrent
// use.
type Plate struct {
	r           *raster
	size, ss    int
	width       float64 // bed, mm
	depth       float64
	height      float64 // tallest part, mm: the depth range
	minX, maxX  float64 // the frame's extent on the bed, mm
	minY, maxY  float64
	samplesPerM float64 // samples per mm
	verts       []stl.Vec3
}

// NewPlate starts a size×size picture (0 means 512) of a width×depth mm bed
// (X to the right, Y up the picture, the origin at the bed's front left
// corner) holding parts at most height mm tall.
func NewPlate(width, depth, height float64, size int) (*Plate, error) {
	if size == 0 {
		size = DefaultPreviewSize
	}
	if size < MinPreviewSize || size > MaxPreviewSize {
		return nil, fmt.Errorf("plate picture: size %d is outside %d..%d", size, MinPreviewSize, MaxPreviewSize)
	}
	for _, v := range []float64{width, depth, height} {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("plate picture: bed %g×%g mm and height %g mm must be positive", width, depth, height)
		}
	}
	ss := subSamples
	if size > 1024 {
		ss = 2
	}
	r := newRaster(size*ss, 1)
	r.newFrames(false)
	r.toCam, r.right, r.up = [3]float64{0, 0, 1}, [3]float64{1, 0, 0}, [3]float64{0, 1, 0}
	n := float64(r.n)
	span := max(width, depth)
	r.scale = n * (1 - 2*frameMargin) / span * (1 << subBits)
	r.cx, r.cy = width/2, depth/2
	r.halfS = n / 2 * (1 << subBits)
	// A little headroom, so that rounding never lifts a vertex out of the
	// 16 bits of depth.
	r.minZ, r.zInv = 0, 65533/(height*1.001)
	p := &Plate{r: r, size: size, ss: ss, width: width, depth: depth, height: height}
	half := span / (1 - 2*frameMargin) / 2
	p.minX, p.maxX = width/2-half, width/2+half
	p.minY, p.maxY = depth/2-half, depth/2+half
	p.samplesPerM = r.scale / (1 << subBits)
	// Screen positions are 16-bit: keep clamped geometry a sample inside.
	in := 1 / p.samplesPerM
	p.minX, p.maxX, p.minY, p.maxY = p.minX+in, p.maxX-in, p.minY+in, p.maxY-in
	return p, nil
}

// Draw adds a part: its facets f, each vertex v moved to R·v + T, where
// transform holds R row by row and then T (as a 3MF build item's matrix,
// transposed). Geometry beyond the picture's frame is pressed onto its
// edge, and heights are kept between the bed and the plate's height.
// Drawing stays within the budget of the limits the part was read with
// (budget.go): past it, or once their context ends, the rest of the part
// is left out of the picture and Draw returns an error naming the part
// (wrapping ErrBudget when the budget was spent), so that the caller can
// say which part the picture lacks. The picture stays usable.
func (p *Plate) Draw(f *Facets, transform [12]float64) error {
	v := p.place(f.vertices(), transform)
	return p.drawPart(f.name, f.lim, v, nil, len(v)/3)
}

// DrawMesh adds a part as Draw does, from its mesh.
func (p *Plate) DrawMesh(m *Mesh, transform [12]float64) error {
	return p.drawPart(m.name, m.lim, p.place(m.verts, transform), m.tris, len(m.tris)/3)
}

func (p *Plate) drawPart(name string, lim Limits, verts []stl.Vec3, tris []int32, facets int) error {
	works := p.r.newWorks(lim)
	p.r.drawFacets(p.r.frames[0], meshCorners(verts, tris), 0, facets, works[0])
	if err := budgetSpent(name, facets, lim, works); err != nil {
		return fmt.Errorf("plate picture: part left out: %w", err)
	}
	return nil
}

// place returns src moved by transform into the plate's frame.
func (p *Plate) place(src []stl.Vec3, transform [12]float64) []stl.Vec3 {
	if cap(p.verts) < len(src) {
		p.verts = make([]stl.Vec3, len(src))
	}
	dst := p.verts[:len(src)]
	t := transform
	for i, v := range src {
		x, y, z := float64(v[0]), float64(v[1]), float64(v[2])
		dst[i] = stl.Vec3{
			float32(min(max(t[0]*x+t[1]*y+t[2]*z+t[9], p.minX), p.maxX)),
			float32(min(max(t[3]*x+t[4]*y+t[5]*z+t[10], p.minY), p.maxY)),
			float32(min(max(t[6]*x+t[7]*y+t[8]*z+t[11], 0), p.height)),
		}
	}
	return dst
}

// Image resolves the picture: the parts drawn so far on the bed and its
// grid.
func (p *Plate) Image() *image.RGBA {
	r := p.r
	samples := r.frames[0].samples
	lut := shadeTable()
	ss, size := p.ss, p.size
	div := uint32(ss * ss)
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	// The bed's colour at each sample where no part was drawn, by column
	// and by row: inside or outside the bed, on a grid line or not.
	n := float64(r.n)
	colKind := p.lineKinds(r.n, p.width, func(i int) float64 { return p.width/2 + (float64(i)+0.5-n/2)/p.samplesPerM })
	rowKind := p.lineKinds(r.n, p.depth, func(j int) float64 { return p.depth/2 - (float64(j)+0.5-n/2)/p.samplesPerM })
	bg := Background()
	for y := range size {
		for x := range size {
			var sr, sg, sb uint32
			for j := range ss {
				row := (y*ss + j) * r.n
				rk := rowKind[y*ss+j]
				for i := range ss {
					v := samples[row+x*ss+i]
					var c color.RGBA
					switch {
					case v != 0:
						l := lut[uint16(v)]
						c = color.RGBA{R: uint8(l >> 16), G: uint8(l >> 8), B: uint8(l)}
					default:
						c = bedAt(colKind[x*ss+i], rk, bg)
					}
					sr += uint32(c.R)
					sg += uint32(c.G)
					sb += uint32(c.B)
				}
			}
			o := img.PixOffset(x, y)
			img.Pix[o] = uint8((sr + div/2) / div)
			img.Pix[o+1] = uint8((sg + div/2) / div)
			img.Pix[o+2] = uint8((sb + div/2) / div)
			img.Pix[o+3] = 255
		}
	}
	return img
}

// WritePNG writes the picture as PNG.
func (p *Plate) WritePNG(w io.Writer) error {
	return writePNG(w, "plate", p.size, func(int) (*image.RGBA, error) { return p.Image(), nil })
}

// Kinds of a sample's column or row on the bed.
const (
	offBed = iota
	onBed
	onGrid
	onGrid50
	onRim
)

// lineKinds classifies each of n columns (or rows) whose centre lies at
// mm(i) on a bed axis of length extent.
func (p *Plate) lineKinds(n int, extent float64, mm func(int) float64) []uint8 {
	out := make([]uint8, n)
	half := float64(p.ss) / 2 / p.samplesPerM // half a pixel, in mm
	near := func(v, step float64) bool {
		d := math.Abs(v - step*math.Round(v/step))
		return d < half
	}
	for i := range out {
		v := mm(i)
		switch {
		case v < -half || v > extent+half:
			out[i] = offBed
		case v < half || v > extent-half:
			out[i] = onRim
		case near(v, 50):
			out[i] = onGrid50
		case near(v, 10):
			out[i] = onGrid
		default:
			out[i] = onBed
		}
	}
	return out
}

// bedAt is the colour where a column and a row of given kinds cross.
func bedAt(col, row uint8, bg color.RGBA) color.RGBA {
	if col == offBed || row == offBed {
		return bg
	}
	switch max(col, row) {
	case onRim:
		return rimColour
	case onGrid50:
		return grid50Colour
	case onGrid:
		return gridColour
	}
	return bedColour
}
