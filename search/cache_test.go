package search

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// TestCachedSearchMatchesUncached runs every query of testdata/searches
// with other pages, sorts and facets=0, first through the cache (so later
// variants reuse the facets and tier of earlier ones) and then uncached,
// and wants the same totals, hits and facets.
func TestCachedSearchMatchesUncached(t *testing.T) {
	b, _ := fixtureIndex(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "searches", "*.json"))
	var raws []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var cases []searchCase
		if err := json.Unmarshal(data, &cases); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, c := range cases {
			raws = append(raws, c.Query)
		}
	}
	if len(raws) < 20 {
		t.Fatalf("only %d search cases", len(raws))
	}
	variants := []string{"", "&per_page=3", "&per_page=3&page=2", "&sort=name&per_page=4", "&facets=0&per_page=2&page=3", "&sort=volume"}
	ctx := context.Background()
	checked := 0
	for _, raw := range raws {
		for _, variant := range variants {
			v, _ := url.ParseQuery(raw + variant)
			if len(v["per_page"]) > 1 || len(v["page"]) > 1 || len(v["sort"]) > 1 || len(v["facets"]) > 1 {
				continue
			}
			q, err := ParseQuery(v)
			if err != nil {
				t.Fatalf("parse %q: %v", raw+variant, err)
			}
			for pass := range 2 { // the second pass is answered from the whole-result cache
				got, err := b.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				want, _, _, err := b.tiers(ctx, q, tierExact)
				if err != nil {
					t.Fatal(err)
				}
				if got.Total != want.Total || !slices.Equal(hitIDs(got), hitIDs(want)) || !reflect.DeepEqual(got.Facets, want.Facets) {
					t.Errorf("%s (pass %d): cached\n  %d %v %v\nuncached\n  %d %v %v", raw+variant, pass,
						got.Total, hitIDs(got), got.Facets, want.Total, hitIDs(want), want.Facets)
				}
				checked++
			}
		}
	}
	if b.cache.len() == 0 {
		t.Error("nothing was cached")
	}
	t.Logf("%d searches compared", checked)
}

// TestTextCacheFollowsApply checks that cached text results, facets and
// the remembered tier (a typo answered by the fuzzy tier) are dropped by
// Apply.
func TestTextCacheFollowsApply(t *testing.T) {
	b, docs := fixtureIndex(t)
	ctx := context.Background()
	const q = "q=gizmotron&per_page=100"
	const typo = "q=gizmotrom&per_page=100"
	before := search(t, b, q)
	typoBefore := search(t, b, typo)
	search(t, b, typo+"&page=2") // caches the tier and facets of the typo
	if before.Total != 0 || typoBefore.Total != 0 {
		t.Fatalf("fixture already has gizmotron: %d, %d", before.Total, typoBefore.Total)
	}

	exact := docs[0]
	exact.ID = PartID("maker/extras", "gizmotron_bracket.stl")
	exact.Project, exact.Path, exact.Name, exact.License = "maker/extras", "gizmotron_bracket.stl", "gizmotron_bracket", "gizmo-license"
	if err := b.Apply(ctx, []Doc{exact}, nil); err != nil {
		t.Fatal(err)
	}
	after := search(t, b, q)
	if after.Total != 1 || !slices.Equal(hitIDs(after), []string{exact.ID}) {
		t.Fatalf("after apply: %d %v", after.Total, hitIDs(after))
	}
	if n := facetCount(after, fieldLicense, "gizmo-license"); n != 1 {
		t.Errorf("after apply: licence facet %d, want 1 (%v)", n, after.Facets[fieldLicense])
	}
	fuzzy := search(t, b, typo)
	if !slices.Contains(hitIDs(fuzzy), exact.ID) {
		t.Fatalf("typo after apply: %v", hitIDs(fuzzy))
	}

	// Now the typo is a word of its own: the exact tier must answer, and
	// only with the new part, though the fuzzy tier answered before.
	spelt := exact
	spelt.ID = PartID("maker/extras", "gizmotrom.stl")
	spelt.Path, spelt.Name = "gizmotrom.stl", "gizmotrom"
	if err := b.Apply(ctx, []Doc{spelt}, nil); err != nil {
		t.Fatal(err)
	}
	if got := search(t, b, typo); !slices.Equal(hitIDs(got), []string{spelt.ID}) {
		t.Errorf("typo spelt right after apply: %v, want only %s", hitIDs(got), spelt.ID)
	}
	if got := search(t, b, typo+"&page=2"); got.Total != 1 || facetCount(got, fieldLicense, "gizmo-license") != 1 {
		t.Errorf("page 2 after apply: total %d, facets %v", got.Total, got.Facets[fieldLicense])
	}

	if err := b.Apply(ctx, nil, []string{exact.ID, spelt.ID}); err != nil {
		t.Fatal(err)
	}
	if got := search(t, b, q); got.Total != 0 || facetCount(got, fieldLicense, "gizmo-license") != 0 {
		t.Errorf("after delete: %d %v %v", got.Total, hitIDs(got), got.Facets[fieldLicense])
	}
}

func facetCount(r Result, facet, term string) int {
	for _, fc := range r.Facets[facet] {
		if fc.Term == term {
			return fc.Count
		}
	}
	return 0
}

// TestQueryCacheBounds checks the LRU's bounds, eviction order and that a
// put computed before an invalidation is dropped.
func TestQueryCacheBounds(t *testing.T) {
	c := newQueryCache()
	gen := c.gen()
	key := func(i int) cacheKey { return cacheKey{q: Query{Text: fmt.Sprint(i)}} }
	for i := range maxCachedEntries + 10 {
		c.put(gen, cacheEntry{key: key(i)})
		if i == maxCachedEntries-1 {
			c.get(key(0)) // used: kept while 1..10 are evicted
		}
	}
	if n := c.len(); n != maxCachedEntries {
		t.Errorf("%d entries, want %d", n, maxCachedEntries)
	}
	if _, ok := c.get(key(0)); !ok {
		t.Error("recently used entry evicted")
	}
	if _, ok := c.get(key(1)); ok {
		t.Error("least recently used entry kept")
	}

	big := Result{Hits: make([]Hit, maxCachedHits/2+1)}
	c.put(gen, cacheEntry{key: key(-1), res: big})
	c.put(gen, cacheEntry{key: key(-2), res: big})
	if c.hits > maxCachedHits {
		t.Errorf("%d hits cached, bound %d", c.hits, maxCachedHits)
	}
	if _, ok := c.get(key(-2)); !ok {
		t.Error("newest entry evicted")
	}

	c.invalidate()
	c.put(gen, cacheEntry{key: key(7)})
	if c.len() != 0 || c.hits != 0 {
		t.Errorf("after invalidate: %d entries, %d hits; a stale put was kept", c.len(), c.hits)
	}
}

// TestFacetsAgainstBruteForce counts the facets of filtered and text
// queries from all their hits (the fixture fits in one page) and wants
// the counts Search gives, cached or not: facets of filtered fields are
// filled in without counting.
func TestFacetsAgainstBruteForce(t *testing.T) {
	b, _ := fixtureIndex(t)
	queries := []string{
		"", "kind=part", "kind=project", "license=MIT", "license=GPL-3.0&kind=part", "category=microscope",
		"project=rwb27/openflexure_microscope", "q=gear&project=rwb27/openflexure_microscope",
		"q=clamp&license=MIT", "q=raspbery&kind=part", "license=no-such-licence", "q=holder&category=no-such",
	}
	for _, raw := range queries {
		for pass := range 2 {
			res := search(t, b, raw+"&per_page=100")
			if uint64(len(res.Hits)) != res.Total {
				t.Fatalf("%s: %d hits of %d", raw, len(res.Hits), res.Total)
			}
			want := map[string]map[string]int{}
			for _, f := range facetFields {
				want[f] = map[string]int{}
			}
			for _, h := range res.Hits {
				for f, v := range map[string]string{fieldKind: h.Kind, fieldProject: h.Project, fieldLicense: h.License, fieldCategory: h.Category} {
					if v != "" {
						want[f][v]++
					}
				}
			}
			for _, f := range facetFields {
				got := map[string]int{}
				for _, fc := range res.Facets[f] {
					got[fc.Term] = fc.Count
				}
				if !reflect.DeepEqual(got, want[f]) {
					t.Errorf("%s (pass %d): facet %s = %v, want %v", raw, pass, f, got, want[f])
				}
			}
		}
	}
}
