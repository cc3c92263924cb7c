package search

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/render"
)

func TestCaseJoined(t *testing.T) {
	for in, want := range map[string]string{
		"RepRap":             " reprap",
		"RepRap_frame Hello": " reprap",
		"RepRapLogo":         " reprap repraplogo raplogo",
		"xyJoint XYJoint":    " xyjoint xyjoint",
		"Hello World":        "",
		"MGN9 140mm STL":     "",
		"OpenSCAD-iPhone":    " openscad iphone",
		"OpenSCADLibrary":    " openscad openscadlibrary scadlibrary",
		"STLs":               " stls",
		"ABCDefGhIjKlMnOp":   " abcdefghijklmnop",
		"":                   "",
	} {
		if got := caseJoined(in); got != want {
			t.Errorf("caseJoined(%q) = %q, want %q", in, got, want)
		}
	}
}

// wordsIndex holds a knitting machine whose README says so (and whose
// name and description do not), a RepRap project, and parts named in
// camelCase and with the same file name in two folders.
func wordsIndex(t *testing.T) *Bleve {
	t.Helper()
	part := func(project, p string, x, y, z float64) Doc {
		name := p[strings.LastIndexByte(p, '/')+1:]
		name = strings.TrimSuffix(name, ".stl")
		return Doc{ID: PartID(project, p), Kind: KindPart, Project: project, Name: name, Path: p, License: "none",
			Part: &render.Part{Size: [3]float64{x, y, z}, Volume: x * y * z / 2, Triangles: 100}}
	}
	docs := []Doc{
		{ID: ProjectID("ann/kh260"), Kind: KindProject, Project: "ann/kh260", Name: "KH260 revival", Description: "Parts for an old Brother machine.", License: "none",
			Readme: "KH260 revival. Parts for an old Brother machine. This is a knitting machine for bulky yarn; print the sinker plate first."},
		{ID: ProjectID("bob/mendel"), Kind: KindProject, Project: "bob/mendel", Name: "Mendel90", Description: "A RepRap printer.", License: "GPL-3.0"},
		part("bob/mendel", "frame/RepRapLogo.stl", 40, 40, 3),
		part("bob/mendel", "x-axis/xyJoint.stl", 30, 30, 20),
		part("bob/mendel", "spool/Spool-holder.stl", 190, 60, 40),
		part("bob/mendel", "spool/spool_clip.stl", 20, 20, 10),
		part("ann/kh260", "carriage/left/cam_lever.stl", 60, 12, 4),
		part("ann/kh260", "carriage/right/cam_lever.stl", 60, 12, 4),
	}
	b := openIndex(t, t.TempDir())
	if err := b.Apply(context.Background(), docs, nil); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadmeWords: words only a README holds find its project, and
// only it: parts do not inherit them, and hits do not carry the README.
func TestReadmeWords(t *testing.T) {
	b := wordsIndex(t)
	for _, q := range []string{"q=knitting+machine", "q=bulky+yarn", "q=sinker+plate&kind=project"} {
		res := search(t, b, q)
		if ids := hitIDs(res); len(ids) != 1 || ids[0] != "project:ann/kh260" {
			t.Errorf("%s: hits %v, want only the knitting machine's project", q, ids)
		}
		raw, _ := json.Marshal(res.Hits)
		if strings.Contains(string(raw), "bulky") {
			t.Errorf("%s: a hit carries the README: %s", q, raw)
		}
	}
	// The project's name still ranks above its README: "machine" is in the
	// knitting machine's README and the Mendel's description... neither;
	// "printer" is in Mendel's description only.
	if ids := hitIDs(search(t, b, "q=printer")); len(ids) != 1 || ids[0] != "project:bob/mendel" {
		t.Errorf("printer: hits %v", ids)
	}
}

// TestCamelCaseLowerCase: a word written in camelCase is found typed in
// lower case, whole, as well as split.
func TestCamelCaseLowerCase(t *testing.T) {
	b := wordsIndex(t)
	for q, want := range map[string]string{
		"q=reprap&kind=part":      "part:bob/mendel:frame/RepRapLogo.stl",
		"q=RepRap&kind=part":      "part:bob/mendel:frame/RepRapLogo.stl",
		"q=rep+rap&kind=part":     "part:bob/mendel:frame/RepRapLogo.stl",
		"q=reprap+logo&kind=part": "part:bob/mendel:frame/RepRapLogo.stl",
		"q=xyjoint":               "part:bob/mendel:x-axis/xyJoint.stl",
		"q=xy+joint":              "part:bob/mendel:x-axis/xyJoint.stl",
		"q=reprap&kind=project":   "project:bob/mendel",
	} {
		if ids := hitIDs(search(t, b, q)); len(ids) == 0 || ids[0] != want {
			t.Errorf("%s: hits %v, want %s first", q, ids, want)
		}
	}
}

// TestUnfit: when the build volume leaves out the part that matches the
// words best, the result says which part it is.
func TestUnfit(t *testing.T) {
	b := wordsIndex(t)
	res := search(t, b, "q=spool+holder&max_x=180&max_y=180&max_z=180")
	if res.Unfit == nil || res.Unfit.ID != "part:bob/mendel:spool/Spool-holder.stl" {
		t.Fatalf("unfit: %+v, want Spool-holder", res.Unfit)
	}
	for _, h := range res.Hits {
		if h.ID == res.Unfit.ID {
			t.Errorf("the unfit part is among the hits")
		}
	}
	// It fits a bigger printer: no note; nor without words, on page 2, or
	// when the best match fits.
	for _, q := range []string{
		"q=spool+holder&max_x=200&max_y=200&max_z=200",
		"q=&max_x=180&max_y=180&max_z=180",
		"q=spool+holder&max_x=180&max_y=180&max_z=180&page=2&per_page=1",
		"q=spool+clip&max_x=180&max_y=180&max_z=180",
		"q=spool+holder",
	} {
		if res := search(t, b, q); res.Unfit != nil {
			t.Errorf("%s: unfit %s, want none", q, res.Unfit.ID)
		}
	}
	// Turned by 90°, a 190 mm part fits 200 × 100 × 50.
	if res := search(t, b, "q=spool+holder&max_x=50&max_y=200&max_z=100"); res.Unfit != nil || len(res.Hits) == 0 || res.Hits[0].ID != "part:bob/mendel:spool/Spool-holder.stl" {
		t.Errorf("turned: unfit %v, hits %v", res.Unfit, hitIDs(res))
	}
}

func TestFits(t *testing.T) {
	for _, c := range []struct {
		size    [3]float64
		x, y, z float64
		want    bool
	}{
		{[3]float64{190, 60, 40}, 180, 180, 180, false},
		{[3]float64{190, 60, 40}, 200, 100, 50, true},
		{[3]float64{190, 60, 40}, 50, 200, 100, true},
		{[3]float64{190, 60, 40}, 0, 0, 100, true},
		{[3]float64{190, 60, 40}, 0, 30, 0, false},
		{[3]float64{10, 10, 10}, 10, 10, 10, true},
	} {
		if got := Fits(c.size, c.x, c.y, c.z); got != c.want {
			t.Errorf("Fits(%v, %v, %v, %v) = %v", c.size, c.x, c.y, c.z, got)
		}
	}
}

// TestUnfitFromMatches: the unfit hint a search finds from its own
// matches is the one a second search without the volume finds (Bleve.unfit),
// over synthetic parts in several segments (one Apply each), for words
// that match as typed, with typos, with filters, and volumes from tiny to
// roomy.
func TestUnfitFromMatches(t *testing.T) {
	ctx := context.Background()
	// Several segments, and no merges while the searches compare.
	b := spreadIndex(t, SyntheticParts(3000, 7), 500)
	if n := segmentCount(t, b); n < 4 {
		t.Fatalf("%d segments; the test needs several", n)
	}
	folded, hints := 0, 0
	for i, text := range []string{"bracket", "left bracket", "mount", "x2", "brakcet", "gear", "rear", "plate", "holder", "m8"} {
		for j, v := range []string{"20&max_y=20&max_z=20", "80&max_y=120&max_z=60", "150&max_y=150&max_z=150", "400&max_y=400&max_z=400", "100"} {
			raw := "q=" + text + "&max_x=" + v
			switch (i + j) % 4 {
			case 1:
				raw += "&license=MIT"
			case 2:
				raw += "&sort=volume"
			case 3:
				raw += "&kind=part&per_page=5"
			}
			vals, _ := url.ParseQuery(raw)
			q, err := ParseQuery(vals)
			if err != nil {
				t.Fatal(err)
			}
			b.invalidate()
			res, err := b.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := q.normalize()
			want, err := b.unfit(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case (res.Unfit == nil) != (want == nil):
				t.Errorf("%s: unfit %v, a search without the volume says %v", raw, res.Unfit, want)
			case want != nil && (res.Unfit.ID != want.ID || res.Unfit.Score != want.Score):
				t.Errorf("%s: unfit %s (%v), a search without the volume says %s (%v)", raw, res.Unfit.ID, res.Unfit.Score, want.ID, want.Score)
			}
			if want != nil {
				hints++
			}
			if _, _, done, _ := b.tiers(ctx, n, tierExact); done {
				folded++
			}
		}
	}
	if folded < 20 || hints < 10 {
		t.Fatalf("only %d searches found their hint from their matches and %d had one; the test needs more", folded, hints)
	}
	t.Logf("%d searches found the hint from their matches; %d had one", folded, hints)
}
