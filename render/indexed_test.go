package render

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/hschendel/stl"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
)

// TestAppendMeshWeldsLikeFacets: an indexed mesh handed to AppendMesh (as
// the 3MF and OBJ readers do) gives the very vertices, ids, bounds and sums
// that its facets give one by one through the welder, also with
// duplicated vertices, -0, unused vertices and several meshes in a row.
func TestAppendMeshWeldsLikeFacets(t *testing.T) {
	var cases [][]stl.Triangle
	for _, path := range corpusFiles(t)[:8] {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := stl.ReadAll(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cases = append(cases, s.Triangles)
	}
	cases = append(cases, twoTori(t).Triangles)
	// Big enough to be measured and welded on two goroutines.
	cases = append(cases, torusSolid(t, stlgen.Torus{Major: 30, Minor: 8, Triangles: 3 * parallelFacets}).Triangles)
	// Negative zeros and coordinates that differ only in their sign.
	z := float32(math.Copysign(0, -1))
	cases = append(cases, []stl.Triangle{
		{Vertices: [3]stl.Vec3{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}}},
		{Vertices: [3]stl.Vec3{{z, z, 0}, {0, 1, 0}, {1, 0, z}}},
		{Vertices: [3]stl.Vec3{{z, 1, 0}, {1, 1, 1}, {1, 0, 0}}},
	})
	rng := rand.New(rand.NewPCG(1, 2))
	for ci, facets := range cases {
		want := newMeshBuilder(-1, Limits{}.withDefaults())
		for _, f := range facets {
			want.AppendTriangle(f)
		}
		wn, wv, wt := want.finish(true)

		got := newMeshBuilder(-1, Limits{}.withDefaults())
		// Hand the facets over as two or three meshes, each listing its
		// vertices with duplicates, in a shuffled order, with extra
		// vertices no facet uses.
		for start := 0; start < len(facets); {
			end := min(len(facets), start+1+rng.IntN(len(facets)))
			var verts []stl.Vec3
			for _, f := range facets[start:end] {
				verts = append(verts, f.Vertices[:]...)
			}
			verts = append(verts, stl.Vec3{9e9, 1, 2}, stl.Vec3{3, 2, 1})
			order := rng.Perm(len(verts))
			shuffled := make([]stl.Vec3, len(verts))
			at := make([]uint32, len(verts))
			for i, j := range order {
				shuffled[j] = verts[i]
				at[i] = uint32(j)
			}
			tris := make([]uint32, 3*(end-start))
			for i := range tris {
				tris[i] = at[i]
			}
			got.AppendMesh(shuffled, tris)
			start = end
		}
		gn, gv, gt := got.finish(true)
		if gn != wn || !slices.Equal(gv, wv) || !slices.Equal(gt, wt) {
			t.Errorf("case %d: AppendMesh welds %d vertices (%d ids), facet by facet %d (%d)", ci, gn, len(gt), wn, len(wt))
		}
		if got.n != want.n || got.min != want.min || got.max != want.max || got.volume != want.volume || got.area != want.area {
			t.Errorf("case %d: AppendMesh measures %d %v %v %v %v, facet by facet %d %v %v %v %v", ci,
				got.n, got.min, got.max, got.volume, got.area, want.n, want.min, want.max, want.volume, want.area)
		}
	}
}
