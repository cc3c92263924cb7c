package search

import (
	"bytes"
	"slices"
	"sort"

	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// shortPrefix is the length in bytes of the prefixes whose expansions a
// segment's term tables keep ready.
const shortPrefix = 2

// prefixFields are the fields whose terms prefixes expand to.
var prefixFields = []string{fieldName, fieldPath}

// termTable is one prefix field's dictionary of a segment, read once in
// the background (warm): its terms in term order, and how many documents
// hold each term of a two-byte group of more than maxExpansions terms,
// counted from the postings as dictTerms counts them. A prefix then
// expands without walking Bleve's dictionary or looking each term up
// again, which had been most of a prefix search's time at a million
// parts.
type termTable struct {
	terms []byte              // the terms, one after another
	ends  []uint32            // where term k ends in terms
	docs  []uint32            // documents holding term k; 0 where its group needs no count
	short map[string][]string // every two-byte prefix's expansion
}

// term returns term k.
func (t *termTable) term(k int) []byte {
	start := uint32(0)
	if k > 0 {
		start = t.ends[k-1]
	}
	return t.terms[start:t.ends[k]]
}

// expand returns the terms prefix p stands for, as dictTerms chooses
// them: all of them in term order, or the maxExpansions holding the most
// documents (most first, ties in term order).
func (t *termTable) expand(p string) []string {
	if len(p) == shortPrefix {
		return t.short[p]
	}
	pb := []byte(p)
	n := len(t.ends)
	lo := sort.Search(n, func(k int) bool { return bytes.Compare(t.term(k), pb) >= 0 })
	hi := lo + sort.Search(n-lo, func(k int) bool { return !bytes.HasPrefix(t.term(lo+k), pb) })
	if hi-lo <= maxExpansions {
		out := make([]string, 0, hi-lo)
		for k := lo; k < hi; k++ {
			out = append(out, string(t.term(k)))
		}
		return out
	}
	// More than maxExpansions terms share p, so their two-byte group
	// has more too and every one of them is counted.
	ks := make([]int, 0, hi-lo)
	for k := lo; k < hi; k++ {
		ks = append(ks, k)
	}
	slices.SortStableFunc(ks, func(a, b int) int {
		switch {
		case t.docs[a] > t.docs[b]:
			return -1
		case t.docs[a] < t.docs[b]:
			return 1
		}
		return 0
	})
	out := make([]string, maxExpansions)
	for i, k := range ks[:maxExpansions] {
		out[i] = string(t.term(k))
	}
	return out
}

// readTermTable walks dict once in term order and counts the documents
// of the terms of every two-byte group of more than maxExpansions terms.
func readTermTable(dict segment.TermDictionary) (*termTable, error) {
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
		entries := make([]index.DictEntry, 0, end-start)
		for k := start; k < end; k++ {
			entries = append(entries, index.DictEntry{Term: string(t.term(k))})
		}
		if len(entries) > maxExpansions {
			if err := addPostingCounts(dict, entries); err != nil {
				return nil, err
			}
			for k, e := range entries {
				t.docs[start+k] = uint32(e.Count)
			}
		}
		entries = mostFrequent(entries)
		ts := make([]string, len(entries))
		for k, e := range entries {
			ts[k] = e.Term
		}
		t.short[string(g)] = ts
		start = end
	}
	return t, nil
}

// readTermTables reads the term tables of the prefix fields once (see
// termTable); termTables has them from then on.
func (c *columns) readTermTables(seg segment.Segment) {
	c.prefixOnce.Do(func() {
		out := map[string]*termTable{}
		for _, f := range prefixFields {
			dict, err := seg.Dictionary(f)
			if err != nil {
				return
			}
			t, err := readTermTable(dict)
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
