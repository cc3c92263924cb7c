package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/blueprints-hq/blueprints/internal/store"
)

// Reconcile queues a job for every project whose default branch is not
// at the commit the catalogue last recorded and that has no job queued or
// running. git updates a ref before it runs the post-receive hook that
// queues the job, so a server killed in between (or a job given up after
// crashes) would leave the push uncatalogued until the next push; Start
// calls Reconcile so that the catalogue always catches up with the
// repositories. It returns the number of jobs queued.
func (c *Catalog) Reconcile(ctx context.Context) (int, error) {
	const page = 500
	queued := 0
	for offset := 0; ; offset += page {
		projects, err := c.d.Store.Projects(ctx, page, offset)
		if err != nil {
			return queued, fmt.Errorf("reconcile catalog: %w", err)
		}
		for _, p := range projects {
			ok, err := c.reconcileProject(ctx, p)
			if err != nil {
				// One unreadable repository must not stop the others.
				c.log.Warn("reconcile catalog", "project", p.FullName(), "err", err)
				continue
			}
			if ok {
				queued++
			}
		}
		if len(projects) < page {
			return queued, nil
		}
	}
}

// reconcileProject queues a job for p when its catalogue is behind its
// default branch, and reports whether it did.
func (c *Catalog) reconcileProject(ctx context.Context, p store.Project) (bool, error) {
	project := p.FullName()
	pending, err := c.d.Store.PendingCatalogJobs(ctx, project)
	if err != nil || pending > 0 {
		return false, err
	}
	dir, err := c.repoDir(project)
	if err != nil {
		return false, err
	}
	r, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return false, nil // created, never pushed to
	}
	if err != nil {
		return false, fmt.Errorf("open repository %s: %w", dir, err)
	}
	branch := p.DefaultBranch
	if branch == "" {
		if h, err := r.Storer.Reference(plumbing.HEAD); err == nil && h.Type() == plumbing.SymbolicReference {
			branch = h.Target().Short()
		}
	}
	if branch == "" {
		return false, nil
	}
	head := ZeroID
	if ref, err := r.Reference(plumbing.NewBranchReferenceName(branch), true); err == nil {
		head = ref.Hash().String()
	}
	meta, err := c.d.Store.ProjectMeta(ctx, project)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	catalogued := meta.LatestCommit
	if catalogued == "" {
		catalogued = ZeroID
	}
	if catalogued == head && (head == ZeroID || meta.Ref == branch) {
		return false, nil
	}
	n, err := c.countChanged(ctx, dir, catalogued, head)
	if err != nil {
		n = 0
	}
	if _, err := c.d.Store.EnqueueCatalogJob(ctx, project, "refs/heads/"+branch, catalogued, head, n); err != nil {
		return false, err
	}
	c.log.Info("catalogue behind its branch; job queued", "project", project, "branch", branch, "catalogued", short(catalogued), "head", short(head))
	return true, nil
}

// reconcileTimeout bounds Reconcile at start.
const reconcileTimeout = 5 * time.Minute
