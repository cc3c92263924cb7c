package gittree

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// fuzzSource serves up to three hand-built tree objects under the ids
// fuzzID(1..3). A folder entry may only name a later tree (one naming
// itself or an earlier one is served as naming a missing tree), so the
// trees form a DAG, as git's hashes guarantee: what a DAG of three trees
// can still do is expand, as a bomb does.
type fuzzSource struct{ trees [3][]byte }

func fuzzID(k int) plumbing.Hash { return plumbing.Hash{byte(k)} }

var missingID = plumbing.Hash{0xee}

func (s *fuzzSource) Tree(id plumbing.Hash) ([]Entry, error) {
	k := int(id[0])
	if id != fuzzID(k) || k < 1 || k > 3 {
		return nil, fmt.Errorf("tree %s: %w", id, ErrNotFound)
	}
	entries, err := Parse(s.trees[k-1])
	if err != nil {
		return nil, err
	}
	for i, e := range entries {
		if e.IsDir() && int(e.ID[0]) <= k {
			entries[i].ID = missingID
		}
	}
	return entries, nil
}

// FuzzCheck feeds hand-built trees to Parse, the limits Checker, Walk and
// Diff. None may panic or hang; what the Checker concludes must agree with
// a plain walk: a tree it accepts holds exactly the paths it counted,
// within every limit; a tree it refuses breaks the limit it names, at the
// path it names.
func FuzzCheck(f *testing.F) {
	id := func(k int) string { h := fuzzID(k); return string(h[:]) }
	blob := strings.Repeat("\x07", 20)
	f.Add([]byte("100644 a.stl\x00"+blob), []byte{}, []byte{}, uint16(10), uint8(4), uint8(10))
	// A bomb: 4 × 4 × 4 files from three trees.
	four := func(mode, prefix, target string) []byte {
		var b strings.Builder
		for i := range 4 {
			fmt.Fprintf(&b, "%s %s%d\x00%s", mode, prefix, i, target)
		}
		return []byte(b.String())
	}
	f.Add(four("40000", "d", id(2)), four("40000", "e", id(3)), four("100644", "f", blob), uint16(50), uint8(8), uint8(8))
	f.Add(four("40000", "d", id(2)), four("40000", "e", id(3)), four("100644", "f", blob), uint16(500), uint8(2), uint8(8))
	f.Add(four("40000", "d", id(2)), four("40000", "e", id(3)), four("100644", "f", blob), uint16(500), uint8(8), uint8(3))
	f.Add([]byte("160000 sub\x00"+blob+"40000 x\x00"+id(3)), []byte("40000 loop\x00"+id(1)), []byte("120000 l\x00"+blob), uint16(3), uint8(1), uint8(2))
	f.Add([]byte("100644 a\x00short"), []byte("777 b\x00"+blob), []byte("40000 ..\x00"+blob), uint16(1), uint8(1), uint8(1))

	f.Fuzz(func(t *testing.T, a, b, c []byte, maxPaths uint16, maxDepth, maxEntries uint8) {
		src := &fuzzSource{trees: [3][]byte{a, b, c}}
		for _, data := range src.trees {
			if entries, err := Parse(data); err == nil {
				if again, err := Parse(Encode(entries)); err != nil || len(again) != len(entries) {
					t.Fatalf("re-encoded tree does not parse back: %v", err)
				}
			} else if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse error does not wrap ErrMalformed: %v", err)
			}
		}
		lim := Limits{MaxPaths: 1 + int64(maxPaths)%2000, MaxDepth: 1 + int(maxDepth)%10, MaxEntries: 1 + int(maxEntries)%100}
		ctx := context.Background()
		var gitlinks int
		ck := NewChecker(src, lim)
		ck.Gitlink = func(string, Entry) { gitlinks++ }
		counts, err := ck.Check(ctx, fuzzID(1))
		n := counts.Paths
		var le *LimitError
		limited := errors.As(err, &le)
		if err != nil && !limited {
			return // unreadable trees: a plain error is all that is asked
		}
		// Walk as far as the checker's verdict needs.
		var paths, files int64
		var found, deep bool
		var index int64
		werr := Walk(ctx, src, fuzzID(1), func(p string, e Entry) error {
			paths++
			if !e.IsDir() {
				files++
			}
			depth := strings.Count(p, "/") + 1
			if depth > lim.MaxDepth {
				deep = true
			}
			if limited && p == le.Path && !found {
				found, index = true, paths
			}
			if !limited && paths > n {
				t.Fatalf("walk finds more than the %d paths counted", n)
			}
			if limited && (found || paths > 100*(lim.MaxPaths+1)*int64(lim.MaxDepth+1)) {
				return Stop
			}
			if e.IsDir() && !limited {
				sub, err := src.Tree(e.ID)
				if err == nil && len(sub) > lim.MaxEntries {
					t.Fatalf("accepted folder %s holds %d entries, limit %d", p, len(sub), lim.MaxEntries)
				}
			}
			return nil
		})
		if !limited {
			if werr != nil {
				t.Fatalf("checker accepted a tree the walk cannot read: %v", werr)
			}
			if paths != n || files != counts.Files || deep {
				t.Fatalf("checker counted %+v (depth ok), walk finds %d paths, %d files (too deep: %v)", counts, paths, files, deep)
			}
			return
		}
		switch le.Limit {
		case "paths":
			if !found || index <= lim.MaxPaths {
				t.Fatalf("paths limit %d: named %q, found %v at %d", lim.MaxPaths, le.Path, found, index)
			}
		case "depth":
			if !found || strings.Count(le.Path, "/")+1 != lim.MaxDepth+1 {
				t.Fatalf("depth limit %d: named %q (found %v)", lim.MaxDepth, le.Path, found)
			}
		case "entries":
			if !found && le.Path != "/" || found && lim.MaxEntries >= 0 && !strings.HasSuffix(le.Msg, fmt.Sprintf("limit of %d per folder", lim.MaxEntries)) {
				t.Fatalf("entries limit: named %q, not a folder of the tree", le.Path)
			}
		default:
			t.Fatalf("unknown limit %q", le.Limit)
		}
		// A diff of the tree against nothing stops when asked.
		changes := 0
		Diff(ctx, src, plumbing.ZeroHash, fuzzID(1), func(Change) error {
			if changes++; changes > 100 {
				return Stop
			}
			return nil
		})
	})
}
