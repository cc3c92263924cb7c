package render

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
)

func overlappingSTL(t testing.TB, n int, distinct bool) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := stlgen.WriteOverlapping(&b, n, distinct); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// spent draws m as a 512-pixel preview within lim and returns the work
// its workers did, in pictures' worth of samples, and whether the budget
// stopped them.
func spent(m *Mesh, lim Limits) (pictures float64, over bool) {
	ss := ssFor(512)
	workers := 1
	if len(m.tris)/3 >= parallelFacets {
		workers = cores()
	}
	r := newRaster(512*ss, workers)
	r.fit(m.verts)
	lim = lim.withDefaults()
	works := r.draw(m.verts, m.tris, lim)
	picture := float64(r.n) * float64(r.n)
	budget := float64(lim.MaxOverdraw) * picture
	for _, w := range works {
		pictures += (budget - float64(w.left)) / picture
		over = over || w.overBudget
	}
	for _, f := range r.frames {
		endLargeSlice(f.samples)
	}
	return pictures, over
}

// TestOverlapBudget: files of facets that each cover half the picture
// cost an unbounded rasteriser facets × pixels (2,000 took 11.5 s, 8,000
// took 60 s). Within the budget they fail with ErrBudget, naming the file
// and the budget, after at most the budget's work per worker (plus one
// facet), counted in samples rather than timed.
func TestOverlapBudget(t *testing.T) {
	// The default budget, once (it is a second or two of drawing).
	m, err := ReadMesh(bytes.NewReader(overlappingSTL(t, 2000, true)), "overlap.stl", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Render(512); !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "overlap.stl: no preview") {
		t.Errorf("2,000 overlapping facets: render error %v, want ErrBudget naming the file", err)
	}
	// Then a small budget, so each way of drawing is cheap to check.
	small := Limits{MaxOverdraw: 16}
	for _, n := range []int{2000, 8000} {
		m, err := ReadMesh(bytes.NewReader(overlappingSTL(t, n, true)), "overlap.stl", small)
		if err != nil {
			t.Fatalf("%d facets: %v", n, err)
		}
		work, over := spent(m, small)
		if !over || work > float64(cores()*small.MaxOverdraw+1) {
			t.Errorf("%d overlapping facets: %.0f pictures of work (over budget: %v), want at most %d", n, work, over, cores()*small.MaxOverdraw+1)
		}
		// ReadFacets (the file path's reader) and RenderFile meet the same budget.
		fs, err := ReadFacets(bytes.NewReader(overlappingSTL(t, n, true)), "overlap.stl", small)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Render(512); !errors.Is(err, ErrBudget) {
			t.Errorf("%d overlapping facets, ReadFacets: render error %v, want ErrBudget", n, err)
		}
		f, err := os.CreateTemp(t.TempDir(), "*.stl")
		if err != nil {
			t.Fatal(err)
		}
		f.Write(overlappingSTL(t, n, true))
		if _, err := RenderFile(f, "overlap.stl", 512, small); !errors.Is(err, ErrBudget) {
			t.Errorf("%d overlapping facets, RenderFile: error %v, want ErrBudget", n, err)
		}
		f.Close()
	}
	// A budget set higher lets the same file through.
	m, err = ReadMesh(bytes.NewReader(overlappingSTL(t, 2000, true)), "overlap.stl", Limits{MaxOverdraw: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Render(128); err != nil {
		t.Errorf("2,000 facets within a budget of 10,000 pictures: %v", err)
	}
}

// TestDuplicateFacetsDropped: copies of one facet change no pixel, so they
// are dropped before they spend the budget: 400,000 copies of a facet
// covering half the picture draw for the price of a few dozen pictures.
func TestDuplicateFacetsDropped(t *testing.T) {
	m, err := ReadMesh(bytes.NewReader(overlappingSTL(t, 400_000, false)), "copies.stl", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Render(512); err != nil {
		t.Fatalf("400,000 copies of one facet: %v", err)
	}
	work, over := spent(m, Limits{})
	if over || work > float64(cores()*(dedupAfter+2)) {
		t.Errorf("400,000 copies: %.0f pictures of work (over: %v), want about %d per worker", work, over, dedupAfter)
	}
}

// TestRealPartsWithinBudget: the default work budget is far above what
// the corpus's parts need, so no real part is refused for it.
func TestRealPartsWithinBudget(t *testing.T) {
	worst, worstName := 0.0, ""
	for _, path := range corpusFiles(t) {
		m, err := readMeshFile(t, path)
		if err != nil {
			continue // the corpus's broken files are other tests' business
		}
		work, over := spent(m, Limits{})
		if over {
			t.Errorf("%s: over the default preview budget", path)
		}
		if work > worst {
			worst, worstName = work, path
		}
	}
	if worst > DefaultMaxOverdraw/4 {
		t.Errorf("%s needs %.1f pictures of work: the default budget (%d) leaves too little room", worstName, worst, DefaultMaxOverdraw)
	}
	t.Logf("most costly corpus part: %s, %.1f pictures of work", worstName, worst)
}

// TestContextStopsPart: a part's context bounds reading, measuring and
// drawing. A passed deadline is the part's budget spent (ErrBudget); a
// cancelled context (the server stopping) is not the file's fault.
func TestContextStopsPart(t *testing.T) {
	data := overlappingSTL(t, 200_000, true)
	dead, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-dead.Done()
	stopped, stop := context.WithCancel(context.Background())
	stop()
	for _, k := range []Kind{KindSTL} {
		_, err := k.ReadMesh(bytes.NewReader(data), "slow.stl", Limits{Context: dead})
		if !errors.Is(err, ErrBudget) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "slow.stl: not measured") {
			t.Errorf("deadline passed: %v, want ErrBudget naming the file", err)
		}
		_, err = k.ReadMesh(bytes.NewReader(data), "slow.stl", Limits{Context: stopped})
		if errors.Is(err, ErrBudget) || !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v, want context.Canceled and not ErrBudget", err)
		}
	}
	// Drawing stops too: a mesh read in time, drawn after its deadline.
	ctx, cancelDraw := context.WithCancel(context.Background())
	m, err := ReadMesh(bytes.NewReader(data), "slow.stl", Limits{Context: ctx, MaxOverdraw: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	cancelDraw()
	if _, err := m.Render(512); !errors.Is(err, context.Canceled) {
		t.Errorf("drawing after cancel: %v, want context.Canceled", err)
	}
}

// readMeshFile reads the file at path with the default limits.
func readMeshFile(t testing.TB, path string) (*Mesh, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ReadMesh(f, path, Limits{})
}

// TestSpendAsCounted: spend, which only compares on its common path,
// answers as counting every sample would: the same answer at every call,
// duplicates dropped from the same call on, the context looked at after
// each checkSamples samples, and the budget spent at the same call.
func TestSpendAsCounted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		ctx, cancel := context.WithCancel(context.Background())
		picture := int64(rng.IntN(1<<20) + 1)
		budget := int64(rng.IntN(300)+1) * picture
		w := &work{ctx: ctx, left: budget, dedupAt: budget - dedupAfter*picture, checkAt: budget - checkSamples}
		w.quiet()
		// The plain count, as spend worked before.
		left, unchecked, dedup := budget, int64(0), false
		cancelAt := rng.IntN(400)
		for call := 0; ; call++ {
			if call == cancelAt {
				cancel()
			}
			n := int64(rng.IntN(4 << 20))
			left -= n
			dedup = dedup || left < budget-dedupAfter*picture
			want := left >= 0
			if unchecked += n; want && unchecked > checkSamples {
				unchecked = 0
				want = ctx.Err() == nil
			}
			got := w.spend(n)
			if got != want || (w.dup != nil) != dedup || w.left != left {
				t.Fatalf("round %d, call %d: spend says %v (dup %v, left %d), counting %v (dup %v, left %d)", round, call, got, w.dup != nil, w.left, want, dedup, left)
			}
			if !got {
				break
			}
		}
		cancel()
	}
}
