// Package lrudir keeps a folder of cache entries (the pack cache, the blob
// cache) under a size limit. Trim reads the folder's listing, and removes
// files: the least recently used entries first, by modification time,
// which the caches refresh when they serve an entry.
package lrudir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Trim removes the least recently used entries of dir until those left
// take at most max bytes. isEntry says which regular files are entries
// (the others are neither counted nor removed; it may remove them
// itself, such as stale temporary files). keep names an entry never
// removed (the one just written), "" for none. A file removed meanwhile
// by another process is no error.
func Trim(dir string, max int64, keep string, isEntry func(name string, info fs.FileInfo) bool) error {
	list, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("trim %s: %w", dir, err)
	}
	type entry struct {
		name string
		info fs.FileInfo
	}
	var entries []entry
	var total int64
	for _, e := range list {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !isEntry(e.Name(), info) {
			continue
		}
		total += info.Size()
		if e.Name() != keep {
			entries = append(entries, entry{e.Name(), info})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.info.ModTime().Compare(b.info.ModTime()) })
	for _, e := range entries {
		if total <= max {
			break
		}
		if err := os.Remove(filepath.Join(dir, e.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("trim %s: %w", dir, err)
		}
		total -= e.info.Size()
	}
	return nil
}
