package render

import (
	"encoding/binary"
	"io"
	"math"
	"unsafe"

	"github.com/hschendel/stl"
)

// vertexSink is an stl.Writer of this package that reads only the facets'
// vertices: the binary reader hands it packed facets (addBinary), and the
// ASCII reader only checks normals instead of converting them.
type vertexSink interface {
	stl.Writer
	// addBinary adds the facets packed in buf, 50 bytes each in binary STL
	// layout, and returns the index of the first facet with a NaN or
	// infinite coordinate, after adding the facets before it, or -1.
	addBinary(buf []byte) int
}

// Facets is an STL file's facets as the file lists them, neither welded nor
// measured: all a preview needs. A 1M-facet part takes 36 MB. It is
// read-only and safe for concurrent use.
type Facets struct {
	lim  Limits // the budget it is drawn within
	name string
	v    []float32 // nine coordinates per facet
}

// ReadFacets reads a mesh file (STL binary or ASCII, 3MF, OBJ: told as
// ReadMesh tells them) from r, which need not seek, for drawing only: it
// checks the file as ReadMesh does but skips welding, topology and the
// SHA-256, so it is the quickest way to a preview. name appears in errors.
func ReadFacets(r io.Reader, name string, lim Limits) (*Facets, error) {
	return readFacets(kindFor(name), r, name, lim)
}

func readFacets(k Kind, r io.Reader, name string, lim Limits) (*Facets, error) {
	lim = lim.withDefaults()
	fb := &facetBuilder{size: sizeOf(r), lim: lim}
	if _, err := decode(k, r, name, lim, fb, false); err != nil {
		return nil, err
	}
	if err := lim.stopped(name); err != nil {
		return nil, err
	}
	endLargeSlice(fb.v)
	return &Facets{lim: lim, name: name, v: fb.v}, nil
}

// Name returns the file name the facets were read as.
func (f *Facets) Name() string { return f.name }

// vertices returns the facets' vertices, three per facet.
func (f *Facets) vertices() []stl.Vec3 {
	if len(f.v) == 0 {
		return nil
	}
	return unsafe.Slice((*stl.Vec3)(unsafe.Pointer(&f.v[0])), len(f.v)/3)
}

// Len returns the number of facets.
func (f *Facets) Len() int { return len(f.v) / 9 }

// facetBuilder is the vertexSink behind ReadFacets.
type facetBuilder struct {
	v    []float32
	size int64
	lim  Limits
}

func (b *facetBuilder) SetName(string)         {}
func (b *facetBuilder) SetBinaryHeader([]byte) {}

// SetASCII reserves room from the file size, when known.
func (b *facetBuilder) SetASCII(ascii bool) {
	if ascii && b.size > 0 {
		b.reserve(asciiFacetRoom(b.size, b.lim))
	}
}

func (b *facetBuilder) SetTriangleCount(n uint32) { b.reserve(int64(n)) }

func (b *facetBuilder) reserve(facets int64) {
	if int64(cap(b.v)) < 9*facets {
		b.v = append(largeSlice[float32](0, int(9*facets)), b.v...)
	}
}

func (b *facetBuilder) AppendTriangle(t stl.Triangle) {
	for i := range 3 {
		b.v = append(b.v, t.Vertices[i][0], t.Vertices[i][1], t.Vertices[i][2])
	}
}

func (b *facetBuilder) addBinary(buf []byte) int {
	nf := len(buf) / binaryFacetSize
	start := len(b.v)
	if cap(b.v)-start < 9*nf {
		b.reserve(int64(start/9 + max(nf, start/9)))
	}
	dst := b.v[start : start+9*nf]
	for t := range nf {
		w := buf[t*binaryFacetSize+12 : t*binaryFacetSize+48]
		d := dst[9*t : 9*t+9]
		// An exponent of all ones (NaN, ±Inf) carries into bit 31 when
		// 1 is added to it: no branch per coordinate. -0 stays -0, which
		// draws as +0.
		var bad uint32
		for i := range 9 {
			u := binary.LittleEndian.Uint32(w[4*i:])
			bad |= (u&0x7f800000 + 0x00800000) & 0x80000000
			d[i] = math.Float32frombits(u)
		}
		if bad != 0 {
			b.v = b.v[:start+9*t]
			return t
		}
	}
	b.v = b.v[:start+9*nf]
	return -1
}
