package search

import (
	"bytes"
	"cmp"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// shortPrefix is the length in bytes of the prefixes whose expansions a
// segment's term tables keep ready.
const shortPrefix = 2

// prefixFields are the fields whose terms prefixes expand to.
var prefixFields = []string{fieldName, fieldPath}

// termTable is one prefix field's dictionary of a segment, read once in
// the background (warm): its terms in term order, and how many public
// documents hold each term of a two-byte group of more than maxExpansions
// terms, counted from the postings. A prefix then expands without walking
// Bleve's dictionary or looking each term up again, which had been most
// of a prefix search's time at a million parts. The counts are of public
// documents so that which terms a prefix stands for tells nobody about
// private ones; a viewer who may read private documents here adds its
// own (see expand).
type termTable struct {
	terms []byte              // the terms, one after another
	ends  []uint32            // where term k ends in terms
	docs  []uint32            // public documents holding term k; 0 where its group needs no count
	short map[string][]string // every two-byte prefix's expansion, for viewers of public documents here
}

// term returns term k.
func (t *termTable) term(k int) []byte {
	start := uint32(0)
	if k > 0 {
		start = t.ends[k-1]
	}
	return t.terms[start:t.ends[k]]
}

// expand returns the terms prefix p stands for, for a viewer who may
// read the private documents own of the segment whose dictionary of the
// table's field dict is (see choose): the documents counted are the
// public ones and own.
func (t *termTable) expand(p string, own *roaring.Bitmap, dict segment.TermDictionary) ([]string, error) {
	if len(p) == shortPrefix && own.IsEmpty() {
		return t.short[p], nil
	}
	pb := []byte(p)
	n := len(t.ends)
	lo := sort.Search(n, func(k int) bool { return bytes.Compare(t.term(k), pb) >= 0 })
	hi := lo + sort.Search(n-lo, func(k int) bool { return !bytes.HasPrefix(t.term(lo+k), pb) })
	if hi-lo <= maxExpansions || own.IsEmpty() {
		return t.choose(lo, hi, t.publicDocs), nil
	}
	docs := make([]uint32, hi-lo)
	for k := lo; k < hi; k++ {
		bm, err := postings(dict, string(t.term(k)))
		if err != nil {
			return nil, err
		}
		docs[k-lo] = t.docs[k] + uint32(bm.AndCardinality(own))
	}
	return t.choose(lo, hi, func(k int) uint32 { return docs[k-lo] }), nil
}

// publicDocs is how many public documents hold term k, where its group
// is counted.
func (t *termTable) publicDocs(k int) uint32 { return t.docs[k] }

// choose returns terms lo..hi-1, which share a prefix: all of them in
// term order, or the maxExpansions that docs says most documents hold
// (most first, ties in term order). More than maxExpansions terms
// sharing a prefix means more in its two-byte group too, so they are
// counted.
func (t *termTable) choose(lo, hi int, docs func(k int) uint32) []string {
	ks := make([]int, 0, hi-lo)
	for k := lo; k < hi; k++ {
		ks = append(ks, k)
	}
	if len(ks) > maxExpansions {
		slices.SortStableFunc(ks, func(a, b int) int { return cmp.Compare(docs(b), docs(a)) })
		ks = ks[:maxExpansions]
	}
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(t.term(k))
	}
	return out
}

// readTermTable walks dict once in term order, counts from the postings
// the public documents (of public) of the terms of every two-byte group
// of more than maxExpansions terms, and chooses each group's expansion.
func readTermTable(dict segment.TermDictionary, public *roaring.Bitmap) (*termTable, error) {
	t := &termTable{short: map[string][]string{}}
	it := dict.AutomatonIterator(nil, nil, nil)
	for {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			break
		}
		t.terms = append(t.terms, e.Term...)
		t.ends = append(t.ends, uint32(len(t.terms)))
	}
	t.terms = slices.Clip(t.terms)
	t.docs = make([]uint32, len(t.ends))
	// Groups are runs of terms in term order.
	for start := 0; start < len(t.ends); {
		g := t.term(start)
		if len(g) < shortPrefix {
			start++
			continue
		}
		g = g[:shortPrefix]
		end := start + 1
		for end < len(t.ends) && bytes.HasPrefix(t.term(end), g) {
			end++
		}
		if end-start > maxExpansions {
			for k := start; k < end; k++ {
				bm, err := postings(dict, string(t.term(k)))
				if err != nil {
					return nil, err
				}
				t.docs[k] = uint32(bm.AndCardinality(public))
			}
		}
		t.short[string(g)] = t.choose(start, end, t.publicDocs)
		start = end
	}
	return t, nil
}

// readTermTables reads the term tables of the prefix fields once (see
// termTable); termTables has them from then on.
func (c *columns) readTermTables(seg segment.Segment) {
	c.prefixOnce.Do(func() {
		visible, err := seg.Dictionary(fieldVisible)
		if err != nil {
			return
		}
		public, err := postings(visible, "public")
		if err != nil {
			return
		}
		out := map[string]*termTable{}
		for _, f := range prefixFields {
			dict, err := seg.Dictionary(f)
			if err != nil {
				return
			}
			t, err := readTermTable(dict, public)
			if err != nil {
				return
			}
			out[f] = t
		}
		c.prefixes.Store(&out)
	})
}

// termTables returns the segment's term table of each prefix field, or
// nil while they are not read yet (warm reads them in the background: a
// million-part segment's dictionaries take a second or two).
func (c *columns) termTables() map[string]*termTable {
	if p := c.prefixes.Load(); p != nil {
		return *p
	}
	return nil
}
