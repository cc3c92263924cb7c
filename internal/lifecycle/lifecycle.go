// Package lifecycle changes projects as their settings page asks:
// visibility, description, default branch, rename and transfer (with
// redirects from the old name), and deletion. Each change touches several
// places that must agree: the store's rows, the repository folder (repo),
// the search documents (catalog) and blob storage (LFS objects and
// previews nobody else uses). Who may ask for a change is decided by the
// access policy before any of this is called.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

// ErrBusy is returned while the project is being catalogued: a rename
// must wait until that is done.
var ErrBusy = errors.New("the project is being catalogued; try again in a moment")

// ErrNoBranch is returned for a default branch the project lacks.
var ErrNoBranch = errors.New("no such branch")

// Projects applies settings changes. The store logs each change's search
// documents in the change's own transaction (the index follows that log);
// Indexed, when set, waits until this node's index has applied them, so
// the person who made the change sees it at once in search.
type Projects struct {
	Store   *store.Store
	Repos   *repo.Server
	Catalog *catalog.Catalog
	Blobs   storage.Blobs
	Log     *slog.Logger
	Indexed func(ctx context.Context) error
}

// indexed waits for this node's index, when it can.
func (ps *Projects) indexed(ctx context.Context) {
	if ps.Indexed == nil {
		return
	}
	if err := ps.Indexed(ctx); err != nil {
		ps.log().Warn("settings recorded, but this node's search index has not caught up yet", "err", err)
	}
}

func (ps *Projects) log() *slog.Logger {
	if ps.Log == nil {
		return slog.Default()
	}
	return ps.Log
}

// SetVisibility makes p public or private, search documents included.
func (ps *Projects) SetVisibility(ctx context.Context, p store.Project, visibility string) error {
	if visibility != store.Public && visibility != store.Private {
		return fmt.Errorf("visibility %q: want public or private", visibility)
	}
	if err := ps.Store.SetVisibility(ctx, p.ID, visibility); err != nil {
		return err
	}
	ps.indexed(ctx)
	return nil
}

// SetDescription sets the description shown instead of the README's.
func (ps *Projects) SetDescription(ctx context.Context, p store.Project, description string) error {
	if err := ps.Store.SetDescription(ctx, p.ID, description); err != nil {
		return err
	}
	ps.indexed(ctx)
	return nil
}

// SetDefaultBranch makes branch the default and catalogues it afresh.
func (ps *Projects) SetDefaultBranch(ctx context.Context, p store.Project, branch string) error {
	branches, err := ps.Repos.Branches(ctx, p)
	if err != nil {
		return err
	}
	if !slices.Contains(branches, branch) {
		return fmt.Errorf("%w %q in %s", ErrNoBranch, branch, p.FullName())
	}
	if branch == p.DefaultBranch {
		return nil
	}
	if err := ps.Repos.SetHead(ctx, p, branch); err != nil {
		return err
	}
	p.DefaultBranch = branch
	return ps.Catalog.Recatalogue(ctx, p)
}

// Move renames or transfers p to owner/name (owner must exist: a person
// or an organisation). The old name redirects to the new one, for pages
// and git remotes alike.
func (ps *Projects) Move(ctx context.Context, p store.Project, owner, name string) (store.Project, error) {
	if err := repo.ValidName(name); err != nil {
		return p, err
	}
	o, err := ps.Store.UserByName(ctx, owner)
	if err != nil {
		return p, err
	}
	if n, err := ps.Store.PendingCatalogJobs(ctx, p.FullName()); err != nil {
		return p, err
	} else if n > 0 {
		return p, ErrBusy
	}
	err = ps.Repos.MoveRepository(ctx, p, o.Name, name, func(ctx context.Context) error {
		_, err := ps.Store.RenameProject(ctx, p.ID, o.Name, name)
		return err
	})
	if err != nil {
		return p, err
	}
	moved, err := ps.Store.ProjectByID(ctx, p.ID)
	if err != nil {
		return p, err
	}
	ps.indexed(ctx)
	ps.log().Info("project moved", "from", p.FullName(), "to", moved.FullName())
	return moved, nil
}

// Delete deletes p: its search documents, its store rows (catalogue,
// jobs, LFS ownership, collaborators, redirects), its repository, and
// the LFS objects and previews no other project uses.
func (ps *Projects) Delete(ctx context.Context, p store.Project) error {
	left, err := ps.Store.DeleteProjectAll(ctx, p.ID)
	if err != nil {
		return err
	}
	ps.indexed(ctx)
	if err := ps.Repos.DeleteRepository(ctx, p); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	for _, oid := range left.LFSObjects {
		if err := ps.Blobs.Delete(ctx, lfs.BlobKey(oid)); err != nil && !errors.Is(err, storage.ErrNotExist) {
			ps.log().Warn("delete LFS object of a deleted project", "project", p.FullName(), "oid", oid, "err", err)
		}
	}
	for _, key := range left.Previews {
		if err := ps.Blobs.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotExist) {
			ps.log().Warn("delete preview of a deleted project", "project", p.FullName(), "key", key, "err", err)
		}
	}
	ps.log().Info("project deleted", "project", p.FullName(), "lfs_objects", len(left.LFSObjects), "previews", len(left.Previews))
	return nil
}
