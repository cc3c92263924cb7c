package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchParts is the size of the benchmark index, as in the target
// (100k parts indexed in under 60 s; search p99 under 25 ms).
const benchParts = 100_000

// BenchmarkApply100k indexes 100k synthetic parts in Apply calls of 1000
// documents (a big push) and 20000 (reindex: Apply splits it into batches
// of maxBatch written in parallel). BENCH_PARTS=n indexes fewer.
func BenchmarkApply100k(b *testing.B) {
	n := benchParts
	if s := os.Getenv("BENCH_PARTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	docs := SyntheticParts(n, 1)
	for _, batch := range []int{1000, 20000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			for b.Loop() {
				idx, err := Open(filepath.Join(b.TempDir(), "index.bleve"))
				if err != nil {
					b.Fatal(err)
				}
				start, cpu := time.Now(), cpuTime()
				for i := 0; i < len(docs); i += batch {
					if err := idx.Apply(context.Background(), docs[i:min(i+batch, len(docs))], nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(docs))/time.Since(start).Seconds(), "parts/s")
				b.ReportMetric(time.Since(start).Seconds(), "wall-s")
				b.ReportMetric((cpuTime() - cpu).Seconds(), "cpu-s")
				if err := idx.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var (
	benchOnce  sync.Once
	benchIndex *Bleve
	benchErr   error
)

// benchmarkIndex opens the 100k-part index once per process: built in a
// temporary folder, or kept in $BENCH_INDEX (built there when missing) so
// that search benchmarks can be repeated without indexing again.
func benchmarkIndex(b *testing.B) *Bleve {
	benchOnce.Do(func() {
		dir := os.Getenv("BENCH_INDEX")
		if dir == "" {
			if dir, benchErr = makeTempDir(); benchErr != nil {
				return
			}
		}
		p := filepath.Join(dir, "index.bleve")
		_, statErr := os.Stat(p)
		if benchIndex, benchErr = Open(p); benchErr != nil || statErr == nil {
			return
		}
		docs := SyntheticParts(benchParts, 1)
		start, cpu := time.Now(), cpuTime()
		benchErr = benchIndex.Apply(context.Background(), docs, nil)
		fmt.Printf("indexed %d parts in %.1f s wall, %.1f s CPU\n", len(docs), time.Since(start).Seconds(), (cpuTime() - cpu).Seconds())
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchIndex
}

// BenchQueries are search-box and API requests in the mix a benchmark
// sends: words, typos, prefixes, filters, sorts and empty text.
var benchQueries = []string{
	"q=z+carriage",
	"q=front+idler",
	"q=xy+joint",
	"q=clamps",
	"q=gears",
	"q=bracket&kind=part",
	"q=motor+mount",
	"q=carrage",
	"q=tensoiner",
	"q=spool+hol&prefix=1",
	"q=bear&prefix=1",
	"q=belt+clamp&license=MIT",
	"q=hinge&max_x=220&max_y=220&max_z=250",
	"q=cover&sort=volume",
	"q=pulley&sort=name",
	"q=left+rear+bracket+x2",
	"",
	"kind=part&max_x=100&max_y=100&max_z=100",
	"category=agriculture&sort=updated",
	"q=duct&min_volume=1000&max_volume=50000",
	"q=plate&page=3",
	"q=extruder+hotend+fan+shroud",
}

func benchQuerySet(b *testing.B) []Query {
	qs := make([]Query, len(benchQueries))
	for i, raw := range benchQueries {
		v, _ := url.ParseQuery(raw)
		q, err := ParseQuery(v)
		if err != nil {
			b.Fatal(err)
		}
		qs[i] = q
	}
	return qs
}

// BenchmarkSearch runs the query mix on the 100k-part index and reports
// latency percentiles of single searches.
func BenchmarkSearch(b *testing.B) { benchMix(b, func(*Bleve, *Query) {}) }

// BenchmarkSearchNoFacets runs the mix without facet counts.
func BenchmarkSearchNoFacets(b *testing.B) {
	benchMix(b, func(_ *Bleve, q *Query) { q.NoFacets = true })
}

// BenchmarkSearchCold runs the mix with the query cache emptied before
// every search, as after an Apply: the cost of a query not seen before.
func BenchmarkSearchCold(b *testing.B) {
	benchMix(b, func(idx *Bleve, _ *Query) { idx.invalidate() })
}

// benchMix runs queries of the mix picked at random, letting prepare
// change each query (or the index) before it is timed, and reports the
// latency percentiles.
func benchMix(b *testing.B, prepare func(*Bleve, *Query)) {
	idx := benchmarkIndex(b)
	qs := benchQuerySet(b)
	var lat []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		q := qs[rng.IntN(len(qs))]
		prepare(idx, &q)
		start := time.Now()
		if _, err := idx.Search(context.Background(), q); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

// BenchmarkSearchEach reports each query of the mix alone.
func BenchmarkSearchEach(b *testing.B) {
	idx := benchmarkIndex(b)
	for i, q := range benchQuerySet(b) {
		b.Run(fmt.Sprintf("%02d:%s", i, benchQueries[i]), func(b *testing.B) {
			for b.Loop() {
				if _, err := idx.Search(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSearchParallel runs the mix from all GOMAXPROCS goroutines.
func BenchmarkSearchParallel(b *testing.B) {
	idx := benchmarkIndex(b)
	qs := benchQuerySet(b)
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
		for pb.Next() {
			if _, err := idx.Search(context.Background(), qs[rng.IntN(len(qs))]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

var benchDir string

func makeTempDir() (string, error) {
	var err error
	benchDir, err = os.MkdirTemp("", "blueprints-search-bench-")
	return benchDir, err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchIndex != nil {
		benchIndex.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
