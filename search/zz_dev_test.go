package search

import (
	"context"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var scaleKinds = []string{"word", "two words", "typo", "prefix", "build volume", "licence", "project", "sort by volume"}

func TestDevScale(t *testing.T) {
	dir := os.Getenv("DEV_INDEX")
	if dir == "" {
		t.Skip()
	}
	n, _ := strconv.Atoi(os.Getenv("DEV_N"))
	docs := SyntheticParts(1_000_000, 1)
	qs := scaleQueries(docs, 400_000)
	docs = nil
	idx, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	parsed := make([]Query, n)
	for i := range n {
		v, _ := url.ParseQuery(qs[i].query)
		q, err := ParseQuery(v)
		if err != nil {
			t.Fatal(err)
		}
		q.Scope = NewScope(false, nil, nil)
		parsed[i] = q
	}
	// warm
	for i := range 200 {
		idx.Search(context.Background(), parsed[n-1-i])
	}
	if p := os.Getenv("DEV_PROF"); p != "" {
		f, _ := os.Create(p)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	byKind := map[string][]time.Duration{}
	totals := map[string][]int{}
	cpu := cpuTime()
	start := time.Now()
	only := os.Getenv("DEV_ONLY")
	for i := range n - 200 {
		if only != "" && qs[i].kind != only {
			continue
		}
		t0 := time.Now()
		r, err := idx.Search(context.Background(), parsed[i])
		if err != nil {
			t.Fatal(err)
		}
		byKind[qs[i].kind] = append(byKind[qs[i].kind], time.Since(t0))
		totals[qs[i].kind] = append(totals[qs[i].kind], int(r.Total))
	}
	el := time.Since(start)
	if p := os.Getenv("DEV_MEM"); p != "" {
		f, _ := os.Create(p)
		pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	t.Logf("%d queries: %.3f ms wall/query, %.3f ms cpu/query", n-200, float64(el.Microseconds())/1000/float64(n-200), float64((cpuTime()-cpu).Microseconds())/1000/float64(n-200))
	for _, k := range scaleKinds {
		d := byKind[k]
		if len(d) == 0 {
			continue
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		tt := totals[k]
		sort.Ints(tt)
		t.Logf("%-15s mean %.3f ms p50 %.3f p99 %.3f  total p50 %d p90 %d max %d", k, float64(sum.Microseconds())/1000/float64(len(d)), float64(d[len(d)/2].Microseconds())/1000, float64(d[len(d)*99/100].Microseconds())/1000, tt[len(tt)/2], tt[len(tt)*9/10], tt[len(tt)-1])
	}
}

// scaleQuery is one request of the mix and its kind.
type scaleQuery struct {
	kind, query string
}

// scaleQueries builds up to max distinct queries from the documents, of
// every kind in turn: words of part names (drawn by how often they occur,
// so common words come first), two neighbouring words of one name, a word
// with one letter dropped, the first letters of a word as a prefix, a word
// with a random build volume, a word with a licence, a project's parts
// (with or without a word), and a word sorted by volume. No query is in
// the mix twice; a kind whose distinct queries run out leaves the mix.
func scaleQueries(docs []Doc, max int) []scaleQuery {
	rng := rand.New(rand.NewPCG(16, 1_000_000))
	seen := map[string]bool{}
	words := func(d *Doc) []string {
		return strings.FieldsFunc(splitCamelDev(d.Name), func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		})
	}
	licenses := []string{"GPL-3.0", "MIT", "CERN-OHL-S-2.0", "CC-BY-SA-4.0", "GPL-2.0", "Apache-2.0"}
	byKind := make([][]scaleQuery, len(scaleKinds))
	perKind := max / len(scaleKinds)
	for k, kind := range scaleKinds {
		for misses := 0; len(byKind[k]) < perKind && misses < 20*perKind; {
			d := &docs[rng.IntN(len(docs))]
			ws := words(d)
			q := url.Values{}
			ok := len(ws) > 0
			var w string
			if ok {
				w = ws[rng.IntN(len(ws))]
			}
			switch {
			case !ok:
			case kind == "word":
				q.Set("q", w)
			case kind == "two words":
				if ok = len(ws) >= 2; ok {
					i := rng.IntN(len(ws) - 1)
					q.Set("q", ws[i]+" "+ws[i+1])
				}
			case kind == "typo":
				if ok = len(w) >= 5; ok {
					i := 1 + rng.IntN(len(w)-2)
					q.Set("q", w[:i]+w[i+1:])
				}
			case kind == "prefix":
				if ok = len(w) >= 3; ok {
					q.Set("q", w[:2+rng.IntN(len(w)-2)])
					q.Set("prefix", "1")
				}
			case kind == "build volume":
				q.Set("q", w)
				q.Set("max_x", strconv.Itoa(100+rng.IntN(300)))
				q.Set("max_y", strconv.Itoa(100+rng.IntN(300)))
				q.Set("max_z", strconv.Itoa(100+rng.IntN(300)))
			case kind == "licence":
				q.Set("q", w)
				q.Set("license", licenses[rng.IntN(len(licenses))])
			case kind == "project":
				if rng.IntN(2) == 0 {
					q.Set("q", w)
				}
				q.Set("project", d.Project)
			case kind == "sort by volume":
				q.Set("q", w)
				q.Set("kind", "part")
				q.Set("sort", "volume")
			}
			s := q.Encode()
			if !ok || seen[s] {
				misses++
				continue
			}
			seen[s] = true
			byKind[k] = append(byKind[k], scaleQuery{kind, s})
		}
	}
	var out []scaleQuery
	for i := 0; i < perKind; i++ {
		for k := range byKind {
			if i < len(byKind[k]) {
				out = append(out, byKind[k][i])
			}
		}
	}
	return out
}

// splitCamel lower-cases s with a space before each upper-case letter
// that follows a lower-case one.
func splitCamelDev(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range s {
		upper := r >= 'A' && r <= 'Z'
		if upper && prevLower {
			b.WriteByte(' ')
		}
		prevLower = r >= 'a' && r <= 'z'
		if upper {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestDevSample(t *testing.T) {
	dir := os.Getenv("DEV_INDEX")
	if dir == "" {
		t.Skip()
	}
	docs := SyntheticParts(1_000_000, 1)
	qs := scaleQueries(docs, 400_000)
	docs = nil
	idx, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	kind := os.Getenv("DEV_KIND")
	c := 0
	for _, sq := range qs {
		if sq.kind != kind {
			continue
		}
		if c++; c > 12 {
			break
		}
		v, _ := url.ParseQuery(sq.query)
		q, _ := ParseQuery(v)
		q.Scope = NewScope(false, nil, nil)
		t0 := time.Now()
		r, err := idx.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-60s total %7d took %v unfit %v", sq.query, r.Total, time.Since(t0), r.Unfit != nil)
	}
	_ = strings.ToLower
	_ = rand.N[int]
}

func TestDevMerge(t *testing.T) {
	dir := os.Getenv("DEV_INDEX")
	if dir == "" {
		t.Skip()
	}
	idx, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	t0 := time.Now()
	if err := idx.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, _ := idx.Segments()
	t.Logf("segments %d", n)
	t.Logf("merged in %v", time.Since(t0))
}

func TestDevBuild(t *testing.T) {
	dir := os.Getenv("DEV_BUILD")
	if dir == "" {
		t.Skip()
	}
	per, _ := strconv.Atoi(os.Getenv("DEV_PER_TIER"))
	growth, _ := strconv.ParseFloat(os.Getenv("DEV_GROWTH"), 64)
	docs := SyntheticParts(1_000_000, 1)
	idx, err := open(dir, map[string]any{"scorchMergePlanOptions": map[string]any{"maxSegmentsPerTier": per, "tierGrowth": growth}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i := 0; i < len(docs); i += 20000 {
		if err := idx.Apply(context.Background(), docs[i:i+20000], nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("built in %v", time.Since(t0))
	idx.Close()
	t.Logf("closed in %v", time.Since(t0))
}
