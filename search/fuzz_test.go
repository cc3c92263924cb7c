package search

import (
	"context"
	"errors"
	"net/url"
	"testing"
)

// FuzzSearch feeds arbitrary URL query strings through ParseQuery and
// Search: a request is either a *QueryError or a result, never another
// error or a panic. Seeds: testdata/fuzz/FuzzSearch.
func FuzzSearch(f *testing.F) {
	for _, s := range benchQueries {
		f.Add(s)
	}
	b := openIndex(f, f.TempDir())
	if err := b.Apply(context.Background(), loadFixture(f), nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		var qe *QueryError
		if err != nil {
			if !errors.As(err, &qe) || qe.Param == "" {
				t.Fatalf("ParseQuery(%q): error %v is not a *QueryError", raw, err)
			}
			return
		}
		res, err := b.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("Search(%q) = %v", raw, err)
		}
		if len(res.Hits) > q.PerPage || uint64(len(res.Hits)) > res.Total {
			t.Fatalf("Search(%q): %d hits of %d, per page %d", raw, len(res.Hits), res.Total, q.PerPage)
		}
		for _, h := range res.Hits {
			if h.ID == "" || (h.Kind != KindPart && h.Kind != KindProject) {
				t.Fatalf("Search(%q): bad hit %+v", raw, h)
			}
		}
	})
}
