package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2"
	bquery "github.com/blevesearch/bleve/v2/search/query"

	"github.com/blueprints-hq/blueprints/search"
)

// The peer of the scale benchmark: Bleve used the plain way. The index
// has Bleve's default mapping (every field found in the documents is
// indexed with the standard analyser, stored, with term vectors and doc
// values, and copied into the _all field); a search is one request with
// match queries on _all, the filters as Bleve queries, the same facets,
// and every stored field of the hits.

// plainBatch is the batch size of the plain index build.
const plainBatch = 5000

// plainDoc is a part as the plain index gets it: the document as JSON
// would give it, plus its extents sorted (a build-volume filter needs
// them, whatever the mapping).
func plainDoc(d *search.Doc) map[string]any {
	var m map[string]any
	data, _ := json.Marshal(d)
	json.Unmarshal(data, &m)
	if d.Part != nil {
		ext := []float64{d.Part.Size[0], d.Part.Size[1], d.Part.Size[2]}
		slices.Sort(ext)
		m["ext_min"], m["ext_mid"], m["ext_max"] = ext[0], ext[1], ext[2]
	}
	return m
}

// buildPlainIndex indexes docs at path with the default mapping, in
// batches (Bleve analyses a batch's documents on every core).
func buildPlainIndex(path string, docs []search.Doc, progress func(int)) error {
	idx, err := bleve.New(path, bleve.NewIndexMapping())
	if err != nil {
		return fmt.Errorf("create plain index: %w", err)
	}
	for i := 0; i < len(docs); i += plainBatch {
		batch := idx.NewBatch()
		for j := i; j < min(i+plainBatch, len(docs)); j++ {
			if err := batch.Index(docs[j].ID, plainDoc(&docs[j])); err != nil {
				return err
			}
		}
		if err := idx.Batch(batch); err != nil {
			return fmt.Errorf("plain index: %w", err)
		}
		if (i+plainBatch)%200_000 == 0 {
			progress(i + plainBatch)
		}
	}
	return idx.Close()
}

// servePlain serves /api/v1/search over the plain index at path on a
// loopback port, printing "listening ADDR" once it listens.
func servePlain(path string) error {
	idx, err := bleve.Open(path)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", l.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/search", func(w http.ResponseWriter, r *http.Request) {
		res, err := plainSearch(idx, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"total": res.Total, "hits": res.Hits, "facets": res.Facets})
	})
	return http.Serve(l, mux)
}

// plainSearch answers the parameters of /api/v1/search the plain way.
func plainSearch(idx bleve.Index, r *http.Request) (*bleve.SearchResult, error) {
	v := r.URL.Query()
	var must []bquery.Query
	match := func(field, text string) {
		m := bquery.NewMatchQuery(text)
		m.SetField(field)
		m.SetOperator(bquery.MatchQueryOperatorAnd)
		must = append(must, m)
	}
	for _, f := range []struct{ param, field string }{{"kind", "kind"}, {"project", "project"}, {"license", "license"}, {"category", "category"}} {
		if s := v.Get(f.param); s != "" {
			match(f.field, s)
		}
	}
	// A part fits the build volume when its sorted extents fit the sorted
	// volume, axis by axis.
	var vol []float64
	for _, p := range []string{"max_x", "max_y", "max_z"} {
		if f, err := strconv.ParseFloat(v.Get(p), 64); err == nil {
			vol = append(vol, f)
		}
	}
	if len(vol) == 3 {
		slices.Sort(vol)
		incl := true
		for i, field := range []string{"ext_min", "ext_mid", "ext_max"} {
			q := bquery.NewNumericRangeInclusiveQuery(nil, &vol[i], nil, &incl)
			q.SetField(field)
			must = append(must, q)
		}
	}
	filters := len(must)
	text := strings.TrimSpace(v.Get("q"))
	words := strings.Fields(text)
	if len(words) > 0 {
		if v.Get("prefix") == "1" {
			last := words[len(words)-1]
			if len(words) > 1 {
				match("_all", strings.Join(words[:len(words)-1], " "))
			}
			p := bquery.NewPrefixQuery(strings.ToLower(last))
			p.SetField("_all")
			must = append(must, p)
		} else {
			match("_all", text)
		}
	}
	run := func(q bquery.Query) (*bleve.SearchResult, error) {
		req := bleve.NewSearchRequestOptions(q, 20, 0, false)
		req.Fields = []string{"*"}
		for _, f := range []string{"license", "category", "project", "kind"} {
			req.AddFacet(f, bleve.NewFacetRequest(f, 20))
		}
		if v.Get("sort") == "volume" {
			req.SortBy([]string{"part.volume"})
		}
		return idx.SearchInContext(r.Context(), req)
	}
	var q bquery.Query = bquery.NewMatchAllQuery()
	if len(must) > 0 {
		q = bquery.NewConjunctionQuery(must)
	}
	res, err := run(q)
	if err != nil || res.Total > 0 || len(words) == 0 || len(must) == filters {
		return res, err
	}
	// Nothing as typed: allow one typo per word, as Bleve's match query can.
	m := bquery.NewMatchQuery(text)
	m.SetField("_all")
	m.SetOperator(bquery.MatchQueryOperatorAnd)
	m.SetFuzziness(1)
	return run(bquery.NewConjunctionQuery(append(must[:filters:filters], m)))
}
