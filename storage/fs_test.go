package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/storage"
	"github.com/blueprints-hq/blueprints/storage/storagetest"
)

func newFS(t *testing.T, dir string) *storage.FS {
	t.Helper()
	f, err := storage.NewFS(dir)
	if err != nil {
		t.Fatalf("new fs: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// files lists every file and folder under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return names
}

func TestFSConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Blobs {
		root := filepath.Join(t.TempDir(), "blobs")
		f := newFS(t, root)
		// Whatever a subtest did, failed puts and refused keys must leave
		// no temporary file behind, and nothing may appear outside root.
		t.Cleanup(func() {
			for _, name := range files(t, root) {
				if strings.Contains(name, ".tmp-") {
					t.Errorf("temporary file left behind: %s", name)
				}
				if st, err := os.Stat(filepath.Join(root, name)); err == nil && st.IsDir() {
					if entries, _ := os.ReadDir(filepath.Join(root, name)); len(entries) == 0 {
						t.Errorf("empty folder left behind: %s", name)
					}
				}
			}
			if got := files(t, filepath.Dir(root)); !slices.Contains(got, "blobs") || slices.ContainsFunc(got, func(n string) bool {
				return n != "blobs" && !strings.HasPrefix(n, "blobs/")
			}) {
				t.Errorf("files outside the store's root: %q", got)
			}
		})
		return f
	})
}

// TestFSSymlinkEscape plants a symbolic link pointing outside the root: the
// store must not follow it.
func TestFSSymlinkEscape(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	root := filepath.Join(dir, "blobs")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644)
	f := newFS(t, root)
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := f.Get(ctx, "link/secret"); err == nil {
		t.Fatalf("get through a symlink out of the root: no error")
	}
	if err := f.Put(ctx, "link/planted", strings.NewReader("x"), 1); err == nil {
		t.Fatalf("put through a symlink out of the root: no error")
	}
	if got := files(t, outside); !slices.Equal(got, []string{"secret"}) {
		t.Fatalf("outside folder now holds %q", got)
	}
}

// TestFSReservedTempNames checks that keys cannot name Put's temporary
// files, and that List skips them.
func TestFSReservedTempNames(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root)
	ctx := context.Background()
	for _, key := range []string{".tmp-x", "a/.tmp-y"} {
		if err := f.Put(ctx, key, strings.NewReader("x"), 1); err == nil {
			t.Errorf("put %q: no error", key)
		}
	}
	os.MkdirAll(filepath.Join(root, "a"), 0o755)
	os.WriteFile(filepath.Join(root, "a", ".tmp-crashed"), []byte("half"), 0o644)
	f.Put(ctx, "a/b", strings.NewReader("b"), 1)
	var keys []string
	f.List(ctx, "", func(i storage.Info) error { keys = append(keys, i.Key); return nil })
	if !slices.Equal(keys, []string{"a/b"}) {
		t.Fatalf("list: %q, want [a/b]", keys)
	}
}

// TestFSDeletePrunesFolders checks that deleting the last blob of a folder
// removes the folders it leaves empty, but never the root.
func TestFSDeletePrunesFolders(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root)
	ctx := context.Background()
	f.Put(ctx, "lfs/ab/cd/abcd", strings.NewReader("x"), 1)
	f.Put(ctx, "lfs/ab/ef/abef", strings.NewReader("y"), 1)
	f.Delete(ctx, "lfs/ab/cd/abcd")
	if got := files(t, root); !slices.Equal(got, []string{"lfs", "lfs/ab", "lfs/ab/ef", "lfs/ab/ef/abef"}) {
		t.Fatalf("after one delete: %q", got)
	}
	f.Delete(ctx, "lfs/ab/ef/abef")
	if got := files(t, root); len(got) != 0 {
		t.Fatalf("after deleting all: %q", got)
	}
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("root removed: %v", err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, spec := range []string{"", "fs"} {
		b, err := storage.Open(ctx, spec, dir)
		if err != nil {
			t.Fatalf("open %q: %v", spec, err)
		}
		if f, ok := b.(*storage.FS); !ok || f.Dir() != filepath.Join(dir, "blobs") {
			t.Fatalf("open %q: %T, want *storage.FS under %s/blobs", spec, b, dir)
		}
	}
	for _, spec := range []string{"s3://", "s3:///prefix", "S3://b", "gs://bucket", "file:///tmp", "s3:bucket", "s3://bucket/../x"} {
		b, err := storage.Open(ctx, spec, dir)
		if err == nil {
			t.Errorf("open %q: %T, want an error", spec, b)
			continue
		}
		t.Logf("open %q: %v", spec, err)
	}
	_, err := storage.Open(ctx, "gs://bucket", dir)
	if !strings.Contains(err.Error(), "s3://BUCKET[/PREFIX]") || !strings.Contains(err.Error(), `"fs"`) {
		t.Errorf("error for an unknown spec does not say what is accepted: %v", err)
	}
}

// TestFSFileFolderClash checks that a key cannot be both a blob and the
// folder of other blobs on disk: the second put fails cleanly.
func TestFSFileFolderClash(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root)
	ctx := context.Background()
	if err := f.Put(ctx, "a", strings.NewReader("a"), 1); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, "a/b", strings.NewReader("b"), 1); err == nil {
		t.Errorf("put a/b over the blob a: no error")
	}
	if err := f.Put(ctx, "c/d", strings.NewReader("d"), 1); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, "c", strings.NewReader("c"), 1); err == nil {
		t.Errorf("put c over the folder c/: no error")
	}
	if got := files(t, root); !slices.Equal(got, []string{"a", "c", "c/d"}) {
		t.Fatalf("files after clashing puts: %q, want [a c c/d]", got)
	}
}
