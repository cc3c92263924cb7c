package gittree

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// SkipDir, returned by a Walk callback for a folder, skips its contents.
var SkipDir = errors.New("skip this folder")

// Stop, returned by a callback, ends a walk or diff early without error.
var Stop = errors.New("stop walking")

// maxNesting bounds how deep a walk or diff descends, whatever the
// repository holds: a tree nested deeper is an error, not a stack of
// goroutine frames. Pushes are refused far sooner (Limits.MaxDepth).
const maxNesting = 4096

// checkEvery is how many entries pass between context checks.
const checkEvery = 1024

// Walk calls fn for every entry under the tree root (folders included,
// before their contents), depth first in tree order, with the entry's
// path from root. fn returning SkipDir for a folder skips its contents;
// Stop ends the walk and Walk returns nil; any other error ends it and is
// returned. Memory is one tree's entries per level.
func Walk(ctx context.Context, src Source, root plumbing.Hash, fn func(path string, e Entry) error) error {
	type frame struct {
		prefix  string
		entries []Entry
	}
	entries, err := src.Tree(root)
	if err != nil {
		return err
	}
	stack := []frame{{entries: entries}}
	n := 0
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if len(top.entries) == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		e := top.entries[0]
		top.entries = top.entries[1:]
		if n++; n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		p := top.prefix + e.Name
		err := fn(p, e)
		switch {
		case err == SkipDir:
			continue
		case err == Stop:
			return nil
		case err != nil:
			return err
		}
		if !e.IsDir() {
			continue
		}
		if len(stack) >= maxNesting {
			return fmt.Errorf("walk %s: folders nested more than %d deep", p, maxNesting)
		}
		sub, err := src.Tree(e.ID)
		if err != nil {
			return fmt.Errorf("read folder %s: %w", p, err)
		}
		stack = append(stack, frame{prefix: p + "/", entries: sub})
	}
	return nil
}

// Change is a file (any entry but a folder) that differs between two
// trees. From is zero (From.ID.IsZero()) for an added file, To for a
// deleted one; a file that changed kind (a file that became a submodule)
// is one change with both.
type Change struct {
	Path     string
	From, To Entry
}

// Added reports whether the change adds the path.
func (c Change) Added() bool { return c.From.ID.IsZero() && c.From.Mode == 0 }

// Deleted reports whether the change removes the path.
func (c Change) Deleted() bool { return c.To.ID.IsZero() && c.To.Mode == 0 }

// Diff calls fn for every file that differs between the trees from and to
// (either may be plumbing.ZeroHash, the empty tree), in tree order.
// Folders with the same id on both sides are skipped without being read;
// a folder replacing a file (or the reverse) is the file's deletion and
// the addition of everything in the folder. fn returning Stop ends the
// diff and Diff returns nil; any other error ends it and is returned.
func Diff(ctx context.Context, src Source, from, to plumbing.Hash, fn func(Change) error) error {
	d := differ{ctx: ctx, src: src, fn: fn}
	err := d.trees("", from, to, 0)
	if err == Stop {
		return nil
	}
	return err
}

type differ struct {
	ctx context.Context
	src Source
	fn  func(Change) error
	n   int
}

func (d *differ) read(id plumbing.Hash) ([]Entry, error) {
	if id.IsZero() {
		return nil, nil
	}
	entries, err := d.src.Tree(id)
	if err != nil {
		return nil, err
	}
	// Sorted here rather than trusted: a hand-built tree may be out of
	// order, and the merge below needs order to pair names.
	if !slices.IsSortedFunc(entries, compareEntries) {
		entries = slices.Clone(entries)
		slices.SortStableFunc(entries, compareEntries)
	}
	return entries, nil
}

func compareEntries(a, b Entry) int { return strings.Compare(sortKey(a), sortKey(b)) }

func (d *differ) trees(prefix string, from, to plumbing.Hash, depth int) error {
	if from == to {
		return nil
	}
	if depth >= maxNesting {
		return fmt.Errorf("diff %s: folders nested more than %d deep", strings.TrimSuffix(prefix, "/"), maxNesting)
	}
	a, err := d.read(from)
	if err != nil {
		return fmt.Errorf("read folder %s: %w", displayPath(prefix), err)
	}
	b, err := d.read(to)
	if err != nil {
		return fmt.Errorf("read folder %s: %w", displayPath(prefix), err)
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if d.n++; d.n%checkEvery == 0 {
			if err := d.ctx.Err(); err != nil {
				return err
			}
		}
		var x, y *Entry
		switch {
		case j == len(b):
			x = &a[i]
			i++
		case i == len(a):
			y = &b[j]
			j++
		default:
			switch c := compareEntries(a[i], b[j]); {
			case c < 0:
				x = &a[i]
				i++
			case c > 0:
				y = &b[j]
				j++
			default:
				x, y = &a[i], &b[j]
				i, j = i+1, j+1
			}
		}
		if err := d.pair(prefix, x, y, depth); err != nil {
			return err
		}
	}
	return nil
}

// pair reports what became of one name: x on the old side, y on the new
// (either nil). Two folders are compared; everything else is a leaf.
func (d *differ) pair(prefix string, x, y *Entry, depth int) error {
	switch {
	case x != nil && y != nil && x.IsDir():
		return d.trees(prefix+x.Name+"/", x.ID, y.ID, depth+1)
	case x != nil && x.IsDir():
		return d.trees(prefix+x.Name+"/", x.ID, plumbing.ZeroHash, depth+1)
	case y != nil && y.IsDir():
		return d.trees(prefix+y.Name+"/", plumbing.ZeroHash, y.ID, depth+1)
	}
	var ch Change
	if x != nil {
		ch.Path, ch.From = prefix+x.Name, *x
	}
	if y != nil {
		ch.Path, ch.To = prefix+y.Name, *y
	}
	if x != nil && y != nil && x.ID == y.ID && x.Mode == y.Mode {
		return nil
	}
	return d.fn(ch)
}

func displayPath(prefix string) string {
	if prefix == "" {
		return "/"
	}
	return strings.TrimSuffix(prefix, "/")
}

func sortEntries(entries []Entry) { slices.SortStableFunc(entries, compareEntries) }
