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

// OpenObject opens the content of the LFS object p names, for a project
// that owns it: for the pages (raw downloads, archives) and the catalog
// (parts stored with LFS). An object the project does not own gives an
// error wrapping ErrNotOwned and store.ErrNotFound, so one project's
// pointers never read another project's objects; an owned object missing
// from storage gives storage.ErrNotExist. The caller closes the reader.
func OpenObject(ctx context.Context, st *store.Store, blobs storage.Blobs, projectID int64, p Pointer) (io.ReadCloser, storage.Info, error) {
	if !ValidOID(p.OID) {
		return nil, storage.Info{}, fmt.Errorf("open lfs object %q: invalid object id", p.OID)
	}
	o, err := st.LFSObject(ctx, projectID, p.OID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, storage.Info{}, fmt.Errorf("open lfs object %s: %w: %w", p.OID, ErrNotOwned, err)
		}
		return nil, storage.Info{}, fmt.Errorf("open lfs object %s: %w", p.OID, err)
	}
	if o.Size != p.Size {
		return nil, storage.Info{}, fmt.Errorf("open lfs object %s: pointer says %d bytes, object has %d: %w", p.OID, p.Size, o.Size, ErrNotOwned)
	}
	r, info, err := blobs.Get(ctx, BlobKey(p.OID))
	if err != nil {
		return nil, storage.Info{}, fmt.Errorf("open lfs object %s: %w", p.OID, err)
	}
	return r, info, nil
}
