package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// How a part's cost is bounded, whatever its kind. Every reader gets the
// file through decode, which wraps it in a contextReader: once
// Limits.Context is done, the next read fails, and the reader stops with
// that error as it stops for any broken input. Measuring checks the
// context between its phases; the rasteriser (render), which every kind's
// preview goes through, checks it every few thousand facets and counts
// the samples it tests against Limits.MaxOverdraw. A new reader needs
// nothing more than to read its input through the io.Reader decode
// gives it, and to return the reader's errors.

// ErrBudget is wrapped by the errors of a file that needs more work, or
// more time, than its budget allows. Such a file is bad for this server
// whatever it is retried on: a caller may remember the failure.
var ErrBudget = errors.New("over its budget")

// contextReader fails reads once ctx is done. It tells the length of
// what it wraps as sizeOf would have (-1: unknown), for the readers that
// size their tables from it.
type contextReader struct {
	ctx  context.Context
	r    io.Reader
	size int64
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c contextReader) Len() int { return int(c.size) }

// withContext wraps r so that reading stops when lim's context is done.
func (l Limits) withContext(r io.Reader) io.Reader {
	if l.Context == nil {
		return r
	}
	return contextReader{l.Context, r, sizeOf(r)}
}

// stopped reports lim's context being done as an error naming the file:
// a passed deadline is the file's budget spent (ErrBudget); a cancelled
// context (the server stopping) is not the file's fault. It is nil while
// the context runs.
func (l Limits) stopped(name string) error {
	if l.Context == nil || l.Context.Err() == nil {
		return nil
	}
	return stoppedError(name, l.Context.Err())
}

func stoppedError(name string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: not measured: it takes longer than this server's time budget for one part: %w (%w)", name, ErrBudget, err)
	}
	return fmt.Errorf("%s: stopped: %w", name, err)
}

// timedOut turns an error that came of lim's context ending (a reader
// passing on contextReader's error) into stopped's error.
func (l Limits) timedOut(name string, err error) error {
	if err == nil || l.Context == nil || l.Context.Err() == nil {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return stoppedError(name, l.Context.Err())
	}
	return err
}

// overdrawError says a preview would need more work than its budget.
func overdrawError(name string, facets int, max int) error {
	return fmt.Errorf("%s: no preview: its %d facets overlap so much that drawing them would test more than %d times the picture's samples, this server's budget for one preview (real parts need up to about 25): %w", name, facets, max, ErrBudget)
}

// A drawing worker looks at its context every checkFacets facets, and
// every checkSamples samples tested (a few milliseconds of drawing): a
// few facets covering the whole picture take long too.
const (
	checkFacets  = 4096
	checkSamples = 1 << 24
)

// dedupAfter is the spending, in pictures' worth of samples, after which
// a drawing worker starts dropping exact duplicate facets: the parts of
// the test corpus cost 2 to 22 (the extents of long thin facets test
// many samples they do not cover), so only files of heavily overlapping
// facets pay for the table.
const dedupAfter = 32

// work is one drawing worker's share of a preview's budget.
type work struct {
	ctx        context.Context // nil: no time bound
	left       int64           // samples it may still test
	dedupAt    int64           // left below which duplicates are dropped
	checkAt    int64           // left below which the context is looked at again
	quietTo    int64           // left down to which spending only counts
	dup        *dupTable       // nil until then
	stop       bool            // out of budget, or the context ended
	overBudget bool            // stopped for the samples
}

// newWorks gives each worker the whole budget: a file whose overlapping
// facets all fall in one worker's share is bounded as well as one whose
// fall in both, and the total is at most twice the budget.
func (r *raster) newWorks(lim Limits) []*work {
	lim = lim.withDefaults()
	picture := int64(r.n) * int64(r.n)
	works := make([]*work, r.workers)
	for h := range works {
		budget := int64(lim.MaxOverdraw) * picture
		works[h] = &work{ctx: lim.Context, left: budget, dedupAt: budget - dedupAfter*picture, checkAt: budget - checkSamples}
		works[h].quiet()
	}
	return works
}

// spend takes n samples from the budget; false means it is spent (and the
// worker stops). The common case, nothing to do but count, is small
// enough to be inlined.
func (w *work) spend(n int64) bool {
	if w.left -= n; w.left >= w.quietTo {
		return true
	}
	return w.spent()
}

// spent is the rest of spend, once the samples are counted: duplicates
// are dropped from now on, the budget is spent, or it is time to look at
// the context (checkSamples after the last look).
func (w *work) spent() bool {
	if w.left < w.dedupAt && w.dup == nil {
		w.dup = newDupTable()
	}
	if w.left < 0 {
		w.stop, w.overBudget = true, true
		return false
	}
	ok := true
	if w.left < w.checkAt {
		w.checkAt = w.left - checkSamples
		ok = !w.cancelled()
	}
	w.quiet()
	return ok
}

// quiet sets quietTo: down to the next look at the context, to the end of
// the budget, and to where duplicates start being dropped.
func (w *work) quiet() {
	w.quietTo = max(w.checkAt, 0)
	if w.dup == nil {
		w.quietTo = max(w.quietTo, w.dedupAt)
	}
}

// cancelled reports (and remembers) that the worker's context ended.
func (w *work) cancelled() bool {
	if w.ctx != nil && w.ctx.Err() != nil {
		w.stop = true
	}
	return w.stop
}

// budgetSpent is the error of a drawing that stopped: its context ended,
// or a worker spent its samples.
func budgetSpent(name string, facets int, lim Limits, works []*work) error {
	lim = lim.withDefaults()
	for _, w := range works {
		if w.overBudget {
			return overdrawError(name, facets, lim.MaxOverdraw)
		}
	}
	for _, w := range works {
		if w.stop {
			return lim.stopped(name)
		}
	}
	return nil
}

// drawnFacet is a facet as drawn: its screen vertices, depths and shading
// cell. Two facets alike in these leave the same samples.
type drawnFacet struct {
	x0, y0, x1, y1, x2, y2 int64
	z0, z1, z2             float32
	cell                   uint16
}

// dupTable remembers the facets drawn lately, to drop exact duplicates: an
// open-addressed table of fixed size (a few hundred kilobytes), probed a
// few slots; when those are taken, a facet is drawn without being
// remembered, so the table costs the same whatever the file holds.
type dupTable struct {
	slots [1 << 12]struct {
		f    drawnFacet
		used bool
	}
}

func newDupTable() *dupTable { return new(dupTable) }

// seen reports whether f was drawn already, remembering it when not.
func (d *dupTable) seen(f drawnFacet) bool {
	h := uint64(f.x0)*0x9E3779B97F4A7C15 ^ uint64(f.y0)*0xC2B2AE3D27D4EB4F ^ uint64(f.x1)*0x165667B19E3779F9 ^
		uint64(f.y1)*0x27D4EB2F165667C5 ^ uint64(f.x2)*0x94D049BB133111EB ^ uint64(f.y2)*0xBF58476D1CE4E5B9 ^
		uint64(math.Float32bits(f.z0))<<7 ^ uint64(math.Float32bits(f.z1))<<19 ^ uint64(math.Float32bits(f.z2))<<31 ^ uint64(f.cell)<<45
	h ^= h >> 29
	for i := range uint64(4) {
		s := &d.slots[(h+i)%uint64(len(d.slots))]
		if !s.used {
			s.f, s.used = f, true
			return false
		}
		if s.f == f {
			return true
		}
	}
	return false
}
