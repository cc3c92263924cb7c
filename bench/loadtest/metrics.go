package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is one line of the Prometheus text exposition format: a metric
// name, its labels and its value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// exposition is one scrape of /metrics.
type exposition struct {
	at      time.Time
	samples []sample
}

// parseExposition reads the Prometheus text format (version 0.0.4): one
// sample a line, `name{label="value",...} value [timestamp]`; comments
// and blank lines are skipped. A malformed line is an error naming it.
func parseExposition(r io.Reader) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("parse metrics line %d %q: %w", n, line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return s, fmt.Errorf("no value")
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " \t,")
			if rest == "" {
				return s, fmt.Errorf("unterminated labels")
			}
			if rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
				return s, fmt.Errorf("bad label")
			}
			key := strings.TrimSpace(rest[:eq])
			val, n, err := unquoteLabel(rest[eq+2:])
			if err != nil {
				return s, err
			}
			s.labels[key] = val
			rest = rest[eq+2+n:]
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || len(fields) > 2 {
		return s, fmt.Errorf("want a value and an optional timestamp")
	}
	v, err := parseValue(fields[0])
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// unquoteLabel reads a label value up to its closing quote (the opening
// one already consumed) and returns it and the bytes consumed.
func unquoteLabel(s string) (string, int, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			i++
			if i == len(s) {
				return "", 0, fmt.Errorf("unterminated label value")
			}
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated label value")
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return v, nil
}

// has reports whether any sample of the metric is present.
func (e *exposition) has(name string) bool {
	for _, s := range e.samples {
		if s.name == name {
			return true
		}
	}
	return false
}

// sum adds the samples of a metric whose labels match every pair in
// match, grouped by the value of label by ("" for one total).
func (e *exposition) sum(name, by string, match map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range e.samples {
		if s.name != name || !matches(s.labels, match) {
			continue
		}
		out[s.labels[by]] += s.value
	}
	return out
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	le    float64
	count float64
}

// histograms gathers the _bucket series of a histogram per value of label
// by, summed over the other labels.
func (e *exposition) histograms(name, by string) map[string][]bucket {
	acc := map[string]map[float64]float64{}
	for _, s := range e.samples {
		if s.name != name+"_bucket" {
			continue
		}
		le, err := parseValue(s.labels["le"])
		if err != nil {
			continue
		}
		key := s.labels[by]
		if acc[key] == nil {
			acc[key] = map[float64]float64{}
		}
		acc[key][le] += s.value
	}
	out := map[string][]bucket{}
	for k, m := range acc {
		for le, c := range m {
			out[k] = append(out[k], bucket{le, c})
		}
		sort.Slice(out[k], func(i, j int) bool { return out[k][i].le < out[k][j].le })
	}
	return out
}

// subtract returns the buckets of later minus those of earlier (both of the
// same histogram): what was observed between the two scrapes.
func subtract(later, earlier []bucket) []bucket {
	base := map[float64]float64{}
	for _, b := range earlier {
		base[b.le] = b.count
	}
	out := make([]bucket, len(later))
	for i, b := range later {
		out[i] = bucket{b.le, b.count - base[b.le]}
	}
	return out
}

// quantile estimates the q-quantile of a cumulative histogram by linear
// interpolation inside the bucket it falls in, as Prometheus's
// histogram_quantile does. It returns NaN for an empty histogram and the
// highest finite bound when the quantile lies in the +Inf bucket.
func quantile(q float64, bs []bucket) float64 {
	if len(bs) == 0 {
		return math.NaN()
	}
	total := bs[len(bs)-1].count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	prevLE, prevCount := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return prevLE
			}
			if b.count == prevCount {
				return b.le
			}
			return prevLE + (b.le-prevLE)*(rank-prevCount)/(b.count-prevCount)
		}
		prevLE, prevCount = b.le, b.count
	}
	return prevLE
}

// scraper reads /metrics every interval and keeps the first and latest
// scrapes of the load phase and the peaks of a few gauges.
type scraper struct {
	url    string
	client *http.Client

	mu        sync.Mutex
	first     *exposition // first scrape after markLoad
	last      *exposition
	loading   bool
	scrapes   int
	failures  int
	lastErr   string
	peakRSS   float64
	peakJobs  map[string]float64 // blueprints_catalog_jobs by state
	available bool               // /metrics answered 200 at least once
}

func newScraper(base string) *scraper {
	return &scraper{url: base + "/metrics", client: &http.Client{Timeout: 10 * time.Second}, peakJobs: map[string]float64{}}
}

// scrape reads /metrics once and folds it into the figures.
func (s *scraper) scrape(ctx context.Context) (*exposition, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.fail(err.Error())
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		err := fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
		s.fail(err.Error())
		return nil, err
	}
	samples, err := parseExposition(resp.Body)
	if err != nil {
		s.fail(err.Error())
		return nil, err
	}
	e := &exposition{at: time.Now(), samples: samples}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.available = true
	s.scrapes++
	if s.loading && s.first == nil {
		s.first = e
	}
	s.last = e
	if rss := e.sum("process_resident_memory_bytes", "", nil)[""]; rss > s.peakRSS {
		s.peakRSS = rss
	}
	for state, n := range e.sum("blueprints_catalog_jobs", "state", nil) {
		s.peakJobs[state] = max(s.peakJobs[state], n)
	}
	return e, nil
}

func (s *scraper) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures++
	s.lastErr = msg
}

// markLoad makes the next scrape the baseline of the load phase.
func (s *scraper) markLoad(ctx context.Context) {
	s.mu.Lock()
	s.loading = true
	s.first = nil
	s.peakRSS = 0
	s.peakJobs = map[string]float64{}
	s.mu.Unlock()
	s.scrape(ctx)
}

// run scrapes every interval until ctx ends.
func (s *scraper) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.scrape(ctx)
		}
	}
}
