// Package follow keeps a node's search index in step with the catalogue
// in the metadata store (DESIGN decision 10: the index follows the store).
//
// Data enters from the store's change log (store.IndexChanges): each row
// names a part or project document that may have changed since the
// sequence number the index has applied. The follower builds those
// documents again from the catalogue (project metadata, parts and their
// measurements), or deletes them when the catalogue no longer holds them,
// writes them to the node's own Bleve index in one Apply, and records the
// sequence number reached in the index (search.Bleve.SetLogPosition).
// Data leaves through the index, which the API and pages search.
//
// One node is the cluster with one member: a single server follows the
// log the same way, woken at once by its own catalog (Poke) and otherwise
// polling every quarter second for other nodes' changes. A new or wiped
// index starts at position zero and builds itself from the database, not
// from the repositories; until it has caught up once, Searcher refuses
// searches with search.ErrCatchingUp and /healthz says "catching up".
package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/search"
)

// Index is what the follower writes to: search.Bleve.
type Index interface {
	Apply(ctx context.Context, upserts []search.Doc, deletes []string) error
	LogPosition() search.LogPosition
	SetLogPosition(search.LogPosition) error
	// Compact merges the index's segments after a bulk load.
	Compact(ctx context.Context) error
	Segments() (int, error)
}

// Config is what a Follower works with.
type Config struct {
	Store *store.Store
	Index Index
	// Poll is how often the log is read when nothing pokes the follower
	// (default 250ms): the most a change by another node waits.
	Poll time.Duration
	// Batch is the most log rows applied in one index batch (default 2000).
	Batch int
	// CompactAfter is how many documents a first catch-up (a new, wiped
	// or rebuilt index) must write for the index to be compacted when it
	// ends (default 10,000): Bleve's merger leaves a bulk-loaded index in
	// tens of segments, and every search pays for each.
	CompactAfter int64
	// Logger receives progress while catching up, and errors;
	// slog.Default() when nil.
	Logger *slog.Logger
}

// ErrOtherLog is returned by Check when the index followed another
// database's change log, or got further than this database's log goes (a
// database restored from an older backup): it does not describe this
// catalogue, and must be rebuilt.
var ErrOtherLog = errors.New("search index does not follow this database's change log")

// Follower applies the store's change log to one index.
type Follower struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	ready   atomic.Bool  // caught up at least once
	head    atomic.Int64 // the log's last sequence number, last seen
	applied atomic.Int64 // documents written since the start

	mu    sync.Mutex // one step at a time
	logID int64
}

// New checks cfg and returns a Follower; Run starts it.
func New(cfg Config) (*Follower, error) {
	if cfg.Store == nil || cfg.Index == nil {
		return nil, errors.New("new follower: a store and an index are needed")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 2000
	}
	if cfg.CompactAfter <= 0 {
		cfg.CompactAfter = 10_000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Follower{cfg: cfg, log: log.With("component", "index follower"), wake: make(chan struct{}, 1)}, nil
}

// Check reports ErrOtherLog when the index does not belong to the store's
// database; a new index (position zero) belongs to any.
func Check(ctx context.Context, st *store.Store, idx Index) error {
	id, head, err := st.IndexLog(ctx)
	if err != nil {
		return err
	}
	pos := idx.LogPosition()
	switch {
	case pos == search.LogPosition{}:
		return nil
	case pos.ID != id:
		return fmt.Errorf("%w: it followed log %d, the database's is %d", ErrOtherLog, pos.ID, id)
	case pos.Seq > head:
		return fmt.Errorf("%w: it holds changes up to %d, the database's log ends at %d (restored from an older backup?)", ErrOtherLog, pos.Seq, head)
	}
	return nil
}

// Poke wakes the follower: the catalogue just changed on this node.
func (f *Follower) Poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Sync returns once the index holds every change the log held when Sync
// was called (the catalog calls it after recording a job's changes, so
// that a job done on this node is searchable on this node). It waits at
// most until ctx ends or a minute has passed (the follower may be failing:
// it logs why).
func (f *Follower) Sync(ctx context.Context) error {
	_, head, err := f.cfg.Store.IndexLog(ctx)
	if err != nil {
		return err
	}
	f.Poke()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	wait := time.Millisecond
	for f.cfg.Index.LogPosition().Seq < head {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the search index to reach change %d: %w", head, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
	return nil
}

// Ready reports whether the index has caught up with the log at least
// once since the start: until then it misses part of the catalogue.
func (f *Follower) Ready() bool { return f.ready.Load() }

// Progress is how far the index is (its position) and where the log
// ended when last read.
func (f *Follower) Progress() (position, head int64) {
	return f.cfg.Index.LogPosition().Seq, f.head.Load()
}

// Run follows the log until ctx ends: a background worker of the server.
func (f *Follower) Run(ctx context.Context) error {
	start := time.Now()
	lastLog := time.Now()
	failing := false
	for {
		n, err := f.Step(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if !failing {
				f.log.Error("follow the change log", "err", err)
			}
			failing = true
		default:
			if failing {
				f.log.Info("following the change log again")
			}
			failing = false
		}
		if !f.Ready() && time.Since(lastLog) > 2*time.Second {
			pos, head := f.Progress()
			f.log.Info("catching up: building the search index from the database", "position", pos, "head", head, "documents", f.applied.Load())
			lastLog = time.Now()
		}
		if err == nil && n == f.cfg.Batch {
			continue // more to read
		}
		if err == nil && n < f.cfg.Batch && !f.Ready() {
			pos, _ := f.Progress()
			f.log.Info("search index caught up with the database", "position", pos, "documents", f.applied.Load(), "took", time.Since(start).Round(time.Millisecond))
			// Searches are answered while the index is compacted.
			f.ready.Store(true)
			if err := f.compact(ctx); err != nil && ctx.Err() == nil {
				f.log.Error("compact the search index", "err", err) // it still answers, more slowly
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		case <-time.After(f.cfg.Poll):
		}
	}
}

// CatchUp applies the log up to its end (reindex builds a new index so).
func (f *Follower) CatchUp(ctx context.Context) error {
	for {
		n, err := f.Step(ctx)
		if err != nil {
			return err
		}
		if n < f.cfg.Batch {
			if !f.Ready() {
				if err := f.compact(ctx); err != nil {
					return err
				}
			}
			f.ready.Store(true)
			return nil
		}
	}
}

// compact compacts the index at the end of its first catch-up when that
// wrote at least compactAfter documents.
func (f *Follower) compact(ctx context.Context) error {
	if f.applied.Load() < f.cfg.CompactAfter {
		return nil
	}
	start := time.Now()
	before, err := f.cfg.Index.Segments()
	if err != nil {
		return err
	}
	if err := f.cfg.Index.Compact(ctx); err != nil {
		return err
	}
	after, err := f.cfg.Index.Segments()
	if err != nil {
		return err
	}
	f.log.Info("search index compacted", "segments_before", before, "segments", after, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Step applies at most Batch rows of the log past the index's position
// and returns how many it read.
func (f *Follower) Step(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logID == 0 {
		if err := Check(ctx, f.cfg.Store, f.cfg.Index); err != nil {
			return 0, err
		}
		id, _, err := f.cfg.Store.IndexLog(ctx)
		if err != nil {
			return 0, err
		}
		f.logID = id
	}
	pos := f.cfg.Index.LogPosition()
	changes, err := f.cfg.Store.IndexChanges(ctx, pos.Seq, f.cfg.Batch)
	if err != nil {
		return 0, err
	}
	if len(changes) == 0 {
		if _, head, err := f.cfg.Store.IndexLog(ctx); err == nil {
			f.head.Store(head)
		}
		return 0, nil
	}
	last := changes[len(changes)-1].Seq
	if last > f.head.Load() {
		f.head.Store(last)
	}
	docs, deletes, err := f.documents(ctx, changes)
	if err != nil {
		return 0, err
	}
	if err := f.cfg.Index.Apply(ctx, docs, deletes); err != nil {
		return 0, err
	}
	if err := f.cfg.Index.SetLogPosition(search.LogPosition{ID: f.logID, Seq: last}); err != nil {
		return 0, err
	}
	f.applied.Add(int64(len(docs) + len(deletes)))
	return len(changes), nil
}

// documents builds the documents the changes name from the catalogue as
// it is now, and lists those it no longer holds for deletion. Reading the
// current state rather than the state at each change is right: a later
// change of the same document is further on in the log and will be
// applied again.
func (f *Follower) documents(ctx context.Context, changes []store.Change) ([]search.Doc, []string, error) {
	byProject := map[string][]string{}
	var order []string
	for _, c := range changes {
		if _, ok := byProject[c.Project]; !ok {
			order = append(order, c.Project)
		}
		byProject[c.Project] = append(byProject[c.Project], c.Path)
	}
	var docs []search.Doc
	var deletes []string
	for _, project := range order {
		paths := byProject[project]
		meta, err := f.cfg.Store.ProjectMeta(ctx, project)
		known := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		// Who may find the documents (the search filter) comes from the
		// project's row: a project gone from it has no documents.
		owner, name, _ := strings.Cut(project, "/")
		row, err := f.cfg.Store.ProjectByName(ctx, owner, name)
		if errors.Is(err, store.ErrNotFound) {
			known = false
		} else if err != nil {
			return nil, nil, err
		}
		first := len(docs)
		var partPaths []string
		for _, p := range paths {
			if p != "" {
				partPaths = append(partPaths, p)
			}
		}
		parts := map[string]store.CataloguedPart{}
		if known && len(partPaths) > 0 {
			if parts, err = f.cfg.Store.CataloguedParts(ctx, project, partPaths); err != nil {
				return nil, nil, err
			}
		}
		for _, p := range paths {
			if p == "" {
				if known {
					d := ProjectDoc(meta)
					if d.Readme, err = f.cfg.Store.ProjectReadmeWords(ctx, project); err != nil {
						return nil, nil, err
					}
					docs = append(docs, d)
				} else {
					deletes = append(deletes, search.ProjectID(project))
				}
				continue
			}
			cp, ok := parts[p]
			if ok && cp.Error == "" && cp.Measure != nil {
				docs = append(docs, PartDoc(meta, cp))
			} else {
				deletes = append(deletes, search.PartID(project, p))
			}
		}
		stamp(docs[first:], row)
	}
	return docs, deletes, nil
}

// stamp marks documents with what the search filter and pages need from
// the project's row: private or public, its owner's canonical name, and
// the description set on its settings page.
func stamp(docs []search.Doc, p store.Project) {
	for i := range docs {
		docs[i].Private = p.Private()
		docs[i].Owner = p.Owner
		if p.Description != "" && docs[i].Kind == search.KindProject {
			docs[i].Description = p.Description
		}
	}
}

// PartDoc is the search document of a catalogued part.
func PartDoc(meta store.ProjectMeta, cp store.CataloguedPart) search.Doc {
	owner, _, _ := strings.Cut(meta.Project, "/")
	base := path.Base(cp.Path)
	return search.Doc{
		ID:       search.PartID(meta.Project, cp.Path),
		Kind:     search.KindPart,
		Project:  meta.Project,
		Owner:    owner,
		Name:     strings.TrimSuffix(base, path.Ext(base)),
		Path:     cp.Path,
		Ref:      cp.Ref,
		Commit:   cp.Commit,
		Blob:     cp.Blob,
		License:  meta.License,
		Category: meta.Category,
		Tags:     meta.Tags,
		Updated:  cp.Updated,
		Part:     cp.Measure,
	}
}

// ProjectDoc is the search document of a project, but for its README
// words (Readme), which the follower reads separately.
func ProjectDoc(meta store.ProjectMeta) search.Doc {
	owner, name, _ := strings.Cut(meta.Project, "/")
	title := meta.Title
	if title == "" {
		title = name
	}
	return search.Doc{
		ID:          search.ProjectID(meta.Project),
		Kind:        search.KindProject,
		Project:     meta.Project,
		Owner:       owner,
		Name:        title,
		Ref:         meta.Ref,
		Commit:      meta.LatestCommit,
		Description: meta.Description,
		License:     meta.License,
		Category:    meta.Category,
		Tags:        meta.Tags,
		Updated:     meta.LatestAt,
		Parts:       meta.Parts,
	}
}

// Searcher returns idx gated on the follower: until the index has caught
// up once, Search answers search.ErrCatchingUp rather than results that
// miss part of the catalogue.
func (f *Follower) Searcher(idx search.Index) search.Index { return gated{Index: idx, f: f} }

type gated struct {
	search.Index
	f *Follower
}

func (g gated) Search(ctx context.Context, q search.Query) (search.Result, error) {
	if !g.f.Ready() {
		pos, head := g.f.Progress()
		return search.Result{}, fmt.Errorf("%w (change %d of %d)", search.ErrCatchingUp, pos, head)
	}
	return g.Index.Search(ctx, q)
}
