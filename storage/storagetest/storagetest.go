// Package storagetest is the conformance suite every storage.Blobs
// implementation passes: Run exercises one through its interface only
// (plus the optional RangeGetter, Presigner and Checker), each subtest on
// a fresh, empty store.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/storage"
)

// LargeSize is the size of the large blob the suite streams through the
// store (bigger than several S3 multipart parts).
const LargeSize = 64 << 20

// Run runs the suite; newBlobs returns a new, empty store for one subtest.
func Run(t *testing.T, newBlobs func(t *testing.T) storage.Blobs) {
	tests := []struct {
		name string
		run  func(t *testing.T, b storage.Blobs)
	}{
		{"PutGetStat", testPutGetStat},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"FolderIsNotABlob", testFolderIsNotABlob},
		{"Empty", testEmpty},
		{"UnusualKeys", testUnusualKeys},
		{"List", testList},
		{"WrongSize", testWrongSize},
		{"ReadError", testReadError},
		{"CancelDuringPut", testCancelDuringPut},
		{"CancelledBefore", testCancelledBefore},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Large", testLarge},
		{"InvalidKeys", testInvalidKeys},
		{"Range", testRange},
		{"Presign", testPresign},
		{"Check", testCheck},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newBlobs(t))
		})
	}
}

func put(t *testing.T, b storage.Blobs, key string, data []byte) {
	t.Helper()
	if err := b.Put(t.Context(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func get(t *testing.T, b storage.Blobs, key string) ([]byte, storage.Info) {
	t.Helper()
	rc, info, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return data, info
}

func keys(t *testing.T, b storage.Blobs, prefix string) []string {
	t.Helper()
	var ks []string
	err := b.List(t.Context(), prefix, func(info storage.Info) error {
		ks = append(ks, info.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return ks
}

func wantNotExist(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: got error %v, want one matching storage.ErrNotExist and fs.ErrNotExist", what, err)
	}
}

func wantAbsent(t *testing.T, b storage.Blobs, key string) {
	t.Helper()
	_, err := b.Stat(t.Context(), key)
	wantNotExist(t, "stat "+key, err)
	if ks := keys(t, b, ""); len(ks) != 0 {
		t.Fatalf("store holds %q, want nothing", ks)
	}
}

func testPutGetStat(t *testing.T, b storage.Blobs) {
	const key = "lfs/ab/cd/abcdef"
	data := []byte("solid cube\nendsolid cube\n")
	before := time.Now().Add(-time.Minute)
	put(t, b, key, data)
	got, info := get(t, b, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("get: got %q, want %q", got, data)
	}
	if info.Key != key || info.Size != int64(len(data)) {
		t.Fatalf("get info: got %+v, want key %q size %d", info, key, len(data))
	}
	st, err := b.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if st.Key != key || st.Size != int64(len(data)) {
		t.Fatalf("stat: got %+v, want key %q size %d", st, key, len(data))
	}
	if st.ModTime.Before(before) || st.ModTime.After(time.Now().Add(time.Minute)) {
		t.Fatalf("stat: mod time %v is not about now", st.ModTime)
	}
}

func testOverwrite(t *testing.T, b storage.Blobs) {
	const key = "previews/0123/256.png"
	put(t, b, key, []byte("first, longer value"))
	put(t, b, key, []byte("second"))
	if got, _ := get(t, b, key); string(got) != "second" {
		t.Fatalf("after overwrite: got %q, want %q", got, "second")
	}
	if st, err := b.Stat(t.Context(), key); err != nil || st.Size != 6 {
		t.Fatalf("stat after overwrite: %+v, %v; want size 6", st, err)
	}
	if ks := keys(t, b, ""); !slices.Equal(ks, []string{key}) {
		t.Fatalf("list after overwrite: %q, want [%q]", ks, key)
	}
}

func testMissing(t *testing.T, b storage.Blobs) {
	ctx := t.Context()
	put(t, b, "a/present", []byte("x"))
	for _, key := range []string{"missing", "a/missing", "a/present/below", "b/c/d"} {
		_, _, err := b.Get(ctx, key)
		wantNotExist(t, "get "+key, err)
		_, err = b.Stat(ctx, key)
		wantNotExist(t, "stat "+key, err)
		if rg, ok := b.(storage.RangeGetter); ok {
			_, err = rg.GetRange(ctx, key, 0, 10)
			wantNotExist(t, "get range "+key, err)
		}
		if err := b.Delete(ctx, key); err != nil {
			t.Fatalf("delete missing %q: %v, want no error", key, err)
		}
	}
}

func testDelete(t *testing.T, b storage.Blobs) {
	put(t, b, "x/y/one", []byte("1"))
	put(t, b, "x/y/two", []byte("2"))
	if err := b.Delete(t.Context(), "x/y/one"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, _, err := b.Get(t.Context(), "x/y/one")
	wantNotExist(t, "get after delete", err)
	if ks := keys(t, b, ""); !slices.Equal(ks, []string{"x/y/two"}) {
		t.Fatalf("list after delete: %q, want [x/y/two]", ks)
	}
	if err := b.Delete(t.Context(), "x/y/two"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if ks := keys(t, b, ""); len(ks) != 0 {
		t.Fatalf("list after deleting all: %q, want nothing", ks)
	}
	put(t, b, "x/y/two", []byte("again"))
	if got, _ := get(t, b, "x/y/two"); string(got) != "again" {
		t.Fatalf("put after delete: got %q", got)
	}
}

// testFolderIsNotABlob checks that a key that is only a prefix of stored
// keys ("d" for "d/x") is not a blob.
func testFolderIsNotABlob(t *testing.T, b storage.Blobs) {
	ctx := t.Context()
	put(t, b, "d/x", []byte("x"))
	_, _, err := b.Get(ctx, "d")
	wantNotExist(t, "get d", err)
	_, err = b.Stat(ctx, "d")
	wantNotExist(t, "stat d", err)
	if err := b.Delete(ctx, "d"); err != nil {
		t.Fatalf("delete d: %v", err)
	}
	if got, _ := get(t, b, "d/x"); string(got) != "x" {
		t.Fatalf("d/x after deleting d: %q", got)
	}
}

func testEmpty(t *testing.T, b storage.Blobs) {
	for _, size := range []int64{0, -1} {
		key := fmt.Sprintf("empty/%d", size)
		if err := b.Put(t.Context(), key, strings.NewReader(""), size); err != nil {
			t.Fatalf("put empty (size %d): %v", size, err)
		}
		got, info := get(t, b, key)
		if len(got) != 0 || info.Size != 0 {
			t.Fatalf("get empty: %d bytes, info %+v", len(got), info)
		}
		if st, err := b.Stat(t.Context(), key); err != nil || st.Size != 0 {
			t.Fatalf("stat empty: %+v, %v", st, err)
		}
	}
	if ks := keys(t, b, "empty/"); !slices.Equal(ks, []string{"empty/-1", "empty/0"}) {
		t.Fatalf("list empty blobs: %q", ks)
	}
}

func testUnusualKeys(t *testing.T, b storage.Blobs) {
	ks := []string{
		"previews/dé jà vu/+%20&=?#;.png",
		"a b/c..d/...",
		"unicode/部品/ネジ.stl",
		"dots/.hidden",
		strings.Repeat("k", 200) + "/" + strings.Repeat("v", 200),
	}
	for i, k := range ks {
		put(t, b, k, []byte(fmt.Sprint(i)))
	}
	for i, k := range ks {
		if got, _ := get(t, b, k); string(got) != fmt.Sprint(i) {
			t.Fatalf("get %q: %q, want %q", k, got, fmt.Sprint(i))
		}
	}
	want := slices.Clone(ks)
	slices.Sort(want)
	if got := keys(t, b, ""); !slices.Equal(got, want) {
		t.Fatalf("list: got %q, want %q", got, want)
	}
}

func testList(t *testing.T, b storage.Blobs) {
	// Byte order puts '-' and '.' before '/', so a store walking folders
	// must not list p/a/ before p/a-b.
	stored := []string{"p/b", "p/a0", "p/a/c/d", "p/a/b", "p/a.txt", "p/a-b", "q/x", "pa"}
	for i, k := range stored {
		put(t, b, k, bytes.Repeat([]byte{'x'}, i+1))
	}
	cases := map[string][]string{
		"":        {"p/a-b", "p/a.txt", "p/a/b", "p/a/c/d", "p/a0", "p/b", "pa", "q/x"},
		"p":       {"p/a-b", "p/a.txt", "p/a/b", "p/a/c/d", "p/a0", "p/b", "pa"},
		"p/":      {"p/a-b", "p/a.txt", "p/a/b", "p/a/c/d", "p/a0", "p/b"},
		"p/a":     {"p/a-b", "p/a.txt", "p/a/b", "p/a/c/d", "p/a0"},
		"p/a/":    {"p/a/b", "p/a/c/d"},
		"p/a/c/d": {"p/a/c/d"},
		"q/x/":    nil,
		"none/":   nil,
		"p/z":     nil,
	}
	for prefix, want := range cases {
		if got := keys(t, b, prefix); !slices.Equal(got, want) {
			t.Errorf("list %q: got %q, want %q", prefix, got, want)
		}
	}
	err := b.List(t.Context(), "p/", func(info storage.Info) error {
		if want := int64(slices.Index(stored, info.Key) + 1); info.Size != want {
			return fmt.Errorf("%s: size %d, want %d", info.Key, info.Size, want)
		}
		if info.ModTime.IsZero() {
			return fmt.Errorf("%s: no mod time", info.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list infos: %v", err)
	}
	stop := errors.New("stop here")
	n := 0
	err = b.List(t.Context(), "", func(storage.Info) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("list with a failing callback: err %v after %d calls, want %v after 2", err, n, stop)
	}
}

// testWrongSize checks that a body shorter or longer than announced fails
// and leaves the previous value in place.
func testWrongSize(t *testing.T, b storage.Blobs) {
	const key = "lfs/00/11/0011"
	for _, tc := range []struct {
		body string
		size int64
	}{{"short", 10}, {"longer than said", 5}, {"", 1}} {
		err := b.Put(t.Context(), key, strings.NewReader(tc.body), tc.size)
		if err == nil {
			t.Fatalf("put %d bytes announced as %d: no error", len(tc.body), tc.size)
		}
		wantAbsent(t, b, key)
	}
	put(t, b, key, []byte("kept"))
	if err := b.Put(t.Context(), key, strings.NewReader("xy"), 3); err == nil {
		t.Fatalf("put short body over an existing blob: no error")
	}
	if got, _ := get(t, b, key); string(got) != "kept" {
		t.Fatalf("failed put changed the blob to %q", got)
	}
}

// failingReader yields n bytes of a pattern, then fails.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func testReadError(t *testing.T, b storage.Blobs) {
	boom := errors.New("client went away")
	// Past one S3 part, so a multipart upload is under way when it fails.
	for _, n := range []int64{1000, 20 << 20} {
		r := &failingReader{r: io.LimitReader(NewPattern("fail", n), n), err: boom}
		err := b.Put(t.Context(), "big/failed", r, -1)
		if !errors.Is(err, boom) {
			t.Fatalf("put from a reader failing after %d bytes: %v, want %v", n, err, boom)
		}
		wantAbsent(t, b, "big/failed")
	}
}

// cancellingReader cancels the context after after bytes, then goes on.
type cancellingReader struct {
	r      io.Reader
	n      int64
	after  int64
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

func testCancelDuringPut(t *testing.T, b storage.Blobs) {
	for _, after := range []int64{100 << 10, 20 << 20} {
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancellingReader{r: NewPattern("cancel", 48<<20), after: after, cancel: cancel}
		start := time.Now()
		err := b.Put(ctx, "big/cancelled", r, 48<<20)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("put cancelled after %d bytes: %v, want context.Canceled", after, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("cancelled put took %v", d)
		}
		wantAbsent(t, b, "big/cancelled")
	}
}

func testCancelledBefore(t *testing.T, b storage.Blobs) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := b.Put(ctx, "k", strings.NewReader("data"), 4)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a cancelled context: %v, want context.Canceled", err)
	}
	wantAbsent(t, b, "k")
}

// testConcurrentWriters races writers of the same key (each value spans
// two S3 parts) against readers, which must only ever see one complete
// value.
func testConcurrentWriters(t *testing.T, b storage.Blobs) {
	const (
		key     = "lfs/cc/cc/race"
		writers = 4
		size    = 9 << 20
	)
	sums := map[[32]byte]int{}
	for w := range writers {
		sums[NewPattern(fmt.Sprint("writer", w), size).Sum()] = w
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers+2)
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			if err := b.Put(ctx, key, NewPattern(fmt.Sprint("writer", w), size), size); err != nil {
				errs <- fmt.Errorf("writer %d: %w", w, err)
			}
		})
	}
	var readers sync.WaitGroup
	var reads atomic.Int64
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				rc, _, err := b.Get(ctx, key)
				if errors.Is(err, storage.ErrNotExist) {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("reader: %w", err)
					return
				}
				h := sha256.New()
				_, err = io.Copy(h, rc)
				rc.Close()
				if err != nil {
					errs <- fmt.Errorf("reader: %w", err)
					return
				}
				if _, ok := sums[[32]byte(h.Sum(nil))]; !ok {
					errs <- errors.New("reader saw a blob that no writer wrote (partial or mixed)")
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rc, info, err := b.Get(ctx, key)
	if err != nil {
		t.Fatalf("get after race: %v", err)
	}
	defer rc.Close()
	h := sha256.New()
	io.Copy(h, rc)
	w, ok := sums[[32]byte(h.Sum(nil))]
	if !ok || info.Size != size {
		t.Fatalf("after the race the blob (%d bytes) is none of the written values", info.Size)
	}
	t.Logf("writer %d won; %d complete reads during the race", w, reads.Load())
	if ks := keys(t, b, ""); !slices.Equal(ks, []string{key}) {
		t.Fatalf("list after race: %q", ks)
	}
}

// hidden hides every method but Read, as a network body would.
type hidden struct{ r io.Reader }

func (h hidden) Read(p []byte) (int, error) { return h.r.Read(p) }

func testLarge(t *testing.T, b storage.Blobs) {
	ctx := t.Context()
	for _, tc := range []struct {
		key  string
		size int64
		tell bool
	}{{"large/unknown", LargeSize, false}, {"large/known", 20<<20 + 7, true}} {
		p := NewPattern(tc.key, tc.size)
		want := p.Sum()
		announced := int64(-1)
		if tc.tell {
			announced = tc.size
		}
		start := time.Now()
		if err := b.Put(ctx, tc.key, hidden{p}, announced); err != nil {
			t.Fatalf("put %s: %v", tc.key, err)
		}
		putTime := time.Since(start)
		start = time.Now()
		rc, info, err := b.Get(ctx, tc.key)
		if err != nil {
			t.Fatalf("get %s: %v", tc.key, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", tc.key, err)
		}
		if n != tc.size || info.Size != tc.size || [32]byte(h.Sum(nil)) != want {
			t.Fatalf("%s: read %d bytes (info %d) with another sha256, want %d bytes", tc.key, n, info.Size, tc.size)
		}
		t.Logf("%s: %d MiB put in %v, got in %v", tc.key, tc.size>>20, putTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
	if rg, ok := b.(storage.RangeGetter); ok {
		// A range across S3 part boundaries (8 MiB) must match the pattern.
		off, length := int64(8<<20-100), int64(16<<20+200)
		rc, err := rg.GetRange(ctx, "large/unknown", off, length)
		if err != nil {
			t.Fatalf("get range: %v", err)
		}
		defer rc.Close()
		want := make([]byte, 64<<10)
		got := make([]byte, len(want))
		for pos := off; pos < off+length; {
			n := min(int64(len(want)), off+length-pos)
			if _, err := io.ReadFull(rc, got[:n]); err != nil {
				t.Fatalf("read range at %d: %v", pos, err)
			}
			NewPattern("large/unknown", LargeSize).ReadAt(want[:n], pos)
			if !bytes.Equal(got[:n], want[:n]) {
				t.Fatalf("range bytes at %d differ", pos)
			}
			pos += n
		}
		if n, _ := io.Copy(io.Discard, rc); n != 0 {
			t.Fatalf("range returned %d bytes too many", n)
		}
	}
}

// BadKeys are keys every store must refuse with storage.ErrInvalidKey.
var BadKeys = []string{
	"", "/", "/etc/passwd", "../outside", "a/../../outside", "a/..", "..", ".",
	"./a", "a/./b", "a//b", "a/", "a\\b", "..\\outside", "a\x00b", "\x00",
	"line\nbreak", "\xff\xfe", strings.Repeat("x", storage.MaxKeyLen+1),
}

func testInvalidKeys(t *testing.T, b storage.Blobs) {
	ctx := t.Context()
	for _, key := range BadKeys {
		checks := map[string]error{
			"put":    b.Put(ctx, key, strings.NewReader("escaped"), 7),
			"delete": b.Delete(ctx, key),
		}
		_, _, checks["get"] = b.Get(ctx, key)
		_, checks["stat"] = b.Stat(ctx, key)
		if rg, ok := b.(storage.RangeGetter); ok {
			_, checks["get range"] = rg.GetRange(ctx, key, 0, 1)
		}
		if p, ok := b.(storage.Presigner); ok {
			_, checks["presign"] = p.PresignGet(ctx, key, time.Minute)
		}
		for op, err := range checks {
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("%s %q: %v, want storage.ErrInvalidKey", op, key, err)
			}
		}
	}
	for _, prefix := range []string{"/", "/etc", "../", "a/../", "a//", "a\\", "..", "x\x00"} {
		err := b.List(ctx, prefix, func(storage.Info) error { return nil })
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("list %q: %v, want storage.ErrInvalidKey", prefix, err)
		}
	}
	if ks := keys(t, b, ""); len(ks) != 0 {
		t.Fatalf("after refused keys the store holds %q", ks)
	}
}

func testRange(t *testing.T, b storage.Blobs) {
	rg, ok := b.(storage.RangeGetter)
	if !ok {
		t.Skip("store does not implement storage.RangeGetter")
	}
	data := make([]byte, 1000)
	NewPattern("range", 1000).Read(data)
	put(t, b, "r", data)
	for _, tc := range []struct{ off, length, from, to int64 }{
		{0, 10, 0, 10}, {0, -1, 0, 1000}, {990, -1, 990, 1000}, {990, 100, 990, 1000},
		{500, 0, 500, 500}, {999, 1, 999, 1000}, {1000, 10, 1000, 1000}, {2000, -1, 1000, 1000},
	} {
		rc, err := rg.GetRange(t.Context(), "r", tc.off, tc.length)
		if err != nil {
			t.Fatalf("range %d+%d: %v", tc.off, tc.length, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read range %d+%d: %v", tc.off, tc.length, err)
		}
		if !bytes.Equal(got, data[tc.from:tc.to]) {
			t.Errorf("range %d+%d: got %d bytes, want bytes %d..%d", tc.off, tc.length, len(got), tc.from, tc.to)
		}
	}
	if _, err := rg.GetRange(t.Context(), "r", -1, 10); err == nil {
		t.Errorf("range at a negative offset: no error")
	}
	put(t, b, "empty", nil)
	rc, err := rg.GetRange(t.Context(), "empty", 0, -1)
	if err != nil {
		t.Fatalf("range of an empty blob: %v", err)
	}
	if got, _ := io.ReadAll(rc); len(got) != 0 {
		t.Errorf("range of an empty blob: %d bytes", len(got))
	}
	rc.Close()
}

func testPresign(t *testing.T, b storage.Blobs) {
	p, ok := b.(storage.Presigner)
	if !ok {
		t.Skip("store does not implement storage.Presigner")
	}
	data := []byte("presigned bytes")
	put(t, b, "pre/signed file.stl", data)
	url, err := p.PresignGet(t.Context(), "pre/signed file.stl", time.Minute)
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("get presigned url: %v", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("presigned get: %s %q, want 200 %q", resp.Status, got, data)
	}
	if strings.Contains(url, "X-Amz-Signature=") && !strings.Contains(url, "X-Amz-Expires=60") {
		t.Errorf("presigned url %s does not expire after 60 s", url)
	}
}

func testCheck(t *testing.T, b storage.Blobs) {
	c, ok := b.(storage.Checker)
	if !ok {
		t.Skip("store does not implement storage.Checker")
	}
	if err := c.Check(t.Context()); err != nil {
		t.Fatalf("check: %v", err)
	}
}
