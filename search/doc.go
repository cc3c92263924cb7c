// Package search indexes parts and projects with Bleve so that people find
// blueprints by part: by words in part names and paths (split on
// underscores, hyphens, camelCase), by size ("fits my printer"), licence,
// category and project. Each node's follower of the store's change log
// (package catalog/follow) writes documents through Index.Apply and
// records how far it got (SetLogPosition); the API and pages read through
// Index.Search. Bleve writes and keeps the index; a search reads Bleve's
// segments as sets of documents and keeps each segment's values in memory
// (engine.go, columns.go), so that a million parts answer in
// milliseconds.
package search

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/render"
)

// Document kinds.
const (
	KindPart    = "part"
	KindProject = "project"
)

// Doc is one indexed document: a part (an STL file on a project's default
// branch) or a project.
type Doc struct {
	ID          string    `json:"id"`   // PartID or ProjectID
	Kind        string    `json:"kind"` // KindPart or KindProject
	Project     string    `json:"project"`
	Owner       string    `json:"owner"`
	Name        string    `json:"name"`           // part: file name without extension; project: its title
	Path        string    `json:"path,omitempty"` // part: path in the repository
	Ref         string    `json:"ref"`            // branch the document was taken from
	Commit      string    `json:"commit"`         // commit the document was taken from
	Blob        string    `json:"blob,omitempty"` // part: git blob id (or LFS oid) of the file
	Description string    `json:"description,omitempty"`
	License     string    `json:"license"` // SPDX id, or "none" when the project declares none
	Category    string    `json:"category,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	Updated     time.Time `json:"updated"`
	Parts       int       `json:"parts,omitempty"` // project: number of parts
	// Private is set for the documents of a private project: only the
	// viewers whose Scope names the project or its owner find them.
	Private bool `json:"private,omitempty"`
	// Part holds the measurements of a part; nil for projects.
	Part *render.Part `json:"part,omitempty"`
	// Readme is a project's README text: its words are searchable, but it
	// is not kept in the index (hits do not carry it).
	Readme string `json:"-"`
}

// ErrCatchingUp is returned by a node's searches while its index is still
// being built from the database (package catalog/follow): its answers
// would miss part of the catalogue. Answer 503 with Retry-After.
var ErrCatchingUp = errors.New("search index is catching up with the catalogue")

// PartID is the document id of the part at path in project "owner/name".
func PartID(project, path string) string { return "part:" + project + ":" + path }

// ProjectID is the document id of project "owner/name".
func ProjectID(project string) string { return "project:" + project }

// Query is a parsed search request (see ParseQuery for the URL form).
type Query struct {
	Text      string
	Kind      string // "", KindPart or KindProject
	Project   string // "owner/name"
	License   string
	Category  string
	MaxX      float64 // build volume: 0 means unset; a part fits if its sorted extents fit the sorted volume
	MaxY      float64
	MaxZ      float64
	MinVolume float64 // 0 means unset
	MaxVolume float64 // 0 means unset
	Page      int     // 1-based
	PerPage   int
	Sort      string // "relevance" (default), "name", "volume", "updated"
	Prefix    bool   // treat the last word as a prefix (the search box)
	// NoFacets skips the facet counts, most of the cost of a broad search
	// (search-as-you-type needs none); URL form facets=0.
	NoFacets bool
	// Scope is what the viewer may read (the access policy builds it);
	// the zero Scope finds public projects only. It is a filter on the
	// query, so totals and facets count only what the viewer may read.
	Scope Scope
}

// Scope limits a search to public projects, the projects of the owners
// it names and the projects it names; All lifts the limit. Build it with
// NewScope. It is comparable, so results are cached per scope.
type Scope struct {
	All      bool
	owners   string // lower-case owner names, sorted, NUL-separated
	projects string // "owner/name", sorted, NUL-separated
}

// NewScope is the scope of a viewer who may read every public project,
// every project of owners and the projects named ("owner/name", canonical
// case); all lifts the limit (administrators).
func NewScope(all bool, owners, projects []string) Scope {
	if all {
		return Scope{All: true}
	}
	lo := make([]string, len(owners))
	for i, o := range owners {
		lo[i] = strings.ToLower(o)
	}
	slices.Sort(lo)
	ps := slices.Clone(projects)
	slices.Sort(ps)
	return Scope{owners: strings.Join(slices.Compact(lo), "\x00"), projects: strings.Join(slices.Compact(ps), "\x00")}
}

// Owners are the owners whose projects the scope adds (lower case).
func (s Scope) Owners() []string { return splitNUL(s.owners) }

// Projects are the projects the scope adds.
func (s Scope) Projects() []string { return splitNUL(s.projects) }

func splitNUL(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

// Hit is one search result.
type Hit struct {
	Doc
	Score float64 `json:"score"`
}

// FacetCount is one value of a facet and how many hits have it.
type FacetCount struct {
	Term  string `json:"term"`
	Count int    `json:"count"`
}

// Result is one page of hits, the total and the facets ("license",
// "category", "project", "kind").
type Result struct {
	Total  uint64                  `json:"total"`
	Hits   []Hit                   `json:"hits"`
	Facets map[string][]FacetCount `json:"facets"`
	// Unfit is, on the first page of a search with words and a build
	// volume, the part that matches the words best when it is left out
	// because it does not fit (nil otherwise): what "fits my printer"
	// took away.
	Unfit *Hit `json:"unfit,omitempty"`
}

// Index is the search index. One writer at a time; Search is safe
// concurrently with Apply.
type Index interface {
	// Apply upserts docs and deletes ids in one batch.
	Apply(ctx context.Context, upserts []Doc, deletes []string) error
	// Search runs q.
	Search(ctx context.Context, q Query) (Result, error)
	// LogPosition is how far the index has followed the store's change
	// log: a search answer depends only on it.
	LogPosition() LogPosition
	// Close flushes and closes the index.
	Close() error
}
