package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// loadFixture reads testdata/docs.json: the parts of the corpus
// (testdata/corpus/MANIFEST.tsv) with synthetic measurements, a few extra
// names, and their projects.
func loadFixture(t testing.TB) []Doc {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "docs.json"))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var docs []Doc
	if err := json.Unmarshal(raw, &docs); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	return docs
}

func openIndex(t testing.TB, dir string) *Bleve {
	t.Helper()
	b, err := Open(filepath.Join(dir, "index.bleve"))
	if err != nil {
		t.Fatalf("open index: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func fixtureIndex(t testing.TB) (*Bleve, []Doc) {
	t.Helper()
	docs := loadFixture(t)
	b := openIndex(t, t.TempDir())
	if err := b.Apply(context.Background(), docs, nil); err != nil {
		t.Fatalf("apply fixture: %v", err)
	}
	return b, docs
}

func search(t testing.TB, b *Bleve, rawQuery string) Result {
	t.Helper()
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatalf("bad test query %q: %v", rawQuery, err)
	}
	q, err := ParseQuery(v)
	if err != nil {
		t.Fatalf("parse %q: %v", rawQuery, err)
	}
	res, err := b.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %q: %v", rawQuery, err)
	}
	return res
}

func hitIDs(res Result) []string {
	ids := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ID
	}
	return ids
}

// searchCase is one expected search in testdata/searches/*.json.
type searchCase struct {
	Name  string `json:"name"`
	Query string `json:"query"` // URL query string, parsed by ParseQuery
	// Expectations; each is checked only when given.
	First  string                    `json:"first"`  // id of the first hit
	Top    []string                  `json:"top"`    // ids of the first len(top) hits, any order
	IDs    []string                  `json:"ids"`    // exactly these hits, in this order
	Set    []string                  `json:"set"`    // exactly these hits, any order
	Has    []string                  `json:"has"`    // among the hits
	Lacks  []string                  `json:"lacks"`  // not among the hits
	Total  *uint64                   `json:"total"`  // total hits
	Facets map[string]map[string]int `json:"facets"` // facet → term → count (0: absent)
}

func TestSearches(t *testing.T) {
	b, _ := fixtureIndex(t)
	files, err := filepath.Glob(filepath.Join("testdata", "searches", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no search cases in testdata/searches: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var cases []searchCase
		if err := json.Unmarshal(raw, &cases); err != nil {
			t.Fatalf("decode %s: %v", file, err)
		}
		for _, c := range cases {
			t.Run(strings.TrimSuffix(filepath.Base(file), ".json")+"/"+c.Name, func(t *testing.T) {
				res := search(t, b, c.Query)
				ids := hitIDs(res)
				if c.First != "" && (len(ids) == 0 || ids[0] != c.First) {
					t.Errorf("first hit: want %s, got %v", c.First, ids)
				}
				if len(c.Top) > 0 {
					if len(ids) < len(c.Top) {
						t.Errorf("top %d: got only %v", len(c.Top), ids)
					} else {
						got := slices.Clone(ids[:len(c.Top)])
						want := slices.Clone(c.Top)
						slices.Sort(got)
						slices.Sort(want)
						if !slices.Equal(got, want) {
							t.Errorf("top %d: want %v, got %v", len(c.Top), c.Top, ids)
						}
					}
				}
				if c.IDs != nil && !slices.Equal(ids, c.IDs) {
					t.Errorf("hits:\nwant %v\ngot  %v", c.IDs, ids)
				}
				if c.Set != nil {
					got, want := slices.Clone(ids), slices.Clone(c.Set)
					slices.Sort(got)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Errorf("hit set:\nwant %v\ngot  %v", want, got)
					}
				}
				for _, id := range c.Has {
					if !slices.Contains(ids, id) {
						t.Errorf("want %s among hits %v", id, ids)
					}
				}
				for _, id := range c.Lacks {
					if slices.Contains(ids, id) {
						t.Errorf("%s should not be among hits %v", id, ids)
					}
				}
				if c.Total != nil && res.Total != *c.Total {
					t.Errorf("total: want %d, got %d", *c.Total, res.Total)
				}
				for facet, terms := range c.Facets {
					for term, want := range terms {
						got := 0
						for _, fc := range res.Facets[facet] {
							if fc.Term == term {
								got = fc.Count
							}
						}
						if got != want {
							t.Errorf("facet %s %q: want %d, got %d (%v)", facet, term, want, got, res.Facets[facet])
						}
					}
				}
				if t.Failed() {
					for i, h := range res.Hits {
						t.Logf("hit %d: %s %.4f", i, h.ID, h.Score)
					}
				}
			})
		}
	}
}

func TestAnalyzer(t *testing.T) {
	b := openIndex(t, t.TempDir())
	for _, c := range []struct{ in, want string }{
		{"z_carriage_rear", "z carriag rear"},
		{"xyJoint", "xy joint"},
		{"XYJoint", "xy joint"},
		{"Spool-holder", "spool holder"},
		{"[a]_idler_front_x2", "a idler front x 2"},
		{"MGN9_rail_guide_x2", "mgn 9 rail guid x 2"},
		{"140mm_extrusion_drill_guide", "140 mm extrus drill guid"},
		{"STLs/Gantry/X_Axis/XY_Joints", "stl gantri x axi xy joint"},
		{"clamps gears", "clamp gear"},
		{"PCBs GantrySTLs STLsx", "pcb gantri stl st lsx"},
		{"Düsenhalter.v2", "dusenhalt v 2"},
	} {
		var got []string
		for _, tok := range b.analyze(c.in) {
			got = append(got, string(tok.Term))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("analyse %q: want %q, got %q", c.in, c.want, strings.Join(got, " "))
		}
	}
}

func TestFullHit(t *testing.T) {
	b, docs := fixtureIndex(t)
	res := search(t, b, "q=long+bar")
	if len(res.Hits) == 0 {
		t.Fatal("no hits for long bar")
	}
	var want Doc
	for _, d := range docs {
		if d.ID == res.Hits[0].ID {
			want = d
		}
	}
	got := res.Hits[0].Doc
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(wj) != string(gj) || got.Part == nil || got.Part.Size != [3]float64{300, 20, 20} {
		t.Errorf("hit doc differs from indexed doc:\nwant %s\ngot  %s", wj, gj)
	}
	if res.Hits[0].Score <= 0 {
		t.Errorf("score %v, want > 0", res.Hits[0].Score)
	}
}

func TestApplyReplacesAndDeletes(t *testing.T) {
	dir := t.TempDir()
	b := openIndex(t, dir)
	docs := loadFixture(t)
	ctx := context.Background()
	if err := b.Apply(ctx, docs, nil); err != nil {
		t.Fatal(err)
	}
	n, _ := b.Count()
	if n != uint64(len(docs)) {
		t.Fatalf("count %d, want %d", n, len(docs))
	}

	// A second push: rename z_carriage_rear, change large_gear's size,
	// delete the belt clamp.
	var renamed, changed Doc
	var delID, oldID string
	for _, d := range docs {
		switch d.Name {
		case "z_carriage_rear":
			oldID = d.ID
			renamed = d
			renamed.Path = "STLs/Z_Assembly/z_carriage_back.stl"
			renamed.Name = "z_carriage_back"
			renamed.ID = PartID(d.Project, renamed.Path)
		case "large_gear":
			changed = d
			p := *d.Part
			p.Size = [3]float64{500, 500, 500}
			changed.Part = &p
		case "belt_clamp":
			delID = d.ID
		}
	}
	// An id both upserted and deleted ends up deleted.
	if err := b.Apply(ctx, []Doc{renamed, changed}, []string{oldID, delID, renamed.ID}); err != nil {
		t.Fatal(err)
	}
	n, _ = b.Count()
	if want := uint64(len(docs) - 2); n != want {
		t.Errorf("count after update %d, want %d", n, want)
	}
	if ids := hitIDs(search(t, b, "q=z+carriage&kind=part")); slices.Contains(ids, oldID) || slices.Contains(ids, renamed.ID) {
		t.Errorf("z carriage: deleted ids among %v", ids)
	}
	if ids := hitIDs(search(t, b, "q=clamp")); slices.Contains(ids, delID) {
		t.Errorf("clamp: deleted %s among %v", delID, ids)
	}
	if err := b.Apply(ctx, []Doc{renamed}, []string{oldID}); err != nil {
		t.Fatal(err)
	}
	if ids := hitIDs(search(t, b, "q=carriage+back")); len(ids) == 0 || ids[0] != renamed.ID {
		t.Errorf("carriage back: want %s first, got %v", renamed.ID, ids)
	}
	if ids := hitIDs(search(t, b, "q=gear&max_x=300&max_y=300&max_z=300")); slices.Contains(ids, changed.ID) {
		t.Errorf("changed gear (500 mm) still fits 300 mm: %v", ids)
	}

	// Everything survives closing and opening again.
	before := search(t, b, "q=idler&per_page=100")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := openIndex(t, dir)
	after := search(t, b2, "q=idler&per_page=100")
	if !slices.Equal(hitIDs(before), hitIDs(after)) || before.Total != after.Total || before.Total == 0 {
		t.Errorf("after reopen:\nbefore %v\nafter  %v", hitIDs(before), hitIDs(after))
	}
	if n2, _ := b2.Count(); n2 != uint64(len(docs)-1) {
		t.Errorf("count after reopen %d, want %d", n2, len(docs)-1)
	}
}

func TestApplyRejectsBadDocs(t *testing.T) {
	b := openIndex(t, t.TempDir())
	ctx := context.Background()
	for _, docs := range [][]Doc{
		{{Kind: KindPart, Name: "no id"}},
		{{ID: "x", Kind: "widget"}},
	} {
		if err := b.Apply(ctx, docs, nil); err == nil {
			t.Errorf("apply %+v: want error", docs)
		}
	}
	if err := b.Apply(ctx, nil, []string{""}); err == nil {
		t.Error("delete empty id: want error")
	}
	if n, _ := b.Count(); n != 0 {
		t.Errorf("count %d after rejected applies, want 0", n)
	}
}

func TestOpenLockedAndDamaged(t *testing.T) {
	dir := t.TempDir()
	openIndex(t, dir)
	if _, err := Open(filepath.Join(dir, "index.bleve")); !errors.Is(err, ErrIndexLocked) {
		t.Errorf("second open: want ErrIndexLocked, got %v", err)
	}
	notIndex := filepath.Join(dir, "file")
	os.WriteFile(notIndex, []byte("x"), 0o600)
	if _, err := Open(notIndex); err == nil {
		t.Error("open a plain file: want error")
	}
}

func TestParseQuery(t *testing.T) {
	good := []struct {
		in   string
		want Query
	}{
		{"", Query{Page: 1, PerPage: 20, Sort: "relevance"}},
		{"q=front+idler&prefix=1&kind=part&page=2&per_page=50&sort=volume",
			Query{Text: "front idler", Prefix: true, Kind: "part", Page: 2, PerPage: 50, Sort: "volume"}},
		{"max_x=220&max_y=220.5&max_z=250&min_volume=0&max_volume=1e6&license=MIT&project=a/b&category=tools",
			Query{MaxX: 220, MaxY: 220.5, MaxZ: 250, MaxVolume: 1e6, License: "MIT", Project: "a/b", Category: "tools", Page: 1, PerPage: 20, Sort: "relevance"}},
		{"kind=&max_x=&page=&unknown=1", Query{Page: 1, PerPage: 20, Sort: "relevance"}},
		{"q=gear&facets=0", Query{Text: "gear", NoFacets: true, Page: 1, PerPage: 20, Sort: "relevance"}},
	}
	for _, c := range good {
		v, _ := url.ParseQuery(c.in)
		got, err := ParseQuery(v)
		if err != nil || got != c.want {
			t.Errorf("ParseQuery(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, param string }{
		{"max_x=abc", "max_x"},
		{"max_y=-5", "max_y"},
		{"max_z=0", "max_z"},
		{"max_x=NaN", "max_x"},
		{"max_x=Inf", "max_x"},
		{"max_x=1e300", "max_x"},
		{"min_volume=-1", "min_volume"},
		{"min_volume=10&max_volume=5", "min_volume"},
		{"page=0", "page"},
		{"page=-1", "page"},
		{"page=1.5", "page"},
		{"page=99999", "page"},
		{"per_page=0", "per_page"},
		{"per_page=101", "per_page"},
		{"sort=price", "sort"},
		{"kind=widget", "kind"},
		{"prefix=maybe", "prefix"},
		{"facets=some", "facets"},
		{"q=a&q=b", "q"},
		{"q=" + strings.Repeat("x", MaxTextLen+1), "q"},
		{"q=" + strings.Repeat("a+", MaxTerms+1), "q"},
		{"q=%ff%fe", "q"},
		{"project=" + strings.Repeat("p", 300), "project"},
	}
	for _, c := range bad {
		v, _ := url.ParseQuery(c.in)
		_, err := ParseQuery(v)
		var qe *QueryError
		if !errors.As(err, &qe) || qe.Param != c.param {
			t.Errorf("ParseQuery(%.40q): want *QueryError for %s, got %v", c.in, c.param, err)
		}
	}
}

func TestSearchChecksQuery(t *testing.T) {
	b, _ := fixtureIndex(t)
	var qe *QueryError
	if _, err := b.Search(context.Background(), Query{PerPage: 1000}); !errors.As(err, &qe) {
		t.Errorf("per_page 1000: want *QueryError, got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Search(ctx, Query{Text: "gear"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled search: want context.Canceled, got %v", err)
	}
}

// TestFitsAgainstBruteForce checks the build-volume and volume filters
// against a direct computation over the fixture, for many volumes.
func TestFitsAgainstBruteForce(t *testing.T) {
	b, docs := fixtureIndex(t)
	fits := func(d Doc, vol [3]float64, minV, maxV float64) bool {
		if d.Part == nil {
			return false
		}
		// Try every axis permutation: what turning by 90° steps allows.
		s := d.Part.Size
		ok := false
		for _, p := range [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
			in := true
			for a := range 3 {
				if vol[a] > 0 && s[p[a]] > vol[a] {
					in = false
				}
			}
			ok = ok || in
		}
		return ok && (minV == 0 || d.Part.Volume >= minV) && (maxV == 0 || d.Part.Volume <= maxV)
	}
	vols := [][3]float64{{220, 220, 250}, {20, 300, 20}, {300, 20, 20}, {50, 0, 0}, {0, 0, 100}, {100, 150, 0}, {180, 60, 120}, {10, 10, 10}, {500, 500, 500}}
	volumes := [][2]float64{{0, 0}, {0, 200000}, {50000, 0}, {100000, 800000}}
	for _, vol := range vols {
		for _, vr := range volumes {
			raw := fmt.Sprintf("per_page=100&min_volume=%g", vr[0])
			for a, name := range []string{"max_x", "max_y", "max_z"} {
				if vol[a] > 0 {
					raw += fmt.Sprintf("&%s=%g", name, vol[a])
				}
			}
			if vr[1] > 0 {
				raw += fmt.Sprintf("&max_volume=%g", vr[1])
			}
			var want []string
			for _, d := range docs {
				if fits(d, vol, vr[0], vr[1]) {
					want = append(want, d.ID)
				}
			}
			got := hitIDs(search(t, b, raw))
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s:\nwant %v\ngot  %v", raw, want, got)
			}
		}
	}
}

// TestConcurrentSearchAndApply runs searches while a writer applies
// batches; run with -race.
func TestConcurrentSearchAndApply(t *testing.T) {
	b, _ := fixtureIndex(t)
	extra := SyntheticParts(600, 7)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < len(extra); i += 100 {
			if err := b.Apply(ctx, extra[i:i+100], nil); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 30 {
		if res := search(t, b, "q=front+idler"); len(res.Hits) == 0 {
			t.Fatal("front idler: no hits while indexing")
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Count(); n != uint64(len(loadFixture(t))+len(extra)) {
		t.Errorf("count %d after concurrent applies", n)
	}
}

func TestSyntheticParts(t *testing.T) {
	a, b := SyntheticParts(500, 3), SyntheticParts(500, 3)
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	if string(aj) != string(bj) {
		t.Error("SyntheticParts is not deterministic")
	}
	if c, _ := json.Marshal(SyntheticParts(500, 4)); string(c) == string(aj) {
		t.Error("SyntheticParts ignores its seed")
	}
	ids := map[string]bool{}
	licenses := map[string]bool{}
	for _, d := range a {
		if ids[d.ID] || d.Kind != KindPart || d.Part == nil || d.Name == "" || !strings.HasSuffix(d.Path, d.Name+".stl") {
			t.Fatalf("bad synthetic part %+v", d)
		}
		ids[d.ID] = true
		licenses[d.License] = true
	}
	if len(a) != 500 || len(licenses) < 4 {
		t.Errorf("%d parts, %d licences", len(a), len(licenses))
	}
}

func TestFilterOnlyCacheFollowsApply(t *testing.T) {
	b, docs := fixtureIndex(t)
	q := "license=MIT&per_page=100"
	before := search(t, b, q)
	again := search(t, b, q)
	if !slices.Equal(hitIDs(before), hitIDs(again)) || before.Total != again.Total {
		t.Fatalf("repeated query differs: %v vs %v", hitIDs(before), hitIDs(again))
	}
	again.Hits[0].ID = "changed by the caller"
	if third := search(t, b, q); !slices.Equal(hitIDs(before), hitIDs(third)) {
		t.Fatalf("a caller's change reached the cache: %v", hitIDs(third))
	}
	newer := docs[0]
	newer.ID = PartID("maker/extras", "new.stl")
	newer.Path, newer.Name, newer.License = "new.stl", "new", "MIT"
	if err := b.Apply(context.Background(), []Doc{newer}, nil); err != nil {
		t.Fatal(err)
	}
	after := search(t, b, q)
	if after.Total != before.Total+1 || !slices.Contains(hitIDs(after), newer.ID) || slices.Contains(hitIDs(after), "changed by the caller") {
		t.Errorf("after apply: total %d (before %d), hits %v", after.Total, before.Total, hitIDs(after))
	}
}

// TestEqualScoresSameOrderEverywhere: two indexes holding the same
// documents, written in opposite orders (as two nodes of a cluster may
// build theirs), list hits of equal score in the same order.
func TestEqualScoresSameOrderEverywhere(t *testing.T) {
	docs := loadFixture(t)
	// Copies of one part under other folders: the same name, the same score.
	var twins []Doc
	for _, d := range docs {
		if d.Kind == KindPart {
			for _, dir := range []string{"a", "b", "c", "d"} {
				twin := d
				twin.Path = dir + "/" + d.Path
				twin.ID = PartID(d.Project, twin.Path)
				twins = append(twins, twin)
			}
			break
		}
	}
	forward := openIndex(t, t.TempDir())
	backward := openIndex(t, t.TempDir())
	for i := range twins {
		if err := forward.Apply(context.Background(), twins[i:i+1], nil); err != nil {
			t.Fatal(err)
		}
		if err := backward.Apply(context.Background(), twins[len(twins)-1-i:len(twins)-i], nil); err != nil {
			t.Fatal(err)
		}
	}
	q := "q=" + url.QueryEscape(twins[0].Name)
	a, b := hitIDs(search(t, forward, q)), hitIDs(search(t, backward, q))
	if len(a) != len(twins) || strings.Join(a, " ") != strings.Join(b, " ") {
		t.Errorf("equal scores in another order:\n%v\n%v", a, b)
	}
}
