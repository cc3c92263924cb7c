package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
)

// mappingVersion names the shape of the index; an index written with
// another version must be rebuilt (the server does so from the database at
// start; blueprints reindex from the repositories). 2: visibility and
// owner_key (private projects). 3: sizes, volume and time in one stored
// field (m) instead of numeric fields; keyword fields without doc values.
// 4: the README words of projects (field readme), and camelCase words
// indexed whole too.
const mappingVersion = "4"

var mappingVersionKey = []byte("blueprints_mapping_version")

// logPositionKey holds the index's LogPosition ("id seq").
var logPositionKey = []byte("blueprints_log_position")

// LogPosition says how far an index has followed the metadata store's
// change log (package catalog/follow): which log (ID, the database's) and
// up to which sequence number (Seq). A new index is at the zero position.
type LogPosition struct {
	ID  int64
	Seq int64
}

// ErrIndexVersion is returned by Open for an index written by another
// version of the mapping; rebuild it with `blueprints reindex`.
var ErrIndexVersion = errors.New("search index was written by another version; stop the server and run `blueprints reindex`")

// ErrIndexLocked is returned by Open when another process holds the index.
var ErrIndexLocked = errors.New("search index is in use by another process (is `blueprints serve` running?)")

// Bleve is the Index on a Bleve (scorch) index on disk.
type Bleve struct {
	index    bleve.Index
	analyzer analysis.Analyzer
	path     string

	writeMu sync.Mutex // one Apply at a time; guards closed
	closed  bool

	cache    *queryCache   // results, emptied by every Apply
	slots    chan struct{} // one per search running; GOMAXPROCS of them (see search)
	flights  singleflight.Group
	columns  *columnCache  // per segment, for counting, filtering and sorting
	stopWarm chan struct{} // closed by Close: ends warm
	warmDone chan struct{}

	posMu sync.Mutex
	pos   LogPosition
}

var _ Index = (*Bleve)(nil)

// maxBatch bounds the documents in one Bleve batch; a larger Apply is
// written as several batches, in parallel since Bleve builds each batch's
// segment on one core (the index is derived data, so a crash between
// batches is repaired by re-running the catalog job).
const maxBatch = 5000

// Open opens the index at path (conventionally data/index.bleve),
// creating it when it does not exist.
func Open(p string) (*Bleve, error) { return open(p, nil) }

// open is Open with more of Bleve's index settings (tests).
func open(p string, settings map[string]any) (*Bleve, error) {
	config := map[string]any{"bolt_timeout": "2s"}
	maps.Copy(config, settings)
	idx, err := bleve.OpenUsing(p, config)
	switch {
	case errors.Is(err, bleve.ErrorIndexPathDoesNotExist) || errors.Is(err, bleve.ErrorIndexMetaMissing) && dirEmpty(p):
		im, merr := newMapping()
		if merr != nil {
			return nil, fmt.Errorf("build search mapping: %w", merr)
		}
		idx, err = bleve.NewUsing(p, im, scorch.Name, scorch.Name, config)
		if err != nil {
			return nil, fmt.Errorf("create search index %s: %w", p, err)
		}
		if err := idx.SetInternal(mappingVersionKey, []byte(mappingVersion)); err != nil {
			idx.Close()
			return nil, fmt.Errorf("create search index %s: %w", p, err)
		}
	case err != nil:
		if strings.Contains(err.Error(), "timeout") {
			return nil, fmt.Errorf("open search index %s: %w", p, ErrIndexLocked)
		}
		return nil, fmt.Errorf("open search index %s: %w (delete it and run `blueprints reindex` if it is damaged)", p, err)
	default:
		v, err := idx.GetInternal(mappingVersionKey)
		if err != nil || string(v) != mappingVersion {
			idx.Close()
			return nil, fmt.Errorf("open search index %s: %w", p, ErrIndexVersion)
		}
	}
	a := idx.Mapping().AnalyzerNamed(partNameAnalyzer)
	if a == nil {
		idx.Close()
		return nil, fmt.Errorf("open search index %s: analyzer %s missing from mapping: %w", p, partNameAnalyzer, ErrIndexVersion)
	}
	b := &Bleve{index: idx, analyzer: a, path: p, cache: newQueryCache(), columns: newColumnCache(), slots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		stopWarm: make(chan struct{}), warmDone: make(chan struct{})}
	if v, err := idx.GetInternal(logPositionKey); err != nil {
		idx.Close()
		return nil, fmt.Errorf("open search index %s: read its log position: %w", p, err)
	} else if len(v) > 0 {
		if _, err := fmt.Sscanf(string(v), "%d %d", &b.pos.ID, &b.pos.Seq); err != nil {
			idx.Close()
			return nil, fmt.Errorf("open search index %s: log position %q: %w (delete the folder: it is rebuilt from the database)", p, v, err)
		}
	}
	go b.warm()
	return b, nil
}

// LogPosition is how far the index has followed the change log.
func (b *Bleve) LogPosition() LogPosition {
	b.posMu.Lock()
	defer b.posMu.Unlock()
	return b.pos
}

// SetLogPosition records, durably, that the index holds every change of
// the log up to p. Call it after the Apply of those changes returned.
func (b *Bleve) SetLogPosition(p LogPosition) error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	if b.closed {
		return fmt.Errorf("record log position: search index %s is closed", b.path)
	}
	if err := b.index.SetInternal(logPositionKey, fmt.Appendf(nil, "%d %d", p.ID, p.Seq)); err != nil {
		return fmt.Errorf("record log position in %s: %w", b.path, err)
	}
	b.posMu.Lock()
	b.pos = p
	b.posMu.Unlock()
	return nil
}

func dirEmpty(p string) bool {
	entries, err := os.ReadDir(p)
	return err == nil && len(entries) == 0
}

// Close flushes and closes the index.
func (b *Bleve) Close() error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.stopWarm)
	<-b.warmDone
	if err := b.index.Close(); err != nil {
		return fmt.Errorf("close search index %s: %w", b.path, err)
	}
	return nil
}

// Count returns the number of documents in the index.
func (b *Bleve) Count() (uint64, error) { return b.index.DocCount() }

// Segments is how many segments the index is made of now. Every search
// pays a little per segment (a dictionary look-up per term, and the
// expansion of prefixes and typos walks each segment's dictionary), so
// fewer is faster; see Compact.
func (b *Bleve) Segments() (int, error) {
	snap, err := b.snapshot()
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	return len(snap.Segments()), nil
}

// snapshot returns the index as it is now; the caller closes it.
func (b *Bleve) snapshot() (*scorch.IndexSnapshot, error) {
	a, err := b.index.Advanced()
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", b.path, err)
	}
	r, err := a.Reader()
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", b.path, err)
	}
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		r.Close()
		return nil, fmt.Errorf("search %s: index reader %T is not scorch's", b.path, r)
	}
	return snap, nil
}

// compactTo is the most segments Compact leaves; compactRounds bounds its
// forced merges (each rewrites what it merges).
const (
	compactTo     = 1
	compactRounds = 3
)

// Compact merges the index's segments into one (or as few as Bleve's
// merger makes in compactRounds forced merges) and returns when the
// merged segments are in use. Bleve's own merging keeps up to ten
// segments of each size (tens at a million parts), which is right while
// documents arrive and costs every search afterwards: after a bulk load
// (a rebuild from the database, `blueprints reindex`) a compact index
// answers a million-part search in about two thirds of the time.
// Searches go on meanwhile; Applies wait.
func (b *Bleve) Compact(ctx context.Context) error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	if b.closed {
		return fmt.Errorf("compact: search index %s is closed", b.path)
	}
	a, err := b.index.Advanced()
	if err != nil {
		return fmt.Errorf("compact search index %s: %w", b.path, err)
	}
	s, ok := a.(*scorch.Scorch)
	if !ok {
		return fmt.Errorf("compact search index %s: index %T is not scorch", b.path, a)
	}
	for range compactRounds {
		n, err := b.Segments()
		if err != nil || n <= compactTo {
			return err
		}
		plan := mergeplan.SingleSegmentMergePlanOptions
		if err := s.ForceMerge(ctx, &plan); err != nil {
			return fmt.Errorf("compact search index %s: %w", b.path, err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("compact search index %s: %w", b.path, err)
		}
		if m, err := b.Segments(); err != nil || m >= n {
			return err // no progress: leave it to Bleve's merger
		}
	}
	return nil
}

// Apply upserts docs and deletes ids. An id both upserted and deleted is
// deleted; of an id upserted twice, the last wins. Up to maxBatch
// documents go in one atomic Bleve batch (larger Applies are split and
// written in parallel); Apply returns once they are durable on disk.
func (b *Bleve) Apply(ctx context.Context, upserts []Doc, deletes []string) error {
	for i := range upserts {
		if err := upserts[i].check(); err != nil {
			return fmt.Errorf("index documents: %w", err)
		}
	}
	for _, id := range deletes {
		if id == "" {
			return fmt.Errorf("index documents: empty id to delete")
		}
	}
	deleted := make(map[string]bool, len(deletes))
	for _, id := range deletes {
		deleted[id] = true
	}
	// The last upsert of an id wins; deleted ids are not upserted. So no
	// id is in two batches, and batches may be built in parallel.
	last := make(map[string]int, len(upserts))
	for i := range upserts {
		last[upserts[i].ID] = i
	}
	var ops []batchOp
	for i := range upserts {
		if !deleted[upserts[i].ID] && last[upserts[i].ID] == i {
			ops = append(ops, batchOp{doc: &upserts[i]})
		}
	}
	for id := range deleted {
		ops = append(ops, batchOp{id: id})
	}
	if len(ops) == 0 {
		return nil
	}

	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	if b.closed {
		return fmt.Errorf("index documents: search index %s is closed", b.path)
	}
	defer b.invalidate()
	chunks := (len(ops) + maxBatch - 1) / maxBatch
	workers := min(chunks, runtime.GOMAXPROCS(0))
	size := (len(ops) + chunks - 1) / chunks
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := 0; i < len(ops); i += size {
		part := ops[i:min(i+size, len(ops))]
		g.Go(func() error { return b.writeBatch(ctx, part) })
	}
	return g.Wait()
}

// invalidate drops cached results after the index changed.
func (b *Bleve) invalidate() { b.cache.invalidate() }

// batchOp is one upsert (doc) or delete (id).
type batchOp struct {
	doc *Doc
	id  string
}

func (b *Bleve) writeBatch(ctx context.Context, ops []batchOp) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("index documents: %w", err)
	}
	batch := b.index.NewBatch()
	for _, op := range ops {
		if op.doc == nil {
			batch.Delete(op.id)
			continue
		}
		fields, err := indexFields(op.doc)
		if err != nil {
			return fmt.Errorf("index document %s: %w", op.doc.ID, err)
		}
		if err := batch.Index(op.doc.ID, fields); err != nil {
			return fmt.Errorf("index document %s: %w", op.doc.ID, err)
		}
	}
	if err := b.index.Batch(batch); err != nil {
		return fmt.Errorf("index documents in %s: %w", b.path, err)
	}
	return nil
}

func (d *Doc) check() error {
	switch {
	case d.ID == "":
		return fmt.Errorf("document without id (kind %q, name %q)", d.Kind, d.Name)
	case d.Kind != KindPart && d.Kind != KindProject:
		return fmt.Errorf("document %s: unknown kind %q (want %q or %q)", d.ID, d.Kind, KindPart, KindProject)
	}
	return nil
}

// indexFields flattens d into the fields of the mapping. Only fields with
// a value are set; projects have no sizes (see measures).
func indexFields(d *Doc) (map[string]any, error) {
	stored, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	f := map[string]any{
		fieldKind:    d.Kind,
		fieldNameKey: strings.ToLower(d.Name),
		fieldStored:  string(stored),
	}
	f[fieldMeasures] = string(measuresOf(d).encode())
	setKeyword := func(field, v string) {
		if v != "" {
			f[field] = v
		}
	}
	setKeyword(fieldProject, d.Project)
	f[fieldVisible] = "public"
	if d.Private {
		f[fieldVisible] = "private"
	}
	owner := d.Owner
	if owner == "" {
		owner, _, _ = strings.Cut(d.Project, "/")
	}
	setKeyword(fieldOwnerKey, strings.ToLower(owner))
	setKeyword(fieldLicense, d.License)
	setKeyword(fieldCategory, d.Category)

	text := make([]string, 0, 4+len(d.Tags))
	text = append(text, d.Project, d.Description, d.Category)
	text = append(text, d.Tags...)
	// Every text field holds its words as written (split at case changes
	// by the analyzer, so "xy joint" finds xyJoint) and, for words with a
	// case change inside, the word whole as well (so "reprap" finds
	// RepRap).
	switch d.Kind {
	case KindPart:
		// The name also as one word, so "xyjoint" finds xyJoint.
		f[fieldName] = pluralAcronyms(d.Name) + " " + joinedWords(d.Name) + caseJoined(d.Name)
		if dir := path.Dir(d.Path); dir != "." && dir != "/" {
			f[fieldPath] = pluralAcronyms(dir) + caseJoined(dir)
		}
	case KindProject:
		_, repo, _ := strings.Cut(d.Project, "/")
		f[fieldName] = pluralAcronyms(d.Name+" "+repo) + caseJoined(d.Name+" "+repo)
		if d.Readme != "" {
			f[fieldReadme] = pluralAcronyms(d.Readme) + caseJoined(d.Readme)
		}
	}
	all := strings.Join(text, " ")
	f[fieldText] = pluralAcronyms(all) + caseJoined(all)
	return f, nil
}

// joinedWords is s in lower case with everything but letters and digits
// removed.
func joinedWords(s string) string {
	return strings.Map(func(r rune) rune {
		if notWordRune(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// caseJoined is, each after a space, in lower case, every word of s (a
// run of letters and digits) that changes case inside ("RepRap",
// "xyJoint", "OpenSCAD"), whole, and every run of two or more of its
// camelCase parts ("RepRapLogo": reprap, raplogo, repraplogo), so that
// what the analyzer splits is also found typed as one word; "" when s has
// no such word. Most words have no inner case change, so most documents
// index nothing more.
func caseJoined(s string) string {
	var b strings.Builder
	start := -1
	flush := func(end int) {
		if start >= 0 {
			parts := camelParts(s[start:end])
			if len(parts) > maxJoinedParts {
				b.WriteByte(' ')
				b.WriteString(strings.ToLower(s[start:end]))
				parts = nil
			}
			for i := range parts {
				for j := i + 2; j <= len(parts); j++ {
					b.WriteByte(' ')
					for _, p := range parts[i:j] {
						b.WriteString(strings.ToLower(p))
					}
				}
			}
		}
		start = -1
	}
	for i, r := range s {
		if notWordRune(r) {
			flush(i)
		} else if start < 0 {
			start = i
		}
	}
	flush(len(s))
	return b.String()
}

// maxJoinedParts bounds the camelCase parts of one word whose runs
// caseJoined indexes (beyond, the word only whole).
const maxJoinedParts = 6

// camelParts splits a word at its case changes as the analyzer does: a
// lower-case letter followed by an upper-case one ("Rep|Rap"), and an
// upper-case run followed by a lower-case letter, whose last upper-case
// letter begins the next part ("XY|Joint"). Digits stay with the letters
// around them (the analyzer splits those itself, and a word is joined
// only for its case changes). A word without a case change is one part.
func camelParts(w string) []string {
	var parts []string
	start := 0
	var prev, prevAt int // prev: case of the rune before (0 other, 1 lower, 2 upper), at prevAt
	var prev2 int
	for i, r := range w {
		cur := 0
		switch {
		case unicode.IsUpper(r):
			cur = 2
			if prev == 1 {
				parts, start = append(parts, w[start:i]), i
			}
		case unicode.IsLower(r):
			cur = 1
			if prev == 2 && prev2 == 2 && prevAt > start {
				parts, start = append(parts, w[start:prevAt]), prevAt
			}
		}
		prev2, prev, prevAt = prev, cur, i
	}
	return append(parts, w[start:])
}

// pluralAcronyms upper-cases the "s" of plural acronyms ("STLs", "PCBs")
// so that the camelCase split keeps them whole; text is indexed and
// queried through it.
func pluralAcronyms(s string) string {
	var out []byte
	upper := 0 // upper-case letters in the current run of letters
	for i, r := range s {
		switch {
		case unicode.IsUpper(r):
			upper++
		case r == 's' && upper >= 2:
			next, _ := utf8.DecodeRuneInString(s[i+1:])
			if i+1 == len(s) || !unicode.IsLetter(next) {
				if out == nil {
					out = []byte(s)
				}
				out[i] = 'S'
			}
			upper = 0
		default:
			upper = 0
		}
	}
	if out == nil {
		return s
	}
	return string(out)
}
