package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
)

// The project page holds up from 5 parts to 5,000: the README and a
// summary come first, then the parts, grouped by folder and paged (the
// page's script loads the next page as one scrolls), with a filter on
// part names and one on a folder. While a push is being catalogued it
// says how far the catalogue has got, and shows the parts it has measured.

// partsPerPage is how many part cards one page of a project's gallery
// shows.
const partsPerPage = 60

// maxFoldersListed caps the folder list beside the README.
const maxFoldersListed = 40

// partCard is a part in a gallery.
type partCard struct {
	Path    string
	Name    string
	Part    *render.Part
	Preview string
	Error   string
	URL     string
	Waiting bool // not catalogued yet
}

// partGroup is the cards of one folder on one page of the gallery.
type partGroup struct {
	Folder    string // "" for the top level
	Count     int    // parts in the folder (matching the filters), on every page
	Continued bool   // the folder's first cards are on an earlier page
	Cards     []partCard
}

// Label is how the group's folder is shown.
func (g partGroup) Label() string {
	if g.Folder == "" {
		return "Top level"
	}
	return g.Folder
}

// folderCount is one folder holding parts, for the folder list.
type folderCount struct {
	Path  string
	Count int
	URL   string
}

// catalogProgress is how far the catalogue of the latest push has got:
// Done of the Total part files it adds or changes are measured.
type catalogProgress struct {
	Done, Total int
	More        bool // the push brings more than Total: it was looked at in part
	First       bool // nothing of the project was catalogued before
}

// projectView is the project page.
type projectView struct {
	P          *projectRef
	Meta       store.ProjectMeta
	HasMeta    bool
	Branch     string
	Commit     repo.Commit
	Empty      bool
	Failures   []store.PartFailure
	Readme     template.HTML
	ReadmePath string
	ReadmeURL  string
	CloneURL   string
	Print      bool // the print page is served
	// Mirror is set when the project mirrors another repository.
	Mirror   *store.Mirror
	Pending  bool
	Progress *catalogProgress
	Totals   struct {
		Parts     int // parts on the branch (catalogued, or files while cataloguing)
		Triangles int64
	}
	Folders     []folderCount // folders holding parts, with how many
	MoreFolders int
	Cover       *partCard // the largest measured part with a preview (for link previews)

	// The gallery: the filters, this page's groups and the links to the
	// others.
	Query      string
	Folder     string
	Groups     []partGroup
	Matching   int // parts matching the filters
	From, To   int // 1-based range shown
	Page       int
	Prev, Next string
	ClearURL   string // the gallery without filters
}

// Filtered reports whether a filter narrows the gallery.
func (v projectView) Filtered() bool { return v.Query != "" || v.Folder != "" }

// project is the project page: README, metadata, catalog status and the
// part gallery.
func (u *UI) project(c echo.Context) error {
	p, err := u.openProject(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	v := projectView{P: p, CloneURL: u.public.URL(c.Request(), p.URL()+".git"), Print: u.planner != nil, Page: 1}
	c.Set(manageKey, p.Row)
	q := c.QueryParams()
	v.Query = strings.TrimSpace(q.Get("q"))
	if len(v.Query) > 200 {
		return u.fail(c, badRequest("The part filter is longer than 200 characters."))
	}
	if f := strings.Trim(q.Get("folder"), "/"); f != "" {
		if _, err := repo.CleanPath(f); err != nil || len(f) > 4096 {
			return u.fail(c, badRequest("Bad folder %q.", f))
		}
		v.Folder = f
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			return u.fail(c, badRequest("Bad page number %q.", s))
		}
		v.Page = n
	}
	meta, err := u.store.ProjectMeta(ctx, p.Full())
	switch {
	case err == nil:
		v.Meta, v.HasMeta = meta, true
		v.Pending = meta.State == store.JobQueued || meta.State == store.JobRunning || meta.PendingJobs > 0
	case !errors.Is(err, store.ErrNotFound):
		return u.fail(c, err)
	}
	if p.Row.Description != "" {
		// Set on the project's settings page: it wins over the README's.
		v.Meta.Description = p.Row.Description
	}
	if m, err := u.store.MirrorOf(ctx, p.Row.ID); err == nil {
		v.Mirror = &m
	} else if !errors.Is(err, store.ErrNotFound) {
		return u.fail(c, err)
	}
	branch, head, err := p.Browse.Head()
	if errors.Is(err, repo.ErrNoRef) {
		v.Empty = true
		return u.render(c, http.StatusOK, "project", p.Full(), v)
	}
	if err != nil {
		return u.fail(c, err)
	}
	v.Branch = branch
	// While the catalogue is behind the branch the page changes with every
	// part measured: it is not kept then.
	behind := !v.HasMeta || v.Meta.Ref != branch || v.Meta.LatestCommit != head.String()
	key := ""
	if !behind || !v.Pending {
		key = fmt.Sprintf("project:%s:%s:%s:%q:%s:%s:%s:%s:%d:%d:%d:%s:%d:%q:%q:%s", p.Full(), p.Row.Updated, p.Row.Visibility, p.Row.Description, branch, head, v.Meta.CatalogUpdate, v.Meta.State, v.Meta.PendingJobs, v.Meta.Parts, v.Meta.Failed, v.CloneURL, v.Page, v.Query, v.Folder, mirrorKey(v.Mirror))
		if hit, err := u.sendCached(c, key); hit {
			return err
		}
	}
	if v.Commit, err = p.Browse.CommitInfo(head); err != nil {
		return u.fail(c, err)
	}
	stored, err := u.store.ProjectParts(ctx, p.Full())
	if err != nil {
		return u.fail(c, err)
	}
	var cards []partCard
	for _, cp := range stored {
		if cp.Error != "" {
			continue
		}
		cards = append(cards, partCard{
			Path: cp.Path, Name: partName(cp.Path), Part: cp.Measure, Preview: previewURL(cp.Preview),
			URL: p.URL() + "/blob/" + escapePath(branch) + "/" + escapePath(cp.Path),
		})
	}
	if behind {
		// What the latest push brings, and how much of it is measured; on
		// a first push that is the whole gallery, filled in as it goes.
		var base plumbing.Hash
		if v.HasMeta && v.Meta.Ref == branch && v.Meta.LatestCommit != "" {
			base, _ = hashOf(v.Meta.LatestCommit)
		}
		pending, done, capped, err := u.uncatalogued(ctx, p, base, head, branch)
		if err != nil {
			return u.fail(c, err)
		}
		if v.Pending && len(pending) > 0 {
			v.Progress = &catalogProgress{Done: done, Total: len(pending), More: capped, First: len(stored) == 0}
		}
		if len(stored) == 0 {
			cards = pending
		}
	}
	if v.Failures, err = u.store.ProjectFailures(ctx, p.Full()); err != nil {
		return u.fail(c, err)
	}
	v.gallery(cards)
	v.Readme, v.ReadmePath, err = u.readme(p, head, "")
	if err != nil {
		return u.fail(c, err)
	}
	if v.ReadmePath != "" {
		v.ReadmeURL = p.URL() + "/blob/" + escapePath(branch) + "/" + escapePath(v.ReadmePath)
	}
	if key == "" {
		return u.render(c, http.StatusOK, "project", p.Full(), v)
	}
	return u.renderCached(c, http.StatusOK, "project", p.Full(), v, key, time.Minute)
}

// Bounds of the look at what a push brings while it is catalogued: the
// part files listed, and the files looked at to find them (a push far
// beyond these is shown in part, its count with a "+").
const (
	maxUncataloguedParts = 20_000
	maxUncataloguedFiles = 50_000
)

// uncatalogued lists the part files that head adds or changes against
// base (all of head's when base is zero), as cards, with the measurements
// the catalogue has already recorded; done counts those, and capped says
// the walk stopped at its bounds.
func (u *UI) uncatalogued(ctx context.Context, p *projectRef, base, head plumbing.Hash, branch string) (cards []partCard, done int, capped bool, err error) {
	var files []repo.Entry
	seen := 0
	err = p.Browse.ChangedFiles(ctx, base, head, func(e repo.Entry) error {
		if isPart(e.Path) && !isLink(e) {
			files = append(files, e)
		}
		if seen++; len(files) == maxUncataloguedParts || seen == maxUncataloguedFiles {
			capped = true
			return repo.StopWalk
		}
		return nil
	})
	if err != nil {
		return nil, 0, false, err
	}
	keys := make([]string, len(files))
	for i, e := range files {
		if keys[i], err = catalogKey(p.Browse, e); err != nil {
			return nil, 0, false, err
		}
	}
	measured, err := u.store.BlobParts(ctx, keys)
	if err != nil {
		return nil, 0, false, err
	}
	cards = make([]partCard, 0, len(files))
	for i, e := range files {
		card := partCard{Path: e.Path, Name: partName(e.Path), URL: p.URL() + "/blob/" + escapePath(branch) + "/" + escapePath(e.Path), Waiting: true}
		if bp, ok := measured[keys[i]]; ok {
			done++
			card.Waiting = false
			card.Part, card.Preview, card.Error = bp.Part, previewURL(bp.Preview), bp.Error
		}
		cards = append(cards, card)
	}
	return cards, done, capped, nil
}

// gallery fills in the totals, the folder list and this page's groups
// from all the project's cards.
func (v *projectView) gallery(cards []partCard) {
	sort.Slice(cards, func(i, j int) bool {
		di, dj := path.Dir(cards[i].Path), path.Dir(cards[j].Path)
		if di != dj {
			return folderLess(di, dj)
		}
		return strings.ToLower(cards[i].Name) < strings.ToLower(cards[j].Name)
	})
	v.Totals.Parts = len(cards)
	all := map[string]int{}
	for i, c := range cards {
		if c.Part != nil {
			v.Totals.Triangles += c.Part.Triangles
			if c.Preview != "" && (v.Cover == nil || c.Part.Volume > v.Cover.Part.Volume) {
				v.Cover = &cards[i]
			}
		}
		all[folderOf(c.Path)]++
	}
	v.ClearURL = v.P.URL() + "#parts"
	for _, f := range sortedFolders(all) {
		if len(v.Folders) == maxFoldersListed {
			v.MoreFolders++
			continue
		}
		v.Folders = append(v.Folders, folderCount{Path: f, Count: all[f], URL: v.link(1, "", f) + "#parts"})
	}

	words := strings.Fields(strings.ToLower(v.Query))
	match := cards[:0:0]
	counts := map[string]int{}
	for _, c := range cards {
		if v.Folder != "" && !inFolder(c.Path, v.Folder) {
			continue
		}
		lower := strings.ToLower(c.Path)
		ok := true
		for _, w := range words {
			if !strings.Contains(lower, w) {
				ok = false
				break
			}
		}
		if ok {
			match = append(match, c)
			counts[folderOf(c.Path)]++
		}
	}
	v.Matching = len(match)
	pages := max(1, (len(match)+partsPerPage-1)/partsPerPage)
	if v.Page > pages {
		v.Page = pages
	}
	from := (v.Page - 1) * partsPerPage
	to := min(from+partsPerPage, len(match))
	if to > from {
		v.From, v.To = from+1, to
	}
	for i := from; i < to; i++ {
		c := match[i]
		f := folderOf(c.Path)
		if n := len(v.Groups); n == 0 || v.Groups[n-1].Folder != f {
			v.Groups = append(v.Groups, partGroup{Folder: f, Count: counts[f], Continued: i > 0 && folderOf(match[i-1].Path) == f})
		}
		g := &v.Groups[len(v.Groups)-1]
		g.Cards = append(g.Cards, c)
	}
	if v.Page > 1 {
		v.Prev = v.link(v.Page-1, v.Query, v.Folder)
	}
	if v.Page < pages {
		v.Next = v.link(v.Page+1, v.Query, v.Folder)
	}
}

// link is the project page with the gallery's page and filters.
func (v *projectView) link(page int, q, folder string) string {
	vals := url.Values{}
	if q != "" {
		vals.Set("q", q)
	}
	if folder != "" {
		vals.Set("folder", folder)
	}
	if page > 1 {
		vals.Set("page", strconv.Itoa(page))
	}
	if len(vals) == 0 {
		return v.P.URL()
	}
	return v.P.URL() + "?" + vals.Encode()
}

// folderOf is the folder of a repository path, "" at the top level.
func folderOf(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

// inFolder reports whether p is in folder or below it.
func inFolder(p, folder string) bool {
	return strings.HasPrefix(p, folder+"/")
}

// folderLess orders folders as a tree is read: the top level first, then
// by path, case folded.
func folderLess(a, b string) bool {
	if a == "." || b == "." {
		return a == "." && b != "."
	}
	return strings.ToLower(a) < strings.ToLower(b)
}

func sortedFolders(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i] == "" || out[j] == "" {
			return out[i] == "" && out[j] != ""
		}
		return strings.ToLower(out[i]) < strings.ToLower(out[j])
	})
	return out
}
