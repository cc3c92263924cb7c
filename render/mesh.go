package render

import (
	"encoding/binary"
	"io"
	"math"
	"runtime/debug"

	"github.com/hschendel/stl"
)

// Mesh is a parsed STL file held compactly: welded vertices (float32) and
// three vertex indices (int32) per facet, with its measurements. A 1M-facet
// closed part takes about 18 MB. A Mesh is read-only and safe for
// concurrent use.
type Mesh struct {
	lim   Limits // the budget its preview is drawn within
	name  string
	verts []stl.Vec3
	tris  []int32 // three indices per facet, in file order
	part  Part
}

// ReadMesh reads a mesh file from r, which need not seek, and measures it.
// Its kind is told by name's extension (.stl, .3mf, .obj in any case; STL
// for any other name), and STL's binary from ASCII by the first bytes.
// name also appears in errors. Every kind yields the same facets to the
// same measuring: only Part.Format, Objects and Units tell them apart.
func ReadMesh(r io.Reader, name string, lim Limits) (*Mesh, error) {
	return readMesh(kindFor(name), r, name, lim, meshFull)
}

// What readMesh keeps or skips.
type meshMode int

const (
	meshFull    meshMode = iota
	meshNoVerts          // no coordinates, only measurements and facets (Inspect)
)

func readMesh(k Kind, r io.Reader, name string, lim Limits, mode meshMode) (*Mesh, error) {
	lim = lim.withDefaults()
	b := newMeshBuilder(sizeOf(r), lim)
	defer b.weld.stop()
	d, err := decode(k, r, name, lim, b, true)
	if err != nil {
		return nil, err
	}
	if err := lim.stopped(name); err != nil {
		return nil, err
	}
	nverts, verts, tris := b.finish(mode != meshNoVerts)
	if lim.OneShot && len(tris) > 1<<20 {
		// Hand the welding tables back to the system before topology
		// allocates, so a big mesh's peak memory is the larger of the two
		// phases, not their sum: a collection alone would leave their pages
		// to be reused only where topology's arrays happen to fit. Cheap
		// in a one-shot process: its heap is a few big arrays without
		// pointers.
		debug.FreeOSMemory()
	}
	m := &Mesh{lim: lim, name: name, verts: verts, tris: tris}
	p := &m.part
	p.Triangles = d.Triangles
	p.Format = d.Format
	p.SHA256 = d.SHA256
	p.Objects = d.Objects
	p.Units = d.Units
	for k := range 3 {
		p.BBoxMin[k] = float64(b.min[k])
		p.BBoxMax[k] = float64(b.max[k])
		p.Size[k] = p.BBoxMax[k] - p.BBoxMin[k]
	}
	p.Volume = math.Abs(b.volume) / 6
	p.Area = b.area / 2
	if p.Area == 0 {
		return nil, malformed(name, -1, 0, "all %d facets are degenerate (zero area)", d.Triangles)
	}
	if err := lim.stopped(name); err != nil {
		return nil, err
	}
	topo := measureTopology(nverts, m.tris, defaultPassEdges)
	p.Watertight = topo.watertight
	p.Shells = topo.shells
	p.Degenerate = topo.degenerate
	p.OpenEdges = topo.openEdges
	p.NonManifoldEdges = topo.nonManifold
	if err := lim.stopped(name); err != nil {
		return nil, err
	}
	return m, nil
}

// Inspect reads and measures a mesh file; see ReadMesh.
func Inspect(r io.Reader, name string, lim Limits) (Part, error) {
	return inspect(kindFor(name), r, name, lim)
}

func inspect(k Kind, r io.Reader, name string, lim Limits) (Part, error) {
	m, err := readMesh(k, r, name, lim, meshNoVerts)
	if err != nil {
		return Part{}, err
	}
	return m.Part(), nil
}

// Part returns the mesh's measurements.
func (m *Mesh) Part() Part { return m.part }

// Name returns the file name the mesh was read as.
func (m *Mesh) Name() string { return m.name }

// Vertices returns the number of distinct (welded) vertices.
func (m *Mesh) Vertices() int { return len(m.verts) }

// meshBuilder is the stl.Writer behind ReadMesh: it accumulates bounds,
// area and volume as facets stream in, and hands their vertices in batches
// to the welder, which runs beside it.
type meshBuilder struct {
	weld   *welder
	batch  *weldBatch
	n      int64
	min    stl.Vec3
	max    stl.Vec3
	size   int64 // input length if known, else -1
	lim    Limits
	ref    [3]float64   // first vertex: volume is summed relative to it, for precision
	volume float64      // 6 × signed volume
	area   float64      // 2 × area
	ix     *indexedWeld // set when facets come as indexed meshes (AppendMesh)
}

func newMeshBuilder(size int64, lim Limits) *meshBuilder {
	return &meshBuilder{weld: newWelder(), size: size, lim: lim}
}

func (b *meshBuilder) SetName(string)         {}
func (b *meshBuilder) SetBinaryHeader([]byte) {}

// SetASCII sizes the welder from the file size, when known: ASCII facets
// take about 250 bytes; the facet list gets asciiFacetRoom. Binary files
// give their count to SetTriangleCount.
func (b *meshBuilder) SetASCII(ascii bool) {
	if ascii && b.size > 0 {
		b.weld.reserve(max(64, min(b.size/250, b.lim.MaxTriangles)), asciiFacetRoom(b.size, b.lim))
	}
}

// asciiFacetRoom is the room a facet list gets for an ASCII file of size
// bytes: facets of 200 bytes (they take about 250), so that it rarely has
// to grow (and be copied); room it does not fill is never touched and
// costs no memory.
func asciiFacetRoom(size int64, lim Limits) int64 {
	return max(64, min(size/200, lim.MaxTriangles))
}

func (b *meshBuilder) SetTriangleCount(n uint32) { b.weld.reserve(int64(n), int64(n)) }

func (b *meshBuilder) AppendTriangle(t stl.Triangle) {
	if b.ix != nil {
		b.AppendMesh(t.Vertices[:], []uint32{0, 1, 2})
		return
	}
	b.addFacet(&t.Vertices)
}

// addFacet adds one facet's vertices; the ASCII reader calls it through
// AppendTriangle.
func (b *meshBuilder) addFacet(v *[3]stl.Vec3) {
	for i := range 3 {
		for k := range 3 {
			v[i][k] += 0 // -0 becomes +0, as welding wants
		}
	}
	if b.n == 0 {
		b.min, b.max = v[0], v[0]
		b.ref = [3]float64{float64(v[0][0]), float64(v[0][1]), float64(v[0][2])}
	}
	b.n++
	for i := range 3 {
		for k := range 3 {
			b.min[k] = min(b.min[k], v[i][k])
			b.max[k] = max(b.max[k], v[i][k])
		}
	}
	if b.batch == nil {
		b.batch = b.weld.nextBatch()
	}
	bt := b.batch
	bt.verts[bt.n], bt.verts[bt.n+1], bt.verts[bt.n+2] = v[0], v[1], v[2]
	bt.n += 3
	if bt.n == len(bt.verts) {
		b.weld.submit(bt)
		b.batch = nil
	}
	vol, area := facetMeasures(v, &b.ref)
	b.volume += vol
	b.area += area
}

// facetMeasures returns a facet's contributions to 6 × the signed volume
// (relative to ref) and 2 × the area.
func facetMeasures(v *[3]stl.Vec3, ref *[3]float64) (vol, area float64) {
	ax, ay, az := float64(v[0][0])-ref[0], float64(v[0][1])-ref[1], float64(v[0][2])-ref[2]
	bx, by, bz := float64(v[1][0])-ref[0], float64(v[1][1])-ref[1], float64(v[1][2])-ref[2]
	cx, cy, cz := float64(v[2][0])-ref[0], float64(v[2][1])-ref[1], float64(v[2][2])-ref[2]
	vol = ax*(by*cz-bz*cy) + ay*(bz*cx-bx*cz) + az*(bx*cy-by*cx)
	ux, uy, uz := bx-ax, by-ay, bz-az
	wx, wy, wz := cx-ax, cy-ay, cz-az
	nx, ny, nz := uy*wz-uz*wy, uz*wx-ux*wz, ux*wy-uy*wx
	return vol, math.Sqrt(nx*nx + ny*ny + nz*nz)
}

// addBinary adds the facets packed in buf, 50 bytes each in binary STL
// layout, in one loop that keeps bounds and sums in registers and fills
// the welder's batches directly (no stl.Triangle, no interface call). It
// returns the index of the first facet with a NaN or infinite coordinate,
// after adding the facets before it, or -1.
func (b *meshBuilder) addBinary(buf []byte) int {
	nf := len(buf) / binaryFacetSize
	if nf == 0 {
		return -1
	}
	if b.n == 0 {
		if nonFinite(buf[12:48]) >= 0 {
			return 0
		}
		var v stl.Vec3
		for k := range 3 {
			v[k] = math.Float32frombits(binary.LittleEndian.Uint32(buf[12+4*k:])) + 0
		}
		b.min, b.max = v, v
		b.ref = [3]float64{float64(v[0]), float64(v[1]), float64(v[2])}
	}
	mn, mx, ref := b.min, b.max, b.ref
	vol, area := b.volume, b.area
	bad := -1
	var f [3]stl.Vec3
	done := 0
	for done < nf && bad < 0 {
		if b.batch == nil {
			b.batch = b.weld.nextBatch()
		}
		bt := b.batch
		take := min(nf-done, (len(bt.verts)-bt.n)/3)
		for t, stop := done, done+take; t < stop; t++ {
			w := buf[t*binaryFacetSize+12 : t*binaryFacetSize+48]
			var inf uint32
			for i := range 3 {
				for k := range 3 {
					u := binary.LittleEndian.Uint32(w[12*i+4*k:])
					if u&0x7f800000 == 0x7f800000 {
						inf = 1
					}
					x := math.Float32frombits(u) + 0 // -0 becomes +0
					f[i][k] = x
					if x < mn[k] {
						mn[k] = x
					}
					if x > mx[k] {
						mx[k] = x
					}
				}
			}
			if inf != 0 {
				bad = t
				break
			}
			bt.verts[bt.n], bt.verts[bt.n+1], bt.verts[bt.n+2] = f[0], f[1], f[2]
			bt.place(bt.n)
			bt.place(bt.n + 1)
			bt.place(bt.n + 2)
			bt.n += 3
			dv, da := facetMeasures(&f, &ref)
			vol += dv
			area += da
			done++
		}
		if bt.n == len(bt.verts) {
			b.weld.send(bt)
			b.batch = nil
		}
	}
	b.n += int64(done)
	b.min, b.max = mn, mx
	b.volume, b.area = vol, area
	return bad
}

// finish welds the last batch and returns the vertex count, the vertices
// if withVerts and the facets.
func (b *meshBuilder) finish(withVerts bool) (int, []stl.Vec3, []int32) {
	if b.ix != nil {
		return b.ix.finish(b.weld, withVerts)
	}
	if b.batch != nil {
		b.weld.submit(b.batch)
		b.batch = nil
	}
	return b.weld.finish(withVerts)
}
