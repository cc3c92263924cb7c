package search

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// columns are the values of one segment's documents that searches count,
// filter and sort on, one array per field indexed by the segment's
// document number: read once from the segment (which never changes) and
// kept while the segment is in use, so that a search reads a few array
// slots per matching document instead of decoding Bleve's doc values.
type columns struct {
	n int // documents in the segment, deleted ones included

	// Keyword fields: each document's term as an ordinal (see terms).
	keywords map[string]*keywordColumn

	// Each document's measures (volume, time, extents, name length).
	measures []measures

	// The columns a search reads for most matching documents, each as
	// narrow as it can be: matches are scattered over a segment, so each
	// look-up is a cache line, and a narrow column (a byte per document
	// for nameLen) stays in the processor's caches where a wide row of
	// every value would not.
	ext     [][3]float32 // sorted extents, rounded up to float32 (NaN: none)
	nameLen []uint8      // letters and digits of the lower-case name, 1..255: relevance is weighted by normOf[nameLen]
	volume  []float64    // as in measures, for sorting
	updated []float64    // as in measures, for sorting

	// The documents by sorted extent, for build-volume searches: see
	// sizeBounds. Built on first use.
	belowOnce sync.Once
	below     [3][]*roaring.Bitmap

	// The prefix fields' dictionaries (see termTable), by field.
	prefixOnce sync.Once
	prefixes   atomic.Pointer[map[string]*termTable]

	nameRankOnce sync.Once
	nameRank     []uint32 // order of the lower-case name; built on first use
	nameRankErr  error

	// What each viewer's scope makes of the segment, built on first use:
	// the segment never changes, and a visibility change rewrites the
	// project's documents into a new segment.
	scopesMu sync.Mutex
	scopes   map[Scope]scopeSets
}

// scopeSets is what one viewer's scope makes of a segment: the documents
// it may read (nil for a scope of every document), and of the private
// ones (none in a segment of public projects only) those it may not read
// and those it may.
type scopeSets struct {
	readable, hidden, own *roaring.Bitmap
}

// maxScopes bounds the scopes a segment keeps (three bitmaps each); past it
// they are forgotten and built again on use.
const maxScopes = 32

// scope returns what s makes of the segment seg (see scopeSets), as
// bitmaps the caller must not change, building them on first use.
func (c *columns) scope(seg segment.Segment, s Scope) (scopeSets, error) {
	c.scopesMu.Lock()
	sets, ok := c.scopes[s]
	c.scopesMu.Unlock()
	if ok {
		return sets, nil
	}
	sets, err := scopeOf(s, seg.Dictionary)
	if err != nil {
		return scopeSets{}, err
	}
	c.scopesMu.Lock()
	defer c.scopesMu.Unlock()
	if c.scopes == nil || len(c.scopes) >= maxScopes {
		c.scopes = make(map[Scope]scopeSets)
	}
	c.scopes[s] = sets
	return sets, nil
}

// keywordColumn is a keyword field of one segment.
type keywordColumn struct {
	ord []uint32 // by document: the term's ordinal in the cache's terms; 0: none
	// For a field of few terms (kinds, licences, categories), each term's
	// documents: counting a set of documents is then one intersection per
	// term rather than a look-up per document.
	few map[uint32]*roaring.Bitmap
	// For a field of fewer than 256 terms in the segment, each
	// document's term again, as a byte: terms8[ord8[d]] is ord[d]. A
	// quarter of the memory, so it stays in the processor's caches while
	// the scattered documents of a match are counted.
	ord8   []uint8
	terms8 []uint32
}

// fewTerms is the most terms a keyword field may have for its facet to be
// counted by intersections.
const fewTerms = 64

// terms numbers the terms of the keyword fields across all segments, so
// that counts from several segments add up in one array: ordinal 0 is no
// term. Terms are only ever added.
type terms struct {
	mu    sync.RWMutex
	ord   map[string]uint32
	names []string
}

func newTerms() *terms { return &terms{ord: map[string]uint32{"": 0}, names: []string{""}} }

// of returns the ordinal of term, numbering it when new.
func (t *terms) of(term string) uint32 {
	t.mu.RLock()
	o, ok := t.ord[term]
	t.mu.RUnlock()
	if ok {
		return o
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if o, ok := t.ord[term]; ok {
		return o
	}
	o = uint32(len(t.names))
	t.ord[term] = o
	t.names = append(t.names, term)
	return o
}

// snapshot returns the names by ordinal, as far as numbered now.
func (t *terms) snapshot() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.names[:len(t.names):len(t.names)]
}

// roundUp32 is the smallest float32 not below x (NaN stays NaN).
func roundUp32(x float64) float32 {
	f := float32(x)
	if float64(f) < x {
		f = math.Nextafter32(f, float32(math.Inf(1)))
	}
	return f
}

// keywordFields are the keyword fields columns hold.
var keywordFields = []string{fieldKind, fieldProject, fieldLicense, fieldCategory}

// measures are the numbers of a document searches filter and sort on,
// stored as one field (fieldMeasures) of 41 bytes: five float64s, little
// endian, and the name's length. NaN where a document has no value.
type measures struct {
	volume  float64
	updated float64    // Unix seconds
	ext     [3]float64 // sorted extents
	nameLen uint8      // see nameLen
}

const measuresSize = 5*8 + 1

// measuresOf returns what d is filtered and sorted on.
func measuresOf(d *Doc) measures {
	nan := math.NaN()
	m := measures{volume: nan, updated: nan, ext: [3]float64{nan, nan, nan}, nameLen: nameLen([]byte(strings.ToLower(d.Name)))}
	if !d.Updated.IsZero() {
		m.updated = float64(d.Updated.Unix())
	}
	if p := d.Part; p != nil {
		m.ext = p.Size
		slices.Sort(m.ext[:])
		m.volume = p.Volume
	}
	return m
}

func (m measures) encode() []byte {
	b := make([]byte, 0, measuresSize)
	for _, v := range []float64{m.volume, m.updated, m.ext[0], m.ext[1], m.ext[2]} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return append(b, m.nameLen)
}

// decodeMeasures reads what encode wrote; ok is false for anything else.
func decodeMeasures(b []byte) (m measures, ok bool) {
	if len(b) != measuresSize {
		return m, false
	}
	f := func(i int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])) }
	return measures{volume: f(0), updated: f(1), ext: [3]float64{f(2), f(3), f(4)}, nameLen: b[40]}, true
}

// columnCache holds the columns of the segments in use, built once each.
type columnCache struct {
	mu    sync.Mutex
	segs  map[segment.Segment]*columnEntry
	terms map[string]*terms // by keyword field
}

type columnEntry struct {
	once sync.Once
	cols *columns
	err  error
}

func newColumnCache() *columnCache {
	c := &columnCache{segs: map[segment.Segment]*columnEntry{}, terms: map[string]*terms{}}
	for _, f := range keywordFields {
		c.terms[f] = newTerms()
	}
	return c
}

// get returns the columns of seg, reading them on first use; concurrent
// callers wait for one reading.
func (c *columnCache) get(seg segment.Segment) (*columns, error) {
	c.mu.Lock()
	e := c.segs[seg]
	if e == nil {
		e = &columnEntry{}
		c.segs[seg] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.cols, e.err = readColumns(seg, c.terms) })
	return e.cols, e.err
}

// keep forgets the columns of segments not in live (merged away).
func (c *columnCache) keep(live []segment.Segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.segs) <= len(live) {
		return
	}
	in := make(map[segment.Segment]bool, len(live))
	for _, s := range live {
		in[s] = true
	}
	for s := range c.segs {
		if !in[s] {
			delete(c.segs, s)
		}
	}
}

// warmEvery is how often warm looks for segments without columns.
const warmEvery = time.Second

// warm reads the columns of new segments (those of the index as opened,
// then those Apply and Bleve's merges make) in the background, until
// Close, so that searches seldom wait for them: a segment of a million
// parts takes a couple of seconds.
func (b *Bleve) warm() {
	defer close(b.warmDone)
	t := time.NewTicker(warmEvery)
	defer t.Stop()
	for {
		b.warmOnce()
		select {
		case <-b.stopWarm:
			return
		case <-t.C:
		}
	}
}

func (b *Bleve) warmOnce() {
	snap, err := b.snapshot()
	if err != nil {
		return // closing
	}
	defer snap.Close()
	for _, s := range snap.Segments() {
		select {
		case <-b.stopWarm:
			return
		default:
		}
		seg := s.Segment()
		if cols, err := b.columns.get(seg); err == nil { // an error is met again by the search that needs it
			cols.readTermTables(seg)
			cols.readSizeSets()
		}
	}
}

// readColumns reads a segment's keyword fields from their postings and
// its documents' measures from their stored fields.
func readColumns(seg segment.Segment, names map[string]*terms) (*columns, error) {
	c := &columns{
		n:        int(seg.Count()),
		keywords: map[string]*keywordColumn{},
		measures: make([]measures, seg.Count()),
	}
	for _, f := range keywordFields {
		kc, err := readKeyword(seg, f, c.n, names[f])
		if err != nil {
			return nil, err
		}
		c.keywords[f] = kc
	}
	nan := math.NaN()
	for d := range c.n {
		c.measures[d] = measures{volume: nan, updated: nan, ext: [3]float64{nan, nan, nan}, nameLen: 1}
		err := seg.VisitStoredFields(uint64(d), func(field string, _ byte, value []byte, _ []uint64) bool {
			if field != fieldMeasures {
				return true
			}
			if m, ok := decodeMeasures(value); ok {
				c.measures[d] = m
			}
			return false
		})
		if err != nil {
			return nil, fmt.Errorf("read search columns: %w", err)
		}
	}
	c.ext = make([][3]float32, c.n)
	c.nameLen = make([]uint8, c.n)
	c.volume = make([]float64, c.n)
	c.updated = make([]float64, c.n)
	for d := range c.n {
		m := &c.measures[d]
		c.ext[d] = [3]float32{roundUp32(m.ext[0]), roundUp32(m.ext[1]), roundUp32(m.ext[2])}
		c.nameLen[d] = m.nameLen
		c.volume[d] = m.volume
		c.updated[d] = m.updated
	}
	return c, nil
}

// nameLen counts the letters and digits of a lower-case name, 1 to 255.
func nameLen(lower []byte) uint8 {
	n := 0
	for _, c := range lower {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80 {
			n++
		}
	}
	return uint8(min(max(n, 1), 255))
}

// normOf weighs relevance by name length: 1/√length.
var normOf = func() (t [256]float32) {
	for n := range t {
		t[n] = float32(1 / math.Sqrt(float64(max(n, 1))))
	}
	return t
}()

// readKeyword reads the terms of a keyword field and their documents.
func readKeyword(seg segment.Segment, field string, n int, names *terms) (*keywordColumn, error) {
	kc := &keywordColumn{ord: make([]uint32, n), few: map[uint32]*roaring.Bitmap{}}
	dict, err := seg.Dictionary(field)
	if err != nil {
		return nil, fmt.Errorf("read search column %s: %w", field, err)
	}
	it := dict.AutomatonIterator(nil, nil, nil)
	local := map[uint32]uint8{0: 0} // ordinal to byte: 0 is no term
	kc.terms8 = []uint32{0}
	for {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("read search column %s: %w", field, err)
		}
		if e == nil {
			break
		}
		bm, err := postings(dict, e.Term)
		if err != nil {
			return nil, fmt.Errorf("read search column %s: %w", field, err)
		}
		ord := names.of(e.Term)
		if _, ok := local[ord]; !ok && kc.terms8 != nil {
			if len(kc.terms8) < 256 {
				local[ord] = uint8(len(kc.terms8))
				kc.terms8 = append(kc.terms8, ord)
			} else {
				kc.terms8 = nil
			}
		}
		if kc.few != nil {
			kc.few[ord] = bm
			if len(kc.few) > fewTerms {
				kc.few = nil
			}
		}
		it := bm.ManyIterator()
		buf := make([]uint32, 256)
		for k := it.NextMany(buf); k > 0; k = it.NextMany(buf) {
			for _, d := range buf[:k] {
				if int(d) < n {
					kc.ord[d] = ord
				}
			}
		}
	}
	if kc.terms8 != nil {
		kc.ord8 = make([]uint8, n)
		for d, o := range kc.ord {
			kc.ord8[d] = local[o]
		}
	}
	return kc, nil
}

// sizeBucket are the bounds of the extent buckets of sizeBounds: from
// half a millimetre up by 4 % a step (past 10 m at the last finite one),
// then every extent.
var sizeBucket = func() (b [256]float64) {
	for k := range b {
		b[k] = 0.5 * math.Pow(1.04, float64(k))
	}
	b[len(b)-1] = math.Inf(1)
	return b
}()

// sizeBounds returns, for a build volume of sorted extents vol (+Inf: no
// bound), per sorted extent the documents whose extent certainly fits
// the volume's (sure; nil: none) and those whose extent may (maybe,
// which holds sure): each extent is compared with the bounds of the
// buckets around the volume's, so only the documents in every maybe but
// not in every sure (about an extent within 4 % of the volume's) need
// their own values read. Documents without extents are in none. The sets
// are the columns' own: callers must not change them, and intersect them
// with a match (smaller than these sets of most of a segment).
func (c *columns) sizeBounds(vol [3]float64) (sure, maybe [3]*roaring.Bitmap) {
	c.readSizeSets()
	for i, v := range vol {
		// below[i][k]: extent i at most sizeBucket[k].
		hi, _ := slices.BinarySearch(sizeBucket[:], v) // first bound ≥ v
		lo := hi                                       // last bound ≤ v
		if hi == len(sizeBucket) || sizeBucket[hi] > v {
			lo--
		}
		if hi == len(sizeBucket) {
			hi--
		}
		maybe[i] = c.below[i][hi]
		if lo >= 0 {
			sure[i] = c.below[i][lo]
		}
	}
	return sure, maybe
}

// readSizeSets builds, once, the sets sizeBounds returns: for each
// sorted extent, the documents up to each bucket's bound (a few tenths
// of a second at a million parts; warm builds them in the background).
func (c *columns) readSizeSets() {
	c.belowOnce.Do(func() {
		for i := range 3 {
			buckets := make([][]uint32, len(sizeBucket))
			for d := range c.measures {
				e := c.measures[d].ext[i]
				if math.IsNaN(e) {
					continue
				}
				k, _ := slices.BinarySearch(sizeBucket[:], e) // the first bound at least e
				buckets[k] = append(buckets[k], uint32(d))
			}
			c.below[i] = make([]*roaring.Bitmap, len(sizeBucket))
			acc := roaring.New()
			for k, ds := range buckets {
				acc.AddMany(ds)
				c.below[i][k] = acc.Clone()
			}
		}
	})
}

// nameRanks returns the documents' order by lower-case name (equal names
// share a rank), reading it from the name_key terms on first use.
func (c *columns) nameRanks(seg segment.Segment) ([]uint32, error) {
	c.nameRankOnce.Do(func() {
		rank := make([]uint32, c.n)
		for i := range rank {
			rank[i] = math.MaxUint32 // no name: last
		}
		dict, err := seg.Dictionary(fieldNameKey)
		if err != nil {
			c.nameRankErr = err
			return
		}
		it := dict.AutomatonIterator(nil, nil, nil) // in term order
		var r uint32
		for {
			e, err := it.Next()
			if err != nil {
				c.nameRankErr = err
				return
			}
			if e == nil {
				break
			}
			bm, err := postings(dict, e.Term)
			if err != nil {
				c.nameRankErr = err
				return
			}
			bm.Iterate(func(d uint32) bool {
				if int(d) < c.n {
					rank[d] = r
				}
				return true
			})
			r++
		}
		c.nameRank = rank
	})
	return c.nameRank, c.nameRankErr
}

// postings returns the documents holding term in dict, as a bitmap the
// caller must not change.
func postings(dict segment.TermDictionary, term string) (*roaring.Bitmap, error) {
	pl, err := dict.PostingsList([]byte(term), nil, nil)
	if err != nil {
		return nil, err
	}
	it := pl.Iterator(false, false, false, nil)
	if o, ok := it.(segment.OptimizablePostingsIterator); ok {
		if bm := o.ActualBitmap(); bm != nil {
			return bm, nil
		}
		if d, ok := o.DocNum1Hit(); ok {
			return roaring.BitmapOf(uint32(d)), nil
		}
		return roaring.New(), nil
	}
	// Another kind of segment: walk its postings.
	bm := roaring.New()
	for {
		p, err := it.Next()
		if err != nil {
			return nil, err
		}
		if p == nil {
			return bm, nil
		}
		bm.Add(uint32(p.Number()))
	}
}

// topTerms returns the n terms with the most documents, most first, ties
// by term: counts holds the documents by ordinal for the ordinals in
// touched, which are reset to 0.
func topTerms(counts []int32, touched []uint32, names []string, n int) []FacetCount {
	before := func(a, b FacetCount) bool {
		return a.Count > b.Count || a.Count == b.Count && a.Term < b.Term
	}
	top := make([]FacetCount, 0, n+1)
	for _, o := range touched {
		c := int(counts[o])
		counts[o] = 0
		if len(top) == n && c < top[n-1].Count { // most are: no name read
			continue
		}
		fc := FacetCount{Term: names[o], Count: c}
		if len(top) == n && !before(fc, top[n-1]) {
			continue
		}
		i := len(top)
		for i > 0 && before(fc, top[i-1]) {
			i--
		}
		top = slices.Insert(top, i, fc)
		if len(top) > n {
			top = top[:n]
		}
	}
	return top
}

// scopeOf builds what scope makes of a segment whose dictionaries dict
// opens (see scopeSets).
func scopeOf(scope Scope, dict func(string) (segment.TermDictionary, error)) (scopeSets, error) {
	var bms []*roaring.Bitmap
	add := func(field, term string) error {
		d, err := dict(field)
		if err != nil {
			return err
		}
		bm, err := postings(d, term)
		if err != nil {
			return err
		}
		bms = append(bms, bm)
		return nil
	}
	if err := add(fieldVisible, "private"); err != nil {
		return scopeSets{}, err
	}
	private := bms[0]
	if scope.All {
		return scopeSets{hidden: roaring.New(), own: private}, nil
	}
	if err := add(fieldVisible, "public"); err != nil {
		return scopeSets{}, err
	}
	for _, o := range scope.Owners() {
		if err := add(fieldOwnerKey, o); err != nil {
			return scopeSets{}, err
		}
	}
	for _, p := range scope.Projects() {
		if err := add(fieldProject, p); err != nil {
			return scopeSets{}, err
		}
	}
	readable := roaring.FastOr(bms[1:]...)
	return scopeSets{readable: readable, hidden: roaring.AndNot(private, readable), own: roaring.And(private, readable)}, nil
}
