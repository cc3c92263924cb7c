package print

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/render"
)

// Options are a Planner's dependencies. Store, Source and Printers are
// required.
type Options struct {
	Store    *store.Store
	Source   Source
	Printers *Printers
	// Estimates, when set, gives slicer estimates (see package
	// print/slicer); nil leaves them out.
	Estimates Estimator
	Limits    render.Limits // of the meshes read
	Spacing   float64       // between parts on a plate, mm; DefaultSpacing when 0
	// Workers is how many meshes are read at once to work out poses
	// (default 2).
	Workers int
	Logger  *slog.Logger
}

// Estimator gives slicer estimates by file content, slicing in the
// background what it has not sliced yet.
type Estimator interface {
	// Estimates returns what is known for each part (by SHA-256), and
	// queues the others (returned with Pending set). parts maps SHA-256
	// to where the part is.
	Estimates(ctx context.Context, parts map[string]PartRef) (map[string]*Estimate, error)
	// Known returns the estimate kept for a part's content, or nil; it
	// queues nothing.
	Known(ctx context.Context, sha256 string) (*Estimate, error)
	// Changes counts the estimates that have landed, so that plans made
	// before one landed are made again.
	Changes() int64
}

// PartRef says where a part's bytes are, and how it lies.
type PartRef struct {
	Project string
	Blob    string
	Path    string
	SHA256  string
	Pose    Pose
}

// Planner makes print plans for catalogued projects, and the plates' 3MF
// files and pictures. Plans are cached by everything they are made from
// (catalogued commit, catalogue update, printer, estimates landed), so a
// plan is made once and served many times. Safe for concurrent use.
type Planner struct {
	o      Options
	log    *slog.Logger
	gate   chan struct{}
	flight singleflight.Group
	plans  *lru[*Plan]
	pics   *lru[[]byte]
	shapes atomic.Int64 // shapes worked out, for plans' keys
	// prepare holds projects whose plans to make in the background.
	prepare chan string
}

// NewPlanner returns a planner over opt.
func NewPlanner(opt Options) (*Planner, error) {
	if opt.Store == nil || opt.Source == nil || opt.Printers == nil {
		return nil, errors.New("new planner: store, source and printers are required")
	}
	if opt.Spacing <= 0 {
		opt.Spacing = DefaultSpacing
	}
	if opt.Workers <= 0 {
		opt.Workers = 2
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Planner{
		o:     opt,
		log:   log.With("component", "print"),
		gate:  make(chan struct{}, opt.Workers),
		plans: newLRU[*Plan](256),
		pics:  newLRU[[]byte](128),

		prepare: make(chan string, 64),
	}, nil
}

// Printers returns the printer list.
func (p *Planner) Printers() *Printers { return p.o.Printers }

// Estimate returns the slicer's estimate for a part's content, when
// estimates are on and it has one.
func (p *Planner) Estimate(ctx context.Context, sha256 string) (*Estimate, error) {
	if p.o.Estimates == nil {
		return nil, nil
	}
	return p.o.Estimates.Known(ctx, sha256)
}

// EstimatesVersion changes whenever an estimate lands, for page caches.
func (p *Planner) EstimatesVersion() int64 {
	if p.o.Estimates == nil {
		return 0
	}
	return p.o.Estimates.Changes()
}

// ErrNoPlan says a project has nothing to plan yet: it has not been
// catalogued.
var ErrNoPlan = errors.New("project not catalogued yet")

// Plan returns project's plan for printer pr. Plans are shared: callers
// must not change them.
func (p *Planner) Plan(ctx context.Context, project string, pr Printer) (*Plan, error) {
	meta, err := p.o.Store.ProjectMeta(ctx, project)
	if errors.Is(err, store.ErrNotFound) || err == nil && meta.LatestCommit == "" {
		return nil, fmt.Errorf("plan %s: %w", project, ErrNoPlan)
	}
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", project, err)
	}
	var est int64
	if p.o.Estimates != nil {
		est = p.o.Estimates.Changes()
	}
	key := fmt.Sprintf("%s|%s|%s|%s|%d|%d|%d", project, meta.LatestCommit, meta.CatalogUpdate.UTC().Format("2006-01-02T15:04:05.000000000"), pr.ID, p.shapes.Load(), est, ShapeVersion)
	if pl, ok := p.plans.get(key); ok {
		return pl, nil
	}
	v, err, _ := p.flight.Do(key, func() (any, error) {
		pl, err := p.build(context.WithoutCancel(ctx), project, meta, pr)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(key))
		pl.Version = hex.EncodeToString(sum[:12])
		pl.Commit = meta.LatestCommit
		// A plan waiting for estimates or shapes is made again soon; it
		// is kept under its key all the same, as the key changes when
		// they land.
		p.plans.put(key, pl)
		return pl, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Plan), nil
}

func (p *Planner) build(ctx context.Context, project string, meta store.ProjectMeta, pr Printer) (*Plan, error) {
	parts, err := p.o.Store.ProjectParts(ctx, project)
	if err != nil {
		return nil, err
	}
	var notes []string
	inputs := make([]Input, 0, len(parts))
	for _, cp := range parts {
		if cp.Error != "" || cp.Measure == nil {
			continue
		}
		m := cp.Measure
		inputs = append(inputs, Input{Path: cp.Path, Blob: cp.Blob, SHA256: m.SHA256, Volume: m.Volume, Size: m.Size, Min: m.BBoxMin})
	}
	shapes, failed := p.Shapes(ctx, project, inputs)
	for i := range inputs {
		inputs[i].Shape = shapes[inputs[i].SHA256]
	}
	for _, f := range failed {
		notes = append(notes, f)
	}
	var manifests [2][]byte
	for i, name := range []string{BillFile, OKHFile} {
		data, err := p.o.Source.ReadFile(ctx, project, meta.LatestCommit, name, maxBillBytes+1)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s could not be read (%v); it was ignored", name, err))
			continue
		}
		manifests[i] = data
	}
	bill, billNotes := ParseBill(manifests[0], manifests[1])
	notes = append(notes, billNotes...)
	pl := Build(inputs, &bill, pr, p.o.Printers, p.o.Spacing)
	pl.Notes = append(append(append([]string{}, notes...), pl.Notes...), bill.Unused()...)
	if p.o.Estimates != nil && len(pl.Parts) > 0 {
		refs := make(map[string]PartRef, len(pl.Parts))
		for _, pt := range pl.Parts {
			refs[pt.SHA256] = PartRef{Project: project, Blob: pt.Blob, Path: pt.Path, SHA256: pt.SHA256, Pose: pt.PreferredPose}
		}
		est, err := p.o.Estimates.Estimates(ctx, refs)
		if err != nil {
			p.log.Warn("read slicer estimates", "project", project, "err", err)
		}
		pl.addEstimates(est)
	}
	return pl, nil
}

// addEstimates fills in the slicer's estimates and their sums.
func (pl *Plan) addEstimates(est map[string]*Estimate) {
	for i := range pl.Parts {
		pt := &pl.Parts[i]
		e := est[pt.SHA256]
		if e == nil {
			continue
		}
		pt.Estimate = e
		if e.Pending {
			pl.EstimatesPending++
			continue
		}
		if e.Error != "" {
			continue
		}
		if pl.Estimated == nil {
			pl.Estimated = &Estimate{Profile: e.Profile}
		}
		q := float64(pt.Quantity)
		pl.Estimated.Seconds += e.Seconds * q
		pl.Estimated.Grams += e.Grams * q
		pl.Estimated.Metres += e.Metres * q
		pl.EstimatedParts++
	}
}

// Shapes returns the shapes of parts by SHA-256: those stored, and the
// others worked out from their meshes now (and stored). A part whose mesh
// cannot be read gets no shape (the plan lays it as modelled) and a note.
func (p *Planner) Shapes(ctx context.Context, project string, parts []Input) (map[string]Shape, []string) {
	keys := make([]string, 0, len(parts))
	for _, in := range parts {
		keys = append(keys, in.SHA256)
	}
	out := make(map[string]Shape, len(parts))
	stored, err := p.o.Store.PrintShapes(ctx, ShapeVersion, keys)
	if err != nil {
		p.log.Warn("read stored shapes", "project", project, "err", err)
	}
	for k, doc := range stored {
		var s Shape
		if json.Unmarshal([]byte(doc), &s) == nil && s.Version == ShapeVersion && len(s.Poses) > 0 {
			out[k] = s
		}
	}
	var todo []Input
	seen := map[string]bool{}
	for _, in := range parts {
		if _, ok := out[in.SHA256]; !ok && !seen[in.SHA256] {
			seen[in.SHA256] = true
			todo = append(todo, in)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var notes []string
	for _, in := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.gate <- struct{}{}
			s, err := p.readShape(ctx, project, in)
			<-p.gate
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				p.log.Warn("work out how a part lies", "project", project, "path", in.Path, "err", err)
				notes = append(notes, fmt.Sprintf("%s could not be read to lay it flat (%v); it is laid as modelled", in.Path, err))
				return
			}
			out[in.SHA256] = s
		}()
	}
	wg.Wait()
	sort.Strings(notes)
	return out, notes
}

// readShape reads one part's mesh, works out its poses and stores them.
func (p *Planner) readShape(ctx context.Context, project string, in Input) (Shape, error) {
	m, err := p.readMesh(ctx, project, in.Blob, in.Path)
	if err != nil {
		return Shape{}, err
	}
	s := Analyse(m)
	doc, err := json.Marshal(s)
	if err != nil {
		return s, nil
	}
	if err := p.o.Store.PutPrintShape(ctx, in.SHA256, ShapeVersion, string(doc)); err != nil {
		p.log.Warn("store a part's shape", "path", in.Path, "err", err)
	} else {
		p.shapes.Add(1)
	}
	return s, nil
}

// readMesh reads a part's mesh from the project.
func (p *Planner) readMesh(ctx context.Context, project, blob, partPath string) (*render.Mesh, error) {
	rc, name, err := p.o.Source.OpenPart(ctx, project, blob, partPath)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return render.ReadMesh(rc, name, p.o.Limits)
}

// Prepare asks for a project's plan to be made in the background (its
// parts' shapes worked out and stored, their estimates queued), so that
// its first visitor gets it quickly. It never blocks: the catalogue calls
// it after each job. When many projects are waiting, the request is
// dropped; the first visit then does the work.
func (p *Planner) Prepare(project string) {
	select {
	case p.prepare <- project:
	default:
	}
}

// Run prepares the projects Prepare was given, one at a time, until ctx
// ends: a background worker for internal/server.
func (p *Planner) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case project := <-p.prepare:
			if _, err := p.Plan(ctx, project, p.o.Printers.Default()); err != nil && !errors.Is(err, ErrNoPlan) && ctx.Err() == nil {
				p.log.Warn("prepare print plan", "project", project, "err", err)
			}
		}
	}
}

// lru is a small map bounded in entries, dropping the least recently used.
type lru[V any] struct {
	mu    sync.Mutex
	max   int
	tick  uint64
	items map[string]*lruItem[V]
}

type lruItem[V any] struct {
	v    V
	used uint64
}

func newLRU[V any](max int) *lru[V] { return &lru[V]{max: max, items: map[string]*lruItem[V]{}} }

func (c *lru[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.tick++
	it.used = c.tick
	return it.v, true
}

func (c *lru[V]) put(k string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	c.items[k] = &lruItem[V]{v, c.tick}
	if len(c.items) <= c.max {
		return
	}
	// Drop the oldest eighth at once: eviction stays rare and cheap.
	type ku struct {
		k string
		u uint64
	}
	all := make([]ku, 0, len(c.items))
	for k, it := range c.items {
		all = append(all, ku{k, it.used})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].u < all[j].u })
	for _, e := range all[:max(1, len(all)/8)] {
		delete(c.items, e.k)
	}
}

// plateParts returns the distinct parts on plate n (indexes into
// pl.Parts), in order of first appearance.
func (pl *Plan) plateParts(n int) ([]int, error) {
	if n < 1 || n > len(pl.Plates) {
		return nil, fmt.Errorf("%w: plate %d of %d", ErrNoPlate, n, len(pl.Plates))
	}
	var out []int
	seen := map[int]bool{}
	for _, c := range pl.Plates[n-1].Pieces {
		if !seen[c.Part] {
			seen[c.Part] = true
			out = append(out, c.Part)
		}
	}
	return out, nil
}

// ErrNoPlate says a plan has no such plate or part.
var ErrNoPlate = errors.New("no such plate")

// PartIndex returns the index of the part at path p in the plan.
func (pl *Plan) PartIndex(p string) (int, bool) {
	for i, pt := range pl.Parts {
		if pt.Path == p {
			return i, true
		}
	}
	return 0, false
}

// titleOf is a download's title: project, printer, plate.
func titleOf(project string, pl *Plan, what string) string {
	return strings.Join([]string{project, pl.Printer.Name, what}, " · ")
}
