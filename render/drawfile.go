package render

import (
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"runtime/debug"

	"github.com/hschendel/stl"
)

// fileChunk is how many facets a worker reads from the file at a time:
// about 64 KiB, which stays in the core's cache while it is drawn.
const fileChunk = 1300

// RenderFile draws the mesh file f, of the kind its name tells (see
// Kind.RenderFile).
func RenderFile(f *os.File, name string, size int, lim Limits) (*image.RGBA, error) {
	return kindFor(name).RenderFile(f, name, size, lim)
}

// RenderFile draws the file f of kind k as ReadFacets and Facets.Render
// would, with the same pixels and errors. A binary STL file is drawn
// straight from the file, each worker reading its share of the facets
// twice (once to fit the view, once to draw) without holding them: no
// copy of the part is made, so a big part takes far less memory and time.
// Where the system allows, the file is mapped rather than read, so the
// facets are not even copied out of the page cache.
// Other files (and binary STL ones that fail a check, which then get
// ReadFacets' error) go through ReadFacets.
func (k Kind) RenderFile(f *os.File, name string, size int, lim Limits) (*image.RGBA, error) {
	lim = lim.withDefaults()
	if k == KindSTL {
		if img, ok, err := renderBinaryFile(f, name, size, lim); ok {
			return img, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	facets, err := k.ReadFacets(f, name, lim)
	if err != nil {
		return nil, err
	}
	return facets.Render(size)
}

// renderBinaryFile draws f when it is a well-formed binary STL file within
// lim; ok is false for anything else, which the caller reads the usual
// way (to draw it, or to report what is wrong).
func renderBinaryFile(f *os.File, name string, size int, lim Limits) (img *image.RGBA, ok bool, err error) {
	if size == 0 {
		size = DefaultPreviewSize
	}
	if size < MinPreviewSize || size > MaxPreviewSize {
		return nil, false, nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > lim.MaxBytes {
		return nil, false, nil
	}
	head := make([]byte, min(512, st.Size()))
	if n, err := f.ReadAt(head, 0); n < len(head) || err != nil && err != io.EOF {
		return nil, false, nil
	}
	if len(head) < binaryHeaderSize+binaryFacetSize || isASCII(head) {
		return nil, false, nil
	}
	count := int64(binary.LittleEndian.Uint32(head[80:]))
	if count == 0 || count > lim.MaxTriangles || binaryHeaderSize+binaryFacetSize*count > st.Size() {
		return nil, false, nil
	}
	nt := int(count)
	workers := 1
	if nt >= parallelFacets {
		workers = cores()
	}
	// The reference point of the area check, as ReadMesh takes it.
	var first [3]stl.Vec3
	if !decodeFacets(head[binaryHeaderSize:binaryHeaderSize+binaryFacetSize], first[:]) {
		return nil, false, nil
	}
	ref := [3]float64{float64(first[0][0] + 0), float64(first[0][1] + 0), float64(first[0][2] + 0)}

	src := openFacetFile(f, st.Size())
	defer src.close()
	r := newRaster(size*ssFor(size), workers)
	// First pass: the extent, and the checks ReadFacets makes.
	var ext [2]extent
	var bad, area [2]bool
	parallel(workers, func(h int) {
		e := emptyExtent()
		src.guard(&bad[h], func() {
			var buf []byte
			for t := nt * h / workers; t < nt*(h+1)/workers && !bad[h]; t += fileChunk {
				n := min(fileChunk, nt*(h+1)/workers-t)
				if buf, bad[h] = src.facets(buf, t, n); !bad[h] {
					e, bad[h] = r.scanFacets(e, buf, &ref, &area[h])
				}
			}
		})
		ext[h] = e
	})
	if bad[0] || bad[1] || !area[0] && !area[1] {
		return nil, false, nil
	}
	e := ext[0]
	if workers == 2 {
		e = e.union(ext[1])
	}
	r.fitExtent(e)
	// Second pass: draw.
	r.newFrames(lim.OneShot)
	works := r.newWorks(lim)
	inPlace := binaryVerticesInPlace()
	parallel(workers, func(h int) {
		var verts []stl.Vec3
		if !inPlace {
			verts = make([]stl.Vec3, 3*fileChunk)
		}
		src.guard(&bad[h], func() {
			var buf []byte
			for t := nt * h / workers; t < nt*(h+1)/workers && !bad[h]; t += fileChunk {
				n := min(fileChunk, nt*(h+1)/workers-t)
				if buf, bad[h] = src.facets(buf, t, n); bad[h] {
					break // the file changed under us: read it the usual way
				}
				facets := fileCorners(buf)
				if !inPlace {
					vertices(buf, verts[:3*n])
					facets = meshCorners(verts[:3*n], nil)
				}
				r.drawFacets(r.frames[h], facets, 0, n, works[h])
			}
		})
	})
	if bad[0] || bad[1] {
		r.done()
		return nil, false, nil
	}
	if err := budgetSpent(name, nt, lim, works); err != nil {
		r.done()
		return nil, true, err
	}
	img = r.resolve(size, ssFor(size))
	r.done()
	return img, true, nil
}

// facetFile is a binary STL file whose facets are read a chunk at a
// time: from a mapping of the file where there is one, else with ReadAt.
type facetFile struct {
	f      *os.File
	mapped []byte // the whole file, or nil
	unmap  func()
}

// openFacetFile maps f (size bytes long) if it can.
func openFacetFile(f *os.File, size int64) *facetFile {
	src := &facetFile{f: f}
	if data, unmap, ok := mapFile(f, size); ok {
		src.mapped, src.unmap = data, unmap
	}
	return src
}

// close releases the mapping; the slices facets returned must no longer
// be used.
func (s *facetFile) close() {
	if s.unmap != nil {
		s.unmap()
	}
}

// facets returns n facets from facet t on: a part of the mapping, or read
// into buf (grown as needed); failed is true when they cannot be had
// whole.
func (s *facetFile) facets(buf []byte, t, n int) (_ []byte, failed bool) {
	if s.mapped != nil {
		from := binaryHeaderSize + t*binaryFacetSize
		if to := from + n*binaryFacetSize; to <= len(s.mapped) {
			return s.mapped[from:to], false
		}
		return buf, true
	}
	return readFacetsAt(s.f, buf, t, n)
}

// guard runs read, which reads the mapping, with a fault there (the file
// cut short since it was mapped: a read past its new end raises SIGBUS)
// reported in *failed instead of crashing the process; the caller then
// reads the file the usual way, and reports what is wrong with it.
func (s *facetFile) guard(failed *bool, read func()) {
	if s.mapped == nil {
		read()
		return
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			if _, fault := v.(interface{ Addr() uintptr }); !fault {
				panic(v)
			}
			*failed = true
		}
	}()
	read()
}

// readFacetsAt reads n facets from facet t on into buf (grown as needed);
// failed is true when they cannot be read whole.
func readFacetsAt(f *os.File, buf []byte, t, n int) (_ []byte, failed bool) {
	want := n * binaryFacetSize
	if cap(buf) < want {
		buf = make([]byte, fileChunk*binaryFacetSize)
	}
	buf = buf[:want]
	got, err := f.ReadAt(buf, binaryHeaderSize+int64(t)*binaryFacetSize)
	return buf, got < want || err != nil && err != io.EOF
}

// scanFacets returns e grown to hold the binary facets in buf, projected
// to camera space, and checks them as ReadFacets does: bad reports a NaN
// or infinite coordinate; *area is set from the first facet with an area
// on (see hasArea), and later facets are not checked for one.
func (r *raster) scanFacets(e extent, buf []byte, ref *[3]float64, area *bool) (_ extent, bad bool) {
	nf := len(buf) / binaryFacetSize
	t := 0
	for ; t < nf && !*area; t++ {
		var v [3]stl.Vec3
		if !decodeFacets(buf[t*binaryFacetSize:(t+1)*binaryFacetSize], v[:]) {
			return e, true
		}
		*area = hasArea(&v, ref)
	}
	m := r.view
	var nonFinite uint32
	// The extent in locals, which the compiler keeps in registers.
	minX, maxX, minY, maxY, minZ, maxZ := e.minX, e.maxX, e.minY, e.maxY, e.minZ, e.maxZ
	// A vertex of the previous facet (most of them, in files written
	// strip by strip) was checked and counted already: it is compared as
	// bits where it lies in buf. prev is nil for the first facet counted.
	var prev *[binaryFacetSize]byte
	for ; t < nf; t++ {
		w := (*[binaryFacetSize]byte)(buf[t*binaryFacetSize:])
		for i := range 3 {
			lo, hi := binary.LittleEndian.Uint64(w[12+12*i:]), binary.LittleEndian.Uint32(w[20+12*i:])
			if prev != nil && (lo == binary.LittleEndian.Uint64(prev[12:]) && hi == binary.LittleEndian.Uint32(prev[20:]) ||
				lo == binary.LittleEndian.Uint64(prev[24:]) && hi == binary.LittleEndian.Uint32(prev[32:]) ||
				lo == binary.LittleEndian.Uint64(prev[36:]) && hi == binary.LittleEndian.Uint32(prev[44:])) {
				continue
			}
			u0 := uint32(lo)
			u1 := uint32(lo >> 32)
			u2 := hi
			nonFinite |= (u0&0x7f800000+0x00800000)&0x80000000 | (u1&0x7f800000+0x00800000)&0x80000000 | (u2&0x7f800000+0x00800000)&0x80000000
			v0, v1, v2 := float64(math.Float32frombits(u0)), float64(math.Float32frombits(u1)), float64(math.Float32frombits(u2))
			x := v0*m.right[0] + v1*m.right[1] + v2*m.right[2] // camera, by hand
			y := v0*m.up[0] + v1*m.up[1] + v2*m.up[2]
			z := v0*m.toCam[0] + v1*m.toCam[1] + v2*m.toCam[2]
			if x < minX {
				minX = x
			}
			if x > maxX {
				maxX = x
			}
			if y < minY {
				minY = y
			}
			if y > maxY {
				maxY = y
			}
			if z < minZ {
				minZ = z
			}
			if z > maxZ {
				maxZ = z
			}
		}
		prev = w
	}
	// A non-finite coordinate makes the extent meaningless, not wrong in a
	// way that matters: the caller reads the file again to report it.
	return extent{minX, maxX, minY, maxY, minZ, maxZ}, nonFinite != 0
}

// vertices converts binary facets, checked already, to vertices, three
// per facet, where they cannot be read in place (binaryVerticesInPlace).
func vertices(buf []byte, verts []stl.Vec3) {
	for t := range len(buf) / binaryFacetSize {
		w := (*[binaryFacetSize]byte)(buf[t*binaryFacetSize:])
		d := (*[3]stl.Vec3)(verts[3*t:])
		for i := range 3 {
			d[i][0] = math.Float32frombits(binary.LittleEndian.Uint32(w[12+12*i:]))
			d[i][1] = math.Float32frombits(binary.LittleEndian.Uint32(w[16+12*i:]))
			d[i][2] = math.Float32frombits(binary.LittleEndian.Uint32(w[20+12*i:]))
		}
	}
}

// decodeFacets converts binary facets to vertices, three per facet, and
// reports false at a NaN or infinite coordinate (as addBinary checks).
func decodeFacets(buf []byte, verts []stl.Vec3) bool {
	var bad uint32
	for t := range len(buf) / binaryFacetSize {
		w := buf[t*binaryFacetSize+12 : t*binaryFacetSize+48]
		d := verts[3*t : 3*t+3]
		for i := range 3 {
			for k := range 3 {
				u := binary.LittleEndian.Uint32(w[12*i+4*k:])
				bad |= (u&0x7f800000 + 0x00800000) & 0x80000000
				d[i][k] = math.Float32frombits(u)
			}
		}
	}
	return bad == 0
}
