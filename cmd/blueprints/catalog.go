package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/catalog/follow"
	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/runner"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/scad"
	"github.com/blueprints-hq/blueprints/search"
	"github.com/blueprints-hq/blueprints/storage"
	"github.com/blueprints-hq/blueprints/ui/api"
)

// catalogService is the catalog as serve and reindex build it: the job
// queue's workers, this node's search index and the follower that feeds it
// from the store's change log, and the JSON API over it.
type catalogService struct {
	Catalog  *catalog.Catalog
	Index    *search.Bleve
	Follower *follow.Follower
	// Searcher is Index gated on the follower: it refuses searches until
	// the index has caught up with the database.
	Searcher search.Index
	API      *api.API
	unlock   func()
}

// catalogNode is how this node claims catalog jobs.
type catalogNode struct {
	Node  string
	Lease time.Duration
	// Rebuild: the index is built once everything is catalogued (reindex),
	// not after each job.
	Rebuild bool
	// SCAD builds OpenSCAD sources into parts; nil lists them unbuilt.
	SCAD *scad.Builder
	// API says who is asking the JSON API and what they may see (the
	// access policy and the viewer of a request; anonymous when empty),
	// the public URL of its links and its print plans (none when nil);
	// the store, index and logger are set here.
	API api.Deps
	// Catalogued, when set, hears of each project catalogued (serve:
	// the print planner prepares its plan).
	Catalogued func(project string)
	// Budget is one part's budget: PartTimeout of time, and MaxOverdraw
	// for its preview (render.Limits); defaults when zero.
	PartTimeout time.Duration
	MaxOverdraw int
}

// partBudgetFlags declares --part-timeout and --preview-budget and their
// environment twins (serve and reindex).
func partBudgetFlags(fs *cli.Flags) {
	fs.Duration("part-timeout", catalog.DefaultPartTimeout, "time budget of one part (reading, measuring, drawing its preview); a part over it fails alone, with the reason on the project page")
	fs.Env("part-timeout", "BLUEPRINTS_PART_TIMEOUT")
	fs.Int("preview-budget", render.DefaultMaxOverdraw, "work budget of one preview, in pictures' worth of samples tested (real parts need up to about 25; a file of overlapping facets each covering the picture needs one per facet)")
	fs.Env("preview-budget", "BLUEPRINTS_PREVIEW_BUDGET")
}

// partBudget reads the flags of partBudgetFlags into n.
func partBudget(fs *cli.Flags, n *catalogNode) error {
	n.PartTimeout, n.MaxOverdraw = flagGet[time.Duration](fs, "part-timeout"), flagGet[int](fs, "preview-budget")
	if n.PartTimeout <= 0 || n.MaxOverdraw < 1 {
		return fmt.Errorf("%w: --part-timeout and --preview-budget must be positive", cli.ErrUsage)
	}
	return nil
}

// rebuildNode is the catalog node of a command that measures everything
// again (reindex, restore): its OpenSCAD builder and parts' budget, from
// scadFlags and partBudgetFlags.
func rebuildNode(log *slog.Logger, fs *cli.Flags) (catalogNode, error) {
	node := catalogNode{Rebuild: true, SCAD: scadBuilder(log, fs, nil)}
	return node, partBudget(fs, &node)
}

// openCatalog takes the data folder's catalog lock and opens the search
// index, its follower, the catalog and the API over them.
func openCatalog(ctx context.Context, log *slog.Logger, st *store.Store, blobs storage.Blobs, data, reposRoot string, n catalogNode) (*catalogService, error) {
	unlock, err := catalog.LockData(data)
	if err != nil {
		if errors.Is(err, catalog.ErrLocked) {
			return nil, fmt.Errorf("data folder %s is in use by another blueprints serve or reindex; stop it first", data)
		}
		return nil, err
	}
	return openCatalogAt(ctx, log, st, blobs, reposRoot, filepath.Join(data, "index.bleve"), unlock, nil, n)
}

// partLimits are the render limits of n's parts.
func partLimits(n catalogNode) render.Limits {
	lim := render.DefaultLimits()
	if n.MaxOverdraw > 0 {
		lim.MaxOverdraw = n.MaxOverdraw
	}
	return lim
}

// openCatalogAt is openCatalog with the index at indexPath, the data
// folder's lock already held (unlock releases it) and measured called
// after each file measured.
func openCatalogAt(ctx context.Context, log *slog.Logger, st *store.Store, blobs storage.Blobs, reposRoot, indexPath string, unlock func(), measured func(project, path string), n catalogNode) (*catalogService, error) {
	index, err := openIndex(ctx, log, st, indexPath)
	if err != nil {
		unlock()
		return nil, err
	}
	follower, err := follow.New(follow.Config{Store: st, Index: index, Logger: log})
	if err != nil {
		index.Close()
		unlock()
		return nil, err
	}
	var indexed func(context.Context) error
	if !n.Rebuild {
		indexed = follower.Sync
	}
	cat, err := catalog.New(catalog.Deps{
		Store:       st,
		Blobs:       blobs,
		Indexed:     indexed,
		Node:        n.Node,
		Lease:       n.Lease,
		Repos:       reposRoot,
		Measure:     catalog.RenderMeasurer{Limits: partLimits(n)},
		PartTimeout: n.PartTimeout,
		SCAD:        n.SCAD,
		Measured:    measured,
		Catalogued:  n.Catalogued,
		Logger:      log,
	})
	if err != nil {
		index.Close()
		unlock()
		return nil, err
	}
	searcher := follower.Searcher(index)
	return &catalogService{
		Catalog:  cat,
		Index:    index,
		Follower: follower,
		Searcher: searcher,
		API:      api.New(apiDeps(n.API, st, searcher, log)),
		unlock:   unlock,
	}, nil
}

// apiDeps completes the API's dependencies serve chose (who asks, what
// they may see, the public URL) with the store and index opened here.
func apiDeps(d api.Deps, st *store.Store, index search.Index, log *slog.Logger) api.Deps {
	d.Store, d.Index, d.Logger = st, index, log
	return d
}

// openIndex opens the search index at path. An index that followed
// another database (or got further than this one's log), or that an
// earlier release wrote in another shape (mapping version), does not fit
// this catalogue: it is removed and built again from this database.
func openIndex(ctx context.Context, log *slog.Logger, st *store.Store, path string) (*search.Bleve, error) {
	index, err := search.Open(path)
	if errors.Is(err, search.ErrIndexVersion) {
		// Written by a version with another index shape (an upgrade): the
		// index is derived data, built again from the database's
		// change log, in the background.
		log.Warn("the search index was written by another version; building it again from the database", "index", path)
		if err := os.RemoveAll(path); err != nil {
			return nil, fmt.Errorf("remove search index %s: %w", path, err)
		}
		index, err = search.Open(path)
	}
	if err != nil {
		return nil, err
	}
	err = follow.Check(ctx, st, index)
	if err == nil {
		return index, nil
	}
	index.Close()
	if !errors.Is(err, follow.ErrOtherLog) {
		return nil, err
	}
	log.Warn("search index does not match the database; building it again from the database", "index", path, "reason", err)
	if err := os.RemoveAll(path); err != nil {
		return nil, fmt.Errorf("remove search index %s: %w", path, err)
	}
	return search.Open(path)
}

// scadBuilder returns the builder of OpenSCAD sources, running openscad
// through the sandboxing runner, or nil (and says so in the log) when
// openscad is not installed.
func scadBuilder(log *slog.Logger, fs *cli.Flags, runs func(result string)) *scad.Builder {
	nice := fs.Lookup("scad-nice").Value.(interface{ Get() any }).Get().(int)
	r := runner.New(runner.Options{Logger: log, Limits: runner.Limits{Nice: nice}})
	timeout := scadTimeout(fs)
	b, err := scad.NewBuilder(r, scad.BuilderOptions{Program: flagString(fs, "openscad"), Timeout: timeout, Runs: runs})
	if err != nil {
		log.Info("OpenSCAD sources will be listed but not built", "reason", err)
		return nil
	}
	iso := r.Isolation()
	if iso.Missing != "" {
		log.Warn("openscad runs with less isolation than it could", "isolation", iso.How, "missing", iso.Missing)
	}
	log.Info("OpenSCAD sources are built into parts", "program", b.Version(), "isolation", iso.How, "timeout", timeout)
	return b
}

// Close closes the index and releases the lock.
func (c *catalogService) Close() {
	if c.Index != nil {
		c.Index.Close()
		c.Index = nil
	}
	if c.unlock != nil {
		c.unlock()
		c.unlock = nil
	}
}
