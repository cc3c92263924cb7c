package search

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2/index/scorch"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// TestScope checks that a private project's documents are found only by
// scopes that name it or its owner, and that totals and facets count only
// what the scope may read, on every page.
func TestScope(t *testing.T) {
	ctx := context.Background()
	b := openIndex(t, t.TempDir())
	docs := []Doc{
		{ID: PartID("pat/bench", "vise_jaw.stl"), Kind: KindPart, Project: "pat/bench", Owner: "pat", Name: "vise_jaw", Path: "vise_jaw.stl", License: "MIT"},
		{ID: PartID("Acme/rover", "gearbox_mount.stl"), Kind: KindPart, Project: "Acme/rover", Owner: "Acme", Name: "gearbox_mount", Path: "gearbox_mount.stl", License: "CERN-OHL-S-2.0", Private: true},
		{ID: PartID("Acme/rover", "gearbox_cover.stl"), Kind: KindPart, Project: "Acme/rover", Owner: "Acme", Name: "gearbox_cover", Path: "gearbox_cover.stl", License: "CERN-OHL-S-2.0", Private: true},
		{ID: PartID("rita/sketch", "gearbox_lid.stl"), Kind: KindPart, Project: "rita/sketch", Owner: "rita", Name: "gearbox_lid", Path: "gearbox_lid.stl", License: "MIT", Private: true},
		{ID: ProjectID("Acme/rover"), Kind: KindProject, Project: "Acme/rover", Owner: "Acme", Name: "Rover", License: "CERN-OHL-S-2.0", Private: true},
	}
	if err := b.Apply(ctx, docs, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		scope Scope
		q     string
		total uint64
	}{
		{"anonymous", Scope{}, "gearbox", 0},
		{"anonymous, all", Scope{}, "", 1},
		{"org member (owner named in another case)", NewScope(false, []string{"acme"}, nil), "gearbox", 2},
		{"collaborator", NewScope(false, nil, []string{"rita/sketch"}), "gearbox", 1},
		{"both", NewScope(false, []string{"ACME"}, []string{"rita/sketch"}), "gearbox", 3},
		{"admin", NewScope(true, nil, nil), "", 5},
		{"project filter outside the scope", Scope{}, "", 0},
	}
	for _, c := range cases {
		q := Query{Text: c.q, Scope: c.scope, PerPage: 1}
		if c.name == "project filter outside the scope" {
			q.Project = "Acme/rover"
		}
		res, err := b.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != c.total {
			t.Errorf("%s: total %d, want %d", c.name, res.Total, c.total)
		}
		var licences, projects int
		for _, f := range res.Facets[fieldLicense] {
			licences += f.Count
		}
		for _, f := range res.Facets[fieldProject] {
			projects += f.Count
			if c.total == 0 || (c.scope == Scope{}) {
				if f.Term != "pat/bench" {
					t.Errorf("%s: facet names %s", c.name, f.Term)
				}
			}
		}
		if uint64(licences) != c.total && q.Project == "" {
			t.Errorf("%s: licence facets count %d, total %d", c.name, licences, c.total)
		}
		// Every page holds only readable hits.
		for page := 1; page <= int(c.total); page++ {
			q.Page = page
			res, _ := b.Search(ctx, q)
			for _, h := range res.Hits {
				if h.Private && c.scope == (Scope{}) {
					t.Errorf("%s: page %d shows %s", c.name, page, h.ID)
				}
			}
		}
	}
}

// TestHiddenDocumentsChangeNothing checks that documents a viewer may not
// read change nothing in what it finds: the same hits in the same order
// with the same scores, totals and facets as an index without them. They
// could otherwise steer two things: a word's rarity, which weighs its
// clauses, and which terms a prefix of more than maxExpansions terms
// stands for. Both must count only what the viewer may read. Checked over
// several segments, and compacted with the term tables read. It fails
// when either statistic counts every document (checked).
func TestHiddenDocumentsChangeNothing(t *testing.T) {
	ctx := context.Background()
	part := func(owner, name string, i int) Doc {
		project := owner + "/secret"
		path := fmt.Sprintf("parts/%s_%d.stl", strings.ReplaceAll(name, " ", "_"), i)
		return Doc{ID: PartID(project, path), Kind: KindPart, Project: project, Owner: owner, Name: name, Path: path, License: "MIT", Private: true}
	}
	// Public parts, and among them 150 named by terms under one prefix,
	// each in one part.
	public := SyntheticParts(12000, 9)
	for k := range 150 {
		d := part("pub", "qx"+letters(k), 0)
		d.Project, d.Private = "pub/odds", false
		d.ID = PartID(d.Project, d.Path)
		public = append(public, d)
	}
	// Zeta's parts, which no viewer below may read: over a hundred new
	// terms under common prefixes, each in more parts than most public
	// terms, and public words many times over.
	var zeta []Doc
	for _, p := range []string{"qx", "br", "st", "ca", "mo", "fr", "le"} {
		for k := range 140 {
			for i := range 3 {
				zeta = append(zeta, part("zeta", p+"z"+letters(k), i))
			}
		}
	}
	for i := range 400 {
		zeta = append(zeta, part("zeta", "bracket mount", i), part("zeta", "carriage "+synthNouns[i%len(synthNouns)], i))
	}
	// Acme's, which its members may read: among them over a hundred
	// terms under the prefix of the public ones, each in two parts, which
	// a member's expansion of it must choose.
	var acme []Doc
	for k := range 60 {
		acme = append(acme, part("acme", "bry"+letters(k)+" bracket", k), part("acme", "sty"+letters(k)+" mount", k))
	}
	for k := range 140 {
		acme = append(acme, part("acme", "qxy"+letters(k), 0), part("acme", "qxy"+letters(k), 1))
	}
	build := func(sets ...[]Doc) *Bleve {
		b := openIndex(t, t.TempDir())
		for _, docs := range sets {
			if err := b.Apply(ctx, docs, nil); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	// Each viewer's answers must be those of an index of what it may
	// read, all of it public.
	viewers := []struct {
		name  string
		scope Scope
		want  *Bleve
	}{
		{"anonymous", Scope{}, build(public)},
		{"acme member", NewScope(false, []string{"acme"}, nil), build(public, published(acme))},
	}
	all := build(public, acme, zeta)
	var queries []Query
	for _, s := range []string{
		"q=bracket", "q=bracket+mount", "q=mount&license=MIT", "q=brakcet", "q=carrage",
		"q=br&prefix=1", "q=st&prefix=1", "q=ca&prefix=1", "q=mo&prefix=1", "q=fr&prefix=1", "q=le&prefix=1",
		"q=bra&prefix=1", "q=stz&prefix=1", "q=bry&prefix=1", "q=qxz&prefix=1", "q=front+br&prefix=1", "q=bracket&page=3",
		"q=qx&prefix=1", "q=qx&prefix=1&page=5",
	} {
		v, _ := url.ParseQuery(s)
		q, err := ParseQuery(v)
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, q)
	}
	compare := func(state string) {
		t.Helper()
		for _, v := range viewers {
			for _, q := range queries {
				q.Scope = v.scope
				got, err := all.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				want, err := v.want.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if diff := diffResults(got, want); diff != "" {
					t.Errorf("%s, %s, %+v: %s", state, v.name, q.Text, diff)
				}
			}
		}
	}
	compare("several segments")
	for _, b := range []*Bleve{all, viewers[0].want, viewers[1].want} {
		if err := b.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		readTables(t, b)
	}
	compare("compacted")
}

// published returns docs made public.
func published(docs []Doc) []Doc {
	out := slices.Clone(docs)
	for i := range out {
		out[i].Private = false
	}
	return out
}

// letters names k in two lower-case letters: the analyser splits words
// at digits, so terms told apart by a number would be one term.
func letters(k int) string {
	return string([]byte{byte('a' + k/26%26), byte('a' + k%26)})
}

// readTables reads the term tables of b's one segment, as warm does in
// the background, and empties b's query cache, which would otherwise
// answer as before.
func readTables(t *testing.T, b *Bleve) {
	t.Helper()
	_, seg, cols := oneSegment(t, b)
	cols.readTermTables(seg)
	if cols.termTables() == nil {
		t.Fatal("no term tables")
	}
	b.invalidate()
}

// oneSegment returns a snapshot of b, compacted to one segment, that
// segment and its columns; the snapshot closes when the test ends.
func oneSegment(t *testing.T, b *Bleve) (*scorch.IndexSnapshot, segment.Segment, *columns) {
	t.Helper()
	snap, err := b.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snap.Close() })
	ss := snap.Segments()
	if len(ss) != 1 {
		t.Fatalf("%d segments after Compact", len(ss))
	}
	cols, err := b.columns.get(ss[0].Segment())
	if err != nil {
		t.Fatal(err)
	}
	return snap, ss[0].Segment(), cols
}

// diffResults says how two results differ ("" when they do not): totals,
// facets, and the hits' scores in order, each with the same documents.
// Documents of equal score may come in either order (Bleve numbers a
// batch's documents in no fixed order), and the page may end inside such
// a run: the last run is compared by its scores alone.
func diffResults(got, want Result) string {
	if got.Total != want.Total {
		return fmt.Sprintf("total %d, want %d", got.Total, want.Total)
	}
	if !reflect.DeepEqual(got.Facets, want.Facets) {
		return fmt.Sprintf("facets %v, want %v", got.Facets, want.Facets)
	}
	if len(got.Hits) != len(want.Hits) {
		return fmt.Sprintf("%d hits, want %d", len(got.Hits), len(want.Hits))
	}
	for i := 0; i < len(got.Hits); {
		score := want.Hits[i].Score
		end := i
		ids := map[string]int{}
		for ; end < len(want.Hits) && want.Hits[end].Score == score; end++ {
			if got.Hits[end].Score != score {
				return fmt.Sprintf("hit %d is %s (%g), want %s (%g)", end, got.Hits[end].ID, got.Hits[end].Score, want.Hits[end].ID, score)
			}
			ids[want.Hits[end].ID]++
			ids[got.Hits[end].ID]--
		}
		if end < len(want.Hits) {
			for id, n := range ids {
				if n != 0 {
					return fmt.Sprintf("hits %d..%d (score %g) differ at %s", i, end-1, score, id)
				}
			}
		}
		i = end
	}
	return ""
}
