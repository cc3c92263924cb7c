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
	"github.com/go-git/go-git/v5/plumbing/object"

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

// gitTree is a commit's tree as scad.Tree: blob ids as versions, LFS
// pointers opened as their objects' content.
type gitTree struct {
	ctx   context.Context
	repo  *git.Repository
	tree  *object.Tree
	blobs storage.Blobs
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
		obj, _, err := g.blobs.Get(g.ctx, lfs.BlobKey(ptr.OID))
		if errors.Is(err, storage.ErrNotExist) {
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
func (c *Catalog) scadVersions(ctx context.Context, r *git.Repository, head *object.Tree, stored map[string]store.CataloguedPart) ([]fileVersion, map[string]bool, error) {
	all := map[string]bool{}
	var out []fileVersion
	t := gitTree{ctx: ctx, repo: r, tree: head, blobs: c.d.Blobs}
	iter := head.Files()
	defer iter.Close()
	for {
		f, err := iter.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("list OpenSCAD sources: %w", err)
		}
		if !scad.IsSource(f.Name) || !isFileMode(f.Mode) {
			continue
		}
		all[f.Name] = true
		if len(all) > c.d.MaxFiles {
			break
		}
		if c.d.SCAD == nil {
			continue
		}
		fv := fileVersion{path: f.Name, blob: f.Hash}
		cl, err := scad.FindClosure(t, f.Name, c.d.SCAD.Version())
		if err != nil {
			// The page names the file already.
			fv.err = strings.TrimPrefix(err.Error(), f.Name+": ")
			fv.key = f.Hash.String()
		} else {
			fv.key = cl.Key
			fv.scad = &cl
		}
		if sp, ok := stored[f.Name]; ok && sp.Blob == fv.key {
			continue
		}
		out = append(out, fv)
	}
	return out, all, nil
}

// buildSCAD builds one OpenSCAD source and measures the mesh.
func (c *Catalog) buildSCAD(ctx context.Context, r *git.Repository, f fileVersion) (store.BlobPart, error) {
	bp := store.BlobPart{Blob: f.key}
	t := gitTree{ctx: ctx, repo: r, tree: f.tree, blobs: c.d.Blobs}
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
	part, err := c.measureSafely(res.STL, path.Base(f.path), &png, &mesh)
	if err != nil {
		bp.Error = "the mesh OpenSCAD built cannot be read: " + strings.TrimPrefix(err.Error(), path.Base(f.path)+": ")
		return bp, nil
	}
	part.Format = render.FormatSCAD
	return c.storeOutputs(ctx, f, bp, part, &png, &mesh)
}
