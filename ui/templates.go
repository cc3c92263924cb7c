package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/httpcache"

	"github.com/blueprints-hq/blueprints/render"
)

//go:embed templates
var templateFS embed.FS

// pageNames are the page templates; each is parsed with layout.html.
var pageNames = []string{"home", "search", "project", "tree", "file", "part", "commits", "history", "commit", "error", "login", "signup", "settings", "owner", "projectsettings", "orgwebhooks", "print", "network", "netsearch"}

// layout is what every page template receives.
type layout struct {
	Title     string
	Static    string        // prefix of the static files' URLs
	ImportMap template.HTML // the part page's import map for three.js, a script element
	Query     string        // the search box's text
	Head      headMeta      // canonical URL, feeds, oEmbed, OpenGraph
	Body      any
}

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"formatName": formatName,
		"mm":         fixed,
		"dims":       formatDims,
		"volume":     formatVolume,
		"area":       formatArea,
		"bytes":      formatBytes,
		"count":      formatCount,
		"since":      since,
		"sinceptr": func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return since(*t)
		},
		"short":    shortID,
		"refLabel": refLabel,
		"refTitle": refTitle,
		"esc":      escapePath,
		"hostOf":   hostOf,
		"preview":  previewURL,
		"partName": partName,
		"wbr":      breakable,
		"add":      func(a, b int) int { return a + b },
		// viewerSlot marks where sendPage puts the account bar (html/template
		// drops comments written in a template, not those it is given).
		"viewerSlot": func() template.HTML { return template.HTML(viewerMarker) },
		// manageSlot marks where a project's Settings link goes, for those
		// who may manage the project (see sendPage).
		"manageSlot": func() template.HTML { return template.HTML(manageMarker) },
		"axis":       func(i int) string { return [...]string{"X", "Y", "Z"}[i] },
		"pct": func(part, whole float64) string {
			if whole == 0 {
				return "0"
			}
			return fmt.Sprintf("%.0f", 100*part/whole)
		},
	}
}

func parsePages(static string) (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(templateFuncs()).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/webhooks.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render executes a page into a buffer first, so that a template error
// gives a clean 500 instead of half a page.
func (u *UI) render(c echo.Context, status int, page, title string, body any) error {
	return u.renderCached(c, status, page, title, body, "", 0)
}

// renderCached renders like render and keeps the page under key for ttl
// ("" keeps nothing).
func (u *UI) renderCached(c echo.Context, status int, page, title string, body any, key string, ttl time.Duration) error {
	t := u.pages[page]
	var buf bytes.Buffer
	v := layout{Title: title, Static: u.static.prefix, ImportMap: template.HTML(`<script type="importmap">` + u.static.importMap + `</script>`), Head: u.headFor(c, body), Body: body}
	if page == "search" {
		// The site bar repeats the search's words; elsewhere ?q= is the
		// page's own filter (a project's part names), not a site search.
		v.Query = c.QueryParam("q")
	}
	if err := t.Execute(&buf, v); err != nil {
		u.log.Error("render page", "page", page, "err", err)
		return c.String(500, "internal error")
	}
	if key != "" {
		u.cache.put(u.scopedKey(c, key), buf.Bytes(), ttl)
		if status == http.StatusOK {
			c.Response().Header().Set("ETag", u.pageTag(c, key))
		}
	}
	return u.sendPage(c, status, buf.Bytes())
}

// sendCached answers 304 when the client's copy of key's page is
// current, else from the page cache when key is there. When it is not, the
// caller builds the page; other requests for the same key wait for it
// until this response starts (whatever it turns out to be). The page's
// entity tag is made from key, which names everything the page was made
// from, so it needs no rendering to check.
func (u *UI) sendCached(c echo.Context, key string) (bool, error) {
	scoped := u.scopedKey(c, key)
	// A 304's headers replace the cached copy's: it must carry the page's
	// own policy, not the guard's sandboxing default for other answers.
	u.pageHeaders(c)
	if fresh, err := httpcache.Fresh(c, u.pageTag(c, key), time.Time{}); fresh {
		return true, err
	}
	body, ok, release := u.cache.claim(c.Request().Context(), scoped)
	if !ok {
		c.Response().Before(release)
		return false, nil
	}
	return true, u.sendPage(c, http.StatusOK, body)
}

// viewerMarker stands in every page for the account bar, filled in per
// request by sendPage (see viewerBar).
var viewerMarker = []byte("<!--bp:viewer-->")

// manageMarker stands where a project page links to its settings; it is
// filled only for a viewer who may manage the project.
var manageMarker = []byte("<!--bp:manage-->")

// manageKey holds, on the request, the project whose settings link a
// page may show.
const manageKey = "ui.manage"

// personal is what a page shows only to its viewer: the account bar and,
// on a project page, the Settings link for those who may manage it. The
// page cache keeps pages with markers in their place; sendPage fills them
// per request, and the page's entity tag names them, so that a copy tagged
// for one viewer (or before signing in or out) is never fresh for another.
type personal struct{ bar, manage []byte }

// personalKey holds a request's personal parts once made.
const personalKey = "ui.personal"

// personalFor makes (once per request) what the page answering c shows only
// to its viewer. A page that links its settings sets manageKey before.
func (u *UI) personalFor(c echo.Context) personal {
	if p, ok := c.Get(personalKey).(personal); ok {
		return p
	}
	p := personal{bar: u.viewerBar(c), manage: u.manageLink(c)}
	c.Set(personalKey, p)
	return p
}

// pageTag is the entity tag of the page cached under key as the viewer of
// c gets it: the key scoped to the origin and the viewer's scope, and the
// viewer's own parts of the page.
func (u *UI) pageTag(c echo.Context, key string) string {
	p := u.personalFor(c)
	return httpcache.WeakTag(u.scopedKey(c, key), string(p.bar), string(p.manage))
}

func (u *UI) sendPage(c echo.Context, status int, body []byte) error {
	p := u.personalFor(c)
	if i := bytes.Index(body, viewerMarker); i >= 0 {
		out := make([]byte, 0, len(body)+len(p.bar))
		out = append(append(append(out, body[:i]...), p.bar...), body[i+len(viewerMarker):]...)
		body = out
	}
	if i := bytes.Index(body, manageMarker); i >= 0 {
		body = bytes.Replace(body, manageMarker, p.manage, 1)
	}
	u.pageHeaders(c)
	return c.HTMLBlob(status, body)
}

// pageHeaders sets the headers every page carries, 200 or 304.
func (u *UI) pageHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", u.static.csp)
	if h.Get("Cache-Control") == "" {
		// A signed-in viewer's page may show private projects (home,
		// search, owner pages): no shared cache keeps it.
		if v, err := u.viewer(c); err == nil && !v.Anonymous() {
			h.Set("Cache-Control", "private, no-cache")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
	}
	// The account bar differs by who is signed in (sendCached and
	// sendPage both come here: say it once).
	if !slices.Contains(h.Values("Vary"), "Cookie") {
		h.Add("Vary", "Cookie")
	}
}

// formatDims is "42.0 × 30.5 × 12.0 mm".
func formatDims(p *render.Part) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("%s × %s × %s mm", fixed(p.Size[0]), fixed(p.Size[1]), fixed(p.Size[2]))
}

// fixed prints a length with one decimal, or none past a metre.
func fixed(v float64) string {
	if math.Abs(v) >= 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// formatVolume prints mm³ as cm³ (what slicers show).
func formatVolume(v float64) string {
	cm := v / 1000
	switch {
	case math.Abs(cm) >= 100:
		return fmt.Sprintf("%.0f cm³", cm)
	case math.Abs(cm) >= 1:
		return fmt.Sprintf("%.1f cm³", cm)
	}
	return fmt.Sprintf("%.3f cm³", cm)
}

func formatArea(v float64) string {
	cm := v / 100
	if math.Abs(cm) >= 100 {
		return fmt.Sprintf("%.0f cm²", cm)
	}
	return fmt.Sprintf("%.1f cm²", cm)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// formatCount groups thousands: 1 234 567.
func formatCount(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + formatCount(-n)
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func shortID(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// refLabel is a ref as a badge shows it: a commit id shortened, a branch
// or tag name whole (the badge wraps long ones).
func refLabel(ref string) string {
	if isCommitID(ref) && len(ref) == 40 {
		return shortID(ref)
	}
	return ref
}

// refTitle is the badge's tooltip: what kind of ref it is, and all of it.
func refTitle(ref string) string {
	if isCommitID(ref) && len(ref) >= 7 {
		return "Commit " + ref
	}
	return "Branch or tag " + ref
}

// escapePath escapes each segment of a repository path for a URL, so
// names with spaces, '#' or '?' survive.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// previewURL maps a preview's blob key ("previews/{sha}/{size}.png") to
// its immutable URL; "" when there is none.
func previewURL(key string) string {
	if !strings.HasPrefix(key, "previews/") {
		return ""
	}
	return "/" + key
}

// breakable escapes a file name and lets it wrap after underscores,
// hyphens and dots, where people read word breaks.
func breakable(name string) template.HTML {
	var b strings.Builder
	for _, r := range name {
		b.WriteString(template.HTMLEscapeString(string(r)))
		if r == '_' || r == '-' || r == '.' {
			b.WriteString("<wbr>")
		}
	}
	return template.HTML(b.String())
}
