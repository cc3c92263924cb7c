package lfs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/storage"
)

// ErrNotOwned is returned (wrapped, together with store.ErrNotFound) when a
// pointer names an object its project does not own.
var ErrNotOwned = errors.New("lfs object not owned by the project")

// Object is the content of an LFS object that a project owns: the one way
// the pages (raw downloads, archives) and the catalog (parts and their
// previews) read LFS content, so that one project's pointers never read
// another project's objects.
type Object struct {
	Pointer
	blobs storage.Blobs
}

// FindObject checks that the project owns the object p names, with the
// size p says, and that storage holds it. An object the project does not
// own gives an error wrapping ErrNotOwned and store.ErrNotFound; an owned
// object missing from storage gives one wrapping storage.ErrNotExist.
// Callers that answer the public must not tell the two apart, or they
// tell anyone which objects exist.
func FindObject(ctx context.Context, st *store.Store, blobs storage.Blobs, projectID int64, p Pointer) (*Object, error) {
	if !ValidOID(p.OID) {
		return nil, fmt.Errorf("open lfs object %q: invalid object id", p.OID)
	}
	o, err := st.LFSObject(ctx, projectID, p.OID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("open lfs object %s: %w: %w", p.OID, ErrNotOwned, err)
		}
		return nil, fmt.Errorf("open lfs object %s: %w", p.OID, err)
	}
	if o.Size != p.Size {
		return nil, fmt.Errorf("open lfs object %s: pointer says %d bytes, object has %d: %w: %w", p.OID, p.Size, o.Size, ErrNotOwned, store.ErrNotFound)
	}
	info, err := blobs.Stat(ctx, BlobKey(p.OID))
	if err != nil {
		return nil, fmt.Errorf("open lfs object %s: %w", p.OID, err)
	}
	if info.Size != p.Size {
		return nil, fmt.Errorf("open lfs object %s: storage holds %d bytes, not %d: %w", p.OID, info.Size, p.Size, storage.ErrNotExist)
	}
	return &Object{Pointer: p, blobs: blobs}, nil
}

// Open reads the whole object.
func (o *Object) Open(ctx context.Context) (io.ReadCloser, error) {
	rc, _, err := o.blobs.Get(ctx, BlobKey(o.OID))
	if err != nil {
		return nil, fmt.Errorf("open lfs object %s: %w", o.OID, err)
	}
	return rc, nil
}

// OpenRange reads length bytes from offset (to the end when length < 0).
func (o *Object) OpenRange(ctx context.Context, offset, length int64) (io.ReadCloser, error) {
	if offset == 0 && (length < 0 || length == o.Size) {
		return o.Open(ctx)
	}
	return storage.GetRange(ctx, o.blobs, BlobKey(o.OID), offset, length)
}

// OpenObject is FindObject, then Open: the content of an object the
// project owns. The caller closes the reader.
func OpenObject(ctx context.Context, st *store.Store, blobs storage.Blobs, projectID int64, p Pointer) (io.ReadCloser, storage.Info, error) {
	o, err := FindObject(ctx, st, blobs, projectID, p)
	if err != nil {
		return nil, storage.Info{}, err
	}
	rc, err := o.Open(ctx)
	if err != nil {
		return nil, storage.Info{}, err
	}
	return rc, storage.Info{Size: o.Size}, nil
}
