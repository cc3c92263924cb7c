package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/blueprints-hq/blueprints/internal/gittree"
	"github.com/blueprints-hq/blueprints/repo"
)

// PostReceive is the repo post-receive hook: it queues a job for each
// update of the project's default branch and returns the lines the pusher
// sees, e.g. "Blueprints: 12 parts queued for cataloguing" and the
// project's URL. Other branches and tags are not catalogued.
func (c *Catalog) PostReceive(ctx context.Context, p repo.Push) []string {
	project := p.Owner + "/" + p.Project
	var lines []string
	for _, u := range p.Updates {
		if p.DefaultBranch == "" || u.Ref != "refs/heads/"+p.DefaultBranch {
			continue
		}
		n, err := c.countChanged(ctx, p.Dir, u.Old, u.New)
		if err != nil {
			c.log.Warn("count changed parts", "project", project, "err", err)
		}
		if _, err := c.d.Store.EnqueueCatalogJob(context.WithoutCancel(ctx), project, u.Ref, u.Old, u.New, n); err != nil {
			c.log.Error("queue catalog job", "project", project, "err", err)
			lines = append(lines, "Blueprints: could not queue the catalogue of this push (the server log says why); it will be catalogued by the next push or by `blueprints reindex`")
			continue
		}
		c.poke()
		switch {
		case u.New == ZeroID:
			lines = append(lines, fmt.Sprintf("Blueprints: branch %s deleted; its parts leave the catalogue", p.DefaultBranch))
		case err != nil:
			lines = append(lines, "Blueprints: push queued for cataloguing")
		case n == 1:
			lines = append(lines, "Blueprints: 1 part queued for cataloguing")
		case n > c.d.MaxFiles:
			lines = append(lines, fmt.Sprintf("Blueprints: more than %d parts changed; the first %d are queued for cataloguing (push in smaller steps for the rest)", c.d.MaxFiles, c.d.MaxFiles))
		default:
			lines = append(lines, fmt.Sprintf("Blueprints: %d parts queued for cataloguing", n))
		}
	}
	base := strings.TrimRight(p.BaseURL, "/")
	if base == "" {
		base = *c.baseURL.Load()
	}
	if len(lines) > 0 && base != "" {
		lines = append(lines, "see "+base+"/"+project)
	}
	return lines
}

// countChanged counts the part files added, changed, renamed or deleted
// between two commits.
func (c *Catalog) countChanged(ctx context.Context, dir, old, new string) (int, error) {
	if new == ZeroID {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := openRepo(dir)
	if err != nil {
		return 0, err
	}
	defer closeRepo(r)
	tree := func(id string) (plumbing.Hash, error) {
		if id == ZeroID || id == "" {
			return plumbing.ZeroHash, nil
		}
		cm, err := r.CommitObject(plumbing.NewHash(id))
		if err != nil {
			return plumbing.ZeroHash, err
		}
		return cm.TreeHash, nil
	}
	a, err := tree(old)
	if err != nil {
		a = plumbing.ZeroHash // a force push over history we no longer have: count all
	}
	b, err := tree(new)
	if err != nil {
		return 0, err
	}
	// A part counts once whether it was added, changed, deleted or renamed
	// (a deletion whose content reappears under another path). The diff
	// streams and stops past MaxFiles: the job catalogues no more.
	n := 0
	added := map[plumbing.Hash]bool{}
	var deleted []plumbing.Hash
	err = gittree.Diff(ctx, gittree.FromStorer(r.Storer), a, b, func(ch gittree.Change) error {
		switch {
		case !ch.Deleted() && IsPart(ch.Path) && ch.To.IsFile():
			n++
			added[ch.To.ID] = true
		case !ch.Added() && IsPart(ch.Path) && ch.From.IsFile():
			deleted = append(deleted, ch.From.ID)
		}
		if n+len(deleted) > c.d.MaxFiles {
			return gittree.Stop
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, id := range deleted {
		if !added[id] {
			n++
		}
	}
	return n, nil
}
