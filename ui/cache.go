package ui

import (
	"sync"
	"time"
)

// pageCache keeps rendered pages and README HTML under keys that name
// everything they were made from (commit ids, catalog update times), so an
// entry is never wrong, only old; the time limit bounds how stale the
// relative times on a page ("5 minutes ago") may get. Bounded in entries
// and in bytes.
type pageCache struct {
	mu       sync.Mutex
	m        map[string]cachedPage
	max      int
	maxBytes int
	bytes    int
}

type cachedPage struct {
	body    []byte
	expires time.Time
}

func newPageCache(max, maxBytes int) *pageCache {
	return &pageCache{m: make(map[string]cachedPage), max: max, maxBytes: maxBytes}
}

func (pc *pageCache) get(key string) ([]byte, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.m[key]
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	return e.body, true
}

func (pc *pageCache) put(key string, body []byte, ttl time.Duration) {
	if len(body) > pc.maxBytes/8 {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if old, ok := pc.m[key]; ok {
		pc.bytes -= len(old.body)
		delete(pc.m, key)
	}
	if len(pc.m) >= pc.max || pc.bytes+len(body) > pc.maxBytes {
		// Drop expired entries, then any, until there is room: map order
		// is random enough for a cache this small.
		now := time.Now()
		for k, e := range pc.m {
			if now.After(e.expires) {
				pc.bytes -= len(e.body)
				delete(pc.m, k)
			}
		}
		for k, e := range pc.m {
			if len(pc.m) < pc.max && pc.bytes+len(body) <= pc.maxBytes {
				break
			}
			pc.bytes -= len(e.body)
			delete(pc.m, k)
		}
	}
	pc.m[key] = cachedPage{body: body, expires: time.Now().Add(ttl)}
	pc.bytes += len(body)
}
