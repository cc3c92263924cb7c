package search

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on a query, so that no request can make the index work hard.
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
	MaxResults     = 10000 // page × per_page
	MaxTextLen     = 200   // bytes of q
	MaxTerms       = 12    // words in q
	maxFilterLen   = 200   // bytes of project, license, category
	maxDimension   = 1e9   // mm, mm³: anything larger is a typo
)

// Sort orders.
const (
	SortRelevance = "relevance"
	SortName      = "name"
	SortVolume    = "volume"  // smallest first
	SortUpdated   = "updated" // newest first
)

// QueryError is a malformed search request: which parameter and why. The
// HTTP layer answers it with 400.
type QueryError struct {
	Param  string // URL parameter name, e.g. "max_x"
	Reason string
}

func (e *QueryError) Error() string { return "search parameter " + e.Param + ": " + e.Reason }

// ParseQuery reads a search request in its URL form: q, kind, project,
// license, category, max_x, max_y, max_z, min_volume, max_volume, page,
// per_page, sort, prefix (1 or true: the last word of q is a prefix) and
// facets (0 or false: no facet counts).
// Empty values count as absent; unknown parameters are ignored. A
// malformed value is a *QueryError.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	get := func(name string) (string, error) {
		vals := v[name]
		if len(vals) > 1 {
			return "", &QueryError{name, "given more than once"}
		}
		if len(vals) == 0 {
			return "", nil
		}
		if name == "q" {
			// A trailing space says the last word is complete (prefix).
			return vals[0], nil
		}
		return strings.TrimSpace(vals[0]), nil
	}
	var err error
	str := func(name string, dst *string) {
		if err == nil {
			*dst, err = get(name)
		}
	}
	given := map[string]bool{}
	num := func(name string, dst *float64) {
		var s string
		if str(name, &s); err != nil || s == "" {
			return
		}
		f, perr := strconv.ParseFloat(s, 64)
		if perr != nil {
			err = &QueryError{name, "not a number"}
			return
		}
		*dst = f
		given[name] = true
	}
	integer := func(name string, dst *int) {
		var s string
		if str(name, &s); err != nil || s == "" {
			return
		}
		n, perr := strconv.Atoi(s)
		if perr != nil {
			err = &QueryError{name, "not a whole number"}
			return
		}
		*dst = n
		given[name] = true
	}
	page, perPage := 0, 0
	var prefix, facets string
	str("q", &q.Text)
	str("kind", &q.Kind)
	str("project", &q.Project)
	str("license", &q.License)
	str("category", &q.Category)
	num("max_x", &q.MaxX)
	num("max_y", &q.MaxY)
	num("max_z", &q.MaxZ)
	num("min_volume", &q.MinVolume)
	num("max_volume", &q.MaxVolume)
	integer("page", &page)
	integer("per_page", &perPage)
	str("sort", &q.Sort)
	str("prefix", &prefix)
	str("facets", &facets)
	if err != nil {
		return Query{}, err
	}
	for _, d := range []struct {
		name string
		v    float64
	}{{"max_x", q.MaxX}, {"max_y", q.MaxY}, {"max_z", q.MaxZ}, {"max_volume", q.MaxVolume}} {
		if given[d.name] && !(d.v > 0) {
			return Query{}, &QueryError{d.name, "must be a positive number"}
		}
	}
	// An explicit 0 is an error, not the default.
	if given["page"] && page < 1 {
		return Query{}, &QueryError{"page", "pages start at 1"}
	}
	if given["per_page"] && (perPage < 1 || perPage > MaxPerPage) {
		return Query{}, &QueryError{"per_page", fmt.Sprintf("must be 1 to %d", MaxPerPage)}
	}
	q.Page, q.PerPage = page, perPage
	switch strings.ToLower(prefix) {
	case "", "0", "false":
	case "1", "true":
		q.Prefix = true
	default:
		return Query{}, &QueryError{"prefix", "must be 1 or 0"}
	}
	switch strings.ToLower(facets) {
	case "", "1", "true":
	case "0", "false":
		q.NoFacets = true
	default:
		return Query{}, &QueryError{"facets", "must be 1 or 0"}
	}
	return q.normalize()
}

// normalize checks q and fills in defaults. Search calls it too, so a
// Query built in Go is held to the same limits as one from a URL.
func (q Query) normalize() (Query, error) {
	if len(q.Text) > MaxTextLen {
		return q, &QueryError{"q", fmt.Sprintf("longer than %d bytes", MaxTextLen)}
	}
	if !utf8.ValidString(q.Text) {
		return q, &QueryError{"q", "not valid UTF-8"}
	}
	if n := len(strings.FieldsFunc(q.Text, notWordRune)); n > MaxTerms {
		return q, &QueryError{"q", fmt.Sprintf("more than %d words", MaxTerms)}
	}
	switch q.Kind {
	case "", KindPart, KindProject:
	default:
		return q, &QueryError{"kind", fmt.Sprintf("must be %s or %s", KindPart, KindProject)}
	}
	for _, f := range []struct{ name, v string }{{"project", q.Project}, {"license", q.License}, {"category", q.Category}} {
		if len(f.v) > maxFilterLen {
			return q, &QueryError{f.name, fmt.Sprintf("longer than %d bytes", maxFilterLen)}
		}
		if !utf8.ValidString(f.v) {
			return q, &QueryError{f.name, "not valid UTF-8"}
		}
	}
	for _, d := range []struct {
		name string
		v    float64
	}{{"max_x", q.MaxX}, {"max_y", q.MaxY}, {"max_z", q.MaxZ}, {"min_volume", q.MinVolume}, {"max_volume", q.MaxVolume}} {
		if math.IsNaN(d.v) || math.IsInf(d.v, 0) || d.v < 0 || d.v > maxDimension {
			return q, &QueryError{d.name, fmt.Sprintf("must be a number from 0 to %g", float64(maxDimension))}
		}
	}
	if q.MaxVolume > 0 && q.MinVolume > q.MaxVolume {
		return q, &QueryError{"min_volume", "greater than max_volume"}
	}
	if q.PerPage == 0 {
		q.PerPage = DefaultPerPage
	}
	if q.PerPage < 1 || q.PerPage > MaxPerPage {
		return q, &QueryError{"per_page", fmt.Sprintf("must be 1 to %d", MaxPerPage)}
	}
	if q.Page == 0 {
		q.Page = 1
	}
	if q.Page < 1 {
		return q, &QueryError{"page", "pages start at 1"}
	}
	if q.Page > MaxResults/q.PerPage {
		return q, &QueryError{"page", fmt.Sprintf("beyond the first %d results; narrow the search", MaxResults)}
	}
	switch q.Sort {
	case "":
		q.Sort = SortRelevance
	case SortRelevance, SortName, SortVolume, SortUpdated:
	default:
		return q, &QueryError{"sort", "must be relevance, name, volume or updated"}
	}
	return q, nil
}

func notWordRune(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
