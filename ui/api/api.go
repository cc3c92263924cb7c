// Package api is Blueprints' JSON API (CONTRACT.md): search over parts and
// projects, the project list and each project's metadata, catalog status
// and parts. It reads the search index and the metadata store; it never
// writes. HTTP status codes are chosen here: a malformed query is 400 with
// a short JSON message, a missing project 404.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/httpcache"
	"github.com/blueprints-hq/blueprints/internal/publicurl"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/netsearch"
	"github.com/blueprints-hq/blueprints/print"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/search"
)

// Deps is what the API reads.
type Deps struct {
	Store  *store.Store
	Index  search.Index
	Logger *slog.Logger // slog.Default() when nil
	// PublicURL is the origin of the absolute URLs in answers
	// (--public-url); without it, the address each request reached.
	PublicURL publicurl.Base
	// Policy decides what each viewer may see; access.New(Store) when nil.
	Policy *access.Policy
	// Viewer says who is asking (an access token, basic or bearer, or a
	// session); every request is anonymous when nil.
	Viewer func(c echo.Context) (access.Viewer, error)
	// Network answers scope=network (federated search over the peers);
	// nil answers it with this server's hits only.
	Network *netsearch.Network
	// Self is this server's origin, which local hits' URLs are made
	// absolute under in network answers.
	Self string
	// Planner makes print plans; nil leaves the print route out.
	Planner *print.Planner
}

// API serves /api/v1.
type API struct {
	d   Deps
	log *slog.Logger
}

// New returns the API over deps.
func New(d Deps) *API {
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	if d.Policy == nil {
		d.Policy = access.New(d.Store)
	}
	if d.Viewer == nil {
		d.Viewer = func(echo.Context) (access.Viewer, error) { return access.Viewer{}, nil }
	}
	return &API{d: d, log: log}
}

// Register adds the API routes to e.
func (a *API) Register(e *echo.Echo) {
	e.GET("/api/v1/search", a.search)
	e.GET("/api/v1/projects", a.projects)
	e.GET("/api/v1/projects/:owner/:project", a.project)
	if a.d.Planner != nil {
		e.GET("/api/v1/projects/:owner/:project/print", a.printPlan)
	}
	e.GET("/api/v1/openapi.json", a.openapi)
	// Anything else under /api is a JSON 404, not an HTML page (other
	// methods get the server's JSON 405 for /api paths).
	for _, p := range []string{"/api", "/api/*"} {
		e.GET(p, a.unknown)
		e.HEAD(p, a.unknown)
	}
}

// OpenAPI is the OpenAPI 3.1 document of /api/v1, served at
// /api/v1/openapi.json; the API tests check every answer against it.
//
//go:embed openapi.json
var OpenAPI []byte

func (a *API) openapi(c echo.Context) error {
	if fresh, err := httpcache.Fresh(c, httpcache.WeakTag(string(OpenAPI)), time.Time{}); fresh {
		return err
	}
	c.Response().Header().Set("Access-Control-Allow-Origin", "*")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, OpenAPI)
}

func (a *API) unknown(c echo.Context) error {
	return problem(c, http.StatusNotFound, "no API endpoint "+c.Request().Method+" "+c.Request().URL.Path+"; the endpoints are described at /api/v1/openapi.json")
}

// send answers 200 with v as JSON, with a weak entity tag made from the
// body (and Last-Modified when modified is not zero); a client whose copy
// is current gets 304. The tag comes from the bytes, so it is right for
// whatever the viewer was allowed to see.
func (a *API) send(c echo.Context, v any, modified time.Time) error {
	body, err := json.Marshal(v)
	if err != nil {
		return a.internal(c, err)
	}
	body = append(body, '\n')
	// What an answer holds depends on who asks (a token or a session).
	h := c.Response().Header()
	h.Add("Vary", "Authorization")
	h.Add("Vary", "Cookie")
	if fresh, err := httpcache.Fresh(c, httpcache.WeakTag(string(body)), modified); fresh {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}

// Problem is the body of every error answer.
type Problem struct {
	Error string `json:"error"`
}

func problem(c echo.Context, code int, msg string) error {
	return c.JSON(code, Problem{Error: msg})
}

// Hit is one search result: the document's fields with the part's
// measurements flattened in, and the URLs of its page, preview and file.
type Hit struct {
	Kind        string    `json:"kind"`
	Project     string    `json:"project"`
	Owner       string    `json:"owner"`
	Name        string    `json:"name"`
	Path        string    `json:"path,omitempty"`
	Ref         string    `json:"ref"`
	Commit      string    `json:"commit"`
	Blob        string    `json:"blob,omitempty"`
	Description string    `json:"description,omitempty"`
	License     string    `json:"license"`
	Category    string    `json:"category,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	Updated     time.Time `json:"updated"`
	Parts       *int      `json:"parts,omitempty"`
	*render.Part
	URL         string  `json:"url"`
	PreviewURL  string  `json:"preview_url,omitempty"`
	DownloadURL string  `json:"download_url,omitempty"`
	Score       float64 `json:"score"`
}

// SearchResult is the answer of /api/v1/search.
type SearchResult struct {
	Total   uint64                         `json:"total"`
	Page    int                            `json:"page"`
	PerPage int                            `json:"per_page"`
	Hits    []Hit                          `json:"hits"`
	Facets  map[string][]search.FacetCount `json:"facets"`
	// Unfit is the part matching the words best, when the build volume
	// (max_x, max_y, max_z) leaves it out; first page only.
	Unfit *Hit `json:"unfit,omitempty"`
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// ProjectURL is the site path of project "owner/name"'s page; answers
// carry it absolute (see Deps.PublicURL).
func ProjectURL(project string) string { return "/" + escapePath(project) }

// PartURLs are the page, preview and download URLs of a part.
func PartURLs(project, ref, p string) (page, preview, download string) {
	base := "/" + escapePath(project)
	r, fp := escapePath(ref), escapePath(p)
	return base + "/blob/" + r + "/" + fp, base + "/preview/" + r + "/" + fp + ".png", base + "/raw/" + r + "/" + fp
}

func (a *API) search(c echo.Context) error {
	q, err := search.ParseQuery(c.QueryParams())
	var qe *search.QueryError
	if errors.As(err, &qe) {
		return problem(c, http.StatusBadRequest, qe.Error())
	}
	if err != nil {
		return problem(c, http.StatusBadRequest, err.Error())
	}
	v, err := a.viewer(c)
	if err != nil || c.Response().Committed {
		return err
	}
	scope, err := a.d.Policy.Scope(c.Request().Context(), v)
	if err != nil {
		return a.internal(c, err)
	}
	q.Scope = scope.Search()
	if c.QueryParam("scope") == "network" && a.d.Network != nil {
		return a.networkSearch(c, q)
	}
	res, err := a.d.Index.Search(c.Request().Context(), q)
	if err != nil {
		return a.searchFailed(c, "search failed", err)
	}
	out := SearchResult{Total: res.Total, Page: q.Page, PerPage: q.PerPage, Hits: make([]Hit, 0, len(res.Hits)), Facets: res.Facets}
	if out.Facets == nil {
		out.Facets = map[string][]search.FacetCount{}
	}
	abs := a.abs(c)
	for _, h := range res.Hits {
		out.Hits = append(out.Hits, toHit(h, abs))
	}
	if res.Unfit != nil {
		u := toHit(*res.Unfit, abs)
		out.Unfit = &u
	}
	return a.send(c, out, time.Time{})
}

// abs makes a site path absolute for the answer to c.
func (a *API) abs(c echo.Context) func(string) string {
	return func(p string) string { return a.d.PublicURL.URL(c.Request(), p) }
}

func toHit(h search.Hit, abs func(string) string) Hit {
	d := h.Doc
	out := Hit{
		Kind: d.Kind, Project: d.Project, Owner: d.Owner, Name: d.Name, Path: d.Path, Ref: d.Ref, Commit: d.Commit, Blob: d.Blob,
		Description: d.Description, License: d.License, Category: d.Category, Tags: d.Tags, Updated: d.Updated,
		Part: d.Part, Score: h.Score,
	}
	if d.Kind == search.KindPart {
		page, preview, download := PartURLs(d.Project, d.Ref, d.Path)
		out.URL, out.PreviewURL, out.DownloadURL = abs(page), abs(preview), abs(download)
	} else {
		n := d.Parts
		out.Parts = &n
		out.URL = abs(ProjectURL(d.Project))
	}
	return out
}

// ProjectSummary is one entry of /api/v1/projects.
type ProjectSummary struct {
	Project       string    `json:"project"` // "owner/name"
	Owner         string    `json:"owner"`
	Name          string    `json:"name"`
	Title         string    `json:"title"`
	Description   string    `json:"description"`
	License       string    `json:"license"`
	Category      string    `json:"category"`
	Tags          []string  `json:"tags"`
	DefaultBranch string    `json:"default_branch"`
	LatestCommit  string    `json:"latest_commit"`
	PartCount     int       `json:"part_count"`
	Created       time.Time `json:"created"`
	Updated       time.Time `json:"updated"`
	URL           string    `json:"url"`
	Visibility    string    `json:"visibility"` // public or private
	Catalog       Catalog   `json:"catalog"`
}

// Catalog is where cataloguing of a project stands.
type Catalog struct {
	State    string              `json:"state"`  // none, queued, running, done or failed
	Queued   int                 `json:"queued"` // parts queued by the last push
	Parts    int                 `json:"parts"`
	Failed   int                 `json:"failed"`
	Pending  int                 `json:"pending_jobs"`
	Error    string              `json:"error,omitempty"`
	Failures []store.PartFailure `json:"failures"`
	Problems []string            `json:"problems"` // README, licence or manifest problems
	Updated  *time.Time          `json:"updated,omitempty"`
}

func summary(p store.Project, m store.ProjectMeta, abs func(string) string) ProjectSummary {
	s := ProjectSummary{
		Project: p.FullName(), Owner: p.Owner, Name: p.Name, Title: m.Title, Description: m.Description,
		License: m.License, Category: m.Category, Tags: m.Tags, DefaultBranch: p.DefaultBranch,
		LatestCommit: m.LatestCommit, PartCount: m.Parts, Created: p.Created, Updated: p.Updated, URL: abs(ProjectURL(p.FullName())),
		Catalog: Catalog{State: m.State, Queued: m.Queued, Parts: m.Parts, Failed: m.Failed, Pending: m.PendingJobs, Error: m.Error, Failures: []store.PartFailure{}, Problems: m.Problems},
	}
	if s.Title == "" {
		s.Title = p.Name
	}
	if p.Description != "" {
		s.Description = p.Description
	}
	s.Visibility = p.Visibility
	if s.Visibility == "" {
		s.Visibility = store.Public
	}
	if s.License == "" {
		s.License = "none"
	}
	if s.Tags == nil {
		s.Tags = []string{}
	}
	if s.Catalog.Problems == nil {
		s.Catalog.Problems = []string{}
	}
	switch {
	case m.State == "":
		s.Catalog.State = "none"
	case m.PendingJobs > 0 && m.State != store.JobRunning:
		s.Catalog.State = store.JobQueued
	}
	if !m.CatalogUpdate.IsZero() {
		t := m.CatalogUpdate
		s.Catalog.Updated = &t
	}
	return s
}

// ProjectList is the answer of /api/v1/projects.
type ProjectList struct {
	Total    int              `json:"total"`
	Page     int              `json:"page"`
	PerPage  int              `json:"per_page"`
	Projects []ProjectSummary `json:"projects"`
}

func paging(c echo.Context) (page, perPage int, err error) {
	page, perPage = 1, 20
	if v := c.QueryParam("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return 0, 0, errors.New("page: want a whole number from 1")
		}
		page = n
	}
	if v := c.QueryParam("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, errors.New("per_page: want a whole number from 1 to 100")
		}
		perPage = n
	}
	return page, perPage, nil
}

// viewer is who is asking; bad credentials answer 401.
func (a *API) viewer(c echo.Context) (access.Viewer, error) {
	v, err := a.d.Viewer(c)
	if errors.Is(err, store.ErrBadCredentials) {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="Blueprints"`)
		return v, problem(c, http.StatusUnauthorized, "bad access token")
	}
	if err == nil && !v.Anonymous() {
		// What a signed-in viewer is told may name private projects: no
		// shared cache keeps it.
		c.Response().Header().Set("Cache-Control", "private, no-cache")
	}
	return v, err
}

func (a *API) projects(c echo.Context) error {
	page, perPage, err := paging(c)
	if err != nil {
		return problem(c, http.StatusBadRequest, err.Error())
	}
	ctx := c.Request().Context()
	v, err := a.viewer(c)
	if err != nil || c.Response().Committed {
		return err
	}
	scope, err := a.d.Policy.Scope(ctx, v)
	if err != nil {
		return a.internal(c, err)
	}
	owner := strings.TrimSpace(c.QueryParam("owner"))
	if len(owner) > 200 {
		return problem(c, http.StatusBadRequest, "owner: longer than 200 bytes")
	}
	ps, total, err := a.d.Store.ListProjects(ctx, store.ProjectQuery{Visible: scope.Store(), Owner: owner, Limit: perPage, Offset: (page - 1) * perPage})
	if err != nil {
		return a.internal(c, err)
	}
	out := ProjectList{Total: total, Page: page, PerPage: perPage, Projects: []ProjectSummary{}}
	for _, p := range ps {
		m, err := a.d.Store.ProjectMeta(ctx, p.FullName())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return a.internal(c, err)
		}
		out.Projects = append(out.Projects, summary(p, m, a.abs(c)))
	}
	return a.send(c, out, time.Time{})
}

// ProjectDetail is the answer of /api/v1/projects/{owner}/{project}.
type ProjectDetail struct {
	ProjectSummary
	Version string `json:"version,omitempty"`
	// Parts are the catalogued parts on the default branch, by path.
	Parts []Part `json:"parts"`
}

// Part is a catalogued part in a project's detail.
type Part struct {
	Path    string    `json:"path"`
	Name    string    `json:"name"`
	Blob    string    `json:"blob"`
	Ref     string    `json:"ref"`
	Commit  string    `json:"commit"`
	Updated time.Time `json:"updated"`
	*render.Part
	URL         string `json:"url"`
	PreviewURL  string `json:"preview_url"`
	DownloadURL string `json:"download_url"`
}

// findProject looks up the route's project and asks the policy whether
// the viewer may read it: one the viewer may not read is exactly a missing
// one. When it is not found (or the credentials are bad, or the store
// fails) the answer is sent: ok is false and err is the send's.
func (a *API) findProject(c echo.Context) (p store.Project, ok bool, err error) {
	ctx := c.Request().Context()
	owner, name := c.Param("owner"), strings.TrimSuffix(c.Param("project"), ".git")
	v, err := a.viewer(c)
	if err != nil || c.Response().Committed {
		return p, false, err
	}
	p, err = a.d.Store.ProjectByName(ctx, owner, name)
	if errors.Is(err, store.ErrNotFound) {
		return p, false, problem(c, http.StatusNotFound, "no project "+owner+"/"+name)
	}
	if err != nil {
		return p, false, a.internal(c, err)
	}
	if can, err := a.d.Policy.Can(ctx, v, access.Read, p); err != nil {
		return p, false, a.internal(c, err)
	} else if !can {
		return p, false, problem(c, http.StatusNotFound, "no project "+owner+"/"+name)
	}
	if p.Private() {
		// No shared cache keeps an answer about a private project.
		c.Response().Header().Set("Cache-Control", "private, no-cache")
	}
	return p, true, nil
}

func (a *API) project(c echo.Context) error {
	ctx := c.Request().Context()
	p, ok, err := a.findProject(c)
	if !ok {
		return err
	}
	m, err := a.d.Store.ProjectMeta(ctx, p.FullName())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return a.internal(c, err)
	}
	parts, err := a.d.Store.ProjectParts(ctx, p.FullName())
	if err != nil {
		return a.internal(c, err)
	}
	abs := a.abs(c)
	out := ProjectDetail{ProjectSummary: summary(p, m, abs), Version: m.Version, Parts: []Part{}}
	for _, cp := range parts {
		if cp.Error != "" {
			out.Catalog.Failures = append(out.Catalog.Failures, store.PartFailure{Path: cp.Path, Blob: cp.Blob, Error: cp.Error})
			continue
		}
		if cp.Measure == nil {
			continue
		}
		base := path.Base(cp.Path)
		page, preview, download := PartURLs(p.FullName(), cp.Ref, cp.Path)
		out.Parts = append(out.Parts, Part{
			Path: cp.Path, Name: strings.TrimSuffix(base, path.Ext(base)), Blob: cp.Blob, Ref: cp.Ref, Commit: cp.Commit, Updated: cp.Updated,
			Part: cp.Measure, URL: abs(page), PreviewURL: abs(preview), DownloadURL: abs(download),
		})
	}
	modified := p.Updated
	if m.CatalogUpdate.After(modified) {
		modified = m.CatalogUpdate
	}
	return a.send(c, out, modified)
}

func (a *API) internal(c echo.Context, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	a.log.Error("api request failed", "path", c.Request().URL.Path, "err", err)
	return problem(c, http.StatusInternalServerError, "internal error; the server log says why")
}

// NetworkResult is the answer of /api/v1/search?scope=network: this
// server's hits and its peers', each naming its server, and how each
// server answered.
type NetworkResult struct {
	Total   uint64             `json:"total"`
	Page    int                `json:"page"`
	PerPage int                `json:"per_page"`
	Hits    []netsearch.Hit    `json:"hits"`
	Servers []netsearch.Status `json:"servers"`
	// Partial is set when a peer was late, down or answered badly: the
	// hits miss what it holds.
	Partial bool `json:"partial"`
}

// NetworkSearch runs q here and on every peer (viewer scope already set
// on q): the pages' search uses it too.
func NetworkSearch(ctx context.Context, n *netsearch.Network, index search.Index, self string, params url.Values, q search.Query) (NetworkResult, error) {
	local := func(ctx context.Context) (netsearch.Answer, error) {
		res, err := index.Search(ctx, q)
		if err != nil {
			return netsearch.Answer{}, err
		}
		a := netsearch.Answer{Total: res.Total}
		for _, h := range res.Hits {
			a.Hits = append(a.Hits, LocalHit(self, toHit(h, func(p string) string { return self + p })))
		}
		return a, nil
	}
	res, err := n.Search(ctx, params, local)
	if err != nil {
		return NetworkResult{}, err
	}
	out := NetworkResult{Total: res.Total, Page: q.Page, PerPage: q.PerPage, Hits: res.Hits, Servers: res.Servers, Partial: res.Partial}
	if out.Hits == nil {
		out.Hits = []netsearch.Hit{}
	}
	return out, nil
}

// LocalHit is one of this server's hits in a network answer, its URLs
// absolute under self.
func LocalHit(self string, h Hit) netsearch.Hit {
	abs := func(u string) string {
		if u == "" || !strings.HasPrefix(u, "/") {
			return u
		}
		return self + u
	}
	out := netsearch.Hit{Server: self, Kind: h.Kind, Project: h.Project, Owner: h.Owner, Name: h.Name, Path: h.Path,
		Description: h.Description, License: h.License, Category: h.Category, Updated: h.Updated,
		URL: abs(h.URL), PreviewURL: abs(h.PreviewURL), DownloadURL: abs(h.DownloadURL), Score: h.Score}
	if h.Part != nil {
		out.Part = &netsearch.Part{Format: h.Part.Format, Size: h.Part.Size, Volume: h.Part.Volume, Triangles: h.Part.Triangles, Watertight: h.Part.Watertight}
	}
	return out
}

// searchFailed answers a search's error: the query's own fault is a 400;
// an index still being built a 503 (the balancer sends searches to other
// nodes meanwhile, and /healthz says so too); a cancelled request nothing;
// anything else a 500 whose cause goes to the log as what.
func (a *API) searchFailed(c echo.Context, what string, err error) error {
	var qe *search.QueryError
	switch {
	case errors.As(err, &qe):
		return problem(c, http.StatusBadRequest, qe.Error())
	case errors.Is(err, search.ErrCatchingUp):
		c.Response().Header().Set("Retry-After", "5")
		return problem(c, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.Canceled):
		return err
	}
	a.log.Error(what, "query", c.QueryString(), "err", err)
	return problem(c, http.StatusInternalServerError, "search failed; the server log says why")
}

func (a *API) networkSearch(c echo.Context, q search.Query) error {
	res, err := NetworkSearch(c.Request().Context(), a.d.Network, a.d.Index, a.d.Self, c.QueryParams(), q)
	if err != nil {
		return a.searchFailed(c, "network search failed", err)
	}
	// This server's hits depend on who asks, as a local search's do.
	return a.send(c, res, time.Time{})
}
