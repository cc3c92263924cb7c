package render

import (
	"slices"
	"sync/atomic"
)

// topology is what the welded facets say about the surface.
type topology struct {
	watertight  bool  // every edge shared by exactly two facets
	shells      int   // facet sets connected through shared edges
	degenerate  int64 // facets with two equal vertices, left out of the rest
	openEdges   int64 // edges of only one facet
	nonManifold int64 // edges of three or more facets
}

// defaultPassEdges bounds the edges bucketed at once (4 bytes each): a
// 1M-facet part (3M edges) takes two passes.
const defaultPassEdges = 3 << 19

// parallelFacets is the facet count from which topology uses two goroutines.
const parallelFacets = 1 << 15

// measureTopology finds shared edges without a map: each edge e = 3·facet+k
// is bucketed under its lower vertex id (a counting sort into one uint32
// array), and each bucket, a handful of edges, is sorted by the other vertex,
// so equal edges end up side by side. Facets sharing an edge are joined in a
// union-find over facets. To bound memory, vertices are taken in ranges of
// about passEdges edges (defaultPassEdges), one pass over the facets each.
// Memory: 8 bytes per vertex, 4 per facet, 4 per bucketed edge.
//
// Big meshes use two goroutines: each buckets the edges of one half of the
// facets (so each bucket holds the first half's edges, then the second's,
// whatever the timing), then each groups the buckets of one range of
// vertices, joining facets in a lock-free union-find. The result depends
// only on the mesh.
func measureTopology(nverts int, tris []int32, passEdges uint32) topology {
	nt := len(tris) / 3
	workers := 1
	if nt >= parallelFacets {
		workers = cores()
	}
	half := [3]int{0, nt, nt}
	if workers == 2 {
		half[1] = nt / 2
	}
	// cnt[h][v]: edges of facet half h whose lower vertex is v.
	var cnt [2][]uint32
	var degenerate [2]int64
	parallel(workers, func(h int) {
		c := largeSlice[uint32](nverts, nverts)
		for t := half[h]; t < half[h+1]; t++ {
			a, b, cc := tris[3*t], tris[3*t+1], tris[3*t+2]
			if a == b || b == cc || a == cc {
				degenerate[h]++
				continue
			}
			c[min(a, b)]++
			c[min(b, cc)]++
			c[min(cc, a)]++
		}
		cnt[h] = c
	})
	if workers == 1 {
		cnt[1] = make([]uint32, nverts) // all zero: no second half
	}

	parent := largeSlice[int32](nt, nt)
	parallel(workers, func(h int) {
		lo, hi := nt*h/workers, nt*(h+1)/workers
		for i := lo; i < hi; i++ {
			parent[i] = int32(i)
		}
	})
	uf := unionFind(parent)
	var part [2]topology
	var edges []uint32
	var keys [2][]uint64
	for v0 := 0; v0 < nverts; {
		// Vertices v0..v1-1 own about passEdges edges. cnt[0][v] becomes
		// the start of v's bucket for the first facet half, cnt[1][v] the
		// start for the second; after filling, cnt[1][v] is the bucket's end.
		v1 := v0
		var sum uint32
		for v1 < nverts {
			n := cnt[0][v1] + cnt[1][v1]
			if sum != 0 && sum+n > passEdges {
				break
			}
			cnt[0][v1], cnt[1][v1] = sum, sum+cnt[0][v1]
			sum += n
			v1++
		}
		if cap(edges) < int(sum) {
			endLargeSlice(edges)
			edges = largeSlice[uint32](int(sum), int(sum))
		}
		edges = edges[:sum]
		parallel(workers, func(h int) {
			cur := cnt[h]
			for t := half[h]; t < half[h+1]; t++ {
				a, b, c := tris[3*t], tris[3*t+1], tris[3*t+2]
				if a == b || b == c || a == c {
					continue
				}
				e := uint32(3 * t)
				if lo := min(a, b); int(lo) >= v0 && int(lo) < v1 {
					edges[cur[lo]] = e
					cur[lo]++
				}
				if lo := min(b, c); int(lo) >= v0 && int(lo) < v1 {
					edges[cur[lo]] = e + 1
					cur[lo]++
				}
				if lo := min(c, a); int(lo) >= v0 && int(lo) < v1 {
					edges[cur[lo]] = e + 2
					cur[lo]++
				}
			}
		})
		// Split the vertices where half the pass's edges are done.
		mid := v1
		if workers == 2 {
			mid = v0
			for mid < v1 && cnt[1][mid] < sum/2 {
				mid++
			}
		}
		split := [3]int{v0, mid, v1}
		parallel(workers, func(h int) {
			start := uint32(0)
			if split[h] > v0 {
				start = cnt[1][split[h]-1]
			}
			for v := split[h]; v < split[h+1]; v++ {
				end := cnt[1][v]
				keys[h] = groupEdges(&part[h], uf, tris, edges[start:end], keys[h])
				start = end
			}
		})
		v0 = v1
	}
	endLargeSlice(edges)
	endLargeSlice(cnt[0])
	endLargeSlice(cnt[1])
	topo := topology{
		degenerate:  degenerate[0] + degenerate[1],
		openEdges:   part[0].openEdges + part[1].openEdges,
		nonManifold: part[0].nonManifold + part[1].nonManifold,
	}
	topo.watertight = topo.openEdges == 0 && topo.nonManifold == 0
	for t := range nt {
		a, b, c := tris[3*t], tris[3*t+1], tris[3*t+2]
		if parent[t] == int32(t) && a != b && b != c && a != c {
			topo.shells++
		}
	}
	endLargeSlice(parent)
	return topo
}

// groupEdges sorts one vertex's bucket of edges by their other vertex,
// counts edges of one facet or of more than two, and joins the facets of
// each edge. keys is scratch space, returned for reuse.
func groupEdges(topo *topology, uf unionFind, tris []int32, bucket []uint32, keys []uint64) []uint64 {
	switch len(bucket) {
	case 0:
		return keys
	case 2:
		// The common case on a closed surface: the vertex is the lower end
		// of one edge shared by two facets.
		ea, eb := bucket[0], bucket[1]
		if other(tris, ea) == other(tris, eb) {
			uf.union(int32(ea/3), int32(eb/3))
		} else {
			topo.openEdges += 2
		}
		return keys
	}
	keys = keys[:0]
	for _, e := range bucket {
		keys = append(keys, uint64(other(tris, e))<<32|uint64(e))
	}
	if len(keys) <= 16 {
		for i := 1; i < len(keys); i++ {
			for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
			}
		}
	} else {
		slices.Sort(keys)
	}
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j]>>32 == keys[i]>>32 {
			uf.union(int32(uint32(keys[i])/3), int32(uint32(keys[j])/3))
			j++
		}
		switch {
		case j-i == 1:
			topo.openEdges++
		case j-i > 2:
			topo.nonManifold++
		}
		i = j
	}
	return keys
}

// other is the higher vertex id of edge e.
func other(tris []int32, e uint32) int32 {
	return max(tris[e], tris[nextEdge(e)])
}

// nextEdge is the edge after e in its facet (the one starting at e's end).
func nextEdge(e uint32) uint32 {
	if e%3 == 2 {
		return e - 2
	}
	return e + 1
}

// unionFind is a disjoint-set forest over facets: each holds its parent,
// which is never above it. It is safe for concurrent use: roots are linked
// by compare-and-swap, and path halving only ever points a facet at one of
// its ancestors.
type unionFind []int32

func (u unionFind) find(x int32) int32 {
	for {
		p := atomic.LoadInt32(&u[x])
		if p == x {
			return x
		}
		g := atomic.LoadInt32(&u[p])
		if g != p {
			atomic.CompareAndSwapInt32(&u[x], p, g)
		}
		x = g
	}
}

// union joins x's and y's sets under the lower root, so that the sets (the
// shells) do not depend on the order of unions.
func (u unionFind) union(x, y int32) {
	for {
		x, y = u.find(x), u.find(y)
		if x == y {
			return
		}
		if x > y {
			x, y = y, x
		}
		if atomic.CompareAndSwapInt32(&u[y], y, x) {
			return
		}
	}
}
