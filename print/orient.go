package print

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// How a part is laid on the bed. Makers model most printable parts
// standing the way they print, so a part whose modelled bottom is a real
// flat face keeps it. Otherwise it is turned to lie on its largest flat
// face: the largest set of facets that all face one way and lie in the
// plane where the part's convex hull ends in that direction, so that the
// part rests on them. A part without a flat face (a ball, a figurine)
// stays as modelled. On the bed every pose is then turned about Z to the
// smallest rectangle around its footprint, which packs best.

// ShapeVersion changes whenever the way poses are worked out changes, so
// that cached shapes computed the old way are computed again.
const ShapeVersion = 1

// Mesh is a part's welded geometry, as render.Mesh gives it.
type Mesh interface {
	Vertices() int
	Vertex(i int) [3]float32
	Len() int
	Facet(i int) [3]int32
}

// Kinds of pose.
const (
	PoseAsModelled = "as modelled"   // the file's own orientation, which lies flat
	PoseFlatFace   = "flat face"     // turned onto a flat face
	PoseNoFlat     = "no flat face"  // as modelled: the part has no face to lie on
	PoseToFit      = "turned to fit" // another flat face, because the preferred pose does not fit the printer
)

// Pose is one way to lay a part on the bed.
type Pose struct {
	// Rotation turns the file's coordinates (row by row, 3×3) so that the
	// part rests on the bed plane with its footprint's smallest rectangle
	// along X and Y.
	Rotation [9]float64 `json:"rotation"`
	// Min is the corner of the turned part's bounding box, Size its extent
	// (mm): placing the part at (x, y) on the bed moves it by
	// (x - Min[0], y - Min[1], -Min[2]).
	Min  [3]float64 `json:"min"`
	Size [3]float64 `json:"size"`
	// Contact is the area of the flat face it rests on, mm².
	Contact float64 `json:"contact"`
	Kind    string  `json:"kind"`
}

// Shape is what a plan needs to know of a part's geometry: its poses, the
// preferred one first. It is worked out once per file content and cached.
type Shape struct {
	Version int    `json:"version"`
	Poses   []Pose `json:"poses"`
}

// Limits of the analysis.
const (
	maxCandidates = 24      // face directions considered
	normalGrid    = 256.0   // normals are grouped on this grid (about 0.2°)
	flatCos       = 0.99985 // within about 1° of the face's direction
	// A face is flat enough to lie on when it covers at least this much of
	// the part's footprint in that pose, or minContact mm² when smaller.
	minContactShare = 0.02
	minContact      = 25.0
	// The modelled bottom is kept when its flat face has at least this
	// share of the largest flat face's area.
	keepModelledShare = 0.25
	maxPoses          = 6
)

// Analyse works out a part's poses from its mesh.
func Analyse(m Mesh) Shape {
	nv, nf := m.Vertices(), m.Len()
	verts := make([][3]float64, nv)
	for i := range verts {
		v := m.Vertex(i)
		verts[i] = [3]float64{float64(v[0]), float64(v[1]), float64(v[2])}
	}
	if nv == 0 || nf == 0 {
		return Shape{Version: ShapeVersion, Poses: []Pose{footprintPose(verts, identity(), 0, PoseNoFlat)}}
	}
	// Outward normals: a mesh wound inside out has a negative volume.
	var vol float64
	ref := verts[m.Facet(0)[0]]
	for i := range nf {
		f := m.Facet(i)
		a, b, c := sub(verts[f[0]], ref), sub(verts[f[1]], ref), sub(verts[f[2]], ref)
		vol += dot(a, cross(b, c))
	}
	sign := 1.0
	if vol < 0 {
		sign = -1
	}
	// Group facets by direction, weighted by area.
	type group struct {
		sum  [3]float64
		area float64
	}
	groups := map[[3]int32]*group{}
	normals := make([][3]float64, nf)
	areas := make([]float64, nf)
	for i := range nf {
		f := m.Facet(i)
		n := cross(sub(verts[f[1]], verts[f[0]]), sub(verts[f[2]], verts[f[0]]))
		l := math.Sqrt(dot(n, n))
		if l == 0 || math.IsNaN(l) {
			continue
		}
		u := scale(n, sign/l)
		normals[i], areas[i] = u, l/2
		k := [3]int32{int32(math.Round(u[0] * normalGrid)), int32(math.Round(u[1] * normalGrid)), int32(math.Round(u[2] * normalGrid))}
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
		}
		g.sum = add(g.sum, scale(u, l/2))
		g.area += l / 2
	}
	list := make([]*group, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].area != list[j].area {
			return list[i].area > list[j].area
		}
		a, b := list[i].sum, list[j].sum
		return a[0] < b[0] || a[0] == b[0] && (a[1] < b[1] || a[1] == b[1] && a[2] < b[2])
	})
	// The modelled bottom first, then the largest directions, each at
	// least a degree from those before it.
	dirs := [][3]float64{{0, 0, -1}}
	for _, g := range list {
		if len(dirs) >= maxCandidates {
			break
		}
		d := normalise(g.sum)
		dup := false
		for _, e := range dirs {
			if dot(d, e) > flatCos {
				dup = true
				break
			}
		}
		if !dup {
			dirs = append(dirs, d)
		}
	}
	// Where the hull ends in each direction, and the flat area there.
	support := make([]float64, len(dirs))
	for k, d := range dirs {
		s := math.Inf(-1)
		for _, v := range verts {
			s = max(s, dot(v, d))
		}
		support[k] = s
	}
	size := 0.0
	for k := range 3 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range verts {
			lo, hi = min(lo, v[k]), max(hi, v[k])
		}
		size = max(size, hi-lo)
	}
	tol := max(1e-3, size*1e-5) // how far from the plane a vertex may lie
	contact := make([]float64, len(dirs))
	for i := range nf {
		if areas[i] == 0 {
			continue
		}
		f := m.Facet(i)
		for k, d := range dirs {
			if dot(normals[i], d) < flatCos {
				continue
			}
			s := support[k] - tol
			if dot(verts[f[0]], d) >= s && dot(verts[f[1]], d) >= s && dot(verts[f[2]], d) >= s {
				contact[k] += areas[i]
			}
		}
	}
	// Poses for the faces large enough to stand on, largest first; the
	// modelled bottom leads when it is flat enough.
	type cand struct {
		k       int
		contact float64
	}
	var cands []cand
	best := 0.0
	for k := range dirs {
		best = max(best, contact[k])
	}
	for k := range dirs {
		cands = append(cands, cand{k, contact[k]})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].contact > cands[j].contact })
	var poses []Pose
	modelled := footprintPose(verts, identity(), contact[0], PoseAsModelled)
	// A rough floor for a pose's footprint (the modelled bounding box's
	// smallest face), to skip faces too small to stand on before measuring
	// their poses: a face under minContact on a part this size.
	s := modelled.Size
	minFootprint := min(s[0]*s[1], s[1]*s[2], s[0]*s[2])
	flat := func(p Pose) bool {
		return p.Contact >= minContact || p.Contact >= minContactShare*p.Size[0]*p.Size[1] && p.Contact > 0
	}
	if flat(modelled) && contact[0] >= keepModelledShare*best {
		poses = append(poses, modelled)
	}
	for _, c := range cands {
		if len(poses) >= maxPoses {
			break
		}
		if c.k == 0 || c.contact <= 0 || c.contact < minContact && c.contact < minContactShare*minFootprint {
			continue // too small to stand on whatever its footprint: not worth one
		}
		p := footprintPose(verts, turnDown(dirs[c.k]), c.contact, PoseFlatFace)
		if flat(p) {
			poses = append(poses, p)
		}
	}
	if len(poses) == 0 {
		modelled.Kind = PoseNoFlat
		poses = append(poses, modelled)
	} else if poses[0].Kind != PoseAsModelled {
		// The modelled pose stays available for fitting, last.
		if !flat(modelled) {
			modelled.Kind = PoseNoFlat
		}
		poses = append(poses, modelled)
	}
	return Shape{Version: ShapeVersion, Poses: poses}
}

// footprintPose completes a pose from the rotation r that lays the part
// down: it turns it about Z to the smallest rectangle around the footprint
// and measures it.
func footprintPose(verts [][3]float64, r [9]float64, contact float64, kind string) Pose {
	pts := make([][2]float64, len(verts))
	for i, v := range verts {
		w := apply(r, v)
		pts[i] = [2]float64{w[0], w[1]}
	}
	theta := minAreaAngle(hull(pts))
	c, s := math.Cos(-theta), math.Sin(-theta)
	r = mul([9]float64{c, -s, 0, s, c, 0, 0, 0, 1}, r)
	lo := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, v := range verts {
		w := apply(r, v)
		for k := range 3 {
			lo[k], hi[k] = min(lo[k], w[k]), max(hi[k], w[k])
		}
	}
	if len(verts) == 0 {
		lo, hi = [3]float64{}, [3]float64{}
	}
	p := Pose{Rotation: r, Min: lo, Contact: contact, Kind: kind}
	for k := range 3 {
		p.Size[k] = hi[k] - lo[k]
	}
	// Longer side along X, for a steadier picture of the plan; packing
	// may still turn it.
	if p.Size[1] > p.Size[0]+1e-9 {
		p = turnZ90(p)
	}
	return p
}

// turnZ90 turns a pose a quarter turn about Z.
func turnZ90(p Pose) Pose {
	// (x, y) → (-y, x): the new box spans [-maxY, -minY] × [minX, maxX].
	q := p
	q.Rotation = mul([9]float64{0, -1, 0, 1, 0, 0, 0, 0, 1}, p.Rotation)
	q.Min = [3]float64{-(p.Min[1] + p.Size[1]), p.Min[0], p.Min[2]}
	q.Size = [3]float64{p.Size[1], p.Size[0], p.Size[2]}
	return q
}

// hull returns the convex hull of pts, counter-clockwise (Andrew's
// monotone chain). Points inside the octagon of the extreme points in
// eight directions cannot be on the hull and are dropped first (Akl and
// Toussaint), which leaves few of a mesh's vertices to sort.
func hull(pts [][2]float64) [][2]float64 {
	if len(pts) < 3 {
		return pts
	}
	pts = outsideOctagon(pts)
	slices.SortFunc(pts, func(a, b [2]float64) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	turn := func(o, a, b [2]float64) float64 {
		return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
	}
	h := make([][2]float64, 0, 64)
	for _, p := range pts {
		for len(h) >= 2 && turn(h[len(h)-2], h[len(h)-1], p) <= 0 {
			h = h[:len(h)-1]
		}
		h = append(h, p)
	}
	lower := len(h) + 1
	for i := len(pts) - 2; i >= 0; i-- {
		p := pts[i]
		for len(h) >= lower && turn(h[len(h)-2], h[len(h)-1], p) <= 0 {
			h = h[:len(h)-1]
		}
		h = append(h, p)
	}
	return h[:len(h)-1]
}

// outsideOctagon returns the points of pts not strictly inside the convex
// polygon of its extreme points along ±x, ±y, ±(x+y) and ±(x-y) (the
// polygon itself is kept). It reuses pts' array.
func outsideOctagon(pts [][2]float64) [][2]float64 {
	dirs := [8][2]float64{{1, 0}, {1, 1}, {0, 1}, {-1, 1}, {-1, 0}, {-1, -1}, {0, -1}, {1, -1}}
	var ext [8][2]float64
	var best [8]float64
	for k := range best {
		best[k] = math.Inf(-1)
	}
	for _, p := range pts {
		for k, d := range dirs {
			if v := p[0]*d[0] + p[1]*d[1]; v > best[k] {
				best[k], ext[k] = v, p
			}
		}
	}
	// The octagon, counter-clockwise, repeated corners dropped.
	poly := make([][2]float64, 0, 8)
	for _, e := range ext {
		if len(poly) == 0 || poly[len(poly)-1] != e {
			poly = append(poly, e)
		}
	}
	if len(poly) > 1 && poly[0] == poly[len(poly)-1] {
		poly = poly[:len(poly)-1]
	}
	if len(poly) < 3 {
		return pts
	}
	inside := func(p [2]float64) bool {
		for i := range poly {
			a, b := poly[i], poly[(i+1)%len(poly)]
			if (b[0]-a[0])*(p[1]-a[1])-(b[1]-a[1])*(p[0]-a[0]) <= 0 {
				return false
			}
		}
		return true
	}
	out := pts[:0]
	for _, p := range pts {
		if !inside(p) {
			out = append(out, p)
		}
	}
	return out
}

// minAreaAngle returns the angle of the hull edge along which the
// rectangle around the hull is smallest (a smallest rectangle has a side
// on a hull edge). Long hulls are tried at every half degree instead.
func minAreaAngle(h [][2]float64) float64 {
	if len(h) < 3 {
		return 0
	}
	var angles []float64
	if len(h) <= 512 {
		for i := range h {
			a, b := h[i], h[(i+1)%len(h)]
			angles = append(angles, math.Atan2(b[1]-a[1], b[0]-a[0]))
		}
	} else {
		for i := range 180 {
			angles = append(angles, float64(i)*math.Pi/360)
		}
	}
	bestA, best := 0.0, math.Inf(1)
	area := func(t float64) float64 {
		c, s := math.Cos(t), math.Sin(t)
		x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		for _, p := range h {
			x, y := p[0]*c+p[1]*s, -p[0]*s+p[1]*c
			x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
		}
		return (x1 - x0) * (y1 - y0)
	}
	// The modelled alignment wins ties (and near-ties): makers often draw
	// parts square to the axes.
	if a := area(0); a < best {
		bestA, best = 0, a
	}
	for _, t := range angles {
		// Fold into [0, π/2): a rectangle repeats every quarter turn.
		t = math.Mod(t, math.Pi/2)
		if t < 0 {
			t += math.Pi / 2
		}
		if a := area(t); a < best*(1-1e-6) {
			bestA, best = t, a
		}
	}
	return bestA
}

// turnDown is the rotation that points direction d straight down (-Z).
func turnDown(d [3]float64) [9]float64 {
	down := [3]float64{0, 0, -1}
	c := dot(d, down)
	if c > 1-1e-12 {
		return identity()
	}
	if c < -1+1e-12 {
		return [9]float64{1, 0, 0, 0, -1, 0, 0, 0, -1} // half a turn about X
	}
	axis := normalise(cross(d, down))
	s := math.Sqrt(max(0, 1-c*c))
	x, y, z := axis[0], axis[1], axis[2]
	t := 1 - c
	return [9]float64{
		t*x*x + c, t*x*y - s*z, t*x*z + s*y,
		t*x*y + s*z, t*y*y + c, t*y*z - s*x,
		t*x*z - s*y, t*y*z + s*x, t*z*z + c,
	}
}

func identity() [9]float64 { return [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1} }

func apply(r [9]float64, v [3]float64) [3]float64 {
	return [3]float64{
		r[0]*v[0] + r[1]*v[1] + r[2]*v[2],
		r[3]*v[0] + r[4]*v[1] + r[5]*v[2],
		r[6]*v[0] + r[7]*v[1] + r[8]*v[2],
	}
}

func mul(a, b [9]float64) [9]float64 {
	var out [9]float64
	for i := range 3 {
		for j := range 3 {
			out[3*i+j] = a[3*i]*b[j] + a[3*i+1]*b[3+j] + a[3*i+2]*b[6+j]
		}
	}
	return out
}

func sub(a, b [3]float64) [3]float64 { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func add(a, b [3]float64) [3]float64 { return [3]float64{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func scale(a [3]float64, s float64) [3]float64 {
	return [3]float64{a[0] * s, a[1] * s, a[2] * s}
}
func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func normalise(a [3]float64) [3]float64 {
	l := math.Sqrt(dot(a, a))
	if l == 0 {
		return a
	}
	return scale(a, 1/l)
}
