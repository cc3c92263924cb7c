// Package blobcache keeps inflated copies of big git blobs on disk, so that
// a ranged read of one (a resumed download, a client fetching the end of a
// file) seeks in a plain file instead of inflating the blob from its start:
// git stores a blob zlib-compressed, often as a delta, and neither can be
// entered in the middle.
//
// Data enters through Open's fill function, which writes the blob's bytes
// as read from git, and leaves as an *os.File opened on the entry. Entries
// are files named by blob id in one folder (the data folder's
// git/blob-cache). An entry is written to a temporary file and renamed
// into place only once complete and of the expected size, so a reader
// never sees a partial one; concurrent first requests for the same blob
// inflate it once. The cache lives as long as the process: New empties
// the folder, so entries need not reach the disk (no fsync of hundreds
// of megabytes in a request), and a power cut never leaves a damaged
// entry to serve. The folder is kept under a size limit by removing the least
// recently used entries (by modification time, which a hit refreshes); a
// reader holding a removed entry open reads on.
//
// The cache knows nothing of projects or viewers: it is keyed by content,
// and callers reach it only after the access policy let the viewer read a
// file whose tree names that blob.
package blobcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/blueprints-hq/blueprints/internal/lrudir"
)

// Results of Open, as Options.Observe receives them.
const (
	Hit  = "hit"  // served from an entry
	Fill = "fill" // the blob was inflated into a new entry
)

// ErrTooBig is returned by Open for a blob larger than the whole cache;
// the caller reads it from git instead.
var ErrTooBig = errors.New("blob larger than the cache")

// tmpPrefix starts the names of entries being written.
const tmpPrefix = "tmp-"

// Options configure New.
type Options struct {
	Dir      string // the folder of entries; created when missing
	MaxBytes int64  // the most bytes of entries kept (at least 1)
	Logger   *slog.Logger
	// Observe, when set, is called once per Open that returns an entry,
	// with Hit or Fill (metrics, tests).
	Observe func(result string)
}

// Cache is a folder of inflated blobs, the only user of that folder (the
// data folder's lock keeps a second server out). Its methods are safe for
// concurrent use.
type Cache struct {
	dir     string
	max     int64
	log     *slog.Logger
	observe func(string)

	mu      sync.Mutex
	flights map[string]*flight
	waiting int // callers waiting for another's fill (for tests)
}

// flight is one fill under way; done closes when it ends, err says how.
type flight struct {
	done chan struct{}
	err  error
}

// New empties the cache folder of entries and temporary files (creating
// the folder when missing): what an earlier process left there may not
// have reached the disk whole.
func New(opt Options) (*Cache, error) {
	if opt.Dir == "" || opt.MaxBytes < 1 {
		return nil, fmt.Errorf("blob cache: a folder and a positive size limit are required (got %q, %d bytes)", opt.Dir, opt.MaxBytes)
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("blob cache: %w", err)
	}
	ents, err := os.ReadDir(opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("blob cache: %w", err)
	}
	for _, e := range ents {
		// Entries and temporary files only: nothing else is the cache's.
		if validID(e.Name()) || strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(opt.Dir, e.Name())); err != nil {
				return nil, fmt.Errorf("blob cache: empty %s: %w", opt.Dir, err)
			}
		}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Cache{dir: opt.Dir, max: opt.MaxBytes, log: opt.Logger, observe: opt.Observe, flights: map[string]*flight{}}, nil
}

// MaxBytes is the cache's size limit.
func (c *Cache) MaxBytes() int64 { return c.max }

// validID accepts a git object id: 40 (SHA-1) or 64 (SHA-256) lowercase
// hex digits, which also keeps every name inside the folder.
func validID(id string) bool {
	if len(id) != 40 && len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if ch := id[i]; (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
			return false
		}
	}
	return true
}

// Open returns the entry of blob id, size bytes long, open for reading;
// the caller closes it. Without an entry, fill writes the blob's bytes to
// the writer it is given, once, however many callers ask at the same
// time; the others wait for it (or for their ctx). fill runs in the
// caller's goroutine and must not outlive the call. A blob larger than
// the cache gets ErrTooBig.
func (c *Cache) Open(ctx context.Context, id string, size int64, fill func(w io.Writer) error) (*os.File, error) {
	if !validID(id) {
		return nil, fmt.Errorf("blob cache: %q is not a blob id", id)
	}
	if size < 0 {
		return nil, fmt.Errorf("blob cache: blob %s: size %d", id, size)
	}
	if size > c.max {
		return nil, fmt.Errorf("blob cache: blob %s of %d bytes, cache of %d: %w", id, size, c.max, ErrTooBig)
	}
	name := filepath.Join(c.dir, id)
	for {
		if f, ok := c.openEntry(name, size); ok {
			c.report(Hit)
			return f, nil
		}
		c.mu.Lock()
		fl := c.flights[id]
		if fl == nil {
			fl = &flight{done: make(chan struct{})}
			c.flights[id] = fl
			c.mu.Unlock()
			f, err := c.fill(ctx, name, id, size, fill)
			fl.err = err
			c.mu.Lock()
			delete(c.flights, id)
			c.mu.Unlock()
			close(fl.done)
			if err == nil {
				c.report(Fill)
			}
			return f, err
		}
		c.waiting++
		c.mu.Unlock()
		var err error
		select {
		case <-fl.done:
			// Filled, or failed (perhaps only for its caller, who went
			// away): look again, and fill it ourselves if need be.
		case <-ctx.Done():
			err = ctx.Err()
		}
		c.mu.Lock()
		c.waiting--
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

func (c *Cache) report(result string) {
	if c.observe != nil {
		c.observe(result)
	}
}

// openEntry opens the entry at name when it is there and of the expected
// size, and marks it used.
func (c *Cache) openEntry(name string, size int64) (*os.File, bool) {
	f, err := os.Open(name)
	if err != nil {
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		f.Close()
		return nil, false
	}
	now := time.Now()
	os.Chtimes(name, now, now) // for the eviction order; a failure only ages it
	return f, true
}

// fill writes the entry of blob id through a temporary file.
func (c *Cache) fill(ctx context.Context, name, id string, size int64, fill func(io.Writer) error) (*os.File, error) {
	tmp, err := os.CreateTemp(c.dir, tmpPrefix+id+"-")
	if err != nil {
		return nil, fmt.Errorf("blob cache: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	cw := &countingWriter{ctx: ctx, w: tmp}
	if err := fill(cw); err != nil {
		return nil, fmt.Errorf("blob cache: inflate blob %s: %w", id, err)
	}
	if cw.n != size {
		return nil, fmt.Errorf("blob cache: blob %s gave %d bytes, want %d", id, cw.n, size)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return nil, fmt.Errorf("blob cache: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("blob cache: %w", err)
	}
	keep = true
	c.evict(filepath.Base(name))
	return tmp, nil
}

// countingWriter counts what it writes, and stops once ctx is done (the
// fill's caller went away).
type countingWriter struct {
	ctx context.Context
	w   io.Writer
	n   int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

// evict removes the least recently used entries until the folder holds at
// most MaxBytes, never the entry just written (keep).
func (c *Cache) evict(keep string) {
	err := lrudir.Trim(c.dir, c.max, keep, func(name string, _ fs.FileInfo) bool { return validID(name) })
	if err != nil {
		c.log.Warn("blob cache: remove old entries", "err", err)
	}
}
