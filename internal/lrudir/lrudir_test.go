package lrudir

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Trim removes the oldest entries first, down to the limit; it never
// removes the kept one, nor counts or removes files that are not entries.
func TestTrim(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, name := range []string{"a.e", "b.e", "c.e", "d.e", "other"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Duration(i-10) * time.Minute) // a.e the oldest
		os.Chtimes(p, at, at)
	}
	isEntry := func(name string, _ fs.FileInfo) bool { return strings.HasSuffix(name, ".e") }
	if err := Trim(dir, 250, "a.e", isEntry); err != nil {
		t.Fatal(err)
	}
	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if want := []string{"a.e", "d.e", "other"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if err := Trim(filepath.Join(dir, "missing"), 1, "", isEntry); err == nil {
		t.Error("a missing folder trimmed without error")
	}
}
