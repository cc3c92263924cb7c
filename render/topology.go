package render

import "slices"

// topology is what the welded facets say about the surface.
type topology struct {
	watertight  bool  // every edge shared by exactly two facets
	shells      int   // facet sets connected through shared edges
	degenerate  int64 // facets with two equal vertices, left out of the rest
	openEdges   int64 // edges of only one facet
	nonManifold int64 // edges of three or more facets
	// oriented: watertight, and the two facets of every edge run along it
	// in opposite directions, so all normals point the same way (out or in).
	oriented bool
}

// defaultPassEdges bounds the edges bucketed at once (4 bytes each).
const defaultPassEdges = 1 << 20

// measureTopology finds shared edges without a map: each edge e = 3·facet+k
// is bucketed under its lower vertex id (a counting sort into one uint32
// array), and each bucket, a handful of edges, is sorted by the other vertex,
// so equal edges end up side by side. Facets sharing an edge are joined in a
// union-find over facets. To bound memory, vertices are taken in ranges of
// about passEdges edges (defaultPassEdges), one pass over the facets each. Memory: 4 bytes per
// vertex and per facet, plus 4 MB.
func measureTopology(nverts int, tris []int32, passEdges uint32) topology {
	nt := len(tris) / 3
	var topo topology
	count := make([]uint32, nverts+1)
	for t := range nt {
		a, b, c := tris[3*t], tris[3*t+1], tris[3*t+2]
		if a == b || b == c || a == c {
			topo.degenerate++
			continue
		}
		count[min(a, b)]++
		count[min(b, c)]++
		count[min(c, a)]++
	}

	parent := make([]int32, nt)
	for i := range parent {
		parent[i] = int32(i)
	}
	uf := unionFind(parent)
	topo.watertight = true
	topo.oriented = true
	var edges []uint32
	var keys []uint64
	for v0 := 0; v0 < nverts; {
		// Vertices v0..v1-1 own about passEdges edges; count becomes the
		// end of each one's bucket, then, after filling, its start.
		v1 := v0
		var sum uint32
		for v1 < nverts && (sum == 0 || sum+count[v1] <= passEdges) {
			sum += count[v1]
			count[v1] = sum
			v1++
		}
		if cap(edges) < int(sum) {
			edges = make([]uint32, sum)
		}
		edges = edges[:sum]
		for t := range nt {
			a, b, c := tris[3*t], tris[3*t+1], tris[3*t+2]
			if a == b || b == c || a == c {
				continue
			}
			e := uint32(3 * t)
			for k, lo := range [3]int32{min(a, b), min(b, c), min(c, a)} {
				if int(lo) >= v0 && int(lo) < v1 {
					count[lo]--
					edges[count[lo]] = e + uint32(k)
				}
			}
		}
		for v := v0; v < v1; v++ {
			end := sum
			if v+1 < v1 {
				end = count[v+1]
			}
			keys = groupEdges(&topo, uf, tris, edges[count[v]:end], keys)
		}
		v0 = v1
	}
	topo.oriented = topo.oriented && topo.watertight
	for t := range nt {
		a, b, c := tris[3*t], tris[3*t+1], tris[3*t+2]
		if parent[t] == int32(t) && a != b && b != c && a != c {
			topo.shells++
		}
	}
	return topo
}

// groupEdges sorts one vertex's bucket of edges by their other vertex,
// checks that each edge has two facets wound oppositely, and joins the
// facets of each edge. keys is scratch space, returned for reuse.
func groupEdges(topo *topology, uf unionFind, tris []int32, bucket []uint32, keys []uint64) []uint64 {
	if len(bucket) == 0 {
		return keys
	}
	keys = keys[:0]
	for _, e := range bucket {
		t := e / 3
		next := 3*t + (e-3*t+1)%3
		other := max(tris[e], tris[next])
		keys = append(keys, uint64(other)<<32|uint64(e))
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
		case j-i == 2:
			if forward(tris, uint32(keys[i])) == forward(tris, uint32(keys[i+1])) {
				topo.oriented = false
			}
		case j-i == 1:
			topo.watertight = false
			topo.openEdges++
		default:
			topo.watertight = false
			topo.nonManifold++
		}
		i = j
	}
	return keys
}

// unionFind is a disjoint-set forest over facets: each holds its parent.
type unionFind []int32

func (u unionFind) find(x int32) int32 {
	for u[x] != x {
		u[x] = u[u[x]]
		x = u[x]
	}
	return x
}

// union joins x's and y's sets under the lower root, so results do not
// depend on the order of unions.
func (u unionFind) union(x, y int32) {
	x, y = u.find(x), u.find(y)
	if x < y {
		u[y] = x
	} else if y < x {
		u[x] = y
	}
}

// forward reports whether edge e runs from its lower vertex id to its higher.
func forward(tris []int32, e uint32) bool {
	t := e / 3
	next := 3*t + (e-3*t+1)%3
	return tris[e] < tris[next]
}
