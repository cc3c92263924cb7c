package render

import (
	"math"

	"github.com/hschendel/stl"
)

// Welding gives every distinct vertex (exactly equal coordinates; -0 = +0) a
// dense id and turns facets into three ids each. Two goroutines share the
// work without locks: vertices are split by one bit of their hash, and each
// goroutine owns one half, with its own table and its own vertex list. The
// reader fills batches of facets; both goroutines scan each batch and
// write the ids of their own vertices into it; completed batches are
// appended to the facet list in file order. Ids are deterministic: partition
// 0's vertices first, each in order of first sight.
//
// Why tables and not a sort of packed coordinates: a sort needs every raw
// vertex at once (36 bytes a facet, twice for the radix buffers) before it
// can start, while these tables take about 16 bytes per distinct vertex, are
// filled as facets stream in, and are dropped before topology runs (whose
// edge grouping is a counting sort, see measureTopology).

const (
	batchVerts  = 3 * 4096
	batchesLive = 4
	partBit     = 1 << 31 // marks partition 1's ids until finish renumbers them
	recentSize  = 32768
)

type weldBatch struct {
	verts []stl.Vec3
	hash  []uint64
	ids   []uint32
	n     int
	done  chan struct{}
}

type welder struct {
	parts   [2]*weldPart
	in      [2]chan *weldBatch
	free    []*weldBatch // ready for filling
	flight  []*weldBatch // submitted, in file order
	tris    []int32
	made    int // batches allocated
	stopped bool
}

func newWelder() *welder {
	w := &welder{}
	for p := range 2 {
		w.parts[p] = &weldPart{part: uint32(p)}
		w.in[p] = make(chan *weldBatch, batchesLive)
	}
	w.reserve(256)
	for p := range 2 {
		go w.parts[p].run(w.in[p])
	}
	return w
}

// reserve makes room for about tris facets (a hint).
func (w *welder) reserve(tris int64) {
	if int64(cap(w.tris)) < 3*tris {
		w.tris = append(make([]int32, 0, 3*tris), w.tris...)
	}
	if len(w.flight) > 0 || len(w.tris) > 0 {
		return // the partitions are busy; they grow as needed
	}
	// A closed mesh has about half as many vertices as facets, half of them
	// in each partition; partition 0's list gets room for all, so that
	// appending partition 1's at the end rarely copies (untouched capacity
	// costs no memory).
	w.parts[0].reserve(int(tris/4+16), int(tris/2+16))
	w.parts[1].reserve(int(tris/4+16), int(tris/4+16))
}

func (w *welder) nextBatch() *weldBatch {
	if n := len(w.free); n > 0 {
		b := w.free[n-1]
		w.free = w.free[:n-1]
		return b
	}
	if len(w.flight) < batchesLive {
		// Batches start small, so small files (most parts) stay cheap.
		n := min(batchVerts, 3*1024<<(2*w.made))
		w.made++
		return &weldBatch{
			verts: make([]stl.Vec3, n),
			hash:  make([]uint64, n),
			ids:   make([]uint32, n),
			done:  make(chan struct{}, 2),
		}
	}
	w.collect()
	return w.nextBatch()
}

// submit hashes the batch's vertices and hands it to both partitions.
func (w *welder) submit(b *weldBatch) {
	for i := range b.n {
		v := &b.verts[i]
		v[0] += 0 // -0 becomes +0
		v[1] += 0
		v[2] += 0
		b.hash[i] = hashVec(*v)
	}
	w.flight = append(w.flight, b)
	w.in[0] <- b
	w.in[1] <- b
}

// collect waits for the oldest batch and appends its ids.
func (w *welder) collect() {
	b := w.flight[0]
	w.flight = w.flight[1:]
	<-b.done
	<-b.done
	for _, id := range b.ids[:b.n] {
		w.tris = append(w.tris, int32(id))
	}
	b.n = 0
	w.free = append(w.free, b)
}

// finish waits for every batch and returns the welded vertices and facets.
func (w *welder) finish() ([]stl.Vec3, []int32) {
	for len(w.flight) > 0 {
		w.collect()
	}
	w.stop()
	n0 := int32(len(w.parts[0].verts))
	verts := append(w.parts[0].verts, w.parts[1].verts...)
	w.parts = [2]*weldPart{}
	w.free = nil
	for i, id := range w.tris {
		if uint32(id)&partBit != 0 {
			w.tris[i] = int32(uint32(id)&^partBit) + n0
		}
	}
	return verts, w.tris
}

// stop ends the partition goroutines; it is safe to call twice.
func (w *welder) stop() {
	if w.stopped {
		return
	}
	w.stopped = true
	for len(w.flight) > 0 {
		b := w.flight[0]
		w.flight = w.flight[1:]
		<-b.done
		<-b.done
	}
	close(w.in[0])
	close(w.in[1])
}

// weldPart is one partition: an open-addressing table whose 8-byte slots
// hold a 32-bit hash fingerprint and id+1 (so probing rarely touches the
// vertex list), at most half full; and a small direct-mapped cache of
// recent vertices, which answers most lookups because facets that share a
// vertex tend to follow each other in a file.
type weldPart struct {
	part   uint32
	verts  []stl.Vec3
	table  []uint64 // fingerprint<<32 | id+1; 0 is empty
	shift  uint     // index = (hash<<1) >> shift
	recent [recentSize]recentVertex
}

type recentVertex struct {
	v  stl.Vec3
	id uint32 // id+1, 0 for empty
}

func (p *weldPart) run(in <-chan *weldBatch) {
	for b := range in {
		for i := range b.n {
			h := b.hash[i]
			if uint32(h>>63) != p.part {
				continue
			}
			b.ids[i] = p.id(b.verts[i], h) | p.part<<31
		}
		b.done <- struct{}{}
	}
}

// reserve sizes the table for verts vertices and the list for listCap.
func (p *weldPart) reserve(verts, listCap int) {
	if cap(p.verts) < listCap {
		p.verts = append(make([]stl.Vec3, 0, listCap), p.verts...)
	}
	size := 1 << 10
	for size < 2*verts {
		size <<= 1
	}
	if size > len(p.table) {
		p.rehash(size)
	}
}

func (p *weldPart) rehash(size int) {
	p.table = make([]uint64, size)
	p.shift = uint(64 - bitsLen(size))
	mask := uint64(size - 1)
	for id, v := range p.verts {
		h := hashVec(v)
		i := (h << 1) >> p.shift
		for p.table[i] != 0 {
			i = (i + 1) & mask
		}
		p.table[i] = uint64(uint32(h))<<32 | uint64(id+1)
	}
}

func bitsLen(size int) int {
	n := 0
	for size > 1 {
		size >>= 1
		n++
	}
	return n
}

func hashVec(v stl.Vec3) uint64 {
	h := (uint64(math.Float32bits(v[0]))<<32 | uint64(math.Float32bits(v[1]))) * 0x9e3779b97f4a7c15
	h ^= uint64(math.Float32bits(v[2])) * 0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	return h * 0x94d049bb133111eb
}

// id returns v's id in this partition, adding v if new; h is hashVec(v).
func (p *weldPart) id(v stl.Vec3, h uint64) uint32 {
	r := &p.recent[h&(recentSize-1)]
	if r.id != 0 && r.v == v {
		return r.id - 1
	}
	fp := uint64(uint32(h)) << 32
	mask := uint64(len(p.table) - 1)
	i := (h << 1) >> p.shift
	for {
		e := p.table[i]
		if e == 0 {
			break
		}
		if e&^0xffffffff == fp {
			if id := uint32(e); p.verts[id-1] == v {
				r.v, r.id = v, id
				return id - 1
			}
		}
		i = (i + 1) & mask
	}
	id := uint32(len(p.verts))
	p.verts = append(p.verts, v)
	p.table[i] = fp | uint64(id+1)
	r.v, r.id = v, id+1
	if 2*len(p.verts) > len(p.table) {
		p.rehash(2 * len(p.table))
	}
	return id
}
