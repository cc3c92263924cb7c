package render

import (
	"math"
	"math/bits"
	"unsafe"

	"github.com/hschendel/stl"
)

// Indexed meshes (3MF objects, OBJ files) already list each vertex once and
// their facets by index, so they need not go through the welder corner by
// corner: AppendMesh welds their vertex lists (a few hundred thousand
// lookups instead of three per facet) and maps each facet's indices through
// the result. What comes out is what the welder gives for the same facets:
// equal coordinates (-0 = +0) share an id, and ids are numbered as the
// welder numbers them (partition 0 by order of first sight, then partition
// 1), so measurements, topology and previews are the same whichever way a
// file came in.

// indexedWeld welds the vertex lists handed to AppendMesh.
type indexedWeld struct {
	verts []stl.Vec3 // distinct vertices, in order of first listing
	hash  []uint64   // hashVec of each
	id    []uint32   // the welder's id (partition bit set for 1), or noID
	table []uint64   // open addressing over verts: fingerprint<<32 | index+1; 0 is empty
	cnt   [2]uint32  // ids given in each partition
	local []uint32   // the current mesh's vertices: index into verts
	// prepared is the vertex list local was made for by PrepareVertices.
	prepared *stl.Vec3
	prepLen  int
	shift    uint // a hash's slot is its top bits: h >> shift
}

const noID = math.MaxUint32

// AppendMesh (threemf.MeshWriter) adds the facets tris (three indices into verts each, every
// one below len(verts): the caller checked them) as AppendTriangle would
// add them one by one. verts and tris are only read during the call.
func (b *meshBuilder) AppendMesh(verts []stl.Vec3, tris []uint32) { b.appendMesh(verts, tris, false) }

// appendOwnedMesh is AppendMesh for a caller that gives tris up: when it
// is the first mesh, the ids are written over it instead of into a copy.
func (b *meshBuilder) appendOwnedMesh(verts []stl.Vec3, tris []uint32) {
	b.appendMesh(verts, tris, true)
}

func (b *meshBuilder) appendMesh(verts []stl.Vec3, tris []uint32, owned bool) {
	if b.n > 0 && b.ix == nil {
		// Facets came one by one before: go on that way.
		var f [3]stl.Vec3
		for t := 0; t+2 < len(tris); t += 3 {
			f = [3]stl.Vec3{verts[tris[t]], verts[tris[t+1]], verts[tris[t+2]]}
			b.addFacet(&f)
		}
		return
	}
	if len(tris) < 3 {
		return
	}
	if b.ix == nil {
		b.ix = &indexedWeld{}
	}
	ix := b.ix
	// Measuring reads the facets, welding the vertex list: a big mesh
	// does both at once.
	workers := 1
	if len(tris)/3 >= parallelFacets {
		workers = cores()
	}
	if ix.prepared == unsafe.SliceData(verts) && ix.prepLen == len(verts) {
		b.measureIndexed(verts, tris) // welded already
	} else {
		parallel(workers, func(h int) {
			if h == 1 || workers == 1 {
				b.measureIndexed(verts, tris)
			}
			if h == 0 {
				ix.weldList(verts)
			}
		})
	}
	out := b.weld.tris
	start := len(out)
	if owned && start == 0 {
		// Each id is written where its index was read.
		out = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(tris))), len(tris))[:0]
	} else if cap(out)-start < len(tris) {
		grown := largeSlice[int32](start, start+len(tris))
		copy(grown, out)
		endLargeSlice(out)
		out = grown
	}
	out = out[:start+len(tris)]
	dst := out[start:]
	local, hash, ids := ix.local, ix.hash, ix.id
	for k, li := range tris {
		g := local[li]
		id := ids[g]
		if id == noID {
			p := uint32(hash[g] >> 63)
			id = ix.cnt[p] | p<<31
			ix.cnt[p]++
			ids[g] = id
		}
		dst[k] = int32(id)
	}
	b.weld.tris = out
}

// PrepareVertices (threemf.VertexPreparer) welds a vertex list before
// its facets come: AppendMesh with the same slice then only maps them.
func (b *meshBuilder) PrepareVertices(verts []stl.Vec3) {
	if b.n > 0 && b.ix == nil || len(verts) == 0 {
		return
	}
	if b.ix == nil {
		b.ix = &indexedWeld{}
	}
	b.ix.weldList(verts)
	b.ix.prepared, b.ix.prepLen = unsafe.SliceData(verts), len(verts)
}

// measureIndexed adds the facets' bounds, volume and area, in file order
// and with the same arithmetic as addFacet.
func (b *meshBuilder) measureIndexed(verts []stl.Vec3, tris []uint32) {
	var f [3]stl.Vec3
	if b.n == 0 {
		v := verts[tris[0]]
		for k := range 3 {
			v[k] += 0
		}
		b.min, b.max = v, v
		b.ref = [3]float64{float64(v[0]), float64(v[1]), float64(v[2])}
	}
	mn, mx, ref := b.min, b.max, b.ref
	vol, area := b.volume, b.area
	for t := 0; t+2 < len(tris); t += 3 {
		f[0], f[1], f[2] = verts[tris[t]], verts[tris[t+1]], verts[tris[t+2]]
		for i := range 3 {
			for k := range 3 {
				x := f[i][k] + 0
				f[i][k] = x
				mn[k] = min(mn[k], x)
				mx[k] = max(mx[k], x)
			}
		}
		dv, da := facetMeasures(&f, &ref)
		vol += dv
		area += da
	}
	b.n += int64(len(tris) / 3)
	b.min, b.max = mn, mx
	b.volume, b.area = vol, area
}

// weldList gives each of verts its index in ix.verts (in ix.local), adding
// the new ones. Lookups go in groups of touchAhead whose table slots are
// prefetched first, as the welder's are: each is a cache miss otherwise.
func (ix *indexedWeld) weldList(verts []stl.Vec3) {
	ix.prepared = nil
	if cap(ix.local) < len(verts) {
		ix.local = make([]uint32, len(verts))
	}
	ix.local = ix.local[:len(verts)]
	if need := 2 * (len(ix.verts) + len(verts)); len(ix.table) < need {
		ix.rehash(need)
	}
	table, shift := ix.table, ix.shift
	mask := uint64(len(table) - 1)
	var hs [touchAhead]uint64
	for i0 := 0; i0 < len(verts); i0 += touchAhead {
		group := verts[i0:min(len(verts), i0+touchAhead)]
		for k, v := range group {
			for c := range 3 {
				v[c] += 0
			}
			hs[k] = hashVec(v)
			prefetch(uintptr(unsafe.Pointer(&table[hs[k]>>shift])))
		}
		for k, v := range group {
			for c := range 3 {
				v[c] += 0
			}
			h := hs[k]
			fp := h << 32
			j := h >> shift
			for {
				e := table[j]
				if e == 0 {
					n := uint32(len(ix.verts))
					table[j] = fp | uint64(n+1)
					ix.local[i0+k] = n
					ix.verts = append(ix.verts, v)
					ix.hash = append(ix.hash, h)
					ix.id = append(ix.id, noID)
					break
				}
				if e&^0xffffffff == fp && ix.verts[uint32(e)-1] == v {
					ix.local[i0+k] = uint32(e) - 1
					break
				}
				j = (j + 1) & mask
			}
		}
	}
}

// rehash makes the table a power of two of at least n slots.
func (ix *indexedWeld) rehash(n int) {
	size := 1024
	for size < n {
		size <<= 1
	}
	ix.table = make([]uint64, size)
	ix.shift = uint(64 - bits.TrailingZeros(uint(size)))
	mask := uint64(size - 1)
	if cap(ix.verts) < size/2 {
		ix.verts = append(make([]stl.Vec3, 0, size/2), ix.verts...)
		ix.hash = append(make([]uint64, 0, size/2), ix.hash...)
		ix.id = append(make([]uint32, 0, size/2), ix.id...)
	}
	for i, h := range ix.hash {
		j := h >> ix.shift
		for ix.table[j] != 0 {
			j = (j + 1) & mask
		}
		ix.table[j] = h<<32 | uint64(i+1)
	}
}

// finish returns what welder.finish returns for the same facets.
func (ix *indexedWeld) finish(w *welder, withVerts bool) (int, []stl.Vec3, []int32) {
	w.stop()
	n0, n1 := int(ix.cnt[0]), int(ix.cnt[1])
	var verts []stl.Vec3
	if withVerts {
		verts = make([]stl.Vec3, n0+n1)
		for g, id := range ix.id {
			switch {
			case id == noID:
			case id&partBit != 0:
				verts[n0+int(id&^partBit)] = ix.verts[g]
			default:
				verts[id] = ix.verts[g]
			}
		}
	}
	return n0 + n1, verts, w.release(n0)
}
