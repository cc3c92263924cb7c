package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

// tmpPrefix starts the names of the files Put writes before renaming them
// into place. List skips them and FS refuses keys with such a segment.
const tmpPrefix = ".tmp-"

// FS keeps blobs as files under a root folder on local disk: key
// "lfs/ab/cd/x" is the file root/lfs/ab/cd/x. Every access goes through an
// os.Root, so neither a key nor a symbolic link can reach outside the root.
// Key segments starting with ".tmp-" are reserved for in-progress writes.
type FS struct {
	root *os.Root
}

var (
	_ Blobs       = (*FS)(nil)
	_ RangeGetter = (*FS)(nil)
	_ Checker     = (*FS)(nil)
)

// NewFS opens (creating it if needed) the folder root as a blob store.
func NewFS(root string) (*FS, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create blob folder: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("open blob folder: %w", err)
	}
	return &FS{root: r}, nil
}

// Close releases the root folder handle.
func (f *FS) Close() error { return f.root.Close() }

// Dir is the root folder's path.
func (f *FS) Dir() string { return f.root.Name() }

func (f *FS) checkKey(key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if strings.HasPrefix(key, tmpPrefix) || strings.Contains(key, "/"+tmpPrefix) {
		return fmt.Errorf("check key %q: segment starts with reserved %q: %w", key, tmpPrefix, ErrInvalidKey)
	}
	return nil
}

// Put writes r to a temporary file beside the final one, syncs it and
// renames it into place, so readers see either the old or the new blob.
func (f *FS) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := f.checkKey(key); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	tmp, file, err := f.createTemp(path.Dir(key))
	if err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			file.Close()
			f.root.Remove(tmp)
			f.prune(path.Dir(key))
		}
	}()
	n, err := copyContext(ctx, file, r, size)
	if err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("put blob %s: got %d bytes, want %d: %w", key, n, size, io.ErrUnexpectedEOF)
	}
	if err := file.Sync(); err != nil {
		return fmt.Errorf("put blob %s: sync: %w", key, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("put blob %s: close: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	if err := f.root.Rename(tmp, key); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	f.syncDir(path.Dir(key))
	return nil
}

// createTemp creates a new temporary file in dir. A concurrent Delete may
// prune dir between MkdirAll and OpenFile, so it tries a few times.
func (f *FS) createTemp(dir string) (string, *os.File, error) {
	var lastErr error
	for range 5 {
		if err := f.root.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("create folder %s: %w", dir, err)
		}
		var b [12]byte
		rand.Read(b[:])
		name := path.Join(dir, tmpPrefix+hex.EncodeToString(b[:]))
		file, err := f.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return name, file, nil
		}
		lastErr = err
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return "", nil, fmt.Errorf("create temporary file: %w", lastErr)
}

// syncDir makes a rename durable; failures only cost durability on power
// loss, so they are ignored.
func (f *FS) syncDir(dir string) {
	d, err := f.root.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// copyContext copies r to w, checking ctx between reads, and reads at most
// one byte more than size (when size >= 0) so an overlong body is noticed
// without reading it to the end.
func copyContext(ctx context.Context, w io.Writer, r io.Reader, size int64) (int64, error) {
	if size >= 0 {
		r = io.LimitReader(r, size+1)
	}
	buf := make([]byte, 256<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			if _, err := w.Write(buf[:m]); err != nil {
				return n, err
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("read: %w", rerr)
		}
	}
}

// Get opens the blob's file.
func (f *FS) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	file, info, err := f.open(ctx, key)
	if err != nil {
		return nil, Info{}, fmt.Errorf("get blob: %w", err)
	}
	return file, info, nil
}

func (f *FS) open(ctx context.Context, key string) (*os.File, Info, error) {
	if err := f.checkKey(key); err != nil {
		return nil, Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, fmt.Errorf("%s: %w", key, err)
	}
	file, err := f.root.Open(key)
	if err != nil {
		return nil, Info{}, f.mapErr(key, err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, Info{}, fmt.Errorf("%s: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		file.Close()
		return nil, Info{}, fmt.Errorf("%s: %w", key, ErrNotExist)
	}
	return file, Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// mapErr turns "no such file" and "a parent is a file" into ErrNotExist.
func (f *FS) mapErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%s: %w", key, ErrNotExist)
	}
	return fmt.Errorf("%s: %w", key, err)
}

// GetRange opens the blob and returns a reader of length bytes from offset
// (to the end when length < 0).
func (f *FS) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("get blob range %s: negative offset %d", key, offset)
	}
	file, info, err := f.open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get blob range: %w", err)
	}
	if offset > info.Size {
		offset = info.Size
	}
	n := info.Size - offset
	if length >= 0 && length < n {
		n = length
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(file, offset, n), file}, nil
}

// Stat reports the blob's size and modification time.
func (f *FS) Stat(ctx context.Context, key string) (Info, error) {
	if err := f.checkKey(key); err != nil {
		return Info{}, fmt.Errorf("stat blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	st, err := f.root.Stat(key)
	if err != nil {
		return Info{}, fmt.Errorf("stat blob: %w", f.mapErr(key, err))
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("stat blob %s: %w", key, ErrNotExist)
	}
	return Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete removes the blob's file and the folders it leaves empty.
func (f *FS) Delete(ctx context.Context, key string) error {
	if err := f.checkKey(key); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	st, err := f.root.Lstat(key)
	if err != nil {
		if errors.Is(f.mapErr(key, err), ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	if st.IsDir() {
		return nil
	}
	if err := f.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	f.prune(path.Dir(key))
	return nil
}

// prune removes dir and its parents up to the root while they are empty.
// The Lstat keeps it from removing a blob that replaced a pruned folder
// (os.Root has no rmdir); callers' key schemes do not mix the two anyway.
func (f *FS) prune(dir string) {
	for ; dir != "."; dir = path.Dir(dir) {
		if st, err := f.root.Lstat(dir); err != nil || !st.IsDir() || f.root.Remove(dir) != nil {
			return // gone, not a folder, or not empty
		}
	}
}

// List walks the folders under prefix, sorting each folder's entries so
// that keys come out in byte order ("a-b" before "a/b").
func (f *FS) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := checkPrefix(prefix); err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	var stop callbackError
	err := f.walk(ctx, start, prefix, fn)
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("list blobs %q: %w", prefix, err)
	}
	return nil
}

// callbackError carries an error returned by List's callback out of the
// walk unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

func (f *FS) walk(ctx context.Context, dir, prefix string, fn func(Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, err := f.root.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // no such folder (or deleted meanwhile): nothing under it
		}
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil // a blob, not a folder: the prefix ends in its name + "/"
		}
		return err
	}
	type entry struct {
		sortName string
		de       fs.DirEntry
	}
	list := make([]entry, 0, len(entries))
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), tmpPrefix) {
			continue
		}
		name := de.Name()
		if de.IsDir() {
			name += "/"
		}
		list = append(list, entry{name, de})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].sortName < list[j].sortName })
	for _, e := range list {
		key := e.de.Name()
		if dir != "." {
			key = dir + "/" + key
		}
		if e.de.IsDir() {
			sub := key + "/"
			if !strings.HasPrefix(sub, prefix) && !strings.HasPrefix(prefix, sub) {
				continue
			}
			if err := f.walk(ctx, key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if !e.de.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			continue
		}
		st, err := e.de.Info()
		if err != nil {
			continue // deleted since ReadDir
		}
		if err := fn(Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}); err != nil {
			return callbackError{err}
		}
	}
	return nil
}

// Check reports whether the root folder is still reachable.
func (f *FS) Check(ctx context.Context) error {
	if _, err := f.root.Stat("."); err != nil {
		return fmt.Errorf("check blob folder: %w: %w", ErrUnavailable, err)
	}
	return nil
}
