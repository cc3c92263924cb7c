package ui

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/scad"
)

// crumb is one step of a path's breadcrumb.
type crumb struct {
	Name, URL string
}

// located is a request for something at a ref: the project, the resolved
// ref and the path inside it.
type located struct {
	P      *projectRef
	Ref    string
	Commit string
	Path   string
	Crumbs []crumb
}

// TreeURL links to a folder at the same ref.
func (l *located) TreeURL(p string) string {
	u := l.P.URL() + "/tree/" + escapePath(l.Ref)
	if p != "" {
		u += "/" + escapePath(p)
	}
	return u
}

// BlobURL links to a file at the same ref.
func (l *located) BlobURL(p string) string {
	return l.P.URL() + "/blob/" + escapePath(l.Ref) + "/" + escapePath(p)
}

// HistoryURL links to the history of a file or folder at the same ref.
func (l *located) HistoryURL(p string) string {
	u := l.P.URL() + "/commits/" + escapePath(l.Ref)
	if p != "" {
		u += "/" + escapePath(p)
	}
	return u
}

// RawURL links to a file's bytes at the commit (immutable).
func (l *located) RawURL(p string) string {
	return l.P.URL() + "/raw/" + l.Commit + "/" + escapePath(p)
}

// MeshURL is where a part's mesh is served as binary STL, for every kind
// of part: the viewer's one format.
func (l *located) MeshURL(p string) string {
	return l.P.URL() + "/mesh/" + l.Commit + "/" + escapePath(p)
}

// locate opens the project and resolves the wildcard as ref + path.
func (u *UI) locate(c echo.Context) (*located, error) {
	p, err := u.openProject(c)
	if err != nil {
		return nil, err
	}
	rp, err := refPath(c)
	if err != nil {
		return nil, err
	}
	res, err := p.Browse.ResolveRefPath(rp)
	if err != nil {
		if errors.Is(err, repo.ErrNoRef) {
			return nil, notFound("No branch, tag or commit %q in %s.", firstSegment(rp), p.Full())
		}
		return nil, err
	}
	l := &located{P: p, Ref: res.Ref, Commit: res.Commit.String(), Path: res.Path}
	l.Crumbs = pathCrumbs(l)
	return l, nil
}

// pathCrumbs are the breadcrumb of l's path: the project, then each
// folder (and the file) at l's ref.
func pathCrumbs(l *located) []crumb {
	crumbs := []crumb{{l.P.Name, l.TreeURL("")}}
	if l.Path != "" {
		segs := strings.Split(l.Path, "/")
		for i := range segs {
			crumbs = append(crumbs, crumb{segs[i], l.TreeURL(strings.Join(segs[:i+1], "/"))})
		}
	}
	return crumbs
}

func firstSegment(p string) string {
	s, _, _ := strings.Cut(p, "/")
	return s
}

// treeRow is one line of a folder listing.
type treeRow struct {
	repo.Entry
	URL       string // "" for a submodule
	Part      bool
	Submodule bool
}

type treeView struct {
	L          *located
	Rows       []treeRow
	More       int // entries of the folder not listed
	Branches   []string
	Tags       []string
	Readme     template.HTML
	ReadmePath string
	Commit     repo.Commit
}

// maxTreeRows caps a folder listing: a folder may hold tens of thousands
// of entries, each a size lookup; a page of more helps nobody.
const maxTreeRows = 1000

// tree lists a folder at a ref.
func (u *UI) tree(c echo.Context) error {
	l, err := u.locate(c)
	if err != nil {
		return u.fail(c, err)
	}
	b := l.P.Browse
	h, _ := hashOf(l.Commit)
	v := treeView{L: l}
	if v.Branches, err = b.Branches(); err != nil {
		return u.fail(c, err)
	}
	if v.Tags, err = b.Tags(); err != nil {
		return u.fail(c, err)
	}
	// A folder at a commit never changes; the ref list may.
	key := "tree:" + l.P.Full() + ":" + l.Ref + ":" + l.Commit + ":" + l.Path + ":" + strings.Join(v.Branches, ",") + ":" + strings.Join(v.Tags, ",")
	if hit, err := u.sendCached(c, key); hit {
		return err
	}
	entries, total, err := b.List(h, l.Path, maxTreeRows)
	if errors.Is(err, repo.ErrNotDir) {
		return c.Redirect(http.StatusFound, l.BlobURL(l.Path))
	}
	if err != nil {
		if errors.Is(err, repo.ErrNoPath) {
			return u.fail(c, notFound("No folder %q at %s.", l.Path, l.Ref))
		}
		return u.fail(c, err)
	}
	v.More = total - len(entries)
	for _, e := range entries {
		r := treeRow{Entry: e, Part: !e.Dir && !isGitlink(e) && isPart(e.Name), Submodule: isGitlink(e)}
		switch {
		case e.Dir:
			r.URL = l.TreeURL(e.Path)
		case !r.Submodule:
			r.URL = l.BlobURL(e.Path)
		}
		v.Rows = append(v.Rows, r)
	}
	if v.Commit, err = b.CommitInfo(h); err != nil {
		return u.fail(c, err)
	}
	if v.Readme, v.ReadmePath, err = u.readme(l.P, h, l.Path); err != nil {
		return u.fail(c, err)
	}
	title := l.P.Full()
	if l.Path != "" {
		title = l.Path + " · " + title
	}
	return u.renderCached(c, http.StatusOK, "tree", title, v, key, time.Minute)
}

// fileView is the page of a file that is not a part.
type fileView struct {
	L        *located
	Entry    repo.Entry
	Name     string
	Size     int64
	LFS      bool
	Text     string
	Markdown template.HTML
	Binary   bool
	Link     string // target of a symbolic link, as stored
	// NotBuilt says the file is an OpenSCAD source whose version here has
	// no build (so neither its figures nor whether it is a part are
	// known); DefaultURL is the file on the default branch.
	NotBuilt   bool
	DefaultURL string
}

// partView is the part page.
type partView struct {
	L        *located
	Entry    repo.Entry
	Name     string
	Key      string // catalog key: blob id or LFS oid
	LFS      bool
	Size     int64
	Measured bool
	Part     *render.Part
	Preview  string
	Error    string
	Uses     []store.Part
	Commit   repo.Commit // the last commit that changed the file
	Changed  bool        // Commit is known (false: not within historyWalkLimit commits)
	// ViewerSrc is the binary STL the 3D viewer loads: the file itself for
	// STL, the mesh the catalog stored for other kinds (MeshURL).
	ViewerSrc   string
	ViewerBytes int64
	MeshURL     string
	KindName    string // "STL", "3MF", "OBJ"
	// Print: the project's print page, "open in" links for the part's
	// file, and the slicer's estimate when there is one (print.go).
	PrintURL string
	Handoff  []handoffLink
	Estimate string
}

// viewerAutoLoad is the largest file the viewer loads without being asked
// (AUTO_LOAD_LIMIT in viewer.js); the page starts downloading such a file
// while the viewer's scripts load.
const viewerAutoLoad = 64 << 20

// AutoLoad reports whether the viewer loads the part by itself.
func (v partView) AutoLoad() bool { return v.ViewerBytes <= viewerAutoLoad }

// maxTextShown is the largest text file shown inline.
const maxTextShown = 512 << 10

// blob shows a file: the part page for .stl files, text or a download
// link for others.
func (u *UI) blob(c echo.Context) error {
	l, err := u.locate(c)
	if err != nil {
		return u.fail(c, err)
	}
	if l.Path == "" {
		return c.Redirect(http.StatusFound, l.TreeURL(""))
	}
	b := l.P.Browse
	h, _ := hashOf(l.Commit)
	ctx := c.Request().Context()
	// A file at a commit never changes; its measurements may, when the
	// catalog gets to it, and so may the list of other projects using it.
	key := "blob:" + l.P.Full() + ":" + l.Ref + ":" + l.Commit + ":" + l.Path + ":" + u.catalogVersion(ctx, l.P.Full()) + ":" + u.absBase(c.Request()) + ":" + u.estimatesVersion()
	if hit, err := u.sendCached(c, key); hit {
		return err
	}
	e, err := b.Stat(h, l.Path)
	if err != nil {
		if errors.Is(err, repo.ErrNoPath) {
			return u.fail(c, notFound("No file %q at %s.", l.Path, l.Ref))
		}
		return u.fail(c, err)
	}
	if e.Dir {
		return c.Redirect(http.StatusFound, l.TreeURL(l.Path))
	}
	if isGitlink(e) {
		return u.fail(c, notFound("%q is a submodule: its files live in another repository (commit %s).", l.Path, e.Hash))
	}
	oid, size, err := u.lfsInfo(b, e)
	if err != nil {
		return u.fail(c, err)
	}
	var sb scadBuild
	if scad.IsSource(l.Path) && !isLink(e) {
		// An OpenSCAD source is a part once the catalog has built it (or
		// tried): its key names the build, by all the files it reads at
		// this commit.
		if sb, err = u.scadBuildAt(ctx, l.P, h, l.Path); err != nil {
			return u.fail(c, err)
		}
	}
	if (isPart(l.Path) || sb.Part()) && !isLink(e) {
		v := partView{L: l, Entry: e, Name: path.Base(l.Path), LFS: oid != "", Size: size}
		v.Key = e.Hash.String()
		if oid != "" {
			v.Key = oid
		}
		switch {
		case sb.Refused != "":
			// Refused before any build, as the catalogue records it.
			v.Error = sb.Refused
		case sb.Record != nil:
			v.Key = sb.Key
			bp := *sb.Record
			v.Measured, v.Part, v.Preview, v.Error = bp.Part != nil, bp.Part, previewURL(bp.Preview), bp.Error
		default:
			bp, err := u.store.BlobPart(ctx, v.Key)
			switch {
			case err == nil:
				v.Measured, v.Part, v.Preview, v.Error = bp.Part != nil, bp.Part, previewURL(bp.Preview), bp.Error
			case !errors.Is(err, store.ErrNotFound):
				return u.fail(c, err)
			}
		}
		uses, err := u.store.PartsWithBlob(ctx, v.Key, 21)
		if err != nil {
			return u.fail(c, err)
		}
		if v.Uses, err = u.publicUses(ctx, uses, l.P.Full(), l.Path); err != nil {
			return u.fail(c, err)
		}
		// The last commit that changed this file, not the ref's latest.
		last, err := b.FileLog(ctx, h, l.Path, 0, 1, historyWalkLimit)
		if err != nil {
			return u.fail(c, err)
		}
		if len(last.Changes) > 0 {
			v.Commit, v.Changed = last.Changes[0].Commit, true
		}
		v.ViewerSrc, v.ViewerBytes, v.KindName = l.RawURL(l.Path), size, kindName(l.Path)
		if k, _ := render.KindOf(l.Path); k != render.KindSTL || sb.Part() {
			v.MeshURL = l.MeshURL(l.Path)
			v.ViewerSrc = v.MeshURL
			if v.Part != nil {
				v.ViewerBytes = 84 + 50*v.Part.Triangles
			}
		}
		if err := u.partPrint(c, &v); err != nil {
			return u.fail(c, err)
		}
		return u.renderCached(c, http.StatusOK, "part", partName(l.Path)+" · "+l.P.Full(), v, key, 30*time.Second)
	}
	v := fileView{L: l, Entry: e, Name: path.Base(l.Path), LFS: oid != "", Size: size, NotBuilt: sb.NotBuilt()}
	if v.NotBuilt {
		v.DefaultURL = l.P.URL() + "/blob/" + escapePath(l.P.Row.DefaultBranch) + "/" + escapePath(l.Path)
	}
	if isLink(e) {
		target, err := b.ReadBlob(e.Hash, maxTextShown)
		if err != nil {
			return u.fail(c, err)
		}
		v.Link = string(target)
	} else if oid == "" && e.Size <= maxTextShown {
		data, err := b.ReadBlob(e.Hash, maxTextShown)
		if err != nil {
			return u.fail(c, err)
		}
		switch {
		case !utf8.Valid(data) || strings.IndexByte(string(data), 0) >= 0:
			v.Binary = true
		case isMarkdown(l.Path):
			v.Markdown = u.markdown(data, l, path.Dir(l.Path))
		default:
			v.Text = string(data)
		}
	} else {
		v.Binary = true
	}
	return u.renderCached(c, http.StatusOK, "file", v.Name+" · "+l.P.Full(), v, key, time.Minute)
}

// lfsInfo returns the LFS object id and real size of a file, or "" and
// the git size when it is not stored with LFS.
func (u *UI) lfsInfo(b *repo.Browse, e repo.Entry) (string, int64, error) {
	if e.Size > maxPointer || isLink(e) {
		return "", e.Size, nil
	}
	data, err := b.ReadBlob(e.Hash, maxPointer)
	if err != nil {
		return "", 0, err
	}
	if ptr, ok := parsePointer(data); ok {
		return ptr.OID, ptr.Size, nil
	}
	return "", e.Size, nil
}

func isMarkdown(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".md", ".markdown", ".mdown":
		return true
	}
	return false
}

type commitsView struct {
	P          *projectRef
	Ref        string
	Commits    []repo.Commit
	Page       int
	Prev, Next string
}

const commitsPerPage = 30

// historyWalkLimit bounds the commits one file-history page, or the part
// page's "last changed in", looks at.
const historyWalkLimit = 10000

// commits is the history of a ref, newest first, paged; with a path after
// the ref (commits/{ref}/{path}), the history of that file or folder.
func (u *UI) commits(c echo.Context) error {
	p, err := u.openProject(c)
	if err != nil {
		return u.fail(c, err)
	}
	rp, err := refPath(c)
	if err != nil {
		return u.fail(c, err)
	}
	if rp == "" {
		branch, _, err := p.Browse.Head()
		if err != nil {
			return u.fail(c, notFound("%s has no commits yet.", p.Full()))
		}
		rp = branch
	}
	page := 1
	if s := c.QueryParam("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			return u.fail(c, badRequest("Bad page number %q.", s))
		}
		page = n
	}
	res, err := p.Browse.ResolveRefPath(rp)
	if err != nil {
		if errors.Is(err, repo.ErrNoRef) {
			return u.fail(c, notFound("No branch, tag or commit %q in %s.", firstSegment(rp), p.Full()))
		}
		return u.fail(c, err)
	}
	if res.Path != "" {
		return u.fileHistory(c, p, res, page)
	}
	// The page is the history reachable from the commit: it changes when
	// the ref moves.
	key := "commits:" + p.Full() + ":" + res.Ref + ":" + res.Commit.String() + ":" + strconv.Itoa(page)
	if hit, err := u.sendCached(c, key); hit {
		return err
	}
	list, more, err := p.Browse.Log(res.Commit, (page-1)*commitsPerPage, commitsPerPage)
	if err != nil {
		return u.fail(c, err)
	}
	if len(list) == 0 && page > 1 {
		return u.fail(c, notFound("No page %d of history.", page))
	}
	v := commitsView{P: p, Ref: res.Ref, Commits: list, Page: page}
	base := p.URL() + "/commits/" + escapePath(res.Ref)
	if page > 1 {
		v.Prev = base + "?page=" + strconv.Itoa(page-1)
	}
	if more {
		v.Next = base + "?page=" + strconv.Itoa(page+1)
	}
	return u.renderCached(c, http.StatusOK, "commits", "History of "+res.Ref+" · "+p.Full(), v, key, time.Minute)
}

// historyView is the history of one file or folder.
type historyView struct {
	L          *located
	Name       string
	Dir        bool // the path is a folder (at the ref)
	Part       bool
	Entries    []historyEntry
	Page       int
	Prev, Next string
	Truncated  bool
}

// historyEntry is one commit of a file's history; for a part, its
// measurements after the commit and how they changed.
type historyEntry struct {
	repo.FileChange
	URL     string // the file at that commit ("" when it was deleted)
	Preview string
	Dims    string
	Volume  string
	Changes []delta // the measurements that changed
	Known   bool    // the catalog measured the version after
	Error   string
}

// fileHistory lists the commits that changed one file or folder, with
// each part version's size and volume and their changes.
func (u *UI) fileHistory(c echo.Context, p *projectRef, res repo.Resolved, page int) error {
	ctx := c.Request().Context()
	l := &located{P: p, Ref: res.Ref, Commit: res.Commit.String(), Path: res.Path}
	l.Crumbs = pathCrumbs(l)
	key := "history:" + p.Full() + ":" + l.Ref + ":" + l.Commit + ":" + l.Path + ":" + strconv.Itoa(page) + ":" + u.catalogVersion(ctx, p.Full())
	if hit, err := u.sendCached(c, key); hit {
		return err
	}
	log, err := p.Browse.FileLog(ctx, res.Commit, res.Path, (page-1)*commitsPerPage, commitsPerPage, historyWalkLimit)
	if err != nil {
		return u.fail(c, err)
	}
	if len(log.Changes) == 0 {
		if page > 1 {
			return u.fail(c, notFound("No page %d of the history of %s.", page, res.Path))
		}
		if !log.Truncated {
			return u.fail(c, notFound("No history of %q at %s: no commit there changed it.", res.Path, res.Ref))
		}
	}
	v := historyView{L: l, Name: path.Base(res.Path), Page: page, Truncated: log.Truncated && !log.More}
	if e, err := p.Browse.Stat(res.Commit, res.Path); err == nil {
		v.Dir = e.Dir
	}
	v.Part = !v.Dir && isPart(res.Path)
	// Look up every part version of the page in one query.
	type keys struct{ before, after string }
	ks := make([]keys, len(log.Changes))
	var all []string
	for i, ch := range log.Changes {
		if !v.Part {
			break
		}
		for _, side := range []struct {
			e   repo.Entry
			dst *string
		}{{ch.Before, &ks[i].before}, {ch.After, &ks[i].after}} {
			if side.e.Path == "" || side.e.Dir || isLink(side.e) {
				continue
			}
			k, err := catalogKey(p.Browse, side.e)
			if err != nil {
				return u.fail(c, err)
			}
			*side.dst = k
			all = append(all, k)
		}
	}
	measured, err := u.store.BlobParts(ctx, all)
	if err != nil {
		return u.fail(c, err)
	}
	for i, ch := range log.Changes {
		e := historyEntry{FileChange: ch}
		if ch.After.Path != "" {
			e.URL = p.URL() + "/blob/" + ch.Commit.Hash.String() + "/" + escapePath(ch.After.Path)
		}
		if v.Part {
			var before, after *side
			if bp, ok := measured[ks[i].before]; ok {
				before = &side{Part: bp.Part, Known: true}
			}
			if bp, ok := measured[ks[i].after]; ok {
				after = &side{Part: bp.Part, Known: true}
				e.Known, e.Preview, e.Error = true, previewURL(bp.Preview), bp.Error
				if bp.Part != nil {
					e.Dims, e.Volume = formatDims(bp.Part), formatVolume(bp.Part.Volume)
				}
			}
			if before != nil && after != nil {
				for _, d := range partDeltas(before, after) {
					if d.Change != "" && d.Label != "Triangles" && d.Label != "Watertight" {
						e.Changes = append(e.Changes, d)
					}
				}
			}
		}
		v.Entries = append(v.Entries, e)
	}
	base := p.URL() + "/commits/" + escapePath(l.Ref) + "/" + escapePath(l.Path)
	if page > 1 {
		v.Prev = base + "?page=" + strconv.Itoa(page-1)
	}
	if log.More {
		v.Next = base + "?page=" + strconv.Itoa(page+1)
	}
	return u.renderCached(c, http.StatusOK, "history", "History of "+l.Path+" · "+p.Full(), v, key, time.Minute)
}

// publicUses keeps the uses of a file in other public projects (or in
// other paths of this one). The page is the same for every viewer who
// may read this project, so it never names a private project, not even to
// those who may read it.
func (u *UI) publicUses(ctx context.Context, uses []store.Part, project, path string) ([]store.Part, error) {
	var out []store.Part
	public := map[string]bool{project: true}
	for _, use := range uses {
		if use.Project == project && use.Path == path {
			continue
		}
		ok, seen := public[use.Project]
		if !seen {
			owner, name, _ := strings.Cut(use.Project, "/")
			p, err := u.store.ProjectByName(ctx, owner, name)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			ok = err == nil && !p.Private()
			public[use.Project] = ok
		}
		if ok {
			out = append(out, use)
		}
	}
	return out, nil
}
