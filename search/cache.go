package search

import (
	"container/list"
	"sync"
)

// Bounds of the query cache. A page of hits is a few hundred bytes per
// hit, so maxCachedHits bounds the cache to some tens of megabytes.
const (
	maxCachedEntries = 4096
	maxCachedHits    = 100_000
)

// cacheKey names a cached entry: the result of a whole normalised query
// (page, sort and all), or the paging-independent facts of a query (its
// facets and which tier of the text search matched), keyed by the query
// with paging, sort and NoFacets cleared.
type cacheKey struct {
	q       Query
	summary bool
}

// cacheEntry is a cached result or summary.
type cacheEntry struct {
	key  cacheKey
	res  Result                  // whole results: the result
	tier int                     // summaries: the tier of the text search that answered
	fcts map[string][]FacetCount // summaries: the facets, nil when not computed yet
}

// queryCache is a bounded LRU of search results, emptied on every Apply.
// Entries are written only when no Apply ran while they were computed
// (the generation at the start of the search is still the current one).
type queryCache struct {
	mu         sync.Mutex
	generation uint64
	hits       int        // hits held, against maxCachedHits
	order      *list.List // of *cacheEntry, most recently used first
	entries    map[cacheKey]*list.Element
}

func newQueryCache() *queryCache {
	return &queryCache{order: list.New(), entries: map[cacheKey]*list.Element{}}
}

// gen returns the current generation, to pass to put later.
func (c *queryCache) gen() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.generation
}

// get returns a copy of the entry under k.
func (c *queryCache) get(k cacheKey) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return cacheEntry{}, false
	}
	c.order.MoveToFront(el)
	return *el.Value.(*cacheEntry), true
}

// put stores e unless the index changed since generation gen; e and what
// it holds must not be changed afterwards.
func (c *queryCache) put(gen uint64, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.generation {
		return
	}
	if el, ok := c.entries[e.key]; ok {
		c.remove(el)
	}
	c.entries[e.key] = c.order.PushFront(&e)
	c.hits += len(e.res.Hits)
	for len(c.entries) > maxCachedEntries || c.hits > maxCachedHits && c.order.Len() > 1 {
		c.remove(c.order.Back())
	}
}

func (c *queryCache) remove(el *list.Element) {
	e := c.order.Remove(el).(*cacheEntry)
	delete(c.entries, e.key)
	c.hits -= len(e.res.Hits)
}

// invalidate drops every entry: the index changed.
func (c *queryCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	c.order.Init()
	clear(c.entries)
	c.hits = 0
}

// len is the number of entries, for tests.
func (c *queryCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
