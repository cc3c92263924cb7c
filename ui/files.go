package ui

import (
	"archive/zip"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/internal/httpcache"
	"github.com/blueprints-hq/blueprints/internal/httprange"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/repo/blobcache"
	"github.com/blueprints-hq/blueprints/scad"
	"github.com/blueprints-hq/blueprints/storage"
)

const maxPointer = lfs.MaxPointerSize

func parsePointer(data []byte) (lfs.Pointer, bool) { return lfs.ParsePointer(data) }

// modelTypes are the types of the 3D and CAD formats makers push, by
// extension: IANA's model/ types where one is registered, else the type
// the format's own tools use. They come before the system's MIME table,
// which differs from machine to machine (Debian's calls .obj
// application/x-tgif, an old drawing program's).
var modelTypes = map[string]string{
	".stl":   "model/stl",
	".3mf":   "model/3mf",
	".obj":   "model/obj",
	".mtl":   "model/mtl",
	".step":  "model/step",
	".stp":   "model/step",
	".stpz":  "model/step+zip",
	".iges":  "model/iges",
	".igs":   "model/iges",
	".gltf":  "model/gltf+json",
	".glb":   "model/gltf-binary",
	".wrl":   "model/vrml",
	".x3d":   "model/x3d+xml",
	".x3db":  "model/x3d+fastinfoset",
	".dae":   "model/vnd.collada+xml",
	".ply":   "application/octet-stream", // no registered type
	".amf":   "application/x-amf",
	".fcstd": "application/x-freecad",
	".f3d":   "application/octet-stream",
	".blend": "application/x-blender",
	".dxf":   "image/vnd.dxf",
	".dwg":   "image/vnd.dwg",
}

// contentType is the type a file is served with. Types a browser would
// run as a page (HTML, SVG, XML) are served as plain text, since raw files
// come from anyone who can push.
func contentType(name string, head []byte) string {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case ".scad", ".md", ".txt", ".gcode", ".csv", ".json", ".yaml", ".yml", ".toml":
		return "text/plain; charset=utf-8"
	}
	t := modelTypes[ext]
	if t == "" {
		t = mime.TypeByExtension(ext)
	}
	if t == "" {
		t = http.DetectContentType(head)
	}
	if strings.Contains(t, "html") || strings.Contains(t, "xml") || strings.Contains(t, "svg") || strings.Contains(t, "javascript") {
		return "text/plain; charset=utf-8"
	}
	return t
}

// disposition is inline for text and images, attachment for the rest.
// (raw/ never serves SVG as an image; image/ does, sandboxed.)
func disposition(name, ctype string) string {
	kind := "attachment"
	if strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "image/") {
		kind = "inline"
	}
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`%s; filename="%s"; filename*=UTF-8''%s`, kind, ascii, url.PathEscape(name))
}

// raw sends a file's real bytes: LFS content from blob storage, the blob
// from git otherwise, with its type, an ETag (blob id or LFS oid) and
// range support.
func (u *UI) raw(c echo.Context) error {
	l, err := u.locate(c)
	if err != nil {
		return u.fail(c, err)
	}
	head := 512 // http.DetectContentType reads as much
	if isPart(l.Path) {
		head = 0
	}
	f, err := u.openFile(c.Request().Context(), l, head)
	if err != nil {
		return u.fail(c, err)
	}
	name := path.Base(l.Path)
	ctype := contentType(name, f.head)
	if isLink(f.entry) {
		// A symbolic link is served as what git stores: the link's own
		// text, never the file it names.
		ctype = "text/plain; charset=utf-8"
	}
	hd := c.Response().Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Disposition", disposition(name, ctype))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	hd.Set("ETag", `"`+f.etag+`"`)
	setFileCaching(hd, l)
	return serveRange(c, f.src, `"`+f.etag+`"`)
}

// setFileCaching lets a file at a commit id be kept forever, and one at a
// branch or tag be revalidated.
func setFileCaching(hd http.Header, l *located) {
	if _, ok := hashOf(l.Ref); ok {
		hd.Set("Cache-Control", cacheControl(!l.P.Row.Private(), "max-age=31536000, immutable"))
	} else {
		hd.Set("Cache-Control", cacheControl(!l.P.Row.Private(), "max-age=0, must-revalidate"))
	}
}

// openedFile is a file of a repository at a commit, ready to send.
type openedFile struct {
	entry repo.Entry
	src   rangeSource // its real bytes: LFS content for an LFS file
	etag  string      // blob id, or LFS object id
	head  []byte      // its first bytes, as many as asked for (or fewer: all of it)
}

// openFile opens the file l names (a folder or a submodule is a 404):
// LFS content from blob storage, through the project's ownership check,
// the blob from git otherwise. It reads the first headBytes
// bytes too, to tell the file's type.
func (u *UI) openFile(ctx context.Context, l *located, headBytes int) (openedFile, error) {
	h, _ := hashOf(l.Commit)
	e, err := l.P.Browse.Stat(h, l.Path)
	if err != nil {
		if errors.Is(err, repo.ErrNoPath) {
			return openedFile{}, notFound("No file %q at %s.", l.Path, l.Ref)
		}
		return openedFile{}, err
	}
	if e.Dir || l.Path == "" {
		return openedFile{}, notFound("%q is a folder.", l.Path)
	}
	if isGitlink(e) {
		return openedFile{}, notFound("%q is a submodule: its files live in another repository.", l.Path)
	}
	f := openedFile{entry: e}
	if e.Size <= maxPointer {
		if f.head, err = l.P.Browse.ReadBlob(e.Hash, int64(max(headBytes, maxPointer))); err != nil {
			return openedFile{}, err
		}
	}
	if ptr, ok := u.pointerOf(l.P.Browse, e); ok {
		f.etag = ptr.OID
		if f.src, err = u.lfsObject(ctx, l.P, ptr); err != nil {
			return openedFile{}, err
		}
		f.head = nil
	} else {
		f.etag = e.Hash.String()
		f.src = gitSource{b: l.P.Browse, e: e, ctx: ctx, cache: u.blobCache, log: u.log}
	}
	if len(f.head) > headBytes {
		f.head = f.head[:headBytes]
	}
	if f.head == nil && headBytes > 0 {
		rc, err := f.src.open(0, int64(headBytes))
		if err != nil {
			return openedFile{}, err
		}
		f.head, _ = io.ReadAll(rc)
		rc.Close()
	}
	return f, nil
}

func (u *UI) pointerOf(b *repo.Browse, e repo.Entry) (lfs.Pointer, bool) {
	if e.Size > maxPointer || isLink(e) {
		return lfs.Pointer{}, false
	}
	data, err := b.ReadBlob(e.Hash, maxPointer)
	if err != nil {
		return lfs.Pointer{}, false
	}
	return lfs.ParsePointer(data)
}

// rangeSource is a file that can be opened at an offset.
type rangeSource interface {
	size() int64
	// open returns length bytes from offset (to the end when length < 0).
	open(offset, length int64) (io.ReadCloser, error)
}

// gitSource is a blob of the project's repository. A read starting at
// cacheFrom or further comes from the cache of inflated blobs, when there
// is one: git's compression can only be entered at the start, so without
// it every such read inflates the blob up to its offset.
type gitSource struct {
	b     *repo.Browse
	e     repo.Entry
	ctx   context.Context
	cache *blobcache.Cache // nil: inflate from the start
	log   *slog.Logger
}

// cacheFrom is the offset from which a ranged read of a git blob is
// served from the blob cache: inflating a megabyte costs a few
// milliseconds, a copy of the blob on disk is not worth it below that.
const cacheFrom = 1 << 20

func (g gitSource) size() int64 { return g.e.Size }

func (g gitSource) open(offset, length int64) (io.ReadCloser, error) {
	if g.cache != nil && offset >= cacheFrom {
		f, err := g.cache.Open(g.ctx, g.e.Hash.String(), g.e.Size, g.inflate)
		switch {
		case err == nil:
			if length < 0 {
				length = g.e.Size - offset
			}
			return readCloser{io.NewSectionReader(f, offset, length), f}, nil
		case g.ctx.Err() != nil:
			return nil, g.ctx.Err()
		case !errors.Is(err, blobcache.ErrTooBig):
			// A full disk, say: the file is still served, the slow way.
			g.log.Warn("read a blob through the blob cache", "blob", g.e.Hash.String(), "path", g.e.Path, "err", err)
		}
	}
	rc, _, err := g.b.OpenBlob(g.e.Hash)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
			rc.Close()
			return nil, fmt.Errorf("skip to %d in blob %s: %w", offset, g.e.Hash, err)
		}
	}
	if length < 0 {
		return rc, nil
	}
	return readCloser{io.LimitReader(rc, length), rc}, nil
}

// inflate writes the whole blob to w, for the blob cache.
func (g gitSource) inflate(w io.Writer) error {
	rc, _, err := g.b.OpenBlob(g.e.Hash)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// lfsSource is an LFS object of the project, in blob storage.
type lfsSource struct {
	ctx context.Context
	obj *lfs.Object
}

func (s lfsSource) size() int64 { return s.obj.Size }

func (s lfsSource) open(offset, length int64) (io.ReadCloser, error) {
	return s.obj.OpenRange(s.ctx, offset, length)
}

// lfsObject finds the LFS object a pointer of project p names, through
// the project-ownership check (lfs.FindObject). An object the project
// does not own and one missing from storage get the same 404, so that
// nobody learns which objects the server holds.
func (u *UI) lfsObject(ctx context.Context, p *projectRef, ptr lfs.Pointer) (rangeSource, error) {
	obj, err := lfs.FindObject(ctx, u.store, u.blobs, p.Row.ID, ptr)
	if err != nil {
		if errors.Is(err, lfs.ErrNotOwned) || errors.Is(err, storage.ErrNotExist) {
			return nil, notFound("The Git LFS object %s of this file is not on this server: push it with `git lfs push --all`.", shortID(ptr.OID))
		}
		return nil, err
	}
	return lfsSource{ctx: ctx, obj: obj}, nil
}

// serveRange answers GET and HEAD with the whole file or one byte range
// (RFC 9110). Several ranges in one request get the whole file, which the
// RFC allows.
func serveRange(c echo.Context, src rangeSource, etag string) error {
	req, hd := c.Request(), c.Response().Header()
	n := src.size()
	hd.Set("Accept-Ranges", "bytes")
	if httpcache.Match(req.Header.Get("If-None-Match"), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	start, length, status := int64(0), n, http.StatusOK
	if rh := req.Header.Get("Range"); rh != "" && (req.Header.Get("If-Range") == "" || req.Header.Get("If-Range") == etag) {
		switch r, kind := httprange.Parse(rh, n); kind {
		case httprange.Unsatisfiable:
			hd.Set("Content-Range", httprange.Unsatisfied(n))
			return c.NoContent(http.StatusRequestedRangeNotSatisfiable)
		case httprange.Partial:
			start, length, status = r.Start, r.Length, http.StatusPartialContent
			hd.Set("Content-Range", r.ContentRange(n))
		}
	}
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	if req.Method == http.MethodHead {
		c.Response().WriteHeader(status)
		return nil
	}
	rc, err := src.open(start, length)
	if err != nil {
		return err
	}
	defer rc.Close()
	c.Response().WriteHeader(status)
	_, err = io.CopyN(c.Response(), rc, length)
	return err
}

var (
	hashRE        = regexp.MustCompile(`^[0-9a-f]{64}$`)
	previewFileRE = regexp.MustCompile(`^[0-9]{2,4}\.png$`)
)

// previewByHash serves a preview by its content address. The URL never
// changes meaning, so it is cached forever.
func (u *UI) previewByHash(c echo.Context) error {
	sha, file := c.Param("sha"), c.Param("file")
	if !hashRE.MatchString(sha) || !previewFileRE.MatchString(file) {
		return u.fail(c, badRequest("Bad preview address."))
	}
	key := "previews/" + sha + "/" + file
	// Served only when a project the viewer may read holds the part
	// (public ones come first, so the usual answer costs one query).
	ok, public, err := u.previewReadable(c, "previews/"+sha+"/"+strconv.Itoa(catalogPreviewSize)+".png")
	if err != nil {
		return u.fail(c, err)
	} else if !ok {
		return u.fail(c, notFound("No such preview."))
	}
	rc, info, err := u.blobs.Get(c.Request().Context(), key)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			return u.fail(c, notFound("No such preview."))
		}
		return u.fail(c, err)
	}
	defer rc.Close()
	hd := c.Response().Header()
	hd.Set("Cache-Control", cacheControl(public, "max-age=31536000, immutable"))
	hd.Set("ETag", `"`+sha+"-"+strings.TrimSuffix(file, ".png")+`"`)
	hd.Set("X-Content-Type-Options", "nosniff")
	if httpcache.Match(c.Request().Header.Get("If-None-Match"), hd.Get("ETag")) {
		return c.NoContent(http.StatusNotModified)
	}
	hd.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	return c.Stream(http.StatusOK, "image/png", rc)
}

// catalogPreviewSize is the size of the preview the catalog records for
// each file version (catalog.PreviewSize); smaller sizes are derived from
// it and belong to the same projects.
const catalogPreviewSize = 512

// previewReadable reports whether the viewer may read a project whose
// catalogue holds the preview recorded under key.
func (u *UI) previewReadable(c echo.Context, key string) (readable, public bool, err error) {
	ctx := c.Request().Context()
	ps, err := u.store.PreviewProjects(ctx, key, 50)
	if err != nil {
		return false, false, err
	}
	if len(ps) == 0 {
		return false, false, nil
	}
	if !ps[0].Private() {
		return true, true, nil
	}
	v, err := u.viewer(c)
	if err != nil {
		return false, false, err
	}
	for _, p := range ps {
		if ok, err := u.access.Can(ctx, v, access.Read, p); err != nil || ok {
			return ok, false, err
		}
	}
	return false, false, nil
}

// cacheControl is the Cache-Control of an answer about a project: cc
// after "public" when anyone may read it, after "private" when not, so
// that no shared cache (a proxy, a CDN) ever keeps what only some may
// read.
func cacheControl(public bool, cc string) string {
	if public {
		return "public, " + cc
	}
	return "private, " + cc
}

// preview redirects /{owner}/{project}/preview/{ref}/{path}.png to the
// part's content-addressed preview.
func (u *UI) preview(c echo.Context) error {
	l, err := u.locate(c)
	if err != nil {
		return u.fail(c, err)
	}
	p, ok := strings.CutSuffix(l.Path, ".png")
	if !ok || !isPart(p) && !scad.IsSource(p) {
		return u.fail(c, notFound("Previews are at preview/{ref}/{part}.stl.png."))
	}
	h, _ := hashOf(l.Commit)
	e, err := l.P.Browse.Stat(h, p)
	if err != nil {
		if errors.Is(err, repo.ErrNoPath) {
			return u.fail(c, notFound("No part %q at %s.", p, l.Ref))
		}
		return u.fail(c, err)
	}
	if e.Dir || isGitlink(e) || isLink(e) {
		return u.fail(c, notFound("%q is not a part.", p))
	}
	key, err := u.partKey(c.Request().Context(), l, e)
	if err != nil {
		return u.fail(c, err)
	}
	bp, err := u.store.BlobPart(c.Request().Context(), key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return u.fail(c, notFound("%s has no preview yet.", path.Base(p)))
		}
		return u.fail(c, err)
	}
	dest := previewURL(bp.Preview)
	if dest == "" {
		return u.fail(c, notFound("%s has no preview: %s", path.Base(p), bp.Error))
	}
	c.Response().Header().Set("Cache-Control", cacheControl(!l.P.Row.Private(), "max-age=60"))
	return c.Redirect(http.StatusFound, dest)
}

// mesh serves /{owner}/{project}/mesh/{ref}/{path}: the part's mesh as
// binary STL, what the 3D viewer loads for every kind of part. An STL file
// is its own mesh (redirected to raw/); for other kinds it is the mesh the
// catalog stored when it read the file.
func (u *UI) mesh(c echo.Context) error {
	l, err := u.locate(c)
	if err != nil {
		return u.fail(c, err)
	}
	k, ok := render.KindOf(l.Path)
	if !ok && !scad.IsSource(l.Path) {
		return u.fail(c, notFound("Meshes are served for parts only."))
	}
	h, _ := hashOf(l.Commit)
	e, err := l.P.Browse.Stat(h, l.Path)
	if err != nil {
		if errors.Is(err, repo.ErrNoPath) {
			return u.fail(c, notFound("No part %q at %s.", l.Path, l.Ref))
		}
		return u.fail(c, err)
	}
	if e.Dir || isLink(e) {
		return u.fail(c, notFound("No part %q at %s.", l.Path, l.Ref))
	}
	if ok && k == render.KindSTL {
		return c.Redirect(http.StatusFound, l.RawURL(l.Path))
	}
	key, err := u.partKey(c.Request().Context(), l, e)
	if err != nil {
		return u.fail(c, err)
	}
	rc, info, err := u.blobs.Get(c.Request().Context(), catalog.MeshKey(key))
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			return u.fail(c, notFound("%s has no mesh yet: the catalog has not read it, or could not.", path.Base(l.Path)))
		}
		return u.fail(c, err)
	}
	defer rc.Close()
	hd := c.Response().Header()
	// Kept for good at a commit id; at a branch, whose mesh changes with
	// each push, revalidated.
	setFileCaching(hd, l)
	hd.Set("ETag", `"mesh-`+key+`"`)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Disposition", `attachment; filename="`+strings.TrimSuffix(path.Base(l.Path), path.Ext(l.Path))+`.stl"`)
	if c.Request().Header.Get("If-None-Match") == hd.Get("ETag") {
		return c.NoContent(http.StatusNotModified)
	}
	hd.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	return c.Stream(http.StatusOK, "model/stl", rc)
}

// partKey is the catalog key of a part file: for an OpenSCAD source, the
// key of its build from the files of l's commit (a 404 when that version
// was not built into a part); else catalogKey.
func (u *UI) partKey(ctx context.Context, l *located, e repo.Entry) (string, error) {
	if scad.IsSource(e.Path) {
		h, _ := hashOf(l.Commit)
		b, err := u.scadBuildAt(ctx, l.P, h, e.Path)
		if err != nil {
			return "", err
		}
		if b.Record == nil || catalog.NotAPart(*b.Record) {
			return "", scadNotBuilt(b, e.Path)
		}
		return b.Key, nil
	}
	return catalogKey(l.P.Browse, e)
}

// archive streams the project at a ref as a zip, straight to the response:
// LFS files carry their content, not their pointers.
func (u *UI) archive(c echo.Context) error {
	p, err := u.openProject(c)
	if err != nil {
		return u.fail(c, err)
	}
	rp, err := refPath(c)
	if err != nil {
		return u.fail(c, err)
	}
	ref, ok := strings.CutSuffix(rp, ".zip")
	if !ok || ref == "" {
		return u.fail(c, notFound("Archives are at archive/{ref}.zip."))
	}
	h, err := p.Browse.ResolveRef(ref)
	if err != nil {
		return u.fail(c, notFound("No branch, tag or commit %q in %s.", ref, p.Full()))
	}
	info, err := p.Browse.CommitInfo(h)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	// An archive of a commit never changes: its id is its tag. A client
	// holding it costs neither an archive slot nor a walk of the tree.
	if fresh, err := httpcache.Fresh(c, httpcache.StrongTag(h.String()), info.When); fresh {
		return err
	}
	// Archives cost the server time and bandwidth per anonymous request:
	// a few at once, each within the entry and byte limits.
	select {
	case u.archiving <- struct{}{}:
		defer func() { <-u.archiving }()
	default:
		c.Response().Header().Set("Retry-After", "30")
		return u.fail(c, &httpError{http.StatusServiceUnavailable, "Too many archives are being built right now. Please try again in a minute, or clone the project with git."})
	}
	pointers := map[plumbing.Hash]*lfs.Pointer{} // blob → its pointer (nil: none), for both passes
	if err := u.archiveFits(ctx, p, ref, h, pointers); err != nil {
		return u.fail(c, err)
	}
	root := p.Name + "-" + strings.ReplaceAll(ref, "/", "-")
	hd := c.Response().Header()
	hd.Set("Content-Type", "application/zip")
	hd.Set("Content-Disposition", disposition(root+".zip", "application/zip"))
	hd.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(http.StatusOK)
	zw := zip.NewWriter(c.Response())
	zw.RegisterCompressor(zip.Deflate, pooledDeflate)
	zw.SetComment(fmt.Sprintf("%s at %s (%s)", p.Full(), ref, h))
	err = p.Browse.Files(ctx, h, func(e repo.Entry) error {
		var src rangeSource = gitSource{b: p.Browse, e: e, ctx: ctx, log: u.log}
		if ptr := archivePointer(u, p.Browse, e, pointers); ptr != nil {
			s, err := u.lfsObject(ctx, p, *ptr)
			if err != nil {
				return fmt.Errorf("add %s to archive: %w", e.Path, err)
			}
			src = s
		}
		fh := &zip.FileHeader{Name: root + "/" + e.Path, Method: zip.Deflate, Modified: info.When.UTC()}
		if src.size() < minDeflate {
			fh.Method = zip.Store // deflate would only add bytes
		}
		fh.SetMode(0o644)
		switch e.Mode {
		case filemode.Executable:
			fh.SetMode(0o755)
		case filemode.Symlink:
			// Stored as a link whose content is its target, as git archive
			// does; the target itself is never read.
			fh.SetMode(fs.ModeSymlink | 0o777)
			fh.Method = zip.Store
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			return err
		}
		rc, err := src.open(0, -1)
		if err != nil {
			return fmt.Errorf("add %s to archive: %w", e.Path, err)
		}
		defer rc.Close()
		_, err = io.Copy(w, rc)
		return err
	})
	if err != nil {
		// The status is sent: cut the stream short so the client sees a
		// broken zip rather than a complete-looking one.
		u.log.Error("stream archive", "project", p.Full(), "ref", ref, "err", err)
		panic(http.ErrAbortHandler)
	}
	if err := zw.Close(); err != nil {
		u.log.Error("stream archive", "project", p.Full(), "ref", ref, "err", err)
	}
	return nil
}

// ArchiveLimits bound the zip archives of projects. Zero fields mean the
// defaults.
type ArchiveLimits struct {
	MaxFiles   int64 // files in one archive
	MaxBytes   int64 // their bytes, LFS content included, before compression
	Concurrent int   // archives built at once; beyond, 503 with Retry-After
}

// Default archive limits: a project of thousands of parts fits.
const (
	DefaultArchiveMaxFiles = 50_000
	DefaultArchiveMaxBytes = 4 << 30
)

func (l ArchiveLimits) withDefaults() ArchiveLimits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultArchiveMaxFiles
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultArchiveMaxBytes
	}
	if l.Concurrent <= 0 {
		l.Concurrent = runtime.GOMAXPROCS(0)
	}
	return l
}

// archiveFits refuses, before any byte is sent, an archive over the
// limits: the files are counted by the tree's distinct objects (a
// million-path tree in a few objects costs a few reads), then their sizes
// added up, LFS content at the size its pointer names.
func (u *UI) archiveFits(ctx context.Context, p *projectRef, ref string, h plumbing.Hash, pointers map[plumbing.Hash]*lfs.Pointer) error {
	lim := u.archives
	counts, err := p.Browse.Count(ctx, h)
	if err != nil {
		return err
	}
	if counts.Files > lim.MaxFiles {
		return &httpError{http.StatusForbidden, fmt.Sprintf("%s at %s holds %d files, more than the %d an archive may hold here. Clone it with git instead.", p.Full(), ref, counts.Files, lim.MaxFiles)}
	}
	var total int64
	err = p.Browse.Files(ctx, h, func(e repo.Entry) error {
		size := e.Size
		if ptr := archivePointer(u, p.Browse, e, pointers); ptr != nil {
			size = ptr.Size
		}
		if total += size; total > lim.MaxBytes {
			return &httpError{http.StatusForbidden, fmt.Sprintf("%s at %s holds more than %s, the most an archive may hold here. Clone it with git (and git lfs) instead.", p.Full(), ref, formatBytes(lim.MaxBytes))}
		}
		return nil
	})
	return err
}

// archivePointer is pointerOf, remembered per blob for the archive's two
// passes (a generated project may hold the same small file thousands of
// times).
func archivePointer(u *UI, b *repo.Browse, e repo.Entry, memo map[plumbing.Hash]*lfs.Pointer) *lfs.Pointer {
	if e.Size > maxPointer || isLink(e) {
		return nil
	}
	if ptr, ok := memo[e.Hash]; ok {
		return ptr
	}
	var ptr *lfs.Pointer
	if p, ok := u.pointerOf(b, e); ok {
		ptr = &p
	}
	if len(memo) < 100_000 {
		memo[e.Hash] = ptr
	}
	return ptr
}

// minDeflate is the size below which archive entries are stored as they
// are: deflating a few bytes makes them longer.
const minDeflate = 128

// deflaters keeps flate writers between archive entries: making one
// allocates over half a megabyte, and an archive may hold thousands of
// small files.
var deflaters sync.Pool

func pooledDeflate(w io.Writer) (io.WriteCloser, error) {
	if fw, ok := deflaters.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return pooledWriter{fw}, nil
	}
	fw, err := flate.NewWriter(w, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	return pooledWriter{fw}, nil
}

// pooledWriter gives its flate writer back to the pool when closed.
type pooledWriter struct{ *flate.Writer }

func (p pooledWriter) Close() error {
	err := p.Writer.Close()
	deflaters.Put(p.Writer)
	return err
}
