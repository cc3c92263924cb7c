package render

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/hschendel/stl"
)

// corners tells drawFacets where each facet's three vertices are: through
// tris into verts (an indexed mesh), or packed, a facet's three vertices
// one after the other and a facet every stride bytes from first (a list
// of vertices, three per facet, or the facets of a binary STL file read
// in place). Packed facets are read without bounds checks: the
// constructors make sure that facets of them are there.
type corners struct {
	verts []stl.Vec3
	tris  []int32

	first  unsafe.Pointer // facet 0's first vertex
	stride uintptr
	facets int
}

// meshCorners are the facets of an indexed mesh (tris non-nil), or of
// verts three by three.
func meshCorners(verts []stl.Vec3, tris []int32) corners {
	if tris != nil {
		return corners{verts: verts, tris: tris, facets: len(tris) / 3}
	}
	c := corners{stride: 3 * unsafe.Sizeof(stl.Vec3{}), facets: len(verts) / 3}
	if c.facets > 0 {
		c.first = unsafe.Pointer(unsafe.SliceData(verts))
	}
	return c
}

// binaryVerticesInPlace reports whether the vertices of binary STL facets
// can be read where they lie in the file's bytes: on a little-endian
// machine their float32s are laid out as in memory.
func binaryVerticesInPlace() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

// fileCorners are the binary STL facets in buf, read where they lie
// (vertices 12 bytes into each 50-byte facet, float32s unaligned); only
// where binaryVerticesInPlace.
func fileCorners(buf []byte) corners {
	c := corners{stride: binaryFacetSize, facets: len(buf) / binaryFacetSize}
	if c.facets > 0 {
		c.first = unsafe.Pointer(&buf[12])
	}
	return c
}

// of returns facet t's vertices.
func (c *corners) of(t int) (a, b, d *stl.Vec3) {
	if c.tris != nil {
		return &c.verts[c.tris[3*t]], &c.verts[c.tris[3*t+1]], &c.verts[c.tris[3*t+2]]
	}
	p := unsafe.Add(c.first, uintptr(t)*c.stride)
	return (*stl.Vec3)(p), (*stl.Vec3)(unsafe.Add(p, 12)), (*stl.Vec3)(unsafe.Add(p, 24))
}

// check panics, as an index out of range would, unless facets from..to-1
// are there.
func (c *corners) check(from, to int) {
	if from < to && (from < 0 || to > c.facets) {
		panic(fmt.Sprintf("render: facets %d..%d of %d", from, to, c.facets))
	}
}
