package print

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/blueprints-hq/blueprints/render"
)

// corpusPart is a corpus file read once for every test here.
type corpusPart struct {
	project, path string
	mesh          *render.Mesh
	shape         Shape
}

var corpusOnce = sync.OnceValues(func() ([]corpusPart, error) {
	root := filepath.Join("..", "testdata", "corpus")
	var out []corpusPart
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.EqualFold(filepath.Ext(p), ".stl") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		m, err := render.ReadMesh(f, p, render.DefaultLimits())
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		project, inside, _ := strings.Cut(filepath.ToSlash(rel), "/")
		out = append(out, corpusPart{project: project, path: inside, mesh: m, shape: Analyse(m)})
		return nil
	})
	return out, err
})

func corpus(t *testing.T) map[string][]corpusPart {
	t.Helper()
	if testing.Short() {
		t.Skip("reads the corpus")
	}
	parts, err := corpusOnce()
	if err != nil {
		t.Fatal(err)
	}
	byProject := map[string][]corpusPart{}
	for _, p := range parts {
		byProject[p.project] = append(byProject[p.project], p)
	}
	return byProject
}

func inputs(parts []corpusPart) []Input {
	var in []Input
	for _, p := range parts {
		m := p.mesh.Part()
		in = append(in, Input{Path: p.path, Blob: m.SHA256, SHA256: m.SHA256, Volume: m.Volume, Size: m.Size, Min: m.BBoxMin, Shape: p.shape})
	}
	return in
}

// footprint is a placed piece's real extent on the bed, from its mesh.
type footprint struct {
	name                   string
	x0, y0, z0, x1, y1, z1 float64
}

func placed(m Mesh, t [12]float64, name string) footprint {
	f := footprint{name: name, x0: math.Inf(1), y0: math.Inf(1), z0: math.Inf(1), x1: math.Inf(-1), y1: math.Inf(-1), z1: math.Inf(-1)}
	for i := range m.Vertices() {
		v := m.Vertex(i)
		x, y, z := float64(v[0]), float64(v[1]), float64(v[2])
		px := t[0]*x + t[1]*y + t[2]*z + t[9]
		py := t[3]*x + t[4]*y + t[5]*z + t[10]
		pz := t[6]*x + t[7]*y + t[8]*z + t[11]
		f.x0, f.y0, f.z0 = min(f.x0, px), min(f.y0, py), min(f.z0, pz)
		f.x1, f.y1, f.z1 = max(f.x1, px), max(f.y1, py), max(f.z1, pz)
	}
	return f
}

// CheckPlate fails t unless every footprint lies on the bed, on its plane,
// and apart from the others by gap.
func checkPlate(t *testing.T, pr Printer, fps []footprint, gap float64) {
	t.Helper()
	const tol = 1e-3
	for i, a := range fps {
		if a.x0 < -tol || a.y0 < -tol || a.x1 > pr.X+tol || a.y1 > pr.Y+tol || a.z1 > pr.Z+tol {
			t.Errorf("%s leaves the %g × %g × %g bed: %.3f..%.3f × %.3f..%.3f × ..%.3f", a.name, pr.X, pr.Y, pr.Z, a.x0, a.x1, a.y0, a.y1, a.z1)
		}
		if math.Abs(a.z0) > tol {
			t.Errorf("%s does not rest on the bed: lowest point at z = %.4f", a.name, a.z0)
		}
		for _, b := range fps[i+1:] {
			if a.x0 < b.x1+gap-tol && b.x0 < a.x1+gap-tol && a.y0 < b.y1+gap-tol && b.y0 < a.y1+gap-tol {
				t.Errorf("%s (%.2f..%.2f × %.2f..%.2f) and %s (%.2f..%.2f × %.2f..%.2f) are closer than %g mm", a.name, a.x0, a.x1, a.y0, a.y1, b.name, b.x0, b.x1, b.y0, b.y1, gap)
			}
		}
	}
}

// areaBound is the bound: every footprint's area over the bed's,
// rounded up.
func areaBound(pl *Plan) int {
	a := 0.0
	for _, pt := range pl.Parts {
		if pt.Fits {
			a += pt.Pose.Size[0] * pt.Pose.Size[1] * float64(pt.Quantity)
		}
	}
	return int(math.Ceil(a/(pl.Printer.X*pl.Printer.Y) - 1e-9))
}

// Every corpus project on several printers: the plates hold every piece
// once, on the bed, apart, with no more plates than ⌈1.15 × the area
// bound⌉; what does not fit is noted and left off.
func TestCorpusPlans(t *testing.T) {
	byProject := corpus(t)
	printers, err := LoadPrinters()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range byProject {
		names = append(names, n)
	}
	sort.Strings(names)
	tiny, _ := Custom(100, 100, 100)
	for _, name := range names {
		parts := byProject[name]
		for _, id := range []string{"mk4", "mini", "xl", "voron250", tiny.ID} {
			pr, err := printers.Lookup(id)
			if err != nil {
				t.Fatal(err)
			}
			var b Bill
			pl := Build(inputs(parts), &b, pr, printers, DefaultSpacing)
			pieces := 0
			for _, pt := range pl.Parts {
				if pt.Fits {
					pieces += pt.Quantity
				}
			}
			got := 0
			for _, plate := range pl.Plates {
				var fps []footprint
				for _, c := range plate.Pieces {
					fps = append(fps, placed(parts[c.Part].mesh, c.Transform, pl.Parts[c.Part].Path))
					if pl.Parts[c.Part].Role != plate.Role {
						t.Errorf("%s on %s: a %s part on a %s plate", name, id, pl.Parts[c.Part].Role, plate.Role)
					}
				}
				got += len(plate.Pieces)
				checkPlate(t, pr, fps, DefaultSpacing)
			}
			if got != pieces {
				t.Errorf("%s on %s: %d pieces on plates, want %d", name, id, got, pieces)
			}
			bound := areaBound(pl)
			limit := int(math.Ceil(1.15*float64(bound) - 1e-9))
			t.Logf("%-32s %-18s %2d parts, %2d pieces, %d too big: %d plates (area bound %d, per colour %d)", name, id, len(pl.Parts), pieces, len(pl.TooBig), len(pl.Plates), bound, pl.Bound)
			if len(pl.Plates) > limit {
				t.Errorf("%s on %s: %d plates, more than ⌈1.15 × %d⌉ = %d", name, id, len(pl.Plates), bound, limit)
			}
			for _, i := range pl.TooBig {
				s := pl.Parts[i].Pose.Size
				if pr.Fits(s[0], s[1], s[2]) {
					t.Errorf("%s on %s: %s is called too big but fits", name, id, pl.Parts[i].Path)
				}
				if !strings.Contains(strings.Join(pl.Notes, "\n"), pl.Parts[i].Path+" (") {
					t.Errorf("%s on %s: no note for %s, which is too big", name, id, pl.Parts[i].Path)
				}
			}
			// The smallest bed prints everything.
			sb := pl.Smallest
			for _, pt := range pl.Parts {
				s := pt.Pose.Size
				if len(pl.TooBig) == 0 && !(Printer{X: sb.X, Y: sb.Y, Z: sb.Z}).Fits(s[0], s[1], s[2]) {
					t.Errorf("%s: %s does not fit the smallest bed %+v", name, pt.Path, sb)
				}
			}
		}
	}
}
