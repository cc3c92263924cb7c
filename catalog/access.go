package catalog

import (
	"context"
	"fmt"

	"github.com/blueprints-hq/blueprints/internal/store"
)

// Recatalogue starts p's catalogue again from nothing (after its default
// branch changed): its part rows go (the change log removes their search
// documents) and a job for the whole branch is queued.
func (c *Catalog) Recatalogue(ctx context.Context, p store.Project) error {
	ctx = context.WithoutCancel(ctx)
	if err := c.d.Store.ClearProjectCatalog(ctx, p.FullName()); err != nil {
		return err
	}
	if err := c.d.Store.ForgetCatalogCommit(ctx, p.FullName()); err != nil {
		return err
	}
	if _, err := c.reconcileProject(ctx, p); err != nil {
		return fmt.Errorf("recatalogue %s: %w", p.FullName(), err)
	}
	c.poke()
	return nil
}
