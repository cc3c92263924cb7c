package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/blueprints-hq/blueprints/internal/gittree"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/scad"
	"github.com/blueprints-hq/blueprints/storage"
)

// notAPart starts the blob_parts error of an OpenSCAD source that builds
// no 3D object: remembered so that it is not built again, but shown
// nowhere (such files are sources, not failed parts).
const notAPart = "not a part: "

// NotAPart reports whether a build's record says its source makes no 3D
// object (a library, a 2D drawing): a source to show as text, not a part.
func NotAPart(bp store.BlobPart) bool { return strings.HasPrefix(bp.Error, notAPart) }

// SourceTree is a commit's tree as the OpenSCAD builder reads it: the
// same versions, hence the same build keys (scad.FindClosure), as the
// catalogue's. LFS files read as their objects' content when projectID
// owns them.
func SourceTree(ctx context.Context, r *git.Repository, tree *object.Tree, st *store.Store, blobs storage.Blobs, projectID int64) scad.Tree {
	return gitTree{ctx: ctx, repo: r, tree: tree, store: st, blobs: blobs, projectID: projectID}
}

// gitTree is a commit's tree as scad.Tree: blob ids as versions, LFS
// pointers opened as their objects' content, when the project owns them.
type gitTree struct {
	ctx       context.Context
	repo      *git.Repository
	tree      *object.Tree
	store     *store.Store
	blobs     storage.Blobs
	projectID int64
}

func (g gitTree) Version(p string) (string, bool) {
	e, err := g.tree.FindEntry(p)
	if err != nil || !isFileMode(e.Mode) {
		return "", false
	}
	return e.Hash.String(), true
}

func (g gitTree) Open(p string) (io.ReadCloser, error) {
	e, err := g.tree.FindEntry(p)
	if err != nil {
		return nil, err
	}
	b, err := g.repo.BlobObject(e.Hash)
	if err != nil {
		return nil, err
	}
	rc, err := b.Reader()
	if err != nil || b.Size > lfs.MaxPointerSize {
		return rc, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if ptr, ok := lfs.ParsePointer(data); ok {
		obj, _, err := lfs.OpenObject(g.ctx, g.store, g.blobs, g.projectID, ptr)
		if errors.Is(err, storage.ErrNotExist) || errors.Is(err, lfs.ErrNotOwned) {
			return nil, fmt.Errorf("LFS object %s of %s is not on the server", ptr.OID, p)
		}
		return obj, err
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// scadVersions lists the OpenSCAD sources of the head tree whose build
// key (their content and everything they read) differs from what the
// store holds, and every source's path (kept in a full run). Sources
// whose key is unchanged build nothing: a push that touches no part's
// sources runs openscad zero times.
func (c *Catalog) scadVersions(ctx context.Context, r *git.Repository, projectID int64, head *object.Tree, stored map[string]store.CataloguedPart) ([]fileVersion, map[string]bool, error) {
	all := map[string]bool{}
	var out []fileVersion
	t := gitTree{ctx: ctx, repo: r, tree: head, store: c.d.Store, blobs: c.d.Blobs, projectID: projectID}
	// A streamed walk: the tree may hold a great many paths besides its
	// sources.
	err := gittree.Walk(ctx, gittree.FromStorer(r.Storer), head.Hash, func(name string, e gittree.Entry) error {
		if e.IsDir() || !scad.IsSource(name) || !e.IsFile() {
			return nil
		}
		all[name] = true
		if len(all) > c.d.MaxFiles {
			return gittree.Stop
		}
		if c.d.SCAD == nil {
			return nil
		}
		fv := fileVersion{path: name, blob: e.ID}
		cl, err := scad.FindClosure(t, name, c.d.SCAD.Version())
		if err != nil {
			// The page names the file already.
			fv.err = strings.TrimPrefix(err.Error(), name+": ")
			fv.key = e.ID.String()
		} else {
			fv.key = cl.Key
			fv.scad = &cl
		}
		if sp, ok := stored[name]; ok && sp.Blob == fv.key {
			return nil
		}
		out = append(out, fv)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list OpenSCAD sources: %w", err)
	}
	return out, all, nil
}

// buildSCAD builds one OpenSCAD source and measures the mesh, calling
// handOff before it stores the outputs.
func (c *Catalog) buildSCAD(ctx context.Context, r *git.Repository, projectID int64, f fileVersion, handOff func()) (store.BlobPart, error) {
	bp := store.BlobPart{Blob: f.key}
	t := gitTree{ctx: ctx, repo: r, tree: f.tree, store: c.d.Store, blobs: c.d.Blobs, projectID: projectID}
	res, err := c.d.SCAD.Build(ctx, t, *f.scad)
	if err != nil {
		return store.BlobPart{}, fmt.Errorf("build %s: %w", f.path, err)
	}
	defer res.Close()
	switch {
	case res.NotAPart != "":
		bp.Error = notAPart + res.NotAPart
		return bp, nil
	case res.Error != "":
		bp.Error = res.Error
		return bp, nil
	}
	var png, mesh bytes.Buffer
	part, err := c.measurePart(ctx, res.STL, path.Base(f.path), &png, &mesh)
	if ctx.Err() != nil {
		return store.BlobPart{}, ctx.Err()
	}
	if err != nil {
		bp.Error = "the mesh OpenSCAD built cannot be read: " + strings.TrimPrefix(err.Error(), path.Base(f.path)+": ")
		return bp, nil
	}
	part.Format = render.FormatSCAD
	handOff()
	return c.storeOutputs(ctx, f, bp, part, &png, &mesh)
}

// scadSide is an OpenSCAD source as one commit's tree holds it.
type scadSide struct {
	path string
	tree plumbing.Hash
}

// scadHistory turns the sources a push's commits changed into builds,
// one per distinct key, so that commit pages can show each version of a
// part built from its own commit's files. A source whose references are
// refused builds nothing: pages find the same refusal from its text.
func (c *Catalog) scadHistory(ctx context.Context, r *git.Repository, projectID int64, sides []scadSide) ([]fileVersion, error) {
	var out []fileVersion
	keys := map[string]bool{}
	trees := map[plumbing.Hash]*object.Tree{}
	for _, sd := range sides {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tree, ok := trees[sd.tree]
		if !ok {
			var err error
			if tree, err = r.TreeObject(sd.tree); err != nil {
				return nil, fmt.Errorf("read tree %s: %w", sd.tree, err)
			}
			trees[sd.tree] = tree
		}
		t := gitTree{ctx: ctx, repo: r, tree: tree, store: c.d.Store, blobs: c.d.Blobs, projectID: projectID}
		cl, err := scad.FindClosure(t, sd.path, c.d.SCAD.Version())
		if err != nil || keys[cl.Key] {
			continue
		}
		keys[cl.Key] = true
		e, err := tree.FindEntry(sd.path)
		if err != nil {
			return nil, fmt.Errorf("read %s in tree %s: %w", sd.path, sd.tree, err)
		}
		out = append(out, fileVersion{path: sd.path, blob: e.Hash, key: cl.Key, scad: &cl, tree: tree})
	}
	return out, nil
}
