package render

import (
	"math"
	"slices"
	"unsafe"

	"github.com/hschendel/stl"
)

// Welding gives every distinct vertex (exactly equal coordinates; -0 = +0) a
// dense id and turns facets into three ids each. Two goroutines share the
// work without locks: vertices are split by one bit of their hash, and each
// goroutine owns one half, with its own table. The reader fills batches of
// facets and sorts each batch's vertices into the two halves as it hashes
// them; each goroutine welds its half and writes the ids into the batch;
// completed batches are appended to the facet list in file order. Ids are
// deterministic: partition 0's vertices first, each in order of first sight.
//
// Why tables and not a sort of packed coordinates: a sort needs every raw
// vertex at once (36 bytes a facet, twice for the radix buffers) before it
// can start, while these tables take about 23 bytes per distinct vertex, are
// filled as facets stream in, and are dropped before topology runs (whose
// edge grouping is a counting sort, see measureTopology).

const (
	batchVerts  = 3 * 4096
	batchesLive = 4
	partBit     = 1 << 31 // marks partition 1's ids until finish renumbers them
	// weldLoad is the most a table is filled (in 1/16) before it grows.
	weldLoad = 12
)

type weldBatch struct {
	verts []stl.Vec3
	ids   []uint32
	// same[i] is the index of an equal vertex of the facet before, or -1:
	// facets that share an edge tend to follow each other, so this cheap
	// check spares the partitions most of their lookups.
	same []int32
	n    int
	// Per partition p: the hash and batch index of its vertices, in order.
	hash [2][]uint64
	at   [2][]uint32
	cnt  [2]int
	done chan struct{}
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
	w.reserve(256, 256)
	for p := range 2 {
		go w.parts[p].run(w.in[p])
	}
	return w
}

// reserve sizes the tables for about tris facets and the facet list for
// trisCap (hints).
func (w *welder) reserve(tris, trisCap int64) {
	if int64(cap(w.tris)) < 3*trisCap {
		w.tris = append(largeSlice[int32](0, int(3*trisCap)), w.tris...)
	}
	if len(w.flight) > 0 || len(w.tris) > 0 {
		return // the partitions are busy; they grow as needed
	}
	// A closed mesh has about half as many vertices as facets, half of them
	// in each partition; a little more room spares a partition that gets a
	// few more than half a rehash (and the old table beside the new).
	// Partition 0's list gets room for all, so that appending partition 1's
	// at the end rarely copies (untouched capacity costs no memory).
	w.parts[0].reserve(int(tris/4+tris/64+16), int(tris/2+tris/32+32))
	w.parts[1].reserve(int(tris/4+tris/64+16), int(tris/4+tris/64+16))
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
		b := &weldBatch{
			verts: make([]stl.Vec3, n),
			ids:   make([]uint32, n),
			same:  make([]int32, n),
			done:  make(chan struct{}, 2),
		}
		for p := range 2 {
			b.hash[p] = make([]uint64, n)
			b.at[p] = make([]uint32, n)
		}
		return b
	}
	w.collect()
	return w.nextBatch()
}

// submit sorts the batch's vertices into the two partitions (see place)
// and sends the batch to both.
func (w *welder) submit(b *weldBatch) {
	b.cnt = [2]int{}
	for i := range b.n {
		b.place(i)
	}
	w.send(b)
}

// place hands vertex i (-0 already made +0) to its partition, unless it
// equals a vertex of the facet before in the batch, which then gives it
// its id.
func (b *weldBatch) place(i int) {
	v := b.verts[i]
	if f := i - i%3 - 3; f >= 0 {
		for j := f; j < f+3; j++ {
			if b.verts[j] == v {
				b.same[i] = int32(j)
				return
			}
		}
	}
	b.same[i] = -1
	h := hashVec(v)
	// Both lists get the entry; only the owner's count moves (no branch to
	// mispredict on a random bit).
	c0, c1 := b.cnt[0], b.cnt[1]
	b.hash[0][c0], b.at[0][c0] = h, uint32(i)
	b.hash[1][c1], b.at[1][c1] = h, uint32(i)
	bit := int(h >> 63)
	b.cnt[0] = c0 + 1 - bit
	b.cnt[1] = c1 + bit
}

// send hands a batch whose vertices are hashed and sorted into the
// partitions (-0 already made +0) to both partitions.
func (w *welder) send(b *weldBatch) {
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
	for _, p := range w.parts {
		p.failed.raise()
	}
	ids, same := b.ids[:b.n], b.same[:b.n]
	start := len(w.tris)
	w.tris = slices.Grow(w.tris, b.n)[:start+b.n]
	dst := w.tris[start:]
	for i, j := range same {
		id := ids[i]
		if j >= 0 {
			id = ids[j]
			ids[i] = id
		}
		dst[i] = int32(id)
	}
	b.n = 0
	b.cnt = [2]int{}
	w.free = append(w.free, b)
}

// finish waits for every batch and returns the number of vertices, their
// coordinates by id if withVerts (else nil) and the facets.
func (w *welder) finish(withVerts bool) (int, []stl.Vec3, []int32) {
	for len(w.flight) > 0 {
		w.collect()
	}
	w.stop()
	n0, n1 := len(w.parts[0].verts), len(w.parts[1].verts)
	var verts []stl.Vec3
	if withVerts {
		// Partition 0's list usually has room for partition 1's.
		verts = append(w.parts[0].verts, w.parts[1].verts...)
	}
	return n0 + n1, verts, w.release(n0)
}

// release drops the partitions' tables and returns the facet list with
// partition 1's ids moved after partition 0's n0.
func (w *welder) release(n0 int) []int32 {
	for _, p := range w.parts {
		endLargeSlice(p.table)
		endLargeSlice(p.verts)
	}
	w.parts = [2]*weldPart{}
	w.free = nil
	for i, id := range w.tris {
		if uint32(id)&partBit != 0 {
			w.tris[i] = int32(uint32(id)&^partBit) + int32(n0)
		}
	}
	endLargeSlice(w.tris)
	return w.tris
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

// weldPart is one partition: its vertices in order of first sight, and an
// open-addressing table (linear probing) whose 8-byte slots hold a 32-bit
// fingerprint of a vertex's hash and its id+1, so probing rarely touches
// the vertex list, and the table is small enough to stay mostly in the
// CPU's last-level cache. The table is at most 3/4 full.
type weldPart struct {
	part  uint32
	verts []stl.Vec3
	table []uint64 // fingerprint<<32 | id+1; 0 is empty
	grow  int      // vertex count at which the table grows
	// recent caches recently seen vertices (see recentMax); made with the
	// first batch.
	recent []weldSlot
	// failed is a panic while welding; read only after a batch's done.
	failed *goroutinePanic
}

// weldSlot is an entry of the cache of recent vertices.
type weldSlot struct {
	x, y, z uint32 // float32 bits
	id      uint32 // id+1, 0 for an empty slot
}

// touchAhead is how many lookups run behind the prefetches that bring
// their slots into cache: random reads of a big table cost a cache (and
// often a TLB) miss each, and the prefetches of a group overlap where
// lookups one by one would wait for each miss in turn. (Plain loads into a
// sum, tried first, stalled the core on each miss in turn: 64 % of the
// welding time sat on them.)
const touchAhead = 32

// recentMax is the largest cache of recently seen vertices, small enough to
// stay in the CPU's cache: facets that share a vertex tend to follow each
// other in a file, so it answers most lookups. Small parts get a smaller
// one, sized from their table.
const recentMax = 16384

// run welds the batches it receives until in is closed. A panic stops the
// welding but not the loop: the batches still get their done signal, and
// the reader raises the panic on its own goroutine (see welder.collect).
func (p *weldPart) run(in <-chan *weldBatch) {
	for b := range in {
		if p.failed == nil {
			func() {
				defer catchPanic(&p.failed)
				p.weld(b)
			}()
		}
		b.done <- struct{}{}
	}
}

// weld welds one batch's vertices of this partition.
func (p *weldPart) weld(b *weldBatch) {
	var slots [touchAhead]int32 // table slot to look up, or -1 when answered
	if p.recent == nil {
		// The first batch comes after the welder's last reserve.
		size := 256
		for size < recentMax && size < len(p.table)/2 {
			size <<= 1
		}
		p.recent = make([]weldSlot, size)
	}
	recent, mask := p.recent, uint64(len(p.recent)-1)
	hash, at := b.hash[p.part], b.at[p.part]
	tag := p.part << 31
	n := b.cnt[p.part]
	for k0 := 0; k0 < n; k0 += touchAhead {
		k1 := min(n, k0+touchAhead)
		size := len(p.table)
		for k := k0; k < k1; k++ {
			h, i := hash[k], at[k]
			v := &b.verts[i]
			r := &recent[h&mask]
			if r.id != 0 && r.x == math.Float32bits(v[0]) && r.y == math.Float32bits(v[1]) && r.z == math.Float32bits(v[2]) {
				b.ids[i] = r.id - 1 | tag
				slots[k-k0] = -1
				continue
			}
			j := slot(h, size)
			slots[k-k0] = int32(j)
			prefetch(uintptr(unsafe.Pointer(&p.table[j])))
		}
		for k := k0; k < k1; k++ {
			j := int(slots[k-k0])
			if j < 0 {
				continue
			}
			if len(p.table) != size {
				j = slot(hash[k], len(p.table)) // the table grew
			}
			i := at[k]
			v := &b.verts[i]
			id := p.id(v, hash[k], j)
			b.ids[i] = id | tag
			recent[hash[k]&mask] = weldSlot{math.Float32bits(v[0]), math.Float32bits(v[1]), math.Float32bits(v[2]), id + 1}
		}
	}
}

// reserve sizes the table for verts vertices and the list for listCap.
func (p *weldPart) reserve(verts, listCap int) {
	if cap(p.verts) < listCap {
		p.verts = append(largeSlice[stl.Vec3](0, listCap), p.verts...)
	}
	size := max(1024, verts*16/weldLoad+1)
	if size > len(p.table) {
		p.rehash(size)
	}
}

// slot maps a hash to a table index: bits 62..31, scaled to the size (bit
// 63 picks the partition).
func slot(h uint64, size int) int {
	return int((h << 1 >> 32) * uint64(size) >> 32)
}

func (p *weldPart) rehash(size int) {
	endLargeSlice(p.table)
	p.table = largeSlice[uint64](size, size)
	p.grow = size * weldLoad / 16
	for id, v := range p.verts {
		h := hashVec(v)
		i := slot(h, size)
		for p.table[i] != 0 {
			if i++; i == size {
				i = 0
			}
		}
		p.table[i] = uint64(uint32(h))<<32 | uint64(id+1)
	}
}

func hashVec(v stl.Vec3) uint64 {
	h := (uint64(math.Float32bits(v[0]))<<32 | uint64(math.Float32bits(v[1]))) * 0x9e3779b97f4a7c15
	h ^= uint64(math.Float32bits(v[2])) * 0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	return h * 0x94d049bb133111eb
}

// id returns v's id in this partition, adding v if new; i is its slot,
// slot(h, len(p.table)) with h = hashVec(*v).
func (p *weldPart) id(v *stl.Vec3, h uint64, i int) uint32 {
	fp := h << 32
	t := p.table
	for {
		e := t[i]
		if e == 0 {
			break
		}
		if e&^0xffffffff == fp {
			if id := uint32(e); p.verts[id-1] == *v {
				return id - 1
			}
		}
		if i++; i == len(t) {
			i = 0
		}
	}
	id := uint32(len(p.verts))
	p.verts = append(p.verts, *v)
	t[i] = fp | uint64(id+1)
	if len(p.verts) > p.grow {
		p.rehash(2 * len(t))
	}
	return id
}
