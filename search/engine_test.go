package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// segmentCount is how many segments the index reads.
func segmentCount(t *testing.T, b *Bleve) int {
	t.Helper()
	n, err := b.Segments()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSegmentsAgree: the documents in one segment or spread over many
// (one Apply each, some replaced and deleted on the way) give the same
// totals, facets and hits for every search case, in the same order where
// an order is asked for: the engine merges what it finds in each segment.
func TestSegmentsAgree(t *testing.T) {
	docs := loadFixture(t)
	one := openIndex(t, t.TempDir())
	if err := one.Apply(context.Background(), docs, nil); err != nil {
		t.Fatal(err)
	}
	// Bleve merges segments in the background, and those of updates not
	// yet on disk when it writes them: not this index's, whose every
	// Apply is written on its own (the index is closed after each).
	path := filepath.Join(t.TempDir(), "index.bleve")
	ctx := context.Background()
	apply := func(upserts []Doc, deletes []string) {
		b, err := open(path, noMerges)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.Apply(ctx, upserts, deletes); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range docs {
		if i%7 == 3 {
			// Index an older version first, and a part that goes away,
			// beside the part before (again), which keeps their
			// segment alive.
			old := d
			old.Name += " draft"
			gone := d
			gone.ID += ".gone"
			apply([]Doc{old, gone, docs[i-1]}, nil)
			apply(nil, []string{gone.ID})
		}
		apply([]Doc{d}, nil)
	}
	many, err := open(path, noMerges)
	if err != nil {
		t.Fatal(err)
	}
	defer many.Close()
	if n := segmentCount(t, many); n < 5 {
		t.Fatalf("the spread index has %d segments; the test needs several", n)
	}
	if n, _ := many.Count(); n != uint64(len(docs)) {
		t.Fatalf("the spread index holds %d documents, want %d", n, len(docs))
	}
	var queries []string
	files, _ := filepath.Glob(filepath.Join("testdata", "searches", "*.json"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []searchCase
		if err := json.Unmarshal(raw, &cases); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			queries = append(queries, c.Query)
		}
	}
	queries = append(queries, "q=gear&prefix=1", "q=cariage", "sort=name&per_page=7&page=2", "sort=volume&per_page=5&page=3", "kind=part&sort=updated&per_page=9")
	agree(t, ctx, one, many, queries)

	// Compacted into one segment (deleted documents dropped), it agrees
	// still.
	if err := many.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := many.Segments(); err != nil || n != 1 {
		t.Fatalf("after Compact: %d segments (%v), want 1", n, err)
	}
	if n, _ := many.Count(); n != uint64(len(docs)) {
		t.Fatalf("the compacted index holds %d documents, want %d", n, len(docs))
	}
	agree(t, ctx, one, many, queries)
}

// agree checks that two indexes of the same documents answer each query
// alike.
func agree(t *testing.T, ctx context.Context, one, many *Bleve, queries []string) {
	t.Helper()
	for _, raw := range queries {
		v, _ := url.ParseQuery(raw)
		if v.Get("per_page") == "" {
			v.Set("per_page", "100")
		}
		q, err := ParseQuery(v)
		if err != nil {
			continue // a case about a bad query
		}
		a, aerr := one.Search(ctx, q)
		b, berr := many.Search(ctx, q)
		if (aerr == nil) != (berr == nil) {
			t.Fatalf("%s: %v, spread: %v", raw, aerr, berr)
		}
		if aerr != nil {
			continue
		}
		if a.Total != b.Total {
			t.Errorf("%s: total %d, spread %d", raw, a.Total, b.Total)
		}
		af, _ := json.Marshal(a.Facets)
		bf, _ := json.Marshal(b.Facets)
		if string(af) != string(bf) {
			t.Errorf("%s: facets\n%s\nspread\n%s", raw, af, bf)
		}
		ai, bi := hitIDs(a), hitIDs(b)
		if q.Sort != SortRelevance || q.Text == "" {
			if !slices.Equal(ai, bi) {
				t.Errorf("%s: hits\n%v\nspread\n%v", raw, ai, bi)
			}
			continue
		}
		// By relevance, equal scores keep index order, which differs:
		// compare the scores in order and the hits as a set.
		for i := range a.Hits {
			if i < len(b.Hits) && math.Abs(a.Hits[i].Score-b.Hits[i].Score) > 1e-6*a.Hits[i].Score {
				t.Errorf("%s: hit %d scores %v, spread %v", raw, i, a.Hits[i].Score, b.Hits[i].Score)
				break
			}
		}
		slices.Sort(ai)
		slices.Sort(bi)
		if !slices.Equal(ai, bi) {
			t.Errorf("%s: hits\n%v\nspread\n%v", raw, ai, bi)
		}
		for _, h := range b.Hits {
			if strings.HasSuffix(h.ID, ".gone") || strings.HasSuffix(h.Name, " draft") {
				t.Errorf("%s: a deleted or replaced document is a hit: %s %q", raw, h.ID, h.Name)
			}
		}
	}
}

// TestFitsAtTheEdge: the engine keeps extents as float32 rounded up beside
// the exact float64s; a part exactly the size of the volume, or one a hair
// over it (closer than float32 can tell), is judged on the exact value.
func TestFitsAtTheEdge(t *testing.T) {
	b := openIndex(t, t.TempDir())
	edge := 123.4 // not a float32
	over := math.Nextafter(edge, math.Inf(1))
	under := math.Nextafter(edge, math.Inf(-1))
	var docs []Doc
	for i, x := range []float64{edge, over, under, 250, math.Nextafter(250, 300)} {
		d := loadFixture(t)[0]
		d.ID = fmt.Sprintf("part:edge/case:%d.stl", i)
		p := *d.Part
		p.Size = [3]float64{10, x, 20}
		d.Part = &p
		docs = append(docs, d)
	}
	if err := b.Apply(context.Background(), docs, nil); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string][]string{
		"project=" + docs[0].Project + "&max_x=123.4&max_y=100&max_z=100": {"part:edge/case:0.stl", "part:edge/case:2.stl"},
		"project=" + docs[0].Project + "&max_x=250&max_y=100&max_z=100":   {"part:edge/case:0.stl", "part:edge/case:1.stl", "part:edge/case:2.stl", "part:edge/case:3.stl"},
	} {
		var got []string
		for _, id := range hitIDs(search(t, b, q+"&per_page=100")) {
			if strings.HasPrefix(id, "part:edge/") {
				got = append(got, id)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
}

// TestSearchesTakeTurns: no more searches run at once than there are
// slots (GOMAXPROCS); one that finds none free waits its turn, and gives
// up with its context's error, never hanging.
func TestSearchesTakeTurns(t *testing.T) {
	b, _ := fixtureIndex(t)
	for range cap(b.slots) {
		b.slots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.Search(ctx, Query{Text: "gear"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("search with every slot taken: err %v, want the deadline", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Search(context.Background(), Query{Text: "clamp"})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("search ran with every slot taken (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	<-b.slots // one turn frees
	if err := <-done; err != nil {
		t.Fatalf("search after a slot freed: %v", err)
	}
	for range cap(b.slots) - 1 {
		<-b.slots
	}
	if res := search(t, b, "q=gear"); res.Total == 0 {
		t.Fatal("gear found nothing once the slots were free")
	}
}

// TestSizeBuckets: build-volume searches over thousands of synthetic
// parts (extents from 3 to 400 mm) count the parts Fits says fit, for
// volumes on, between and beyond the buckets sizeBounds judges by.
func TestSizeBuckets(t *testing.T) {
	b := openIndex(t, t.TempDir())
	docs := SyntheticParts(3000, 11)
	if err := b.Apply(context.Background(), docs, nil); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 60 {
		vol := [3]float64{}
		for a := range vol {
			switch rng.IntN(5) {
			case 0:
				vol[a] = 0 // unbounded
			case 1:
				vol[a] = sizeBucket[rng.IntN(100)] // on a bound
			case 2:
				vol[a] = docs[rng.IntN(len(docs))].Part.Size[rng.IntN(3)] // a part's own extent
			default:
				vol[a] = math.Round(2+rng.Float64()*450*10) / 10
			}
		}
		if i == 0 {
			vol = [3]float64{1000, 1000, 1000}
		}
		want := 0
		for _, d := range docs {
			if Fits(d.Part.Size, vol[0], vol[1], vol[2]) {
				want++
			}
		}
		if vol == [3]float64{} {
			continue
		}
		raw := "kind=part"
		for a, name := range []string{"max_x", "max_y", "max_z"} {
			if vol[a] > 0 {
				raw += fmt.Sprintf("&%s=%g", name, vol[a])
			}
		}
		res := search(t, b, raw)
		if int(res.Total) != want {
			t.Errorf("%s: %d parts, %d fit", raw, res.Total, want)
		}
		for _, h := range res.Hits {
			if !Fits(h.Part.Size, vol[0], vol[1], vol[2]) {
				t.Errorf("%s: %s (%v) does not fit", raw, h.ID, h.Part.Size)
			}
		}
	}
}

// TestCompactWhileSearching: searches go on, with the same answers, while
// the index is compacted; a compaction whose context is cancelled returns
// its error.
func TestCompactWhileSearching(t *testing.T) {
	ctx := context.Background()
	b := spreadIndex(t, SyntheticParts(2000, 5), 250)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Compact(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Compact with a cancelled context: %v, want context.Canceled", err)
	}
	q := Query{Text: "bracket", Page: 1, PerPage: 20, NoFacets: true, Scope: Scope{All: true}}
	want, err := b.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Compact(ctx) }()
	for searching := true; searching; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			searching = false
		default:
			b.invalidate()
			got, err := b.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got.Total != want.Total {
				t.Fatalf("during Compact: %d hits, before %d", got.Total, want.Total)
			}
		}
	}
	if n := segmentCount(t, b); n != 1 {
		t.Errorf("after Compact: %d segments", n)
	}
}

// TestTermTables: a compacted index expands prefixes from its term
// tables to the terms its dictionaries give (the most frequent 128, or
// all in term order), and searches by them find what they found before
// the tables were read.
func TestTermTables(t *testing.T) {
	ctx := context.Background()
	b := openIndex(t, t.TempDir())
	if err := b.Apply(ctx, SyntheticParts(12000, 9), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	snap, seg, cols := oneSegment(t, b)
	// Before the table: searches as before, which the table must match.
	var queries []Query
	var before []Result
	for _, p := range []string{"br", "mo", "le", "x2", "ho", "pl", "zz", "st", "ca", "fr"} {
		v, _ := url.ParseQuery("prefix=1&q=" + p)
		q, _ := ParseQuery(v)
		q.NoFacets = true
		res, err := b.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		queries, before = append(queries, q), append(before, res)
	}
	cols.readTermTables(seg)
	tables := cols.termTables()
	if tables == nil {
		t.Fatal("no term tables after readTermTables")
	}
	checked, long, longer := 0, 0, 0
	for _, f := range prefixFields {
		table := tables[f]
		// Every two-letter prefix, and the three-, four- and
		// five-letter prefixes of every tenth term, and one past the
		// last term.
		prefixes := map[string]bool{"zzzzz": true}
		for p := range table.short {
			prefixes[p] = true
		}
		for k := 0; k < len(table.ends); k += 10 {
			term := string(table.term(k))
			for n := 3; n <= 5 && n <= len(term); n++ {
				prefixes[term[:n]] = true
			}
		}
		for p := range prefixes {
			terms, err := table.expand(p, roaring.New(), nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := dictTerms(snap, clause{field: f, term: p, kind: matchPrefix}, func(segment.Segment) (*roaring.Bitmap, error) { return nil, nil })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(terms, want) {
				t.Fatalf("%s %q: table %v, dictionary %v", f, p, terms, want)
			}
			checked++
			if len(want) == maxExpansions {
				if len(p) > shortPrefix {
					longer++
				}
				long++
				// The most frequent by their documents: no term left
				// out holds more documents than one chosen.
				d, err := seg.Dictionary(f)
				if err != nil {
					t.Fatal(err)
				}
				docs := func(term string) uint64 {
					bm, err := postings(d, term)
					if err != nil {
						t.Fatal(err)
					}
					return bm.GetCardinality()
				}
				least := docs(want[len(want)-1])
				all, err := snap.FieldDictPrefix(f, []byte(p))
				if err != nil {
					t.Fatal(err)
				}
				for e, _ := all.Next(); e != nil; e, _ = all.Next() {
					if n := docs(e.Term); n > least && !slices.Contains(want, e.Term) {
						t.Errorf("%s %q: %q (%d documents) left out for %q (%d)", f, p, e.Term, n, want[len(want)-1], least)
					}
				}
				all.Close()
			}
		}
	}
	t.Logf("%d prefixes checked, %d with more than %d terms, %d of them longer than %d bytes", checked, long, maxExpansions, longer, shortPrefix)
	if checked < 50 || longer == 0 {
		t.Fatalf("no prefix longer than %d bytes with more than %d terms; the test needs more", shortPrefix, maxExpansions)
	}
	if checked < 50 || long == 0 {
		t.Fatalf("%d prefixes checked, %d with more than %d terms; the test needs more", checked, long, maxExpansions)
	}
	b.invalidate()
	for i, q := range queries {
		res, err := b.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != before[i].Total || !slices.Equal(hitIDs(res), hitIDs(before[i])) {
			t.Errorf("%q: %d hits %v, before the table %d %v", q.Text, res.Total, hitIDs(res), before[i].Total, hitIDs(before[i]))
		}
	}
}

// noMerges are Bleve settings under which its merger leaves every
// written Apply a segment of its own.
var noMerges = map[string]any{"scorchMergePlanOptions": map[string]any{"MaxSegmentSize": 1}}

// spreadIndex indexes docs in Applies of per documents, each written on
// its own (the index closed after each), and opens the result with no
// merges, so that it keeps several segments while a test compares.
func spreadIndex(t *testing.T, docs []Doc, per int) *Bleve {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.bleve")
	for i := 0; i < len(docs); i += per {
		b, err := open(path, noMerges)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Apply(context.Background(), docs[i:min(i+per, len(docs))], nil); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	b, err := open(path, noMerges)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestOneWordTies: a one-word search ranks clause by clause, heaviest
// first, so documents with equal scores may come out of index order; the
// earlier document still wins a tie, as it does when every match is
// scored in order. Here two clauses weigh the same and the one ranked
// first holds the later documents.
func TestOneWordTies(t *testing.T) {
	b := &Bleve{}
	nameLen := make([]uint8, 10)
	for d := range nameLen {
		nameLen[d] = 7
	}
	early, late := roaring.BitmapOf(1, 2), roaring.BitmapOf(5, 6)
	set := roaring.Or(early, late)
	m := &segMatch{
		cols:    &columns{nameLen: nameLen},
		docs:    set.ToArray(),
		set:     set,
		clauses: [][]*roaring.Bitmap{{early, late}},
	}
	words := [][]clause{{{field: fieldName, boost: 1}, {field: fieldPath, boost: 1}}}
	df := [][]uint64{{4, 4}}
	for want := 1; want <= 4; want++ {
		got, err := b.candidates(m, SortRelevance, words, df, 10, want)
		if err != nil {
			t.Fatal(err)
		}
		var docs []uint32
		for _, c := range got {
			docs = append(docs, c.doc)
		}
		if wantDocs := []uint32{1, 2, 5, 6}[:want]; !slices.Equal(docs, wantDocs) {
			t.Errorf("want %d: documents %v, want %v (ties by index order)", want, docs, wantDocs)
		}
	}
}
