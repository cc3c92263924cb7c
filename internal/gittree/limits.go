package gittree

import (
	"context"
	"fmt"
	"math"

	"github.com/go-git/go-git/v5/plumbing"
)

// Limits bound the trees of one commit. A zero field is no limit.
type Limits struct {
	// MaxPaths is the most files and folders one commit's tree may hold,
	// counted as a checkout would lay them out (a folder used twice counts
	// twice).
	MaxPaths int64
	// MaxDepth is the deepest folder nesting: a file at the top is at
	// depth 1, "a/b/c.stl" at depth 3.
	MaxDepth int
	// MaxEntries is the most entries one folder may hold.
	MaxEntries int
}

// Default limits: generous for real projects (a 5,000-part project with
// deep folders is far below them), far below what would hurt the server.
const (
	DefaultMaxPaths   = 250_000
	DefaultMaxDepth   = 64
	DefaultMaxEntries = 50_000
)

// DefaultLimits returns the default Limits.
func DefaultLimits() Limits {
	return Limits{MaxPaths: DefaultMaxPaths, MaxDepth: DefaultMaxDepth, MaxEntries: DefaultMaxEntries}
}

// LimitError says which limit a tree breaks and where.
type LimitError struct {
	Limit string // "paths", "depth" or "entries"
	Max   int64  // the limit
	Path  string // the path that breaks it ("" for the top folder)
	Msg   string // what is wrong, for people
}

func (e *LimitError) Error() string { return e.Msg }

// Checker checks trees against Limits, visiting each distinct tree once
// however often it is used: its counts are remembered, for the trees of
// every commit it checks. Not safe for concurrent use.
type Checker struct {
	src  Source
	lim  Limits
	memo map[plumbing.Hash]treeStat
	// Gitlink, when set, is called once for each gitlink entry of each
	// distinct tree visited, with one path it sits at.
	Gitlink func(path string, e Entry)
	visits  int64 // trees read, for context checks
}

// treeStat is what a visited tree holds: paths below it and the files
// among them (saturated at pathCap) and its height (1 for a tree of files
// only, 0 when empty).
type treeStat struct {
	paths, files int64
	height       int
}

// Counts are what a checked tree holds, as a checkout lays it out.
type Counts struct {
	Paths int64 // files and folders
	Files int64 // entries other than folders: files, links, submodules
}

// pathCap is where counts stop growing: far above any limit, far below
// overflow, even when added up along a chain of shared subtrees.
const pathCap = math.MaxInt64 / 4

// NewChecker returns a Checker reading trees from src.
func NewChecker(src Source, lim Limits) *Checker {
	return &Checker{src: src, lim: lim, memo: map[plumbing.Hash]treeStat{}}
}

// Check checks the tree root of one commit and returns what it holds. A
// broken limit gives a *LimitError naming the path; reading stops as soon
// as a limit is broken, so a tree of millions of paths costs no more than
// the limit. Without limits, it counts a tree by its distinct objects.
func (c *Checker) Check(ctx context.Context, root plumbing.Hash) (Counts, error) {
	st, err := c.visit(ctx, root, "", 0)
	if err != nil {
		return Counts{}, err
	}
	if c.lim.MaxPaths > 0 && st.paths > c.lim.MaxPaths {
		p, err := c.nthPath(root, "", c.lim.MaxPaths)
		if err != nil {
			return Counts{}, err
		}
		return Counts{}, c.tooManyPaths(fmt.Sprintf("%s paths", count(st.paths)), p)
	}
	return Counts{Paths: st.paths, Files: st.files}, nil
}

func (c *Checker) tooManyPaths(what, path string) *LimitError {
	return &LimitError{Limit: "paths", Max: c.lim.MaxPaths, Path: path,
		Msg: fmt.Sprintf("it holds %s, over the limit of %d files and folders per commit (the one past the limit is %q)", what, c.lim.MaxPaths, path)}
}

func count(n int64) string {
	if n >= pathCap {
		return "more than 10^18"
	}
	return fmt.Sprint(n)
}

// visit returns the stat of tree id at folder path dir (depth: the
// nesting of its entries minus one).
func (c *Checker) visit(ctx context.Context, id plumbing.Hash, dir string, depth int) (treeStat, error) {
	if st, ok := c.memo[id]; ok {
		if c.lim.MaxDepth > 0 && depth+st.height > c.lim.MaxDepth {
			p, err := c.deepPath(id, dir, c.lim.MaxDepth-depth)
			if err != nil {
				return st, err
			}
			return st, c.tooDeep(p)
		}
		return st, nil
	}
	// No tree is read twice, and each is a path counted before the
	// running count of its parent passes the limit, so a check reads at
	// most about twice MaxPaths trees.
	if c.visits++; c.visits%checkEvery == 0 {
		if err := ctx.Err(); err != nil {
			return treeStat{}, err
		}
	}
	entries, err := c.src.Tree(id)
	if err != nil {
		return treeStat{}, fmt.Errorf("read folder %s: %w", displayPath(dir), err)
	}
	if c.lim.MaxEntries > 0 && len(entries) > c.lim.MaxEntries {
		return treeStat{}, &LimitError{Limit: "entries", Max: int64(c.lim.MaxEntries), Path: displayDir(dir),
			Msg: fmt.Sprintf("folder %q holds %d entries, over the limit of %d per folder", displayPath(dir), len(entries), c.lim.MaxEntries)}
	}
	var st treeStat
	if len(entries) > 0 && c.lim.MaxDepth > 0 && depth+1 > c.lim.MaxDepth {
		return st, c.tooDeep(dir + entries[0].Name)
	}
	for _, e := range entries {
		p := dir + e.Name
		st.paths = min(st.paths+1, pathCap)
		st.height = max(st.height, 1)
		switch {
		case e.IsDir():
			sub, err := c.visit(ctx, e.ID, p+"/", depth+1)
			if err != nil {
				return st, err
			}
			st.paths = min(st.paths+sub.paths, pathCap)
			st.files = min(st.files+sub.files, pathCap)
			st.height = max(st.height, sub.height+1)
		default:
			if e.IsGitlink() && c.Gitlink != nil {
				c.Gitlink(p, e)
			}
			st.files = min(st.files+1, pathCap)
		}
		if c.lim.MaxPaths > 0 && st.paths > c.lim.MaxPaths {
			// This folder alone is over: the commit is too.
			q, err := c.nthPath(id, dir, c.lim.MaxPaths)
			if err != nil {
				return st, err
			}
			return st, c.tooManyPaths(fmt.Sprintf("more than %d paths", c.lim.MaxPaths), q)
		}
	}
	c.memo[id] = st
	return st, nil
}

func (c *Checker) tooDeep(path string) *LimitError {
	return &LimitError{Limit: "depth", Max: int64(c.lim.MaxDepth), Path: path,
		Msg: fmt.Sprintf("%q is nested more than %d folders deep, the limit", path, c.lim.MaxDepth)}
}

// nthPath names the path past the first n under tree id, in tree order,
// using the remembered counts (only trees already visited are read).
func (c *Checker) nthPath(id plumbing.Hash, dir string, n int64) (string, error) {
	for range maxNesting {
		entries, err := c.src.Tree(id)
		if err != nil {
			return "", err
		}
		next := plumbing.ZeroHash
		for _, e := range entries {
			if n == 0 {
				return dir + e.Name, nil
			}
			n--
			if !e.IsDir() {
				continue
			}
			st, ok := c.memo[e.ID]
			if !ok || st.paths > n {
				next, dir = e.ID, dir+e.Name+"/"
				break
			}
			n -= st.paths
		}
		if next.IsZero() {
			return displayDir(dir), nil
		}
		id = next
	}
	return displayDir(dir), nil
}

// deepPath names a path under tree id that lies more than room folders
// below it, following the remembered heights.
func (c *Checker) deepPath(id plumbing.Hash, dir string, room int) (string, error) {
	for range maxNesting {
		entries, err := c.src.Tree(id)
		if err != nil {
			return "", err
		}
		if room <= 0 && len(entries) > 0 {
			return dir + entries[0].Name, nil
		}
		st := c.memo[id]
		next := plumbing.ZeroHash
		for _, e := range entries {
			if sub, ok := c.memo[e.ID]; ok && e.IsDir() && sub.height == st.height-1 {
				next, dir = e.ID, dir+e.Name+"/"
				break
			}
		}
		if next.IsZero() {
			return displayDir(dir), nil
		}
		id, room = next, room-1
	}
	return displayDir(dir), nil
}

func displayDir(dir string) string {
	if dir == "" {
		return "/"
	}
	return dir[:len(dir)-1]
}
