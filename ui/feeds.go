package ui

import (
	"encoding/xml"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/httpcache"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
)

// Atom feeds (RFC 4287): new projects on the server, a project's commits
// on its default branch with what each did to its parts, and a user's
// activity. Pages link them with <link rel="alternate">.

const (
	feedEntries    = 30 // entries in a feed
	feedPerProject = 10 // commits one project gives a user's activity feed
)

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  *atomPerson `xml:"author,omitempty"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomPerson struct {
	Name string `xml:"name"`
	URI  string `xml:"uri,omitempty"`
}

type atomText struct {
	Type string `xml:"type,attr,omitempty"`
	Body string `xml:",chardata"`
}

type atomEntry struct {
	ID        string      `xml:"id"`
	Title     string      `xml:"title"`
	Updated   string      `xml:"updated"`
	Published string      `xml:"published,omitempty"`
	Links     []atomLink  `xml:"link"`
	Author    *atomPerson `xml:"author,omitempty"`
	Summary   *atomText   `xml:"summary,omitempty"`
	Content   *atomText   `xml:"content,omitempty"`
	when      time.Time
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// sendFeed writes f with its self link, newest entry first.
func (u *UI) sendFeed(c echo.Context, f atomFeed, selfPath, pagePath string) error {
	sort.SliceStable(f.Entries, func(i, j int) bool { return f.Entries[i].when.After(f.Entries[j].when) })
	if len(f.Entries) > feedEntries {
		f.Entries = f.Entries[:feedEntries]
	}
	self := u.public.URL(c.Request(), selfPath)
	f.ID = self
	f.Links = append([]atomLink{{Rel: "self", Type: "application/atom+xml", Href: self}, {Rel: "alternate", Type: "text/html", Href: u.public.URL(c.Request(), pagePath)}}, f.Links...)
	if f.Updated == "" {
		f.Updated = atomTime(time.Unix(0, 0))
		if len(f.Entries) > 0 {
			f.Updated = f.Entries[0].Updated
		}
	}
	out, err := xml.MarshalIndent(f, "", " ")
	if err != nil {
		return u.fail(c, err)
	}
	body := append([]byte(xml.Header), out...)
	// A feed holds what its reader may see: shared caches keep only
	// anonymous readers' copies.
	varyViewer(c)
	cc := "public, max-age=300"
	if v, err := u.viewer(c); err != nil || !v.Anonymous() {
		cc = "private, max-age=300"
	}
	c.Response().Header().Set("Cache-Control", cc)
	// Feed readers poll: the tag comes from the bytes, so it is right for
	// whatever this reader may see.
	if fresh, err := httpcache.Fresh(c, httpcache.WeakTag(string(body)), time.Time{}); fresh {
		return err
	}
	return c.Blob(http.StatusOK, "application/atom+xml; charset=utf-8", body)
}

// varyViewer says that the answer depends on who asks (a session cookie
// or an access token).
func varyViewer(c echo.Context) {
	h := c.Response().Header()
	for _, v := range []string{"Cookie", "Authorization"} {
		if !slices.Contains(h.Values("Vary"), v) {
			h.Add("Vary", v)
		}
	}
}

// projectsFeed is /projects.atom: the newest projects on the server that
// the reader may see.
func (u *UI) projectsFeed(c echo.Context) error {
	ctx := c.Request().Context()
	scope, _, err := u.scope(c)
	if err != nil {
		return u.fail(c, err)
	}
	rows, _, err := u.store.ListProjects(ctx, store.ProjectQuery{Visible: scope.Store(), Limit: feedEntries})
	if err != nil {
		return u.fail(c, err)
	}
	f := atomFeed{Title: "New projects on Blueprints"}
	for _, p := range rows {
		card, err := u.projectCard(ctx, p)
		if err != nil {
			return u.fail(c, err)
		}
		page := u.public.URL(c.Request(), card.URL())
		var html strings.Builder
		if card.Cover != "" {
			fmt.Fprintf(&html, `<p><img src="%s" alt="%s" width="256" height="256"></p>`, template.HTMLEscapeString(u.public.URL(c.Request(), card.Cover)), template.HTMLEscapeString(card.CoverAlt))
		}
		if card.Description != "" {
			fmt.Fprintf(&html, "<p>%s</p>", template.HTMLEscapeString(card.Description))
		}
		fmt.Fprintf(&html, "<p>%d parts · licence %s</p>", card.Parts, template.HTMLEscapeString(orNone(card.License)))
		f.Entries = append(f.Entries, atomEntry{
			ID: page, Title: p.FullName() + ": " + card.Title, Updated: atomTime(p.Updated), Published: atomTime(p.Created),
			Links:   []atomLink{{Rel: "alternate", Type: "text/html", Href: page}},
			Author:  &atomPerson{Name: p.Owner, URI: u.public.URL(c.Request(), "/"+p.Owner)},
			Content: &atomText{Type: "html", Body: html.String()},
			when:    p.Created,
		})
	}
	return u.sendFeed(c, f, "/projects.atom", "/")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// commitsFeed is /{owner}/{project}/commits.atom: the default branch's
// commits, each with what it did to the project's parts.
func (u *UI) commitsFeed(c echo.Context) error {
	p, err := u.openProject(c) // asks the access policy
	if err != nil {
		return u.fail(c, err)
	}
	f := atomFeed{Title: "Commits to " + p.Full()}
	entries, err := u.commitEntries(c, p, feedEntries)
	if err != nil {
		return u.fail(c, err)
	}
	f.Entries = entries
	return u.sendFeed(c, f, p.URL()+"/commits.atom", p.URL())
}

// commitEntries are the newest n commits of p's default branch as feed
// entries.
func (u *UI) commitEntries(c echo.Context, p *projectRef, n int) ([]atomEntry, error) {
	_, head, err := p.Browse.Head()
	if err != nil {
		return nil, nil // an empty project has no commits yet
	}
	commits, _, err := p.Browse.Log(head, 0, n)
	if err != nil {
		return nil, err
	}
	var out []atomEntry
	for _, cm := range commits {
		v, err := u.commitChanges(c.Request().Context(), p, cm, 1)
		if err != nil {
			return nil, err
		}
		page := u.public.URL(c.Request(), p.URL()+"/commit/"+cm.Hash.String())
		out = append(out, atomEntry{
			ID: page, Title: p.Full() + ": " + cm.Subject, Updated: atomTime(cm.When),
			Links:   []atomLink{{Rel: "alternate", Type: "text/html", Href: page}},
			Author:  &atomPerson{Name: cm.Author},
			Summary: &atomText{Type: "text", Body: commitSummary(v)},
			Content: &atomText{Type: "html", Body: u.commitHTML(c, v)},
			when:    cm.When,
		})
	}
	return out, nil
}

// commitSummary says in one line what a commit did: "2 parts added, 1
// modified; 5 files changed".
func commitSummary(v commitView) string {
	count := map[string]int{}
	for _, pc := range v.Parts {
		count[pc.Action]++
	}
	var bits []string
	for _, a := range []string{repo.Added, repo.Modified, repo.Renamed, repo.Deleted} {
		if n := count[a]; n > 0 {
			bits = append(bits, fmt.Sprintf("%s %s", plural(n, "part"), a))
		}
	}
	files := plural(v.Added+v.Deleted+v.Changed, "file") + " changed"
	if len(bits) == 0 {
		return files
	}
	return strings.Join(bits, ", ") + "; " + files
}

// commitHTML lists the commit's part changes with their deltas.
func (u *UI) commitHTML(c echo.Context, v commitView) string {
	var b strings.Builder
	esc := template.HTMLEscapeString
	if v.Commit.Body != "" {
		fmt.Fprintf(&b, "<p>%s</p>", esc(v.Commit.Body))
	}
	fmt.Fprintf(&b, "<p>%s</p>", esc(commitSummary(v)))
	if len(v.Parts) > 0 {
		b.WriteString("<ul>")
		for _, pc := range v.Parts {
			fmt.Fprintf(&b, "<li>%s <b>%s</b>", esc(pc.Action), esc(pc.Path))
			if pc.After != nil && pc.After.Preview != "" {
				fmt.Fprintf(&b, `<br><img src="%s" alt="" width="128" height="128">`, esc(u.public.URL(c.Request(), pc.After.Preview)))
			}
			var ds []string
			for _, d := range pc.Deltas {
				if d.Change != "" {
					ds = append(ds, d.Label+" "+d.Before+" → "+d.After+" ("+d.Change+")")
				} else if pc.Action == repo.Added && d.After != "" {
					ds = append(ds, d.Label+" "+d.After)
				}
			}
			if len(ds) > 0 {
				fmt.Fprintf(&b, "<br>%s", esc(strings.Join(ds, "; ")))
			}
			b.WriteString("</li>")
		}
		b.WriteString("</ul>")
	}
	return b.String()
}

// ownerFeed is /{owner}.atom: commits to the owner's projects' default
// branches and the projects they created, newest first, of the projects
// the reader may see.
func (u *UI) ownerFeed(c echo.Context) error {
	owner := c.Param("owner")
	if repo.ValidName(owner) != nil {
		return u.fail(c, notFound("No such user."))
	}
	ctx := c.Request().Context()
	scope, _, err := u.scope(c)
	if err != nil {
		return u.fail(c, err)
	}
	all, err := u.store.ProjectsOf(ctx, owner, feedEntries)
	if err != nil {
		return u.fail(c, err)
	}
	var rows []store.Project
	for _, r := range all {
		if scope.Sees(r) {
			rows = append(rows, r)
		}
	}
	if _, err := u.store.UserByName(ctx, owner); err != nil && len(rows) == 0 {
		return u.fail(c, notFound("No user %s.", owner))
	}
	f := atomFeed{Title: "Activity of " + owner, Author: &atomPerson{Name: owner}}
	for _, row := range rows {
		p, err := u.openRow(c, row)
		if err != nil {
			return u.fail(c, err)
		}
		entries, err := u.commitEntries(c, p, feedPerProject)
		if err != nil {
			return u.fail(c, err)
		}
		f.Entries = append(f.Entries, entries...)
		page := u.public.URL(c.Request(), p.URL())
		f.Entries = append(f.Entries, atomEntry{
			ID: page + "#created", Title: owner + " created " + row.FullName(), Updated: atomTime(row.Created),
			Links: []atomLink{{Rel: "alternate", Type: "text/html", Href: page}},
			when:  row.Created,
		})
	}
	return u.sendFeed(c, f, "/"+owner+".atom", "/"+owner)
}

// ownerFeedRoute is where /{owner}.atom is routed after ownerFeedPath
// rewrote it.
const ownerFeedRoute = "/-/feeds/:owner"

// ownerFeedPath rewrites /{owner}.atom to ownerFeedRoute before routing
// (every other path is left alone, /projects.atom included).
func ownerFeedPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		p := r.URL.Path
		if name, ok := strings.CutSuffix(p[min(1, len(p)):], ".atom"); ok && name != "" && name != "projects" && !strings.Contains(name, "/") && r.URL.RawPath == "" {
			r.URL.Path = "/-/feeds/" + name
		}
		return next(c)
	}
}
