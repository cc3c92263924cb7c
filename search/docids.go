package search

import (
	"context"

	"github.com/blevesearch/bleve/v2"
)

// DocIDs lists the id of every document in the index (blueprints doctor
// compares them with the store).
func (b *Bleve) DocIDs(ctx context.Context) ([]string, error) {
	n, err := b.index.DocCount()
	if err != nil {
		return nil, err
	}
	var out []string
	const page = 10000
	for from := 0; from < int(n)+page; from += page {
		req := bleve.NewSearchRequestOptions(bleve.NewMatchAllQuery(), page, from, false)
		req.SortBy([]string{"_id"})
		res, err := b.index.SearchInContext(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, h := range res.Hits {
			out = append(out, h.ID)
		}
		if len(res.Hits) < page {
			break
		}
	}
	return out, nil
}
