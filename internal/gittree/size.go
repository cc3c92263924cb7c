package gittree

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ObjectSize returns the size of object id without reading its content.
//
// go-git v5's own EncodedObjectSize opens a loose object's file and never
// closes it (encodedObjectSizeFromUnpacked drops the file; only the
// garbage collector closes it): sizing the files of a large tree of loose
// objects (a small push is unpacked into loose objects) once ran a server
// out of file descriptors. Here a loose object's header is read from a
// file closed before returning; packed objects are sized by go-git, which
// then finds no loose file to leak.
func ObjectSize(s storer.EncodedObjectStorer, id plumbing.Hash) (int64, error) {
	if fs, ok := s.(*filesystem.Storage); ok {
		hex := id.String()
		root := fs.Filesystem().Root()
		size, err := looseSize(filepath.Join(root, "objects", hex[:2], hex[2:]))
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			return size, err
		}
	}
	sz, ok := s.(interface {
		EncodedObjectSize(plumbing.Hash) (int64, error)
	})
	if !ok {
		obj, err := s.EncodedObject(plumbing.AnyObject, id)
		if err != nil {
			return 0, err
		}
		return obj.Size(), nil
	}
	return sz.EncodedObjectSize(id)
}

// looseSize reads the "TYPE SIZE\0" header of a loose object file.
func looseSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zr, err := zlib.NewReader(f)
	if err != nil {
		return 0, fmt.Errorf("read object %s: %w", filepath.Base(path), err)
	}
	defer zr.Close()
	var hdr [32]byte
	n, err := io.ReadFull(zr, hdr[:])
	if err != nil && err != io.ErrUnexpectedEOF {
		return 0, fmt.Errorf("read object %s: %w", filepath.Base(path), err)
	}
	h := hdr[:n]
	sp, nul := bytes.IndexByte(h, ' '), bytes.IndexByte(h, 0)
	if sp < 0 || nul < sp {
		return 0, fmt.Errorf("read object %s: bad header", filepath.Base(path))
	}
	size, err := strconv.ParseInt(string(h[sp+1:nul]), 10, 64)
	if err != nil || size < 0 {
		return 0, fmt.Errorf("read object %s: bad header", filepath.Base(path))
	}
	return size, nil
}
