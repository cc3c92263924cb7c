package storage_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A Put cut off by a crash leaves a temporary file: Sweep removes it once
// it is old enough, and leaves blobs and young temporary files alone.
func TestFSSweep(t *testing.T) {
	dir := t.TempDir()
	f := newFS(t, dir)
	ctx := t.Context()
	if err := f.Put(ctx, "lfs/ab/cd/kept", strings.NewReader("kept"), 4); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "lfs", "ab", "cd", ".tmp-crashed")
	young := filepath.Join(dir, "lfs", "ab", ".tmp-writing")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	n, err := f.Sweep(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("sweep: removed %d, %v; want 1", n, err)
	}
	got := files(t, dir)
	if slices.Contains(got, "lfs/ab/cd/.tmp-crashed") || !slices.Contains(got, "lfs/ab/.tmp-writing") || !slices.Contains(got, "lfs/ab/cd/kept") {
		t.Fatalf("files after sweep: %q", got)
	}
}
