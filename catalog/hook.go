package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

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
	r, err := git.PlainOpen(dir)
	if err != nil {
		return 0, err
	}
	tree := func(id string) (*object.Tree, error) {
		if id == ZeroID || id == "" {
			return nil, nil
		}
		cm, err := r.CommitObject(plumbing.NewHash(id))
		if err != nil {
			return nil, err
		}
		return cm.Tree()
	}
	a, err := tree(old)
	if err != nil {
		a = nil // a force push over history we no longer have: count all
	}
	b, err := tree(new)
	if err != nil {
		return 0, err
	}
	changes, err := object.DiffTreeWithOptions(ctx, a, b, nil)
	if err != nil {
		return 0, err
	}
	// A part counts once whether it was added, changed, deleted or renamed
	// (a deletion whose content reappears under another path).
	seen := map[string]bool{}
	added := map[plumbing.Hash]bool{}
	var deleted []object.ChangeEntry
	for _, ch := range changes {
		from, to := ch.From, ch.To
		if to.Name != "" && IsPart(to.Name) && isFileMode(to.TreeEntry.Mode) {
			seen[to.Name] = true
			added[to.TreeEntry.Hash] = true
		}
		if from.Name != "" && from.Name != to.Name && IsPart(from.Name) && isFileMode(from.TreeEntry.Mode) {
			deleted = append(deleted, from)
		}
	}
	for _, e := range deleted {
		if !added[e.TreeEntry.Hash] {
			seen[e.Name] = true
		}
	}
	return len(seen), nil
}
