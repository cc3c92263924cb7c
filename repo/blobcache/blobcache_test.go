package blobcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func id(n int) string { return fmt.Sprintf("%040x", n) }

func content(n, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(n*31 + i*7)
	}
	return b
}

// newCache is a cache of max bytes counting its results.
func newCache(t *testing.T, max int64) (*Cache, map[string]*atomic.Int64) {
	t.Helper()
	counts := map[string]*atomic.Int64{Hit: {}, Fill: {}}
	c, err := New(Options{Dir: filepath.Join(t.TempDir(), "blob-cache"), MaxBytes: max, Observe: func(r string) { counts[r].Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	return c, counts
}

// read opens blob n through c and checks its bytes; fills counts the
// fill function's calls.
func read(t *testing.T, c *Cache, n, size int, fills *atomic.Int64) {
	t.Helper()
	want := content(n, size)
	f, err := c.Open(context.Background(), id(n), int64(size), func(w io.Writer) error {
		fills.Add(1)
		_, err := w.Write(want)
		return err
	})
	if err != nil {
		t.Fatalf("open blob %d: %v", n, err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("blob %d: %d bytes, %v; want its %d bytes", n, len(got), err, size)
	}
}

func entries(t *testing.T, c *Cache) []string {
	t.Helper()
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A blob is inflated once; later opens read the entry.
func TestOpenFillsOnce(t *testing.T) {
	c, counts := newCache(t, 1<<20)
	var fills atomic.Int64
	for range 3 {
		read(t, c, 1, 100_000, &fills)
	}
	if fills.Load() != 1 || counts[Fill].Load() != 1 || counts[Hit].Load() != 2 {
		t.Errorf("three opens: %d fills (observed %d fills, %d hits), want 1 fill and 2 hits", fills.Load(), counts[Fill].Load(), counts[Hit].Load())
	}
	if got := entries(t, c); !slices.Equal(got, []string{id(1)}) {
		t.Errorf("folder holds %v, want the one entry", got)
	}
}

// Concurrent first opens of one blob inflate it once, and all read it
// whole.
func TestOpenConcurrentFillsOnce(t *testing.T) {
	c, _ := newCache(t, 1<<20)
	const size = 300_000
	want := content(7, size)
	var fills atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := c.Open(context.Background(), id(7), size, func(w io.Writer) error {
				fills.Add(1)
				close(started)
				<-release // the others ask while this one fills
				w.Write(want[:size/2])
				_, err := w.Write(want[size/2:])
				return err
			})
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			if got, err := io.ReadAll(f); err != nil || !bytes.Equal(got, want) {
				errs <- fmt.Errorf("opener %d read %d bytes, %v", i, len(got), err)
			}
		}()
	}
	<-started
	// The 7 others wait for the fill under way.
	for {
		c.mu.Lock()
		n := c.waiting
		c.mu.Unlock()
		if n == 7 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if fills.Load() != 1 {
		t.Errorf("8 concurrent opens filled %d times, want 1", fills.Load())
	}
}

// A fill that fails, or gives the wrong size, leaves no entry and no
// temporary file; the next open fills again.
func TestOpenNeverKeepsPartial(t *testing.T) {
	c, _ := newCache(t, 1<<20)
	boom := errors.New("pack damaged")
	_, err := c.Open(context.Background(), id(2), 1000, func(w io.Writer) error {
		w.Write(make([]byte, 400))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed fill: %v, want its error", err)
	}
	if _, err := c.Open(context.Background(), id(2), 1000, func(w io.Writer) error {
		_, err := w.Write(make([]byte, 999))
		return err
	}); err == nil {
		t.Fatal("a fill one byte short was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := c.Open(ctx, id(2), 1000, func(w io.Writer) error {
		w.Write(make([]byte, 10))
		cancel()
		_, err := w.Write(make([]byte, 990))
		return err
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("fill whose caller went away: %v, want context.Canceled", err)
	}
	if got := entries(t, c); len(got) != 0 {
		t.Fatalf("after failed fills the folder holds %v", got)
	}
	var fills atomic.Int64
	read(t, c, 2, 1000, &fills)
	if fills.Load() != 1 {
		t.Errorf("%d fills after the failures, want 1", fills.Load())
	}
}

// The folder stays under its limit: the least recently used entries go,
// an entry read lately stays, and a blob larger than the cache is refused.
func TestEvict(t *testing.T) {
	c, _ := newCache(t, 3000)
	var fills atomic.Int64
	age := func(n int, ago time.Duration) {
		at := time.Now().Add(-ago)
		if err := os.Chtimes(filepath.Join(c.dir, id(n)), at, at); err != nil {
			t.Fatal(err)
		}
	}
	for n := 1; n <= 3; n++ {
		read(t, c, n, 1000, &fills)
		age(n, time.Duration(10-n)*time.Minute) // 1 the oldest
	}
	read(t, c, 4, 1000, &fills) // 1 goes
	if got := entries(t, c); !slices.Equal(got, []string{id(2), id(3), id(4)}) {
		t.Fatalf("after a fourth blob the folder holds %v, want blobs 2, 3 and 4", got)
	}
	age(4, 5*time.Minute)
	read(t, c, 2, 1000, &fills) // a hit: 2 is now the newest
	read(t, c, 5, 1000, &fills) // 3 goes
	if got := entries(t, c); !slices.Equal(got, []string{id(2), id(4), id(5)}) {
		t.Fatalf("after reading blob 2 and adding 5 the folder holds %v, want blobs 2, 4 and 5", got)
	}
	if fills.Load() != 5 {
		t.Errorf("%d fills, want 5 (one per blob)", fills.Load())
	}
	if _, err := c.Open(context.Background(), id(9), 3001, func(io.Writer) error { t.Error("filled a blob larger than the cache"); return nil }); !errors.Is(err, ErrTooBig) {
		t.Errorf("blob larger than the cache: %v, want ErrTooBig", err)
	}
	for _, bad := range []string{"../../etc/passwd", id(1)[:39], "ABCDEF" + id(1)[6:]} {
		if _, err := c.Open(context.Background(), bad, 10, func(io.Writer) error { return nil }); err == nil {
			t.Errorf("id %q accepted", bad)
		}
	}
}

// A new cache starts empty: entries and temporary files an earlier
// process left may not have reached the disk whole. Other files stay.
func TestNewEmptiesFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blob-cache")
	os.MkdirAll(dir, 0o755)
	for _, name := range []string{id(1), tmpPrefix + id(2) + "-123", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("left over"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := New(Options{Dir: dir, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, c); !slices.Equal(got, []string{"notes.txt"}) {
		t.Errorf("a new cache's folder holds %v, want only notes.txt", got)
	}
	var fills atomic.Int64
	read(t, c, 1, 9, &fills)
	if fills.Load() != 1 {
		t.Errorf("blob 1 left by an earlier process was served without a fill")
	}
}
