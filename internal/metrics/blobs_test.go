package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/blueprints-hq/blueprints/storage"
	"github.com/blueprints-hq/blueprints/storage/storagetest"
)

// TestBlobsConformance: the decorated store still passes the storage
// conformance suite, so wrapping changes nothing callers can see.
func TestBlobsConformance(t *testing.T) {
	m := New(Options{})
	storagetest.Run(t, func(t *testing.T) storage.Blobs {
		fs, err := storage.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fs.Close() })
		return m.Blobs(fs)
	})
}

func TestBlobsCountErrors(t *testing.T) {
	ctx := context.Background()
	m := New(Options{})
	dir := filepath.Join(t.TempDir(), "blobs")
	fs, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	b := m.Blobs(fs)
	if _, ok := b.(storage.Presigner); ok {
		t.Fatal("a store without presigned URLs gained PresignGet by being wrapped")
	}
	errs := func(op string) float64 { return testutil.ToFloat64(m.storageErrors.WithLabelValues(op)) }

	// Answers, not failures: a missing blob, a caller that gave up, a
	// sender whose content broke off.
	if _, err := b.Stat(ctx, "lfs/missing"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("stat missing: %v", err)
	}
	if _, _, err := b.Get(ctx, "lfs/missing"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("get missing: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Put(cancelled, "lfs/a", strings.NewReader("abc"), 3); err == nil {
		t.Fatal("put with a cancelled context succeeded")
	}
	broken := io.MultiReader(strings.NewReader("ab"), iotestErr{})
	if err := b.Put(ctx, "lfs/a", broken, 3); err == nil {
		t.Fatal("put of a broken upload succeeded")
	}
	stop := errors.New("enough")
	if err := b.Put(ctx, "lfs/ok", strings.NewReader("abc"), 3); err != nil {
		t.Fatal(err)
	}
	if err := b.List(ctx, "lfs/", func(storage.Info) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("list: %v, want the callback's error", err)
	}
	if err := b.(storage.Checker).Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	for _, op := range storageOps {
		if n := errs(op); n != 0 {
			t.Errorf("storage errors for %s = %v after answers that are not failures", op, n)
		}
	}

	// Failures: a bad key, and a blob folder that is gone.
	if err := b.Put(ctx, "../escape", strings.NewReader("x"), 1); !errors.Is(err, storage.ErrInvalidKey) {
		t.Fatalf("put ../escape: %v", err)
	}
	if n := errs("put"); n != 1 {
		t.Errorf("put errors = %v after an invalid key, want 1", n)
	}
	rc, err := b.(storage.RangeGetter).GetRange(ctx, "lfs/ok", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "b" {
		t.Fatalf("range: %q", got)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "lfs/new", bytes.NewReader([]byte("abc")), 3); err == nil {
		t.Fatal("put into a removed folder succeeded")
	}
	if n := errs("put"); n != 2 {
		t.Errorf("put errors = %v after the folder went, want 2", n)
	}
	if n := errs("get") + errs("stat") + errs("list"); n != 0 {
		t.Errorf("errors counted against other operations: %v", n)
	}
}

// iotestErr fails every read, like a client that disconnects.
type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }
