package storage_test

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/storage"
)

func TestCheckKey(t *testing.T) {
	good := []string{
		"a", "lfs/ab/cd/0123456789abcdef", "previews/x/256.png", "a/b.c/d..e", "...", ".hidden/x",
		"dé jà/vu", "+%20&=?#", strings.Repeat("k", storage.MaxKeyLen),
	}
	for _, k := range good {
		if err := storage.CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q): %v, want nil", k, err)
		}
	}
	bad := []string{
		"", "/", "/a", "a/", "a//b", ".", "..", "./a", "a/.", "a/../b", "../a", "a\\b", "\\",
		"a\x00", "a\tb", "a\x7fb", "\xc3\x28", strings.Repeat("k", storage.MaxKeyLen+1),
	}
	for _, k := range bad {
		if err := storage.CheckKey(k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("CheckKey(%q): %v, want ErrInvalidKey", k, err)
		}
	}
}

// FuzzCheckKey checks that every accepted key is a clean, local, relative
// path that an FS store keeps inside its root.
func FuzzCheckKey(f *testing.F) {
	for _, k := range []string{"lfs/ab/cd/abcd", "../x", "a//b", "a/./b", "\\x", "a/..", "é/ü"} {
		f.Add(k)
	}
	dir := f.TempDir()
	root := filepath.Join(dir, "root")
	fsys, err := storage.NewFS(root)
	if err != nil {
		f.Fatal(err)
	}
	defer fsys.Close()
	f.Fuzz(func(t *testing.T, key string) {
		if storage.CheckKey(key) != nil {
			return
		}
		if path.Clean(key) != key || path.IsAbs(key) || !filepath.IsLocal(key) || strings.ContainsAny(key, "\\\x00") {
			t.Fatalf("CheckKey accepted %q", key)
		}
		ctx := context.Background()
		if err := fsys.Put(ctx, key, strings.NewReader("x"), 1); err != nil {
			return // e.g. a folder or file already in the way
		}
		defer fsys.Delete(ctx, key)
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(key))); err != nil {
			t.Fatalf("put %q: not at its place under the root: %v", key, err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("put %q: %d entries beside the root", key, len(entries))
		}
	})
}
