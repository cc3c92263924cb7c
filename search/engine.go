package search

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"
	jsonv2 "github.com/go-json-experiment/json"
)

// How a search runs. Bleve writes the index (analysis, segments, merges,
// stored documents); a search reads Bleve's segments directly, as sets of
// documents: a term is its postings bitmap, a word is the union of its
// clauses' bitmaps, a query the intersection of its words and filters.
// Counting, facets, sorting and relevance then read the columns of the
// matching documents (see columns). That costs a few nanoseconds per
// matching document where Bleve's collector, which scores each hit through
// its searchers and decodes doc values for facets, costs microseconds:
// the difference between a search of a million parts answering in a
// millisecond or in a hundred.
//
// Relevance: a document's score is the sum, over the query's words, of
// the weight of the best clause of the word it matches, times the weight
// of its name's length (normOf: shorter names first). A clause's weight
// is its boost (boostName, boostPath, boostText, boostReadme; times boostFuzzy or
// boostPrefix for a word with a typo or as a prefix) times the rarity of
// what it matches, 1 + ln(N/(df+1)), as in TF-IDF, where N and df count
// only the documents the viewer may read: a score, like a total, must not
// tell how many private parts hold a word. Equal scores keep index order.

// maxExpansions bounds the terms a prefix stands for: those most of the
// documents the viewer may read hold.
const maxExpansions = 128

// Kinds of clause.
const (
	matchExact = iota
	matchPrefix
	matchFuzzy
)

// clause is one way a word may match: a term of a field, as typed, as a
// prefix or with one typo.
type clause struct {
	field string
	term  string
	kind  int
	boost float64
	terms []string // the terms it stands for in the index (see expand)
}

// textPlan is what the words of a query must match: each word is a list
// of clauses, and a document must match at least min words.
type textPlan struct {
	words [][]clause
	min   int
	// unfit asks run for the part that matches best when the build
	// volume is left out (see Bleve.unfit), found from the same matches;
	// run sets unfitDone, and the result's Unfit when that part does not
	// fit.
	unfit, unfitDone bool
}

// wordClauses are the clauses of one analysed word (term; typed is the
// word as typed, before stemming): the word in any text field (a
// project's README words included); with typos,
// with one typo in a name or path; as a prefix (the last word, while it
// is typed), as the start of a word of a name or path.
func wordClauses(term, typed string, prefix, typos bool) []clause {
	cs := []clause{
		{field: fieldName, term: term, kind: matchExact, boost: boostName},
		{field: fieldPath, term: term, kind: matchExact, boost: boostPath},
		{field: fieldText, term: term, kind: matchExact, boost: boostText},
		{field: fieldReadme, term: term, kind: matchExact, boost: boostReadme},
	}
	if typos && utf8.RuneCountInString(term) >= minFuzzyLen {
		cs = append(cs,
			clause{field: fieldName, term: term, kind: matchFuzzy, boost: boostName * boostFuzzy},
			clause{field: fieldPath, term: term, kind: matchFuzzy, boost: boostPath * boostFuzzy})
	}
	if prefix {
		prefixes := []string{term}
		if typed != "" && typed != term && utf8.ValidString(typed) {
			prefixes = append(prefixes, typed)
		}
		for _, p := range prefixes {
			if utf8.RuneCountInString(p) < minPrefixLen {
				continue
			}
			cs = append(cs,
				clause{field: fieldName, term: p, kind: matchPrefix, boost: boostName * boostPrefix},
				clause{field: fieldPath, term: p, kind: matchPrefix, boost: boostPath * boostPrefix})
		}
	}
	return cs
}

// segMatch is what a query matched in one segment.
type segMatch struct {
	seg     segment.Segment
	cols    *columns
	docs    []uint32            // matching documents, in order
	set     *roaring.Bitmap     // the same, as a set
	clauses [][]*roaring.Bitmap // per word, per clause: its documents (deleted ones included)
	counted *roaring.Bitmap     // the live documents the viewer may read, where it may not read them all (else nil)
	docsBuf *[]uint32           // docs's memory, back to docBufs when the search ends
	dropped []uint32            // textPlan.unfit: the matching parts left out by the build volume
	best    []candidate         // textPlan.unfit: the first of docs by relevance (at most one)
}

// candidate is a document that may be on the page asked for.
type candidate struct {
	key   float64 // sort key: larger first for relevance and updated, smaller first otherwise
	seg   int
	doc   uint32
	score float64
}

// run answers q: its filters, and text when not nil (nil: every
// document).
func (b *Bleve) run(ctx context.Context, q Query, text *textPlan) (Result, error) {
	snap, err := b.snapshot()
	if err != nil {
		return Result{}, err
	}
	defer snap.Close()
	ss := snap.Segments()
	live := make([]segment.Segment, len(ss))
	for i, s := range ss {
		live[i] = s.Segment()
	}
	defer b.columns.keep(live)

	// Expand prefixes and typos into the terms of the whole index.
	var words [][]clause
	if text != nil {
		if words, err = b.expand(snap, text.words, q.Scope); err != nil {
			return Result{}, fmt.Errorf("search %s: %w", b.path, err)
		}
	}

	matches := make([]segMatch, len(ss))
	defer func() {
		for i := range matches {
			if p := matches[i].docsBuf; p != nil {
				docBufs.Put(p)
			}
		}
	}()
	var total uint64
	var docCount uint64
	df := make([][]uint64, len(words))
	for i := range words {
		df[i] = make([]uint64, len(words[i]))
	}
	for si, s := range ss {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("search %s: %w", b.path, err)
		}
		m, err := b.matchSegment(s, q, words, text)
		if err != nil {
			return Result{}, fmt.Errorf("search %s: %w", b.path, err)
		}
		matches[si] = m
		total += uint64(len(m.docs))
		// The words' statistics (how rare each clause's terms are) count
		// the live documents the viewer may read, and nothing else.
		deleted := s.Deleted()
		if m.counted != nil {
			docCount += m.counted.GetCardinality()
		} else {
			docCount += s.Count() // live documents
		}
		for i := range m.clauses {
			for j, bm := range m.clauses[i] {
				switch {
				case m.counted != nil:
					df[i][j] += bm.AndCardinality(m.counted)
				case deleted != nil:
					df[i][j] += bm.GetCardinality() - bm.AndCardinality(deleted)
				default:
					df[i][j] += bm.GetCardinality()
				}
			}
		}
	}

	res := Result{Total: total, Hits: []Hit{}, Facets: map[string][]FacetCount{}}
	b.facets(q, matches, &res)

	sort := q.Sort
	if text == nil && sort == SortRelevance {
		sort = SortUpdated
	}
	want := q.Page * q.PerPage
	var cands []candidate
	for si := range matches {
		c, err := b.candidates(&matches[si], sort, words, df, docCount, want)
		if err != nil {
			return Result{}, fmt.Errorf("search %s: %w", b.path, err)
		}
		for i := range c {
			c[i].seg = si
		}
		if text != nil && text.unfit && sort == SortRelevance && len(c) > 0 {
			matches[si].best = c[:1:1]
		}
		cands = append(cands, c...)
	}
	if sort == SortName {
		if err := b.nameKeys(matches, cands); err != nil {
			return Result{}, fmt.Errorf("search %s: %w", b.path, err)
		}
	}
	slices.SortStableFunc(cands, func(a, c candidate) int { return compareCandidates(sort, a, c) })
	from := (q.Page - 1) * q.PerPage
	// Equal keys by id, relevance included: every node of a cluster builds
	// its own index, in its own order, and all must show the same page.
	if err := tiesByID(matches, cands, from, want); err != nil {
		return Result{}, fmt.Errorf("search %s: %w", b.path, err)
	}
	for _, c := range cands[min(from, len(cands)):min(want, len(cands))] {
		d, err := storedDoc(matches[c.seg].seg, c.doc)
		if err != nil {
			return Result{}, fmt.Errorf("search %s: %w", b.path, err)
		}
		res.Hits = append(res.Hits, Hit{Doc: d, Score: c.score})
	}
	if text != nil && text.unfit {
		if res.Unfit, err = b.unfitOf(q, matches, words, df, docCount); err != nil {
			return Result{}, fmt.Errorf("search %s: %w", b.path, err)
		}
		text.unfitDone = true
	}
	return res, nil
}

// unfitOf finds, among the matching parts with or without the build
// volume (the matches, which fit, and segMatch.dropped), the one ranked
// first by relevance, as a search for one part without the volume would,
// and returns it when it does not fit the volume. In each segment, that
// is the first by relevance of the matches (segMatch.best when the page
// was sorted so) or of the dropped parts, whichever comes first.
func (b *Bleve) unfitOf(q Query, matches []segMatch, words [][]clause, df [][]uint64, docCount uint64) (*Hit, error) {
	var cands []candidate
	first := func(m *segMatch, docs []uint32, set *roaring.Bitmap) ([]candidate, error) {
		if len(docs) == 0 {
			return nil, nil
		}
		if set == nil {
			set = roaring.BitmapOf(docs...)
		}
		sm := segMatch{seg: m.seg, cols: m.cols, docs: docs, set: set, clauses: m.clauses}
		return b.candidates(&sm, SortRelevance, words, df, docCount, 1)
	}
	for si := range matches {
		m := &matches[si]
		best := m.best
		if best == nil {
			c, err := first(m, m.docs, m.set)
			if err != nil {
				return nil, err
			}
			best = c
		}
		c, err := first(m, m.dropped, nil)
		if err != nil {
			return nil, err
		}
		for i := range c {
			c[i].seg = si // as best's: ties go by document
		}
		c = append(c, best...)
		if len(c) == 2 && compareCandidates(SortRelevance, c[1], c[0]) < 0 {
			c = c[1:]
		}
		for i := range c[:min(len(c), 1)] {
			c[i].seg = si
			cands = append(cands, c[i])
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(cands, func(a, c candidate) int { return compareCandidates(SortRelevance, a, c) })
	if err := tiesByID(matches, cands, 0, 1); err != nil {
		return nil, err
	}
	d, err := storedDoc(matches[cands[0].seg].seg, cands[0].doc)
	if err != nil {
		return nil, err
	}
	if d.Part == nil || Fits(d.Part.Size, q.MaxX, q.MaxY, q.MaxZ) {
		return nil, nil
	}
	return &Hit{Doc: d, Score: cands[0].score}, nil
}

// expand replaces each prefix and fuzzy clause by exact clauses of the
// terms it stands for in the index (at most maxExpansions for a prefix,
// the most frequent among the documents scope may read), sharing the
// clause's boost.
// When the index is one segment, as it is once compacted, a prefix
// expands from the segment's term table (two-letter ones, the slowest,
// ready made) rather than from a walk of the dictionary.
func (b *Bleve) expand(snap *scorch.IndexSnapshot, words [][]clause, scope Scope) ([][]clause, error) {
	out := make([][]clause, len(words))
	for i, cs := range words {
		for _, c := range cs {
			if c.kind == matchExact {
				c.terms = []string{c.term}
				out[i] = append(out[i], c)
				continue
			}
			if ss := snap.Segments(); c.kind == matchPrefix && len(c.term) >= shortPrefix && len(ss) == 1 {
				seg := ss[0].Segment()
				cols, err := b.columns.get(seg)
				if err != nil {
					return nil, err
				}
				if t := cols.termTables()[c.field]; t != nil {
					sets, err := cols.scope(seg, scope)
					if err != nil {
						return nil, err
					}
					var dict segment.TermDictionary
					if !sets.own.IsEmpty() {
						if dict, err = seg.Dictionary(c.field); err != nil {
							return nil, err
						}
					}
					if c.terms, err = t.expand(c.term, sets.own, dict); err != nil {
						return nil, err
					}
					out[i] = append(out[i], c)
					continue
				}
			}
			terms, err := dictTerms(snap, c, func(seg segment.Segment) (*roaring.Bitmap, error) {
				cols, err := b.columns.get(seg)
				if err != nil {
					return nil, err
				}
				sets, err := cols.scope(seg, scope)
				return sets.readable, err
			})
			if err != nil {
				return nil, err
			}
			c.terms = terms
			out[i] = append(out[i], c)
		}
	}
	return out, nil
}

// dictTerms returns the terms a prefix or fuzzy clause stands for, from
// the dictionaries of every segment of snap: for a prefix of more than
// maxExpansions terms, those holding the most documents of each segment
// that within returns (nil: all of them).
func dictTerms(snap *scorch.IndexSnapshot, c clause, within func(segment.Segment) (*roaring.Bitmap, error)) ([]string, error) {
	var dict index.FieldDict
	var err error
	if c.kind == matchPrefix {
		dict, err = snap.FieldDictPrefix(c.field, []byte(c.term))
	} else {
		dict, err = snap.FieldDictFuzzy(c.field, c.term, 1, "")
	}
	if err != nil {
		return nil, err
	}
	defer dict.Close()
	var entries []index.DictEntry
	for {
		e, err := dict.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			break
		}
		entries = append(entries, *e)
	}
	if c.kind == matchPrefix && len(entries) > maxExpansions {
		// Bleve's dictionary counts are not the terms' documents (many
		// a term of a hundred parts counts 1 in a merged segment), and
		// count documents the viewer may not read: count them from the
		// postings.
		if err := countPostings(snap, c.field, entries, within); err != nil {
			return nil, err
		}
		entries = mostFrequent(entries)
	}
	terms := make([]string, len(entries))
	for k, e := range entries {
		terms[k] = e.Term
	}
	return terms, nil
}

// countPostings sets each entry's Count to the documents holding its
// term in field, over every segment of snap, among those within returns
// (nil: all of them; deleted ones included, as Bleve counts).
func countPostings(snap *scorch.IndexSnapshot, field string, entries []index.DictEntry, within func(segment.Segment) (*roaring.Bitmap, error)) error {
	for k := range entries {
		entries[k].Count = 0
	}
	for _, s := range snap.Segments() {
		d, err := s.Segment().Dictionary(field)
		if err != nil {
			return err
		}
		in, err := within(s.Segment())
		if err != nil {
			return err
		}
		for k := range entries {
			bm, err := postings(d, entries[k].Term)
			if err != nil {
				return err
			}
			if in == nil {
				entries[k].Count += bm.GetCardinality()
			} else {
				entries[k].Count += bm.AndCardinality(in)
			}
		}
	}
	return nil
}

// mostFrequent returns the maxExpansions entries of the largest counts,
// most first, ties in the given (term) order; all of them, in their
// order, when there are no more.
func mostFrequent(entries []index.DictEntry) []index.DictEntry {
	if len(entries) <= maxExpansions {
		return entries
	}
	slices.SortStableFunc(entries, func(a, b index.DictEntry) int {
		switch {
		case a.Count > b.Count:
			return -1
		case a.Count < b.Count:
			return 1
		}
		return 0
	})
	return entries[:maxExpansions]
}

// matchSegment finds the documents of one segment that match q's filters
// and the expanded words.
func (b *Bleve) matchSegment(s *scorch.SegmentSnapshot, q Query, words [][]clause, text *textPlan) (segMatch, error) {
	seg := s.Segment()
	cols, err := b.columns.get(seg)
	if err != nil {
		return segMatch{}, err
	}
	m := segMatch{seg: seg, cols: cols}
	// The sets a match must be in, read-only (the segment's own postings
	// or cached scopes): intersected at the end, smallest first, rather
	// than each cut out of a bitmap of every live document.
	var within []*roaring.Bitmap
	none := false // a filter matches nothing here
	dicts := map[string]segment.TermDictionary{}
	dict := func(field string) (segment.TermDictionary, error) {
		if d, ok := dicts[field]; ok {
			return d, nil
		}
		d, err := seg.Dictionary(field)
		dicts[field] = d
		return d, err
	}
	// Keyword filters.
	for _, f := range []struct{ field, v string }{{fieldKind, q.Kind}, {fieldProject, q.Project}, {fieldLicense, q.License}, {fieldCategory, q.Category}} {
		if f.v == "" || none {
			continue
		}
		d, err := dict(f.field)
		if err != nil {
			return m, err
		}
		bm, err := postings(d, f.v)
		if err != nil {
			return m, err
		}
		within = append(within, bm)
		none = bm.IsEmpty()
	}
	// What the viewer may read (the access policy's scope): public
	// documents, and those of the owners and projects it names. A filter
	// on the match, so totals and facets count nothing else; what it may
	// not read is kept to take out of the words' statistics too.
	if !q.Scope.All {
		sets, err := cols.scope(seg, q.Scope)
		if err != nil {
			return m, err
		}
		if !sets.hidden.IsEmpty() {
			m.counted = sets.readable
			if deleted := s.Deleted(); deleted != nil && !deleted.IsEmpty() {
				m.counted = roaring.AndNot(sets.readable, deleted)
			}
		}
		if !none {
			within = append(within, sets.readable)
			none = sets.readable.IsEmpty()
		}
	}
	var set *roaring.Bitmap
	// Words.
	if len(words) > 0 {
		m.clauses = make([][]*roaring.Bitmap, len(words))
		ws := make([]*roaring.Bitmap, len(words))
		for i, cs := range words {
			for _, c := range cs {
				d, err := dict(c.field)
				if err != nil {
					return m, err
				}
				// Read-only: may be the segment's own.
				ps := make([]*roaring.Bitmap, 0, len(c.terms))
				for _, t := range c.terms {
					p, err := postings(d, t)
					if err != nil {
						return m, err
					}
					if !p.IsEmpty() {
						ps = append(ps, p)
					}
				}
				var bm *roaring.Bitmap
				switch len(ps) {
				case 0:
					bm = roaring.New()
				case 1:
					bm = ps[0]
				default:
					bm = roaring.FastOr(ps...)
				}
				m.clauses[i] = append(m.clauses[i], bm)
			}
			ws[i] = roaring.FastOr(m.clauses[i]...)
		}
		if text.min >= len(words) {
			set = liveWithin(s, append(within, ws...), none)
		} else {
			// atLeast[k]: the documents matching k words or more.
			atLeast := []*roaring.Bitmap{liveWithin(s, within, none)}
			for _, w := range ws {
				next := make([]*roaring.Bitmap, len(atLeast)+1)
				next[0] = atLeast[0]
				for k := 1; k <= len(atLeast); k++ {
					next[k] = roaring.And(atLeast[k-1], w)
					if k < len(atLeast) {
						next[k].Or(atLeast[k])
					}
				}
				atLeast = next
			}
			set = atLeast[max(text.min, 0)]
		}
	} else {
		set = liveWithin(s, within, none)
	}
	// Sizes and volume, from the columns.
	sizes := q.MaxX > 0 || q.MaxY > 0 || q.MaxZ > 0
	if !sizes && q.MinVolume <= 0 && q.MaxVolume <= 0 {
		m.docs, m.docsBuf = docsOf(set)
		m.set = set
		return m, nil
	}
	vol := [3]float64{q.MaxX, q.MaxY, q.MaxZ}
	for i, v := range vol {
		if v <= 0 {
			vol[i] = math.Inf(1)
		}
	}
	slices.Sort(vol[:])
	ms := cols.measures
	exts := cols.ext
	fits := func(d uint32) bool {
		// A document without a value (a project) fails every
		// comparison with NaN, and is left out. The column's extents
		// are rounded up: below the volume, the part fits; above,
		// only a part within rounding of it needs the exact value.
		ext := &exts[d]
		for i := range 3 {
			e := float64(ext[i])
			if e <= vol[i] {
				continue
			}
			below := float64(math.Nextafter32(ext[i], float32(math.Inf(-1))))
			if !(below < vol[i]) || !(ms[d].ext[i] <= vol[i]) {
				return false
			}
		}
		return true
	}
	var dropped []uint32 // the parts of the match the volume leaves out
	if sizes {
		// Most documents are judged by their extents' buckets, as
		// sets; those near the volume's extents one by one.
		sure, maybe := cols.sizeBounds(vol)
		fit := roaring.New()
		if sure[0] != nil && sure[1] != nil && sure[2] != nil {
			fit = roaring.And(set, sure[0])
			fit.And(sure[1])
			fit.And(sure[2])
		}
		edge := roaring.And(set, maybe[0])
		edge.And(maybe[1])
		edge.And(maybe[2])
		edge.AndNot(fit)
		it := edge.ManyIterator()
		var buf [256]uint32
		for k := it.NextMany(buf[:]); k > 0; k = it.NextMany(buf[:]) {
			for _, d := range buf[:k] {
				if fits(d) {
					fit.Add(d)
				}
			}
		}
		if text != nil && text.unfit {
			// The unfit hint's candidates, beside the match.
			kinds, part := cols.keywords[fieldKind].ord, b.columns.terms[fieldKind].of(KindPart)
			for _, d := range roaring.AndNot(set, fit).ToArray() {
				if kinds[d] == part {
					dropped = append(dropped, d)
				}
			}
		}
		set = fit
	}
	m.docs, m.docsBuf = docsOf(set)
	if q.MinVolume > 0 || q.MaxVolume > 0 {
		inRange := func(ds []uint32) []uint32 {
			kept := ds[:0]
			for _, d := range ds {
				if q.MinVolume > 0 && !(ms[d].volume >= q.MinVolume) || q.MaxVolume > 0 && !(ms[d].volume <= q.MaxVolume) {
					continue
				}
				kept = append(kept, d)
			}
			return kept
		}
		m.docs = inRange(m.docs)
		dropped = inRange(dropped)
		set = roaring.BitmapOf(m.docs...)
	}
	m.dropped = dropped
	m.set = set
	return m, nil
}

// docBufs holds the memory of segMatch.docs between searches: a common
// word matches tens of thousands of documents, and a fresh array each
// time was a tenth of what a search allocates.
var docBufs = sync.Pool{New: func() any { return new([]uint32) }}

// docsOf returns the documents of set in order, in memory from docBufs,
// and that memory (to put back once the documents are no longer used).
func docsOf(set *roaring.Bitmap) ([]uint32, *[]uint32) {
	p := docBufs.Get().(*[]uint32)
	n := int(set.GetCardinality())
	if cap(*p) < n {
		*p = make([]uint32, n)
	}
	docs := (*p)[:n]
	it := set.ManyIterator()
	for k := 0; k < n; {
		got := it.NextMany(docs[k:])
		if got == 0 {
			docs = docs[:k] // fewer than the cardinality said: not expected
			break
		}
		k += got
	}
	return docs, p
}

// liveWithin returns, as a new bitmap, the live documents of s that are
// in every one of sets (read-only; none: one of them is known empty):
// the smallest is copied and cut by the others, so that the cost follows
// the match rather than the segment.
func liveWithin(s *scorch.SegmentSnapshot, sets []*roaring.Bitmap, none bool) *roaring.Bitmap {
	if none {
		return roaring.New()
	}
	if len(sets) == 0 {
		return s.DocNumbersLive()
	}
	sets = slices.Clone(sets)
	card := make(map[*roaring.Bitmap]uint64, len(sets))
	for _, bm := range sets {
		card[bm] = bm.GetCardinality()
	}
	slices.SortStableFunc(sets, func(a, c *roaring.Bitmap) int { return cmp.Compare(card[a], card[c]) })
	set := sets[0].Clone()
	for _, bm := range sets[1:] {
		if set.IsEmpty() {
			break
		}
		set.And(bm)
	}
	// Postings hold no document past the segment's end; deleted ones go.
	if d := s.Deleted(); d != nil && !set.IsEmpty() {
		set.AndNot(d)
	}
	return set
}

// facets counts the facet fields' terms over every match; a field
// filtered on has one value, held by every hit.
func (b *Bleve) facets(q Query, matches []segMatch, res *Result) {
	filtered := map[string]string{fieldKind: q.Kind, fieldProject: q.Project, fieldLicense: q.License, fieldCategory: q.Category}
	for _, f := range facetFields {
		counts := []FacetCount{}
		switch {
		case q.NoFacets:
		case filtered[f] != "":
			if res.Total > 0 {
				counts = append(counts, FacetCount{Term: filtered[f], Count: int(res.Total)})
			}
		default:
			names := b.columns.terms[f].snapshot()
			fc := getCounts(len(names))
			n, touched := fc.counts, fc.touched[:0]
			for _, m := range matches {
				kc := m.cols.keywords[f]
				// Few terms and many matches: an intersection per term.
				// Few matches: a look-up per match costs less than
				// walking every term's documents.
				if kc.few != nil && len(m.docs) >= m.cols.n/denseFacet {
					for o, bm := range kc.few {
						if c := m.set.AndCardinality(bm); c > 0 {
							if n[o] == 0 {
								touched = append(touched, o)
							}
							n[o] += int32(c)
						}
					}
					continue
				}
				if kc.ord8 != nil {
					// A byte per document: counted by the segment's own
					// numbering, then added by term.
					var local [256]int32
					ord8 := kc.ord8
					for _, d := range m.docs {
						local[ord8[d]]++
					}
					for l, c := range local[:len(kc.terms8)] {
						if o := kc.terms8[l]; c > 0 {
							if n[o] == 0 {
								touched = append(touched, o)
							}
							n[o] += c
						}
					}
					continue
				}
				ord := kc.ord
				for _, d := range m.docs {
					o := ord[d]
					if n[o] == 0 {
						touched = append(touched, o)
					}
					n[o]++
				}
			}
			n[0] = 0 // no term
			counts = topTerms(n, touched, names, facetSize)
			counts = slices.DeleteFunc(counts, func(c FacetCount) bool { return c.Term == "" })
			counts = append([]FacetCount{}, counts...)
			fc.touched = touched
			facetCounts.Put(fc)
		}
		res.Facets[f] = counts
	}
}

// denseFacet: a segment's matches are counted per term (see facets) when
// at least 1/denseFacet of its documents match.
const denseFacet = 16

// facetCounts holds counts by term ordinal while facets are counted
// (every slot zero between uses), and the ordinals counted.
var facetCounts = sync.Pool{New: func() any { return new(facetScratch) }}

type facetScratch struct {
	counts  []int32
	touched []uint32
}

func getCounts(n int) *facetScratch {
	s := facetCounts.Get().(*facetScratch)
	if len(s.counts) < n {
		s.counts = make([]int32, n)
	}
	return s
}

// scratch holds per-document scores while a segment is ranked; every
// slot is zero between uses.
var scratch = sync.Pool{New: func() any { return new([]float32) }}

func getScratch(n int) *[]float32 {
	s := scratch.Get().(*[]float32)
	if len(*s) < n {
		*s = make([]float32, n)
	}
	return s
}

// candidates returns the first want documents of one segment's matches in
// the order sort asks.
func (b *Bleve) candidates(m *segMatch, sort string, words [][]clause, df [][]uint64, docCount uint64, want int) ([]candidate, error) {
	h := &candHeap{sort: sort}
	// Once want candidates are kept, a document enters only if it comes
	// before the worst kept: a better key, or an equal one (NaN alike)
	// and an earlier document. Most are turned away by a comparison or
	// two, whatever order they come in.
	larger := sort == SortRelevance || sort == SortUpdated
	full, worst, worstDoc := false, 0.0, uint32(0)
	push := func(c candidate) {
		if full {
			k, w := c.key, worst
			if larger {
				k, w = -k, -w
			}
			better := k < w || math.IsNaN(w) && !math.IsNaN(k)
			tie := k == w || math.IsNaN(k) && math.IsNaN(w)
			if !better && !(tie && c.doc < worstDoc) {
				return
			}
		}
		if h.Len() < want {
			heap.Push(h, c)
		} else if compareCandidates(sort, c, h.items[0]) < 0 {
			h.items[0] = c
			heap.Fix(h, 0)
		}
		if h.Len() == want && want > 0 {
			full, worst, worstDoc = true, h.items[0].key, h.items[0].doc
		}
	}
	switch {
	case sort == SortRelevance && len(words) == 1:
		// One word: a document's score is the weight of its heaviest
		// clause, so each clause, heaviest first, ranks the matches no
		// heavier clause holds, with no score per match kept (documents
		// then come out of index order).
		order, weight := byWeight(words[0], df[0], docCount)
		rest := m.set.Clone()
		nameLen := m.cols.nameLen
		buf := make([]uint32, 256)
		for o := len(order) - 1; o >= -1 && !rest.IsEmpty(); o-- {
			hit, w := rest, float32(0) // after the clauses: none expected
			if o >= 0 {
				j := order[o]
				hit, w = roaring.And(m.clauses[0][j], rest), float32(weight[j])
				rest.AndNot(hit)
			}
			it := hit.ManyIterator()
			for k := it.NextMany(buf); k > 0; k = it.NextMany(buf) {
				for _, d := range buf[:k] {
					s := float64(w * normOf[nameLen[d]])
					push(candidate{key: s, doc: d, score: s})
				}
			}
		}
	case sort == SortRelevance:
		// Scores by position in m.docs: small arrays, walked in order.
		scorep, bestp := getScratch(len(m.docs)), getScratch(len(m.docs))
		defer scratch.Put(scorep)
		defer scratch.Put(bestp)
		score, best := (*scorep)[:len(m.docs)], (*bestp)[:len(m.docs)]
		buf := make([]uint32, 256)
		for i, cs := range words {
			// One word: its best clause is the score. More: each
			// word's best clause is added to it.
			into := score
			if len(words) > 1 {
				into = best
			}
			// Clauses by weight, the heaviest last, so each document
			// keeps its best.
			order, weight := byWeight(cs, df[i], docCount)
			for _, j := range order {
				w := float32(weight[j])
				it := roaring.And(m.clauses[i][j], m.set).ManyIterator()
				p := 0
				for k := it.NextMany(buf); k > 0; k = it.NextMany(buf) {
					for _, d := range buf[:k] {
						for m.docs[p] < d { // every d is in m.docs
							p++
						}
						into[p] = w
					}
				}
			}
			if len(words) > 1 {
				for p := range best {
					score[p] += best[p]
					best[p] = 0
				}
			}
		}
		nameLen := m.cols.nameLen
		for p, d := range m.docs {
			s := float64(score[p] * normOf[nameLen[d]])
			score[p] = 0
			push(candidate{key: s, doc: d, score: s})
		}
	case sort == SortVolume, sort == SortUpdated:
		keys := m.cols.volume
		if sort == SortUpdated {
			keys = m.cols.updated
		}
		for _, d := range m.docs {
			push(candidate{key: keys[d], doc: d})
		}
	case sort == SortName:
		rank, err := m.cols.nameRanks(m.seg)
		if err != nil {
			return nil, err
		}
		for _, d := range m.docs {
			push(candidate{key: float64(rank[d]), doc: d})
		}
	}
	out := h.items
	slices.SortFunc(out, func(a, c candidate) int { return compareCandidates(sort, a, c) })
	return out, nil
}

// byWeight returns the weight of each of a word's clauses, and their
// indexes from the lightest to the heaviest (equal ones in clause order).
func byWeight(cs []clause, df []uint64, docCount uint64) (order []int, weight []float64) {
	order = make([]int, len(cs))
	weight = make([]float64, len(cs))
	for j, c := range cs {
		order[j] = j
		weight[j] = c.boost * (1 + math.Log(float64(docCount)/float64(df[j]+1)))
	}
	slices.SortStableFunc(order, func(a, c int) int {
		switch {
		case weight[a] < weight[c]:
			return -1
		case weight[a] > weight[c]:
			return 1
		}
		return 0
	})
	return order, weight
}

// compareCandidates orders a before c (negative) as sort asks: relevance
// and updated, the larger key first; volume and name, the smaller; a
// document without the value last; then index order.
func compareCandidates(sort string, a, c candidate) int {
	ak, ck := a.key, c.key
	if sort == SortRelevance || sort == SortUpdated {
		ak, ck = -ak, -ck
	}
	switch an, cn := math.IsNaN(ak), math.IsNaN(ck); {
	case an && !cn:
		return 1
	case cn && !an:
		return -1
	case !an && ak < ck:
		return -1
	case !an && ak > ck:
		return 1
	}
	if a.seg != c.seg {
		return a.seg - c.seg
	}
	switch {
	case a.doc < c.doc:
		return -1
	case a.doc > c.doc:
		return 1
	}
	return 0
}

// candHeap keeps the worst of the best candidates on top.
type candHeap struct {
	sort  string
	items []candidate
}

func (h *candHeap) Len() int           { return len(h.items) }
func (h *candHeap) Less(i, j int) bool { return compareCandidates(h.sort, h.items[i], h.items[j]) > 0 }
func (h *candHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *candHeap) Push(x any)         { h.items = append(h.items, x.(candidate)) }
func (h *candHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// nameKeys replaces the per-segment name ranks of candidates by a rank
// over all of them, from their names, so that segments merge in order.
func (b *Bleve) nameKeys(matches []segMatch, cands []candidate) error {
	names := make([]string, len(cands))
	for i, c := range cands {
		if math.IsNaN(c.key) || c.key == math.MaxUint32 {
			continue
		}
		d, err := storedDoc(matches[c.seg].seg, c.doc)
		if err != nil {
			return err
		}
		names[i] = strings.ToLower(d.Name)
	}
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, c int) int {
		na, nc := names[a], names[c]
		switch {
		case cands[a].key == math.MaxUint32 && cands[c].key != math.MaxUint32:
			return 1
		case cands[c].key == math.MaxUint32 && cands[a].key != math.MaxUint32:
			return -1
		case na < nc:
			return -1
		case na > nc:
			return 1
		}
		return compareCandidates(SortName, cands[a], cands[c])
	})
	rank := 0.0
	for k, i := range order {
		if k > 0 && names[i] != names[order[k-1]] {
			rank++
		}
		if cands[i].key != math.MaxUint32 {
			cands[i].key = rank
		}
	}
	return nil
}

// tiesByID orders the runs of candidates with equal keys that reach into
// [from, to) by document id, as sorting by a field does in Bleve.
func tiesByID(matches []segMatch, cands []candidate, from, to int) error {
	same := func(a, c candidate) bool {
		return a.key == c.key || math.IsNaN(a.key) && math.IsNaN(c.key)
	}
	for i := 0; i < len(cands) && i < to; {
		j := i + 1
		for j < len(cands) && same(cands[i], cands[j]) {
			j++
		}
		if j-i > 1 && j > from {
			type withID struct {
				c  candidate
				id string
			}
			run := make([]withID, j-i)
			for k, c := range cands[i:j] {
				id, err := matches[c.seg].seg.DocID(uint64(c.doc))
				if err != nil {
					return err
				}
				run[k] = withID{c, string(id)}
			}
			slices.SortStableFunc(run, func(a, c withID) int { return strings.Compare(a.id, c.id) })
			for k := range run {
				cands[i+k] = run[k].c
			}
		}
		i = j
	}
	return nil
}

// storedDoc reads the document kept in the index for a hit.
func storedDoc(seg segment.Segment, doc uint32) (Doc, error) {
	var raw []byte
	err := seg.VisitStoredFields(uint64(doc), func(field string, _ byte, value []byte, _ []uint64) bool {
		if field == fieldStored {
			raw = append([]byte(nil), value...)
			return false
		}
		return true
	})
	if err != nil {
		return Doc{}, err
	}
	// The JSON of encoding/json, read by its successor's decoder: the
	// same document in half the time (a hit's decoding was a tenth of a
	// search).
	var d Doc
	if err := jsonv2.Unmarshal(raw, &d); err != nil {
		id, _ := seg.DocID(uint64(doc))
		return Doc{}, fmt.Errorf("document %s is damaged (run `blueprints reindex`): %w", id, err)
	}
	return d, nil
}
