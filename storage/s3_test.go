package storage_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/storage"
	"github.com/blueprints-hq/blueprints/storage/storagetest"
)

func startS3(t *testing.T) *testenv.S3 {
	t.Helper()
	if testing.Short() {
		t.Skip("starts versitygw; not in -short mode")
	}
	return testenv.StartS3(t)
}

func newS3(t *testing.T, srv *testenv.S3, prefix string, opts storage.S3Options) *storage.S3 {
	t.Helper()
	opts.Endpoint = srv.Endpoint
	opts.Region = srv.Region
	opts.AccessKey, opts.SecretKey = srv.AccessKey, srv.SecretKey
	s, err := storage.NewS3(t.Context(), srv.Bucket, prefix, opts)
	if err != nil {
		t.Fatalf("new s3: %v", err)
	}
	return s
}

func TestS3Conformance(t *testing.T) {
	srv := startS3(t)
	n := 0
	storagetest.Run(t, func(t *testing.T) storage.Blobs {
		n++
		prefix := fmt.Sprintf("suite/%d", n)
		t.Cleanup(func() {
			// Failed and cancelled puts must not leave multipart uploads
			// behind, and no key may land outside the store's prefix.
			if ups := srv.Uploads(t, srv.Bucket); len(ups) != 0 {
				t.Errorf("multipart uploads left behind: %q", ups)
			}
			for _, k := range srv.Keys(t, srv.Bucket) {
				if !strings.HasPrefix(k, "suite/") {
					t.Errorf("key outside every store's prefix: %q", k)
				}
			}
		})
		return newS3(t, srv, prefix, storage.S3Options{})
	})
}

// TestS3Open configures the store the way `blueprints serve --storage
// s3://...` does: from the standard AWS variables.
func TestS3Open(t *testing.T) {
	srv := startS3(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	b, err := storage.Open(t.Context(), "s3://"+srv.Bucket+"/via-env/", t.TempDir())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := b.Put(t.Context(), "lfs/ab/cd/abcd", strings.NewReader("object"), 6); err != nil {
		t.Fatalf("put: %v", err)
	}
	if keys := srv.Keys(t, srv.Bucket); len(keys) != 1 || keys[0] != "via-env/lfs/ab/cd/abcd" {
		t.Fatalf("bucket holds %q, want [via-env/lfs/ab/cd/abcd]", keys)
	}
	if err := b.(storage.Checker).Check(t.Context()); err != nil {
		t.Fatalf("check: %v", err)
	}
}

func TestS3MissingBucket(t *testing.T) {
	srv := startS3(t)
	opts := storage.S3Options{Endpoint: srv.Endpoint, Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	s, err := storage.NewS3(t.Context(), "no-such-bucket", "", opts)
	if err != nil {
		t.Fatalf("new s3: %v", err)
	}
	err = s.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Fatalf("check: %v, want a missing-bucket error", err)
	}
	// A HEAD answer has no body, so Stat cannot tell a missing bucket
	// from a missing key; Check (at start-up) and Put can.
	err = s.Put(t.Context(), "k", strings.NewReader("x"), 1)
	if err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("put in a missing bucket: %v", err)
	}
}

// TestS3Down stops the server: every call fails quickly with
// ErrUnavailable, a put cut off half-way leaves nothing, and the store
// works again once the server is back.
func TestS3Down(t *testing.T) {
	srv := startS3(t)
	s := newS3(t, srv, "down", storage.S3Options{})
	ctx := t.Context()
	if err := s.Put(ctx, "before", strings.NewReader("kept"), 4); err != nil {
		t.Fatalf("put: %v", err)
	}

	// The server goes away in the middle of a multipart upload.
	var stopped atomic.Bool
	r := &stopAfter{r: storagetest.NewPattern("down", 40<<20), after: 12 << 20, stop: func() {
		srv.Stop(t)
		stopped.Store(true)
	}}
	start := time.Now()
	err := s.Put(ctx, "cut", r, -1)
	if !stopped.Load() || !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("put while the server stops: %v, want storage.ErrUnavailable", err)
	}
	t.Logf("put cut off after %v: %v", time.Since(start).Round(time.Millisecond), err)

	calls := map[string]func() error{
		"put":    func() error { return s.Put(ctx, "during", strings.NewReader("x"), 1) },
		"get":    func() error { _, _, err := s.Get(ctx, "before"); return err },
		"stat":   func() error { _, err := s.Stat(ctx, "before"); return err },
		"delete": func() error { return s.Delete(ctx, "before") },
		"list":   func() error { return s.List(ctx, "", func(storage.Info) error { return nil }) },
		"range":  func() error { _, err := s.GetRange(ctx, "before", 0, 2); return err },
		"check":  func() error { return s.Check(ctx) },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s while down: %v, want storage.ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s while down took %v", name, d)
		}
	}

	srv.Start(t)
	rc, _, err := s.Get(ctx, "before")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "kept" {
		t.Fatalf("get after restart: %q", got)
	}
	for _, key := range []string{"cut", "during"} {
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("stat %s after restart: %v, want ErrNotExist", key, err)
		}
	}
	if err := s.Put(ctx, "after", strings.NewReader("back"), 4); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
	// The abort of "cut" could not reach the server; its parts are the
	// only trace, invisible to readers, until AbortStaleUploads.
	pending := srv.Uploads(t, srv.Bucket)
	t.Logf("multipart uploads pending after the outage: %q", pending)
	n, err := s.AbortStaleUploads(ctx, 0)
	if err != nil || n != len(pending) {
		t.Fatalf("abort stale uploads: %d, %v; want %d", n, err, len(pending))
	}
	if left := srv.Uploads(t, srv.Bucket); len(left) != 0 {
		t.Fatalf("uploads left after AbortStaleUploads: %q", left)
	}
}

// stopAfter calls stop once after bytes have been read, then goes on.
type stopAfter struct {
	r     io.Reader
	n     int64
	after int64
	stop  func()
}

func (s *stopAfter) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.n >= s.after && s.stop != nil {
		s.stop()
		s.stop = nil
	}
	return n, err
}

func TestS3PresignPublicEndpoint(t *testing.T) {
	srv := startS3(t)
	public := strings.Replace(srv.Endpoint, "127.0.0.1", "localhost", 1)
	s := newS3(t, srv, "", storage.S3Options{PublicEndpoint: public})
	if err := s.Put(t.Context(), "pub/part.stl", strings.NewReader("solid"), 5); err != nil {
		t.Fatalf("put: %v", err)
	}
	url, err := s.PresignGet(t.Context(), "pub/part.stl", time.Minute)
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	if !strings.HasPrefix(url, public+"/"+srv.Bucket+"/pub/part.stl?") {
		t.Fatalf("presigned url %s does not use the public endpoint %s with path-style addressing", url, public)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "solid" {
		t.Fatalf("get presigned: %s %q", resp.Status, body)
	}
}

// TestS3UploadMemory streams a blob several times larger than the bound
// through a multipart upload and samples the heap meanwhile: the uploader
// must hold a few parts, never the blob.
func TestS3UploadMemory(t *testing.T) {
	srv := startS3(t)
	s := newS3(t, srv, "mem", storage.S3Options{})
	const size = 160 << 20
	const bound = 64 << 20
	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		for {
			peak.Store(max(peak.Load(), heapBytes()))
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	err := s.Put(t.Context(), "big", hiddenReader{storagetest.NewPattern("mem", size)}, -1)
	close(done)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	grown := int64(peak.Load()) - int64(base)
	t.Logf("heap grew by at most %d MiB while uploading %d MiB", grown>>20, size>>20)
	if grown > bound {
		t.Fatalf("heap grew by %d MiB during a %d MiB upload, want under %d MiB", grown>>20, size>>20, bound>>20)
	}
}

type hiddenReader struct{ r io.Reader }

func (h hiddenReader) Read(p []byte) (int, error) { return h.r.Read(p) }

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestS3ServerHangs points the store at a server that accepts connections
// and never answers: calls must give up with ErrUnavailable after the
// configured timeouts instead of hanging.
func TestS3ServerHangs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			go io.Copy(io.Discard, c)
		}
	}()
	s, err := storage.NewS3(t.Context(), "bucket", "", storage.S3Options{
		Endpoint: "http://" + l.Addr().String(), Region: "us-east-1", AccessKey: "k", SecretKey: "s",
		ResponseTimeout: 300 * time.Millisecond, MaxAttempts: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Stat(t.Context(), "k")
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("stat on a silent server: %v, want ErrUnavailable", err)
	}
	err = s.Put(t.Context(), "k", strings.NewReader("x"), 1)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("put on a silent server: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("two calls on a silent server took %v", d)
	}
}
