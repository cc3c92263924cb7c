// Package ui serves Blueprints' pages for people: the home page, search,
// project pages with their part gallery, trees, files, the part page with
// its three.js viewer, history, the commit page with per-part diffs, and
// the raw, preview and archive downloads.
//
// Pages are server-rendered with html/template from stored metadata only:
// git (read with go-git through repo.Browse), the catalog's measurements
// (in the metadata store), the search index (search.Index) and blob storage
// (storage.Blobs) for LFS content and previews. Nothing here parses an STL
// or runs openscad: an OpenSCAD source's build at any commit is found by
// the key the catalogue builds it under, worked out from that commit's
// files (scad.FindClosure).
// Templates, the stylesheet, the viewer script and the vendored three.js
// are embedded, so the binary needs nothing else at run time.
package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/auth"
	"github.com/blueprints-hq/blueprints/internal/markdown"
	"github.com/blueprints-hq/blueprints/internal/publicurl"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/print"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/repo/blobcache"
	"github.com/blueprints-hq/blueprints/search"
	"github.com/blueprints-hq/blueprints/storage"
)

// Options are the UI's dependencies. Data, Store and Blobs are required;
// without Index the search page says search is unavailable.
type Options struct {
	Data   string       // the data folder; repositories live in Data/repos/{owner}/{project}.git unless Repos is set
	Repos  string       // the repositories folder (shared by a cluster's nodes); Data/repos when empty
	Store  *store.Store // projects and the catalog's measurements
	Blobs  storage.Blobs
	Index  search.Index
	Logger *slog.Logger
	// PublicURL is the origin of absolute links (clone URLs, feeds,
	// OpenGraph tags); without it, the address each request reached.
	PublicURL publicurl.Base
	// SitemapPageSize is the most URLs in one sitemap file (50,000, the
	// protocol's limit, when zero); beyond it /sitemap.xml is an index.
	SitemapPageSize int
	// Archives bound the zip downloads of projects.
	Archives ArchiveLimits
	// Policy decides what each viewer may see and do; access.New(Store)
	// when nil.
	Policy *access.Policy
	// Viewer says who is asking (a session or a token); every request is
	// anonymous when nil.
	Viewer func(c echo.Context) (access.Viewer, error)
	// Web signs people in and out and checks forms' CSRF tokens; without
	// it there are no sign-in, sign-up or settings pages.
	Web *auth.Web
	// Registration is who may sign up: RegistrationClosed (default),
	// RegistrationInvite or RegistrationOpen.
	Registration string
	// Projects applies project settings; without it there is no settings
	// page.
	Projects ProjectAdmin
	// Network is the network of servers (follows, mirrors, federated
	// search, moderation); without it there are no such pages.
	Network Network
	// Planner makes print plans; nil leaves the print pages out.
	Planner *print.Planner
	// OIDC signs people in with an OpenID Connect provider; nil offers
	// passwords only.
	OIDC *auth.OIDC
	// SCADVersion is the version line of the openscad program the
	// catalogue builds OpenSCAD sources with (scad.Builder.Version), ""
	// when it builds none. Pages work out each version's build key with
	// it; they never run openscad.
	SCADVersion string
	// BlobCache keeps inflated copies of big git blobs for ranged reads
	// of raw/ (see gitSource); nil inflates from the start every time.
	BlobCache *blobcache.Cache
}

// UI is the set of page handlers. Create it with New and add its routes to
// an echo server with Register.
type UI struct {
	data   string
	repos  string
	store  *store.Store
	blobs  storage.Blobs
	index  search.Index
	log    *slog.Logger
	public publicurl.Base
	// sitemapSize is the most URLs in one sitemap file.
	sitemapSize int
	pages       map[string]*template.Template
	static      *staticFiles
	pool        *repo.BrowsePool
	cache       *pageCache
	md          goldmark.Markdown
	policy      *bluemonday.Policy
	access      *access.Policy
	viewer      func(c echo.Context) (access.Viewer, error)

	web          *auth.Web
	admin        ProjectAdmin
	network      Network
	registration string
	oidc         *auth.OIDC
	oidcLabel    string // the OpenID Connect provider's name on the sign-in page; "" when none
	// planner makes print plans (print.go); nil without print pages.
	planner *print.Planner
	// scadVersion is Options.SCADVersion.
	scadVersion string

	versionsMu      sync.Mutex // guards the three below (see versions)
	versionsSeen    string
	versionsAt      time.Time
	versionsReading bool // one request is reading them from the store

	archives  ArchiveLimits
	archiving chan struct{} // one token per archive being built

	blobCache *blobcache.Cache // nil: none
}

// New builds the UI: it parses the embedded templates and indexes the
// static files.
func New(opt Options) (*UI, error) {
	if opt.Data == "" || opt.Store == nil || opt.Blobs == nil {
		return nil, errors.New("create ui: Data, Store and Blobs are required")
	}
	if opt.Repos == "" {
		opt.Repos = filepath.Join(opt.Data, "repos")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	st, err := newStaticFiles()
	if err != nil {
		return nil, fmt.Errorf("create ui: %w", err)
	}
	u := &UI{
		data:        opt.Data,
		repos:       opt.Repos,
		store:       opt.Store,
		blobs:       opt.Blobs,
		index:       opt.Index,
		log:         opt.Logger,
		public:      opt.PublicURL,
		sitemapSize: opt.SitemapPageSize,
		static:      st,
		pool:        repo.NewBrowsePool(8, 256),
		cache:       newPageCache(2048, 64<<20),
		md:          markdown.New(),
		policy:      bluemonday.UGCPolicy(),
		planner:     opt.Planner,
		scadVersion: opt.SCADVersion,
		access:      opt.Policy,
		viewer:      opt.Viewer,

		web:          opt.Web,
		admin:        opt.Projects,
		network:      opt.Network,
		registration: opt.Registration,
		blobCache:    opt.BlobCache,
	}
	if opt.OIDC != nil && opt.Web != nil {
		u.oidc, u.oidcLabel = opt.OIDC, opt.OIDC.Name()
	}
	switch u.registration {
	case "":
		u.registration = RegistrationClosed
	case RegistrationClosed, RegistrationInvite, RegistrationOpen:
	default:
		return nil, fmt.Errorf("create ui: registration %q: want closed, invite or open", opt.Registration)
	}
	if u.access == nil {
		u.access = access.New(opt.Store)
	}
	if u.viewer == nil {
		u.viewer = func(echo.Context) (access.Viewer, error) { return access.Viewer{}, nil }
	}
	u.archives = opt.Archives.withDefaults()
	u.archiving = make(chan struct{}, u.archives.Concurrent)
	u.policy.AllowAttrs("id").OnElements("h1", "h2", "h3", "h4", "h5", "h6")
	u.policy.AddTargetBlankToFullyQualifiedLinks(true)
	if u.pages, err = parsePages(st.prefix); err != nil {
		return nil, fmt.Errorf("create ui: %w", err)
	}
	return u, nil
}

// Register adds the pages' routes to e. They coexist with the git and LFS
// routes (/:owner/:project/info/refs, /git-upload-pack, /info/lfs/*) and
// the JSON API under /api.
func (u *UI) Register(e *echo.Echo) {
	get := func(path string, h echo.HandlerFunc) { e.GET(path, u.pooled(h)) }
	// Pages answer HEAD as GET would, without the body (net/http drops it),
	// as link checkers and feed readers expect.
	page := func(path string, h echo.HandlerFunc) {
		e.GET(path, u.pooled(h))
		e.HEAD(path, u.pooled(h))
	}
	page("/", u.home)
	// What crawlers, feed readers and link previews read (web.go, feeds.go).
	page("/robots.txt", u.robots)
	page("/sitemap.xml", u.sitemap)
	page("/sitemap-:n", u.sitemapN)
	page("/oembed", u.oembed)
	page("/projects.atom", u.projectsFeed)
	page("/:owner/:project/commits.atom", u.commitsFeed)
	// /{owner}.atom shares its one path segment with the owner page
	// (/:owner), so it is routed by a rewrite before routing.
	e.Pre(ownerFeedPath)
	page(ownerFeedRoute, u.ownerFeed)
	page("/search", u.searchPage)
	e.GET("/static/*", u.serveStatic)
	e.HEAD("/static/*", u.serveStatic)
	e.GET("/previews/:sha/:file", u.previewByHash)
	e.HEAD("/previews/:sha/:file", u.previewByHash)
	page("/:owner/:project", u.project)
	page("/:owner/:project/", u.project)
	page("/:owner/:project/tree/*", u.tree)
	page("/:owner/:project/blob/*", u.blob)
	page("/:owner/:project/commits/*", u.commits)
	page("/:owner/:project/commit/*", u.commit)
	get("/:owner/:project/raw/*", u.raw)
	e.HEAD("/:owner/:project/raw/*", u.pooled(u.raw))
	get("/:owner/:project/image/*", u.image)
	e.HEAD("/:owner/:project/image/*", u.pooled(u.image))
	page("/:owner/:project/preview/*", u.preview)
	get("/:owner/:project/mesh/*", u.mesh)
	e.HEAD("/:owner/:project/mesh/*", u.pooled(u.mesh))
	get("/:owner/:project/archive/*", u.archive)
	u.registerAccount(e)
	u.registerNetwork(e)
	u.registerManage(e)
	if u.planner != nil {
		page("/:owner/:project/print", u.printPage)
		page("/:owner/:project/print/:printer/*", u.printFile)
	}
}

const browseKey = "ui.browse"

// pooled gives the repository a handler opened back to the pool once the
// handler is done with it.
func (u *UI) pooled(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := h(c)
		if b, ok := c.Get(browseKey).(*repo.Browse); ok {
			c.Set(browseKey, nil)
			u.pool.Put(b)
		}
		return err
	}
}

// httpError is an error with the status and the short message a page
// shows.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// movedError answers a request to a project's old name with a permanent
// redirect to its new one.
type movedError struct{ to string }

func (e *movedError) Error() string { return "moved to " + e.to }

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// fail answers err as an error page: 404 and 400 with their message, 503
// for unavailable storage, 500 (logged, no detail shown) for the rest.
func (u *UI) fail(c echo.Context, err error) error {
	var he *httpError
	var moved *movedError
	if errors.As(err, &moved) {
		return c.Redirect(http.StatusMovedPermanently, moved.to)
	}
	status, msg := http.StatusInternalServerError, "Something went wrong on our side. Please try again."
	switch {
	case errors.As(err, &he):
		status, msg = he.status, he.msg
	case errors.Is(err, repo.ErrNoRepository), errors.Is(err, store.ErrNotFound):
		status, msg = http.StatusNotFound, "No such project."
	case errors.Is(err, repo.ErrNoRef):
		status, msg = http.StatusNotFound, "No such branch, tag or commit."
	case errors.Is(err, repo.ErrNoPath), errors.Is(err, storage.ErrNotExist):
		status, msg = http.StatusNotFound, "No such file or folder."
	case errors.Is(err, storage.ErrUnavailable):
		status, msg = http.StatusServiceUnavailable, "File storage is unavailable. Please try again shortly."
	case errors.Is(err, search.ErrCatchingUp):
		status, msg = http.StatusServiceUnavailable, "Search on this server is still catching up with the catalogue. Please try again in a few seconds."
		c.Response().Header().Set("Retry-After", "5")
	case errors.Is(err, context.Canceled):
		return nil
	default:
		u.log.Error("page failed", "path", c.Request().URL.Path, "err", err)
	}
	if c.Response().Committed {
		return nil
	}
	c.Response().Header().Del("ETag") // set for the page that failed
	title := http.StatusText(status)
	return u.render(c, status, "error", title, errorView{Status: status, Title: title, Message: msg})
}

type errorView struct {
	Status  int
	Title   string
	Message string
}

// projectRef is an opened project: its row and its repository.
type projectRef struct {
	Owner, Name string
	Row         store.Project
	Browse      *repo.Browse
}

// Full is "owner/name".
func (p *projectRef) Full() string { return p.Owner + "/" + p.Name }

// URL is the project page's path.
func (p *projectRef) URL() string { return "/" + p.Owner + "/" + p.Name }

// openProject looks the project up, asks the access policy whether the
// viewer may read it, and opens its repository. A project the viewer may
// not read is answered exactly as a missing one. Names are checked before
// they touch the file system, and the repository path is checked to stay
// inside Data/repos.
func (u *UI) openProject(c echo.Context) (*projectRef, error) {
	return u.openProjectFor(c, access.Read)
}

// openProjectFor is openProject for an action other than reading: a
// viewer who may read but not do a gets 403.
func (u *UI) openProjectFor(c echo.Context, a access.Action) (*projectRef, error) {
	owner, name := c.Param("owner"), strings.TrimSuffix(c.Param("project"), ".git")
	if repo.ValidName(owner) != nil || repo.ValidName(name) != nil {
		return nil, notFound("No such project.")
	}
	ctx := c.Request().Context()
	v, err := u.viewer(c)
	if err != nil {
		return nil, err
	}
	row, err := u.store.ProjectByName(ctx, owner, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// Renamed or transferred: the old address moves on, for those
			// who may read the project.
			if moved, err := u.store.ProjectByRedirect(ctx, owner, name); err == nil && c.Request().Method != http.MethodPost {
				if ok, err := u.access.Can(ctx, v, access.Read, moved); err == nil && ok {
					return nil, &movedError{to: repo.MovedURL(c.Request().URL, moved)}
				}
			}
			return nil, notFound("No project %s/%s.", owner, name)
		}
		return nil, err
	}
	d, err := u.access.Decide(ctx, v, a, row)
	if err != nil {
		return nil, err
	}
	switch d {
	case access.Hide:
		return nil, notFound("No project %s/%s.", owner, name)
	case access.SignIn, access.Forbid:
		return nil, &httpError{http.StatusForbidden, "You may not do this to " + row.FullName() + "."}
	}
	if row.Private() {
		// Whatever the handler answers about a private project, no
		// shared cache keeps it (handlers that set their own
		// Cache-Control use cacheControl).
		c.Response().Header().Set("Cache-Control", "private, no-cache")
	}
	return u.openRow(c, row)
}

// openRow opens the repository of a project row the caller found and may
// read; the handler's pooled wrapper gives it back (see pooled).
func (u *UI) openRow(c echo.Context, row store.Project) (*projectRef, error) {
	owner, name := row.Owner, row.Name
	root := u.repos
	dir := filepath.Join(root, row.Owner, row.Name+".git")
	if rel, err := filepath.Rel(root, dir); err != nil || strings.HasPrefix(rel, "..") {
		return nil, notFound("No such project.")
	}
	b, err := u.pool.Get(dir)
	if err != nil {
		if errors.Is(err, repo.ErrNoRepository) {
			return nil, notFound("No project %s/%s.", owner, name)
		}
		return nil, err
	}
	if old, ok := c.Get(browseKey).(*repo.Browse); ok {
		u.pool.Put(old) // a handler opening several projects keeps one at a time
	}
	c.Set(browseKey, b)
	return &projectRef{Owner: row.Owner, Name: row.Name, Row: row, Browse: b}, nil
}

// refPath reads the wildcard part of a route ("main/docs/a.stl"),
// refusing NUL bytes, backslashes and dot segments, encoded or not.
func refPath(c echo.Context) (string, error) {
	p := c.Param("*")
	if c.Request().URL.RawPath != "" {
		// echo routes on the escaped path when the request used escapes
		// that differ from the default, and leaves the wildcard escaped.
		q, err := url.PathUnescape(p)
		if err != nil {
			return "", badRequest("Bad path: %v.", err)
		}
		p = q
	}
	if strings.ContainsAny(p, "\x00\\") {
		return "", badRequest("Bad path.")
	}
	for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
		if seg == "." || seg == ".." {
			return "", badRequest("Bad path: dot segments are not allowed.")
		}
	}
	if len(p) > 4096 {
		return "", badRequest("Path too long.")
	}
	return strings.Trim(p, "/"), nil
}

// since formats how long ago t was, as people say it.
func since(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	case d < 365*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month") + " ago"
	}
	return t.Format("2 Jan 2006")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
