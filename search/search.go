package search

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
)

// Weights of the text fields and of the kinds of match: a word in the part
// name counts most, then a folder of its path, then the project's words;
// a typo or a prefix counts less than the word itself.
const (
	boostName   = 5.0
	boostPath   = 2.0
	boostText   = 1.0
	boostReadme = 0.5 // a project's README words: below its name, title and description
	boostFuzzy  = 0.3 // times the field's weight
	boostPrefix = 0.6 // times the field's weight

	minFuzzyLen  = 4  // shorter words must be spelt right
	minPrefixLen = 2  // a one-letter prefix matches too much
	facetSize    = 20 // values per facet
)

// facetFields are the facets of every Result, by field name.
var facetFields = []string{fieldLicense, fieldCategory, fieldProject, fieldKind}

// Tiers of a text search, tried in order until one matches.
const (
	tierExact = iota // every word, as typed
	tierFuzzy        // every word, with one typo each
	tierSome         // all words but one, with typos
)

// Search runs q. An invalid q is a *QueryError. Results are cached until
// the next Apply: a repeated query costs a map look-up, and another page
// or sort of a query already run skips the facet counts (most of the
// cost) and the text tiers that matched nothing. Hits must be treated as
// read-only.
func (b *Bleve) Search(ctx context.Context, q Query) (Result, error) {
	q, err := q.normalize()
	if err != nil {
		return Result{}, err
	}
	gen := b.cache.gen()
	whole := cacheKey{q: q}
	if e, ok := b.cache.get(whole); ok {
		return e.res.clone(), nil
	}
	// Concurrent misses of one query (a burst after an Apply emptied the
	// cache) share one search.
	flight := fmt.Sprintf("%d %#v", gen, q)
	v, err, _ := b.flights.Do(flight, func() (any, error) { return b.search(ctx, q, gen) })
	if err != nil && ctx.Err() == nil {
		// Another caller's search failed, maybe cancelled by its caller.
		v, err = b.search(ctx, q, gen)
	}
	if err != nil {
		return Result{}, err
	}
	return v.(Result).clone(), nil
}

// search runs q, uncached but for the facets and tier of another page or
// sort of q, and caches the result; it must not be changed afterwards.
func (b *Bleve) search(ctx context.Context, q Query, gen uint64) (Result, error) {
	// A search is CPU work from start to end: run as many at once as
	// there are cores, the others waiting their turn in order, rather
	// than all sharing the cores (where each of n takes n times longer
	// and a long one, a typo or a prefix, longer still).
	select {
	case b.slots <- struct{}{}:
		defer func() { <-b.slots }()
	case <-ctx.Done():
		return Result{}, fmt.Errorf("search %s: %w", b.path, ctx.Err())
	}
	whole := cacheKey{q: q}
	// The facets, the total and the tier that matched do not depend on
	// paging or sort.
	sk := q
	sk.Page, sk.PerPage, sk.Sort, sk.NoFacets = 0, 0, "", false
	summaryKey := cacheKey{q: sk, summary: true}
	summary, known := b.cache.get(summaryKey)

	run := q
	if known && summary.fcts != nil {
		run.NoFacets = true
	}
	first := tierExact
	if known {
		first = summary.tier
	}
	res, tier, unfitDone, err := b.tiers(ctx, run, first)
	if err != nil {
		return res, err
	}
	if !unfitDone {
		if res.Unfit, err = b.unfit(ctx, q); err != nil {
			return res, err
		}
	}
	switch {
	case q.NoFacets:
		if !known {
			b.cache.put(gen, cacheEntry{key: summaryKey, tier: tier})
		}
	case run.NoFacets:
		res.Facets = summary.fcts // shared: the copy below keeps it intact
	default:
		b.cache.put(gen, cacheEntry{key: summaryKey, tier: tier, fcts: res.Facets})
	}
	b.cache.put(gen, cacheEntry{key: whole, res: res})
	return res, nil
}

// tiers runs q from tier first on. Every word must match, as typed;
// failing that, with one typo per word; failing that, documents with all
// words but one count (with two words, either), those with more ranking
// higher. Typos are tried only when needed because a short word has many
// neighbours ("gear": bear, rear, year). A query without words matches by
// its filters alone. It returns the tier that answered, and whether the
// result's Unfit is set as Bleve.unfit would set it (found from the
// exact tier's own matches: when every word matches as typed, the search
// without the volume answers from that tier too).
func (b *Bleve) tiers(ctx context.Context, q Query, first int) (Result, int, bool, error) {
	exact := b.words(q.Text, q.Prefix, false)
	if len(exact) == 0 {
		res, err := b.run(ctx, q, nil)
		return res, tierExact, false, err
	}
	if first <= tierExact {
		plan := &textPlan{words: exact, min: len(exact), unfit: b.wantsUnfit(q)}
		res, err := b.run(ctx, q, plan)
		if err != nil || res.Total > 0 {
			return res, tierExact, plan.unfitDone, err
		}
	}
	fuzzy := b.words(q.Text, q.Prefix, true)
	if first <= tierFuzzy || len(fuzzy) == 1 {
		res, err := b.run(ctx, q, &textPlan{words: fuzzy, min: len(fuzzy)})
		if err != nil || res.Total > 0 || len(fuzzy) == 1 {
			return res, tierFuzzy, false, err
		}
	}
	// With three words or more, all but one must match: a looser
	// disjunction matches most of the index and costs as much.
	res, err := b.run(ctx, q, &textPlan{words: fuzzy, min: max(1, len(fuzzy)-1)})
	return res, tierSome, false, err
}

// wantsUnfit reports whether q's answer carries an unfit hint: the first
// page of a search for parts with words and a build volume.
func (b *Bleve) wantsUnfit(q Query) bool {
	return q.Page <= 1 && (q.MaxX > 0 || q.MaxY > 0 || q.MaxZ > 0) && q.Kind != KindProject && len(b.analyze(q.Text)) > 0
}

// unfit is, for the first page of a search with words and a build
// volume, the part that matches the words best when the volume is left
// out, if it does not fit the volume; nil otherwise.
func (b *Bleve) unfit(ctx context.Context, q Query) (*Hit, error) {
	if !b.wantsUnfit(q) {
		return nil, nil
	}
	all := q
	all.MaxX, all.MaxY, all.MaxZ = 0, 0, 0
	all.Kind, all.Page, all.PerPage, all.Sort, all.NoFacets = KindPart, 1, 1, SortRelevance, true
	res, _, _, err := b.tiers(ctx, all, tierExact)
	if err != nil || len(res.Hits) == 0 {
		return nil, err
	}
	best := res.Hits[0]
	if best.Part == nil || Fits(best.Part.Size, q.MaxX, q.MaxY, q.MaxZ) {
		return nil, nil
	}
	return &best, nil
}

// Fits reports whether a part of the given extents fits a build volume of
// x × y × z (0 or less: that axis is unbounded) when it may be turned by
// 90° about any axis: its extents, sorted, fit the volume's, sorted.
func Fits(size [3]float64, x, y, z float64) bool {
	vol := []float64{x, y, z}
	for i, v := range vol {
		if v <= 0 {
			vol[i] = math.Inf(1)
		}
	}
	ext := []float64{size[0], size[1], size[2]}
	slices.Sort(vol)
	slices.Sort(ext)
	for i := range ext {
		if ext[i] > vol[i] {
			return false
		}
	}
	return true
}

// clone copies the parts of r a caller may reorder or extend.
func (r Result) clone() Result {
	c := r
	c.Hits = slices.Clone(r.Hits)
	if r.Unfit != nil {
		u := *r.Unfit
		c.Unfit = &u
	}
	c.Facets = make(map[string][]FacetCount, len(r.Facets))
	for k, v := range r.Facets {
		c.Facets[k] = slices.Clone(v)
	}
	return c
}

// words are the clauses of each word of text (none when it has no
// words): the word in one of the text fields exactly, with one typo (when
// typos) or (the last word, when prefix) as a prefix.
func (b *Bleve) words(text string, prefix, typos bool) [][]clause {
	tokens := b.analyze(text)
	if len(tokens) == 0 {
		return nil
	}
	// The last word is a prefix only while it is being typed.
	if r, _ := utf8.DecodeLastRuneInString(text); notWordRune(r) {
		prefix = false
	}
	seen := map[string]bool{}
	var words [][]clause
	for i, tok := range tokens {
		term := string(tok.Term)
		last := i == len(tokens)-1
		if seen[term] && !(last && prefix) {
			continue
		}
		seen[term] = true
		var typed string
		if tok.Start >= 0 && tok.End <= len(text) && tok.Start < tok.End {
			typed = strings.ToLower(text[tok.Start:tok.End])
		}
		words = append(words, wordClauses(term, typed, last && prefix, typos))
	}
	return words
}

// analyze splits text into index terms, as the text fields are indexed.
func (b *Bleve) analyze(text string) analysis.TokenStream {
	return b.analyzer.Analyze([]byte(pluralAcronyms(text)))
}
