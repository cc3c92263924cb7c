package render

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hschendel/stl"

	"github.com/blueprints-hq/blueprints/threemf/threemftest"
)

// facetsOnly hides a meshBuilder's AppendMesh, so that readers hand it
// facets one by one, the way they did before AppendMesh.
type facetsOnly struct{ stl.Writer }

// welded is what a meshBuilder gathered.
type welded struct {
	n            int64
	min, max     stl.Vec3
	volume, area float64
	nverts       int
	verts        []stl.Vec3
	tris         []int32
}

// decodeWelded decodes data into a meshBuilder, as indexed meshes
// (AppendMesh) or facet by facet.
func decodeWelded(k Kind, data []byte, lim Limits, indexed bool) (welded, error) {
	b := newMeshBuilder(int64(len(data)), lim)
	defer b.weld.stop()
	var w stl.Writer = b
	if !indexed {
		w = facetsOnly{b}
	}
	if _, err := decode(k, bytes.NewReader(data), "fuzz", lim, w, false); err != nil {
		return welded{}, err
	}
	nv, verts, tris := b.finish(true)
	return welded{b.n, b.min, b.max, b.volume, b.area, nv, verts, tris}, nil
}

func sameWelded(t *testing.T, a, b welded) {
	t.Helper()
	if a.n != b.n || a.min != b.min || a.max != b.max || a.volume != b.volume || a.area != b.area ||
		a.nverts != b.nverts || !slices.Equal(a.verts, b.verts) || !slices.Equal(a.tris, b.tris) {
		t.Fatalf("indexed: %d facets %v %v %v %v, %d vertices; facet by facet: %d facets %v %v %v %v, %d vertices",
			a.n, a.min, a.max, a.volume, a.area, a.nverts, b.n, b.min, b.max, b.volume, b.area, b.nverts)
	}
}

// FuzzOBJQuickLines: an OBJ file (padded with a trailing comment so that
// every line may be read in one pass) gives the same welded mesh as
// indexed mesh and facet by facet, and the same mesh or error (line and
// reason) as the general reader gives with a space before every newline.
func FuzzOBJQuickLines(f *testing.F) {
	f.Add(quadBox)
	f.Add("v 0 0 0\nv 1 0 0\nv 0 1 0\nv -0 0 1\nf 1 2 3\nf 4 2 1\nf 1 2 5\n")
	f.Add("v 1e38 1e38 1e38\nv -1e38 0 0\nv 0 1 0\nf 1 2 3 1 2 3\nf 3 2 -1\n")
	f.Add("v 0.5 .5 5.\nv +1 0 0\nv 0 1 0 1\nf 1 2 3\nf 0 1 2\n")
	pad := "\n#" + strings.Repeat("x", 2*quickLineMax) + "\n"
	f.Fuzz(func(t *testing.T, text string) {
		if strings.ContainsAny(text, "#\x00") || len(text) > 4096 {
			return // the general form would move a comment's end; keep to small files
		}
		lim := Limits{MaxBytes: 1 << 20, MaxTriangles: 5000}
		quick := []byte(text + pad)
		general := []byte(strings.ReplaceAll(text, "\n", " \n") + pad)
		a, aerr := decodeWelded(KindOBJ, quick, lim, true)
		b, berr := decodeWelded(KindOBJ, quick, lim, false)
		c, cerr := decodeWelded(KindOBJ, general, lim, true)
		if (aerr == nil) != (berr == nil) || (aerr == nil) != (cerr == nil) {
			t.Fatalf("errors differ: %v; facet by facet %v; general reader %v", aerr, berr, cerr)
		}
		if aerr != nil {
			var ae, ce *FormatError
			if !errors.As(aerr, &ae) || !errors.As(cerr, &ce) || ae.Line != ce.Line || ae.Reason != ce.Reason || ae.Err != ce.Err {
				t.Fatalf("errors differ: %v; general reader %v", aerr, cerr)
			}
			return
		}
		sameWelded(t, a, b)
		sameWelded(t, a, c)
	})
}

// FuzzThreeMFIndexed: a 3MF model gives the same welded mesh handed over
// as indexed meshes and facet by facet (transforms, units, components,
// duplicated and unused vertices).
func FuzzThreeMFIndexed(f *testing.F) {
	for _, c := range threemftest.Cases() {
		f.Add(c.Files["3D/3dmodel.model"])
	}
	f.Add(`<model xmlns="` + threemftest.NSCore + `" unit="inch"><resources><object id="1"><mesh><vertices><vertex x="0" y="0" z="0"/><vertex x="1" y="0" z="-0"/><vertex x="0" y="1" z="0"/><vertex x="1" y="0" z="0"/><vertex x="5" y="5" z="5"/><vertex x="0" y="0" z="1"/></vertices><triangles><triangle v1="0" v2="1" v3="2"/><triangle v1="3" v2="2" v3="5"/><triangle v1="0" v2="5" v3="1"/></triangles></mesh></object></resources><build><item objectid="1" transform="1 0 0 0 1 0 0 0 1 0 0 0"/><item objectid="1" transform="0 1 0 -1 0 0 0 0 1 10 0 0"/></build></model>`)
	f.Fuzz(func(t *testing.T, model string) {
		data := threemftest.Zip(threemftest.Package(model, nil))
		lim := Limits{MaxBytes: 1 << 20, MaxTriangles: 5000}
		a, aerr := decodeWelded(Kind3MF, data, lim, true)
		b, berr := decodeWelded(Kind3MF, data, lim, false)
		if (aerr == nil) != (berr == nil) || aerr != nil && aerr.Error() != berr.Error() {
			t.Fatalf("errors differ: %v; facet by facet %v", aerr, berr)
		}
		if aerr == nil {
			sameWelded(t, a, b)
		}
	})
}
