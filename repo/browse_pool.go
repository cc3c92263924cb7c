package repo

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// BrowsePool keeps opened repositories for reuse, so that a page request
// does not re-read pack indexes. Each Browse is used by one request at a
// time. A pool entry is dropped when the repository's packs change (a push
// that wrote a pack, a repack), since go-git reads the pack list once.
//
// The pool also keeps each repository's refs (refs.go) across requests,
// as long as the files they were read from stay the same, whatever
// happens to its packs.
type BrowsePool struct {
	mu       sync.Mutex
	repos    map[string]*poolEntry
	refs     map[string]*refCache
	perRepo  int
	maxRepo  int
	refReads atomic.Int64
}

type poolEntry struct {
	gen  time.Time
	free []*Browse
	used time.Time
}

// NewBrowsePool keeps up to perRepo idle Browse values for each of up to
// maxRepos repositories.
func NewBrowsePool(perRepo, maxRepos int) *BrowsePool {
	return &BrowsePool{repos: map[string]*poolEntry{}, refs: map[string]*refCache{}, perRepo: perRepo, maxRepo: maxRepos}
}

// RefReads counts the times the pool's repositories' refs were read in
// full (a packed-refs file parsed, or the loose refs listed) rather than
// taken from what it keeps.
func (p *BrowsePool) RefReads() int64 { return p.refReads.Load() }

// refCacheFor is the refs kept for the repository at dir; at most maxRepo
// repositories' are kept (one picked at random makes room).
func (p *BrowsePool) refCacheFor(dir string) *refCache {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.refs[dir]; c != nil {
		return c
	}
	if len(p.refs) >= p.maxRepo {
		for d := range p.refs {
			delete(p.refs, d)
			break
		}
	}
	c := newRefCache(dir, &p.refReads)
	p.refs[dir] = c
	return c
}

// packGen is what changes when the repository's packs do: the pack
// folder's modification time.
func packGen(dir string) (time.Time, error) {
	st, err := os.Stat(filepath.Join(dir, "objects", "pack"))
	if err != nil {
		return time.Time{}, err
	}
	return st.ModTime(), nil
}

// Get returns a Browse of the bare repository at dir; give it back with
// Put when done.
func (p *BrowsePool) Get(dir string) (*Browse, error) {
	gen, err := packGen(dir)
	if err != nil {
		return OpenBrowse(dir)
	}
	refs := p.refCacheFor(dir)
	p.mu.Lock()
	if e := p.repos[dir]; e != nil && !e.gen.Equal(gen) {
		e.closeAll()
		delete(p.repos, dir)
	}
	if e := p.repos[dir]; e != nil && len(e.free) > 0 {
		b := e.free[len(e.free)-1]
		e.free = e.free[:len(e.free)-1]
		e.used = time.Now()
		p.mu.Unlock()
		b.refc = refs
		return b, nil
	}
	p.mu.Unlock()
	b, err := OpenBrowse(dir)
	if err != nil {
		return nil, err
	}
	b.dir, b.gen, b.refc = dir, gen, refs
	return b, nil
}

// Put returns b to the pool.
func (p *BrowsePool) Put(b *Browse) {
	if b == nil {
		return
	}
	b.refs = nil
	if b.dir == "" {
		b.Close()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.repos[b.dir]
	if e == nil || !e.gen.Equal(b.gen) {
		if e != nil && e.gen.After(b.gen) {
			b.Close() // older than the pool's
			return
		}
		if e == nil && len(p.repos) >= p.maxRepo {
			p.evictOldest()
		}
		if e != nil {
			e.closeAll()
		}
		e = &poolEntry{gen: b.gen}
		p.repos[b.dir] = e
	}
	if len(e.free) >= p.perRepo {
		b.Close()
		return
	}
	e.free = append(e.free, b)
	e.used = time.Now()
}

func (p *BrowsePool) evictOldest() {
	var oldest string
	var at time.Time
	for dir, e := range p.repos {
		if oldest == "" || e.used.Before(at) {
			oldest, at = dir, e.used
		}
	}
	if e := p.repos[oldest]; e != nil {
		e.closeAll()
	}
	delete(p.repos, oldest)
}

func (e *poolEntry) closeAll() {
	for _, b := range e.free {
		b.Close()
	}
	e.free = nil
}
