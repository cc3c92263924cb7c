package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/print"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/search"
)

// projectCard is a project as the home page and search results show it.
type projectCard struct {
	Owner, Name string
	Title       string
	Description string
	License     string
	Category    string
	Parts       int
	Updated     time.Time
	Cover       string // preview URL of its largest part
	CoverAlt    string
	Private     bool
}

func (p projectCard) URL() string { return "/" + p.Owner + "/" + p.Name }

type homeView struct {
	Projects   []projectCard
	Total      int
	SearchLive bool
}

// home lists recent projects under a search box.
func (u *UI) home(c echo.Context) error {
	ctx := c.Request().Context()
	versions, err := u.versions(ctx)
	if err != nil {
		return u.fail(c, err)
	}
	scope, scopeKey, err := u.scope(c)
	if err != nil {
		return u.fail(c, err)
	}
	key := "home:" + versions + "|" + scopeKey
	if hit, err := u.sendCached(c, key); hit {
		return err
	}
	rows, total, err := u.store.ListProjects(ctx, store.ProjectQuery{Visible: scope.Store(), Limit: 24})
	if err != nil {
		return u.fail(c, err)
	}
	v := homeView{Total: total, SearchLive: u.index != nil}
	for _, p := range rows {
		card, err := u.projectCard(ctx, p)
		if err != nil {
			return u.fail(c, err)
		}
		v.Projects = append(v.Projects, card)
	}
	return u.renderCached(c, http.StatusOK, "home", "Blueprints: open hardware, part by part", v, key, 30*time.Second)
}

func (u *UI) projectCard(ctx context.Context, p store.Project) (projectCard, error) {
	card := projectCard{Owner: p.Owner, Name: p.Name, Title: p.Name, Updated: p.Updated}
	meta, err := u.store.ProjectMeta(ctx, p.FullName())
	switch {
	case err == nil:
		if meta.Title != "" {
			card.Title = meta.Title
		}
		card.Description, card.License, card.Category, card.Parts = meta.Description, meta.License, meta.Category, meta.Parts
	case !errors.Is(err, store.ErrNotFound):
		return card, err
	}
	cover, path, err := u.store.CoverPart(ctx, p.FullName())
	if err != nil {
		return card, err
	}
	card.Cover, card.CoverAlt = previewURL(cover), "Preview of "+partName(path)
	return card, nil
}

// searchView is the search page: the query, its hits and facets, and the
// links to narrow, widen or page.
type searchView struct {
	Network    bool // federated search is available (scope=network)
	Query      search.Query
	Values     url.Values
	Result     search.Result
	Parts      []hitCard
	Projects   []search.Hit
	Facets     []facetView
	Pages      []pageLink
	Prev, Next string
	From, To   int
	Available  bool
	Filtered   bool
	Sorts      []option
	Kinds      []option
	// Unfit is the best match for the words, left out because it does
	// not fit the build volume asked for; AnywayURL shows it.
	Unfit     *hitCard
	Volume    string // "180 × 180 × 180 mm"
	AnywayURL string
	// MyPrinter is the visitor's printer (from the print page's cookie)
	// and the link that narrows the search to parts it fits.
	MyPrinter    string
	MyPrinterURL string
	MyPrinterOn  bool
}

type facetView struct {
	Name   string // "license"
	Label  string // "Licence"
	Values []facetValue
}

type facetValue struct {
	Term     string
	Count    int
	URL      string
	Selected bool
}

type pageLink struct {
	N       int
	URL     string
	Current bool
}

type option struct {
	Value, Label string
	Selected     bool
}

var facetLabels = []struct{ name, label string }{
	{"kind", "Type"}, {"category", "Category"}, {"license", "Licence"}, {"project", "Project"},
}

// searchPage runs a search from the URL: q and the API's filters.
func (u *UI) searchPage(c echo.Context) error {
	vals := c.QueryParams()
	mine, hasPrinter := u.cookiePrinter(c)
	if id := vals.Get("printer"); id != "" && u.planner != nil && vals.Get("max_x")+vals.Get("max_y")+vals.Get("max_z") == "" {
		// ?printer=ID stands for that printer's build volume.
		pr, err := u.planner.Printers().Lookup(id)
		if err != nil {
			return u.fail(c, badRequest("Bad search: %s.", strings.TrimPrefix(err.Error(), print.ErrPrinter.Error()+": ")))
		}
		vals = cloneValues(vals)
		vals.Del("printer")
		vals.Set("max_x", mm0(pr.X))
		vals.Set("max_y", mm0(pr.Y))
		vals.Set("max_z", mm0(pr.Z))
	}
	q, err := search.ParseQuery(vals)
	if err != nil {
		var qe *search.QueryError
		if errors.As(err, &qe) {
			return u.fail(c, badRequest("Bad search: %s.", qe.Error()))
		}
		return u.fail(c, badRequest("Bad search."))
	}
	if vals.Get("scope") == "network" && u.network != nil && u.index != nil {
		return u.networkSearchPage(c, q)
	}
	v := searchView{Query: q, Values: vals, Available: u.index != nil, Network: u.network != nil}
	for _, k := range []string{"kind", "project", "license", "category", "max_x", "max_y", "max_z", "min_volume", "max_volume"} {
		if vals.Get(k) != "" {
			v.Filtered = true
		}
	}
	for _, s := range []option{{search.SortRelevance, "Best match", false}, {search.SortUpdated, "Newest", false}, {search.SortName, "Name", false}, {search.SortVolume, "Smallest", false}} {
		s.Selected = s.Value == q.Sort || (q.Sort == "" && s.Value == search.SortRelevance)
		v.Sorts = append(v.Sorts, s)
	}
	for _, k := range []option{{"", "Parts and projects", false}, {search.KindPart, "Parts", false}, {search.KindProject, "Projects", false}} {
		k.Selected = k.Value == q.Kind
		v.Kinds = append(v.Kinds, k)
	}
	if hasPrinter {
		next := cloneValues(vals)
		next.Del("page")
		next.Set("max_x", mm0(mine.X))
		next.Set("max_y", mm0(mine.Y))
		next.Set("max_z", mm0(mine.Z))
		v.MyPrinter, v.MyPrinterURL = mine.Name, "/search?"+next.Encode()
		v.MyPrinterOn = vals.Get("max_x") == mm0(mine.X) && vals.Get("max_y") == mm0(mine.Y) && vals.Get("max_z") == mm0(mine.Z)
	}
	title := "Search"
	if q.Text != "" {
		title = q.Text + " · Search"
	}
	if u.index == nil {
		return u.render(c, http.StatusOK, "search", title, v)
	}
	// Results depend only on how far this node's index has followed the
	// catalogue's change log, which every write to the index moves on
	// (settings changes such as visibility go through the log too), on
	// what the viewer may see, and on the visitor's printer (the "fits my
	// printer" link).
	scope, scopeKey, err := u.scope(c)
	if err != nil {
		return u.fail(c, err)
	}
	q.Scope = scope.Search()
	pos := u.index.LogPosition()
	key := fmt.Sprintf("search:%d.%d:%s:%s:%s", pos.ID, pos.Seq, scopeKey, vals.Encode(), v.MyPrinterURL)
	if hit, err := u.sendCached(c, key); hit {
		return err
	}
	res, err := u.index.Search(c.Request().Context(), q)
	if err != nil {
		var qe *search.QueryError
		if errors.As(err, &qe) {
			return u.fail(c, badRequest("Bad search: %s.", qe.Error()))
		}
		return u.fail(c, err)
	}
	v.Result = res
	if res.Unfit != nil {
		card := newHitCard(*res.Unfit)
		v.Unfit, v.Volume = &card, volumeLabel(q)
		next := cloneValues(vals)
		for _, k := range []string{"max_x", "max_y", "max_z", "page"} {
			next.Del(k)
		}
		v.AnywayURL = "/search?" + next.Encode()
	}
	for _, h := range res.Hits {
		if h.Kind == search.KindProject {
			v.Projects = append(v.Projects, h)
		} else {
			v.Parts = append(v.Parts, newHitCard(h))
		}
	}
	for _, f := range facetLabels {
		counts := res.Facets[f.name]
		if len(counts) == 0 {
			continue
		}
		fv := facetView{Name: f.name, Label: f.label}
		for _, fc := range counts {
			sel := vals.Get(f.name) == fc.Term
			next := cloneValues(vals)
			next.Del("page")
			if sel {
				next.Del(f.name)
			} else {
				next.Set(f.name, fc.Term)
			}
			fv.Values = append(fv.Values, facetValue{Term: fc.Term, Count: fc.Count, URL: "/search?" + next.Encode(), Selected: sel})
		}
		v.Facets = append(v.Facets, fv)
	}
	page, per := max(q.Page, 1), q.PerPage
	if per <= 0 {
		per = search.DefaultPerPage
	}
	pages := int((res.Total + uint64(per) - 1) / uint64(per))
	if maxPages := search.MaxResults / per; pages > maxPages {
		pages = maxPages
	}
	link := func(n int) string {
		next := cloneValues(vals)
		if n == 1 {
			next.Del("page")
		} else {
			next.Set("page", strconv.Itoa(n))
		}
		return "/search?" + next.Encode()
	}
	if pages > 1 {
		lo, hi := max(1, page-3), min(pages, page+3)
		for n := lo; n <= hi; n++ {
			v.Pages = append(v.Pages, pageLink{N: n, URL: link(n), Current: n == page})
		}
		if page > 1 {
			v.Prev = link(page - 1)
		}
		if page < pages {
			v.Next = link(page + 1)
		}
	}
	if len(res.Hits) > 0 {
		v.From = (page-1)*per + 1
		v.To = v.From + len(res.Hits) - 1
	}
	return u.renderCached(c, http.StatusOK, "search", title, v, key, 10*time.Second)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		if len(vs) > 0 && vs[0] != "" {
			out[k] = append([]string(nil), vs...)
		}
	}
	return out
}

// volumeLabel is a search's build volume as people write it, "180 × 180 ×
// 180 mm", with "any" for an axis left open.
func volumeLabel(q search.Query) string {
	var axes []string
	for _, v := range []float64{q.MaxX, q.MaxY, q.MaxZ} {
		if v > 0 {
			axes = append(axes, strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), "."))
		} else {
			axes = append(axes, "any")
		}
	}
	return strings.Join(axes, " × ") + " mm"
}

// hitCard is a part found by a search, with its text made ready in Go
// (cheaper than template calls for every card).
type hitCard struct {
	URL, Name, Project, Path string
	Folder                   string // the part's folder, shortened from the left to its last folders
	NameHTML                 template.HTML
	Preview, Dims, Meta      string
}

// maxFolderShown is the longest folder a search card shows whole; longer
// ones keep their last folders (which tell same-named parts apart).
const maxFolderShown = 36

// shortFolder is the folder of p as a card shows it: "" at the top level,
// the whole path when short, else "…/" and as many of its last folders as
// fit.
func shortFolder(p string) string {
	dir := folderOf(p)
	if len(dir) <= maxFolderShown {
		return dir
	}
	segs := strings.Split(dir, "/")
	out := segs[len(segs)-1]
	for i := len(segs) - 2; i >= 0 && len(out)+1+len(segs[i]) <= maxFolderShown-2; i-- {
		out = segs[i] + "/" + out
	}
	return "…/" + out
}

func newHitCard(h search.Hit) hitCard {
	c := hitCard{
		URL:      "/" + h.Project + "/blob/" + escapePath(h.Ref) + "/" + escapePath(h.Path),
		Name:     h.Name,
		NameHTML: breakable(h.Name),
		Project:  h.Project,
		Path:     h.Path,
		Folder:   shortFolder(h.Path),
	}
	if p := h.Part; p != nil {
		c.Dims = formatDims(p)
		c.Meta = formatVolume(p.Volume) + " · " + formatCount(p.Triangles) + " triangles"
		if len(p.SHA256) == 64 {
			c.Preview = "/previews/" + p.SHA256 + "/512.png"
		}
	}
	return c
}

// lfsOID returns the LFS object id when the blob is an LFS pointer.
func lfsOID(b *repo.Browse, e repo.Entry) (string, error) {
	if e.Size > maxPointer || e.Dir || isLink(e) {
		return "", nil
	}
	data, err := b.ReadBlob(e.Hash, maxPointer)
	if err != nil {
		return "", err
	}
	if ptr, ok := parsePointer(data); ok {
		return ptr.OID, nil
	}
	return "", nil
}

// catalogKey is the key of the file's measurements in the catalog: the
// LFS object id for LFS files, the git blob id otherwise.
func catalogKey(b *repo.Browse, e repo.Entry) (string, error) {
	oid, err := lfsOID(b, e)
	if err != nil || oid != "" {
		return oid, err
	}
	return e.Hash.String(), nil
}

// isCommitID reports whether s looks like a full or abbreviated commit id.
func isCommitID(s string) bool {
	if len(s) < 4 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(s[i])) {
			return false
		}
	}
	return true
}

// versions names the state of the project list and of the catalogue, for
// the home page's cache key. It is read from the store at most every
// quarter second, so that a busy home page does not ask the database (on
// PostgreSQL, a round trip) twice per request.
func (u *UI) versions(ctx context.Context) (string, error) {
	u.versionsMu.Lock()
	if time.Since(u.versionsAt) < 250*time.Millisecond || (u.versionsReading && u.versionsSeen != "") {
		// Fresh, or one request is reading newer ones: the others keep
		// serving from the last ones rather than queue behind the store.
		v := u.versionsSeen
		u.versionsMu.Unlock()
		return v, nil
	}
	u.versionsReading = true
	u.versionsMu.Unlock()
	projects, err := u.store.ProjectsVersion(ctx)
	var catalog string
	if err == nil {
		catalog, err = u.store.CatalogVersion(ctx)
	}
	u.versionsMu.Lock()
	defer u.versionsMu.Unlock()
	u.versionsReading = false
	if err != nil {
		return "", err
	}
	u.versionsSeen, u.versionsAt = projects+"|"+catalog, time.Now()
	return u.versionsSeen, nil
}

// scope is what the viewer may see, and a key naming it for page caches:
// every viewer who sees only public projects shares one key. It is asked
// once per request (the page cache key and the page both use it).
func (u *UI) scope(c echo.Context) (access.Scope, string, error) {
	if s, ok := c.Get(scopeKey).(access.Scope); ok {
		return s, s.Key(), nil
	}
	v, err := u.viewer(c)
	if err != nil {
		return access.Scope{}, "", err
	}
	s, err := u.access.Scope(c.Request().Context(), v)
	if err != nil {
		return access.Scope{}, "", err
	}
	c.Set(scopeKey, s)
	return s, s.Key(), nil
}

// mirrorKey names what the mirror banner shows, for the page cache.
func mirrorKey(m *store.Mirror) string {
	if m == nil {
		return ""
	}
	var checked, changed string
	if m.Checked != nil {
		checked = m.Checked.String()
	}
	if m.Changed != nil {
		changed = m.Changed.String()
	}
	return m.URL + "|" + checked + "|" + changed + "|" + m.LastError
}

// scopeKey holds a request's access.Scope once asked.
const scopeKey = "ui.scope"
