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
	l.Crumbs = append(l.Crumbs, crumb{p.Name, l.TreeURL("")})
	if res.Path != "" {
		segs := strings.Split(res.Path, "/")
		for i := range segs {
			l.Crumbs = append(l.Crumbs, crumb{segs[i], l.TreeURL(strings.Join(segs[:i+1], "/"))})
		}
	}
	return l, nil
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
	Commit   repo.Commit
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
	scadKey, built := "", false
	if scad.IsSource(l.Path) && !isLink(e) {
		// An OpenSCAD source is a part once the catalog has built it (or
		// tried): its key names the build, by all the files it reads.
		if scadKey, err = u.scadKey(ctx, l.P.Full(), l.Path); err != nil {
			return u.fail(c, err)
		}
		built = scadKey != ""
	}
	if (isPart(l.Path) || built) && !isLink(e) {
		v := partView{L: l, Entry: e, Name: path.Base(l.Path), LFS: oid != "", Size: size}
		v.Key = e.Hash.String()
		if oid != "" {
			v.Key = oid
		}
		if built {
			v.Key = scadKey
		}
		bp, err := u.store.BlobPart(ctx, v.Key)
		switch {
		case err == nil:
			v.Measured, v.Part, v.Preview, v.Error = bp.Part != nil, bp.Part, previewURL(bp.Preview), bp.Error
		case !errors.Is(err, store.ErrNotFound):
			return u.fail(c, err)
		}
		uses, err := u.store.PartsWithBlob(ctx, v.Key, 21)
		if err != nil {
			return u.fail(c, err)
		}
		if v.Uses, err = u.publicUses(ctx, uses, l.P.Full(), l.Path); err != nil {
			return u.fail(c, err)
		}
		if v.Commit, err = b.CommitInfo(h); err != nil {
			return u.fail(c, err)
		}
		v.ViewerSrc, v.ViewerBytes, v.KindName = l.RawURL(l.Path), size, kindName(l.Path)
		if k, _ := render.KindOf(l.Path); k != render.KindSTL || built {
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
	v := fileView{L: l, Entry: e, Name: path.Base(l.Path), LFS: oid != "", Size: size}
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

// scadKey is the build key the catalog recorded for an OpenSCAD source of
// the project's default branch, or "" when it has none (not built: no
// openscad on this server, not a 3D part, or not catalogued yet).
func (u *UI) scadKey(ctx context.Context, project, p string) (string, error) {
	cp, err := u.store.ProjectPart(ctx, project, p)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return cp.Blob, nil
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

// commits is the history of a ref, newest first, paged.
func (u *UI) commits(c echo.Context) error {
	p, err := u.openProject(c)
	if err != nil {
		return u.fail(c, err)
	}
	ref, err := refPath(c)
	if err != nil {
		return u.fail(c, err)
	}
	if ref == "" {
		branch, _, err := p.Browse.Head()
		if err != nil {
			return u.fail(c, notFound("%s has no commits yet.", p.Full()))
		}
		ref = branch
	}
	page := 1
	if s := c.QueryParam("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			return u.fail(c, badRequest("Bad page number %q.", s))
		}
		page = n
	}
	h, err := p.Browse.ResolveRef(ref)
	if err != nil {
		return u.fail(c, notFound("No branch, tag or commit %q in %s.", ref, p.Full()))
	}
	// The page is the history reachable from h: it changes when the ref moves.
	key := "commits:" + p.Full() + ":" + ref + ":" + h.String() + ":" + strconv.Itoa(page)
	if hit, err := u.sendCached(c, key); hit {
		return err
	}
	list, more, err := p.Browse.Log(h, (page-1)*commitsPerPage, commitsPerPage)
	if err != nil {
		return u.fail(c, err)
	}
	if len(list) == 0 && page > 1 {
		return u.fail(c, notFound("No page %d of history.", page))
	}
	v := commitsView{P: p, Ref: ref, Commits: list, Page: page}
	base := p.URL() + "/commits/" + escapePath(ref)
	if page > 1 {
		v.Prev = base + "?page=" + strconv.Itoa(page-1)
	}
	if more {
		v.Next = base + "?page=" + strconv.Itoa(page+1)
	}
	return u.renderCached(c, http.StatusOK, "commits", "History of "+ref+" · "+p.Full(), v, key, time.Minute)
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
