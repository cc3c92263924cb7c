package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/search"
)

// stamp marks docs of project with what the search filter needs: whether
// the project is private (and so found only by those its scope names).
// Call it with indexMu held.
func (c *Catalog) stamp(ctx context.Context, project string, docs []search.Doc) error {
	owner, name, _ := strings.Cut(project, "/")
	p, err := c.d.Store.ProjectByName(ctx, owner, name)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted meanwhile: index nothing anyone can find.
		for i := range docs {
			docs[i].Private = true
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read visibility of %s: %w", project, err)
	}
	for i := range docs {
		docs[i].Private = p.Private()
		docs[i].Owner = p.Owner
		if p.Description != "" && docs[i].Kind == search.KindProject {
			docs[i].Description = p.Description
		}
	}
	return nil
}

// projectDocs rebuilds a project's documents from the store (its
// catalogued parts and metadata), as the last job left them.
func (c *Catalog) projectDocs(ctx context.Context, project string) ([]search.Doc, []string, error) {
	parts, err := c.d.Store.ProjectParts(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	meta, err := c.d.Store.ProjectMeta(ctx, project)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil // never catalogued: nothing indexed
	}
	if err != nil {
		return nil, nil, err
	}
	var docs []search.Doc
	var paths []string
	n := 0
	for _, cp := range parts {
		paths = append(paths, cp.Path)
		if cp.Error == "" && cp.Measure != nil {
			docs = append(docs, partDoc(meta, cp))
			n++
		}
	}
	docs = append(docs, projectDoc(meta, n))
	return docs, paths, nil
}

// Change runs change, a settings change to project p in the store
// (visibility, description, rename or transfer), and brings p's search
// documents in line with it, so that nobody finds in search what they
// may no longer read, even for an instant: under the lock the catalog's
// jobs index under, p's documents are first marked private, then change
// runs, then the documents are written again from the store as it now is
// (under the new name, the old ones deleted, after a rename). change
// returns the project as it is after the change.
func (c *Catalog) Change(ctx context.Context, p store.Project, change func(ctx context.Context) (store.Project, error)) error {
	ctx = context.WithoutCancel(ctx)
	c.indexMu.Lock()
	defer c.indexMu.Unlock()
	old := p.FullName()
	docs, paths, err := c.projectDocs(ctx, old)
	if err != nil {
		return fmt.Errorf("change %s: %w", old, err)
	}
	if len(docs) > 0 {
		for i := range docs {
			docs[i].Private = true
		}
		if err := c.d.Index.Apply(ctx, docs, nil); err != nil {
			return fmt.Errorf("change %s: hide its documents: %w", old, err)
		}
	}
	now, err := change(ctx)
	if err != nil {
		// Put the documents back as the store still has them.
		if docs, _, derr := c.projectDocs(ctx, old); derr == nil && len(docs) > 0 {
			if serr := c.stamp(ctx, old, docs); serr == nil {
				c.d.Index.Apply(ctx, docs, nil)
			}
		}
		return err
	}
	var deletes []string
	if now.FullName() != old {
		for _, path := range paths {
			deletes = append(deletes, search.PartID(old, path))
		}
		deletes = append(deletes, search.ProjectID(old))
	}
	docs, _, err = c.projectDocs(ctx, now.FullName())
	if err != nil {
		return fmt.Errorf("change %s: %w", now.FullName(), err)
	}
	if err := c.stamp(ctx, now.FullName(), docs); err != nil {
		return err
	}
	if err := c.d.Index.Apply(ctx, docs, deletes); err != nil {
		return fmt.Errorf("change %s: index its documents: %w", now.FullName(), err)
	}
	return nil
}

// Forget deletes p's search documents, then runs del (which deletes p
// from the store), under the indexing lock, so no job writes them back.
func (c *Catalog) Forget(ctx context.Context, p store.Project, del func(ctx context.Context) error) error {
	ctx = context.WithoutCancel(ctx)
	c.indexMu.Lock()
	defer c.indexMu.Unlock()
	_, paths, err := c.projectDocs(ctx, p.FullName())
	if err != nil {
		return fmt.Errorf("forget %s: %w", p.FullName(), err)
	}
	deletes := []string{search.ProjectID(p.FullName())}
	for _, path := range paths {
		deletes = append(deletes, search.PartID(p.FullName(), path))
	}
	if err := c.d.Index.Apply(ctx, nil, deletes); err != nil {
		return fmt.Errorf("forget %s: %w", p.FullName(), err)
	}
	return del(ctx)
}

// Recatalogue starts p's catalogue again from nothing (after its default
// branch changed): its documents and part rows go, and a job for the
// whole branch is queued.
func (c *Catalog) Recatalogue(ctx context.Context, p store.Project) error {
	err := c.Forget(ctx, p, func(ctx context.Context) error {
		if err := c.d.Store.ClearProjectCatalog(ctx, p.FullName()); err != nil {
			return err
		}
		return c.d.Store.ForgetCatalogCommit(ctx, p.FullName())
	})
	if err != nil {
		return err
	}
	if _, err := c.reconcileProject(context.WithoutCancel(ctx), p); err != nil {
		return fmt.Errorf("recatalogue %s: %w", p.FullName(), err)
	}
	c.poke()
	return nil
}
