package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/blueprints-hq/blueprints/internal/gittree"
)

// Errors of the read side. The pages map them to 404.
var (
	ErrNoRepository = errors.New("repository does not exist")
	ErrNoRef        = errors.New("no such branch, tag or commit")
	ErrNoPath       = errors.New("no such path")
	ErrNotFile      = errors.New("path is not a file")
	ErrNotDir       = errors.New("path is not a folder")
)

// Browse reads one bare repository with go-git: refs (through its own
// reader, refs.go), trees, blobs, history and the changes a commit made.
// It holds no lock, and what it caches is checked against the files, so it
// sees every push at once; open one per request, or take one from a
// BrowsePool.
type Browse struct {
	r     *git.Repository
	sizes map[plumbing.Hash]int64  // object sizes looked up, at most maxSizes
	refc  *refCache                // refs by name, and their listing
	refs  map[string]plumbing.Hash // listed once per use; see BrowsePool.Put
	dir   string                   // set when it came from a BrowsePool
	gen   time.Time                // the pool generation it was opened in
}

// OpenBrowse opens the bare repository at dir for reading. Objects larger
// than a megabyte are streamed, not read into memory, and at most a few
// megabytes of objects are cached.
func OpenBrowse(dir string) (*Browse, error) {
	if st, err := os.Stat(filepath.Join(dir, "objects")); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("open repository %s: %w", dir, ErrNoRepository)
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(4*cache.MiByte), filesystem.Options{LargeObjectThreshold: 1 << 20, KeepDescriptors: true, MaxOpenDescriptors: 16})
	r, err := git.Open(st, nil)
	if err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, fmt.Errorf("open repository %s: %w", dir, ErrNoRepository)
		}
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	return &Browse{r: r, refc: newRefCache(dir, nil)}, nil
}

// Close releases the open pack files.
func (b *Browse) Close() error {
	if st, ok := b.r.Storer.(*filesystem.Storage); ok {
		return st.Close()
	}
	return nil
}

// Repository is the go-git repository, for callers that need more.
func (b *Browse) Repository() *git.Repository { return b.r }

// Head is the branch HEAD points at ("main") and its commit. An empty
// repository gives ErrNoRef.
func (b *Browse) Head() (branch string, commit plumbing.Hash, err error) {
	target, err := b.refc.symbolic("HEAD")
	if err != nil {
		return "", plumbing.ZeroHash, err
	}
	branch = strings.TrimPrefix(target, "refs/heads/")
	h, ok, err := b.refc.lookup("HEAD")
	if err != nil {
		return branch, plumbing.ZeroHash, err
	}
	if ok {
		return branch, h, nil
	}
	// HEAD names a branch that does not exist: take the first branch.
	branches, err := b.Branches()
	if err != nil {
		return branch, plumbing.ZeroHash, err
	}
	if len(branches) == 0 {
		return branch, plumbing.ZeroHash, fmt.Errorf("resolve HEAD: %w", ErrNoRef)
	}
	return branches[0], b.refs["refs/heads/"+branches[0]], nil
}

// Branches lists the branch names, sorted.
func (b *Browse) Branches() ([]string, error) {
	return b.refNames("refs/heads/")
}

// Tags lists the tag names, sorted.
func (b *Browse) Tags() ([]string, error) {
	return b.refNames("refs/tags/")
}

func (b *Browse) refNames(prefix string) ([]string, error) {
	refs, err := b.refMap()
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range refs {
		if strings.HasPrefix(n, prefix) {
			names = append(names, strings.TrimPrefix(n, prefix))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Resolved is a ref and a path inside it, as taken from a URL such as
// "feature/x/docs/readme.md".
type Resolved struct {
	Ref    string        // the ref as written: a branch, a tag or a commit id
	Commit plumbing.Hash // the commit it names
	Path   string        // the rest, "" for the root
}

// ResolveRefPath splits refPath into a ref and a path. Branch and tag names
// may contain slashes, so the longest prefix that names a branch or tag
// wins; otherwise the first segment may be a commit id (4 to 40 hex digits).
func (b *Browse) ResolveRefPath(refPath string) (Resolved, error) {
	refPath = strings.Trim(refPath, "/")
	if refPath == "" {
		return Resolved{}, ErrNoRef
	}
	segs := strings.Split(refPath, "/")
	for i := len(segs); i >= 1; i-- {
		name := strings.Join(segs[:i], "/")
		for _, full := range []string{"refs/heads/" + name, "refs/tags/" + name} {
			h, ok, err := b.lookupRef(full)
			if err != nil {
				return Resolved{}, err
			}
			if !ok {
				continue
			}
			c, err := b.peel(h)
			if err != nil {
				return Resolved{}, err
			}
			return Resolved{Ref: name, Commit: c, Path: strings.Join(segs[i:], "/")}, nil
		}
	}
	c, err := b.commitByID(segs[0])
	if err != nil {
		return Resolved{}, err
	}
	return Resolved{Ref: segs[0], Commit: c, Path: strings.Join(segs[1:], "/")}, nil
}

// ResolveRef resolves a whole string as a branch, tag or commit id.
func (b *Browse) ResolveRef(ref string) (plumbing.Hash, error) {
	if ref == "" {
		return plumbing.ZeroHash, ErrNoRef
	}
	for _, full := range []string{"refs/heads/" + ref, "refs/tags/" + ref} {
		h, ok, err := b.lookupRef(full)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if ok {
			return b.peel(h)
		}
	}
	return b.commitByID(ref)
}

// lookupRef finds one ref by its full name, from this use's listing when
// there is one, else without listing them all.
func (b *Browse) lookupRef(full string) (plumbing.Hash, bool, error) {
	if b.refs != nil {
		h, ok := b.refs[full]
		return h, ok, nil
	}
	return b.refc.lookup(full)
}

// refMap lists every ref, once per use of b.
func (b *Browse) refMap() (map[string]plumbing.Hash, error) {
	if b.refs != nil {
		return b.refs, nil
	}
	m, err := b.refc.all()
	if err != nil {
		return nil, err
	}
	b.refs = m
	return m, nil
}

// peel follows annotated tags down to a commit.
func (b *Browse) peel(h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		obj, err := b.r.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read object %s: %w", h, ErrNoRef)
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			t, err := object.DecodeTag(b.r.Storer, obj)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("read tag %s: %w", h, err)
			}
			h = t.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("ref points at a %s: %w", obj.Type(), ErrNoRef)
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("tag chain too long at %s: %w", h, ErrNoRef)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// commitByID finds a commit by its full id or an unambiguous prefix of at
// least 4 hex digits.
func (b *Browse) commitByID(id string) (plumbing.Hash, error) {
	id = strings.ToLower(id)
	if len(id) < 4 || len(id) > 40 || !isHex(id) {
		return plumbing.ZeroHash, ErrNoRef
	}
	if len(id) == 40 {
		h := plumbing.NewHash(id)
		if _, err := b.r.CommitObject(h); err != nil {
			return plumbing.ZeroHash, ErrNoRef
		}
		return h, nil
	}
	// Short ids: go-git resolves them for revisions.
	h, err := b.r.ResolveRevision(plumbing.Revision(id))
	if err != nil || h == nil {
		return plumbing.ZeroHash, ErrNoRef
	}
	if _, err := b.r.CommitObject(*h); err != nil {
		return plumbing.ZeroHash, ErrNoRef
	}
	return *h, nil
}

// Commit is one commit as the pages show it.
type Commit struct {
	Hash        plumbing.Hash
	Parents     []plumbing.Hash
	Author      string
	AuthorEmail string
	When        time.Time
	Subject     string // first line of the message
	Body        string // the rest, trimmed
}

func toCommit(c *object.Commit) Commit {
	subject, body, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return Commit{
		Hash:        c.Hash,
		Parents:     c.ParentHashes,
		Author:      c.Author.Name,
		AuthorEmail: c.Author.Email,
		When:        c.Author.When,
		Subject:     strings.TrimSpace(subject),
		Body:        strings.TrimSpace(body),
	}
}

// CommitInfo reads one commit.
func (b *Browse) CommitInfo(h plumbing.Hash) (Commit, error) {
	c, err := b.r.CommitObject(h)
	if err != nil {
		return Commit{}, fmt.Errorf("read commit %s: %w", h, ErrNoRef)
	}
	return toCommit(c), nil
}

// Entry is one file or folder in a tree.
type Entry struct {
	Name string // base name
	Path string // path from the repository root
	Dir  bool
	Mode filemode.FileMode
	Hash plumbing.Hash // blob or tree id
	Size int64         // blob size in git (for LFS files, the pointer's size); 0 for folders
}

func (b *Browse) rootTree(commit plumbing.Hash) (*object.Tree, error) {
	c, err := b.r.CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", commit, ErrNoRef)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", commit, err)
	}
	return t, nil
}

// CleanPath checks a repository path taken from a URL and returns it
// without leading or trailing slashes. Empty, "." and ".." segments,
// backslashes and NUL bytes are refused with ErrNoPath.
func CleanPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if strings.ContainsAny(p, "\x00\\") {
		return "", ErrNoPath
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", ErrNoPath
		}
	}
	return p, nil
}

// Stat describes the file or folder at p ("" for the root) in commit.
func (b *Browse) Stat(commit plumbing.Hash, p string) (Entry, error) {
	p, err := CleanPath(p)
	if err != nil {
		return Entry{}, err
	}
	root, err := b.rootTree(commit)
	if err != nil {
		return Entry{}, err
	}
	if p == "" {
		return Entry{Name: "", Path: "", Dir: true, Mode: filemode.Dir, Hash: root.Hash}, nil
	}
	te, err := root.FindEntry(p)
	if err != nil {
		return Entry{}, fmt.Errorf("find %s: %w", p, ErrNoPath)
	}
	return b.entry(path.Dir(p), te)
}

func (b *Browse) entry(dir string, te *object.TreeEntry) (Entry, error) {
	e := Entry{Name: te.Name, Path: path.Join(dir, te.Name), Mode: te.Mode, Hash: te.Hash}
	if e.Path == "." {
		e.Path = te.Name
	}
	e.Path = strings.TrimPrefix(e.Path, "./")
	e.Dir = te.Mode == filemode.Dir
	if err := b.sizeOf(&e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// sizeOf fills in e's size (files and links; 0 for folders and
// submodules).
func (b *Browse) sizeOf(e *Entry) error {
	if e.Dir || e.Mode == filemode.Submodule {
		return nil
	}
	if size, ok := b.sizes[e.Hash]; ok {
		e.Size = size
		return nil
	}
	size, err := gittree.ObjectSize(b.r.Storer, e.Hash)
	if err != nil {
		return fmt.Errorf("read size of %s: %w", e.Path, err)
	}
	if b.sizes == nil || len(b.sizes) >= maxSizes {
		b.sizes = map[plumbing.Hash]int64{}
	}
	b.sizes[e.Hash] = size
	e.Size = size
	return nil
}

// maxSizes bounds the sizes a Browse remembers (objects never change
// size, but a tree may hold millions of them).
const maxSizes = 1 << 16

// List lists the folder at p ("" for the root): folders first, then files,
// each by name; at most max entries (all when max < 0), with their sizes,
// and how many the folder holds.
func (b *Browse) List(commit plumbing.Hash, p string, max int) ([]Entry, int, error) {
	entries, err := b.Names(commit, p)
	if err != nil {
		return nil, 0, err
	}
	total := len(entries)
	if max >= 0 && len(entries) > max {
		entries = entries[:max]
	}
	for i := range entries {
		if err := b.sizeOf(&entries[i]); err != nil {
			return nil, 0, err
		}
	}
	return entries, total, nil
}

// Names lists the folder at p as List does, all of it, without sizes
// (which cost a lookup each).
func (b *Browse) Names(commit plumbing.Hash, p string) ([]Entry, error) {
	p, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	root, err := b.rootTree(commit)
	if err != nil {
		return nil, err
	}
	t := root
	if p != "" {
		te, err := root.FindEntry(p)
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", p, ErrNoPath)
		}
		if te.Mode != filemode.Dir {
			return nil, fmt.Errorf("list %s: %w", p, ErrNotDir)
		}
		if t, err = b.r.TreeObject(te.Hash); err != nil {
			return nil, fmt.Errorf("read tree %s: %w", p, err)
		}
	}
	out := make([]Entry, 0, len(t.Entries))
	for _, te := range t.Entries {
		e := Entry{Name: te.Name, Path: te.Name, Mode: te.Mode, Hash: te.Hash, Dir: te.Mode == filemode.Dir}
		if p != "" {
			e.Path = p + "/" + te.Name
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Dir != out[j].Dir {
			return out[i].Dir
		}
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out, nil
}

// OpenBlob opens the git blob with id h (for LFS files, the pointer).
func (b *Browse) OpenBlob(h plumbing.Hash) (io.ReadCloser, int64, error) {
	blob, err := b.r.BlobObject(h)
	if err != nil {
		return nil, 0, fmt.Errorf("read blob %s: %w", h, ErrNoPath)
	}
	rc, err := blob.Reader()
	if err != nil {
		return nil, 0, fmt.Errorf("read blob %s: %w", h, err)
	}
	return rc, blob.Size, nil
}

// ReadBlob reads at most limit bytes of blob h.
func (b *Browse) ReadBlob(h plumbing.Hash, limit int64) ([]byte, error) {
	rc, _, err := b.OpenBlob(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}

// StopWalk, returned by a Files or Diff callback, ends the walk early;
// Files and Diff then return nil.
var StopWalk = gittree.Stop

// Files calls fn for every file (not folder, not submodule) in commit's
// tree, in tree order, with its size, stopping at the first error (or at
// StopWalk). It streams: memory is one folder per level, whatever the
// tree holds.
func (b *Browse) Files(ctx context.Context, commit plumbing.Hash, fn func(Entry) error) error {
	return b.walk(ctx, commit, true, fn)
}

// Paths is Files without the sizes, which cost a lookup each.
func (b *Browse) Paths(ctx context.Context, commit plumbing.Hash, fn func(Entry) error) error {
	return b.walk(ctx, commit, false, fn)
}

func (b *Browse) walk(ctx context.Context, commit plumbing.Hash, sizes bool, fn func(Entry) error) error {
	root, err := b.rootTree(commit)
	if err != nil {
		return err
	}
	err = gittree.Walk(ctx, gittree.FromStorer(b.r.Storer), root.Hash, func(p string, te gittree.Entry) error {
		if te.IsDir() || te.IsGitlink() {
			return nil
		}
		e := Entry{Name: te.Name, Path: p, Mode: te.Mode, Hash: te.ID}
		if sizes {
			if err := b.sizeOf(&e); err != nil {
				return err
			}
		}
		return fn(e)
	})
	if err != nil {
		return fmt.Errorf("walk tree of %s: %w", commit, err)
	}
	return nil
}

// Count counts the files and folders of commit's tree by its distinct
// objects, so that a tree of a million paths in a few objects costs a few
// reads.
func (b *Browse) Count(ctx context.Context, commit plumbing.Hash) (gittree.Counts, error) {
	root, err := b.rootTree(commit)
	if err != nil {
		return gittree.Counts{}, err
	}
	return gittree.NewChecker(gittree.FromStorer(b.r.Storer), gittree.Limits{}).Check(ctx, root.Hash)
}

// Log returns up to n commits reachable from from, newest first (by
// committer time), after skipping skip, and whether more follow.
func (b *Browse) Log(from plumbing.Hash, skip, n int) ([]Commit, bool, error) {
	iter, err := b.r.Log(&git.LogOptions{From: from, Order: git.LogOrderCommitterTime})
	if err != nil {
		return nil, false, fmt.Errorf("read history of %s: %w", from, ErrNoRef)
	}
	defer iter.Close()
	var out []Commit
	more := false
	i := 0
	err = iter.ForEach(func(c *object.Commit) error {
		if i < skip {
			i++
			return nil
		}
		if len(out) == n {
			more = true
			return storer.ErrStop
		}
		out = append(out, toCommit(c))
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read history of %s: %w", from, err)
	}
	return out, more, nil
}

// Change actions.
const (
	Added    = "added"
	Deleted  = "deleted"
	Modified = "modified"
	Renamed  = "renamed"
)

// Change is one file a commit changed against its first parent.
type Change struct {
	Action   string
	From, To Entry // From is zero for Added, To for Deleted
}

// Path is the path the change is best known by: the new one, or the old
// one for a deletion.
func (c Change) Path() string {
	if c.Action == Deleted {
		return c.From.Path
	}
	return c.To.Path
}

// Diff calls fn, in tree order, for each file commit changed against its
// first parent (against an empty tree for a root commit), streaming: a
// commit of a million changed files costs what fn reads of it. Entries
// carry no sizes (FillSize adds one) and no renames (PairRenames finds
// them among what was kept). fn returning StopWalk ends it.
func (b *Browse) Diff(ctx context.Context, commit plumbing.Hash, fn func(Change) error) error {
	c, err := b.r.CommitObject(commit)
	if err != nil {
		return fmt.Errorf("read commit %s: %w", commit, ErrNoRef)
	}
	from := plumbing.ZeroHash
	if len(c.ParentHashes) > 0 {
		pc, err := b.r.CommitObject(c.ParentHashes[0])
		if err != nil {
			return fmt.Errorf("read commit %s: %w", c.ParentHashes[0], ErrNoRef)
		}
		from = pc.TreeHash
	}
	entry := func(p string, te gittree.Entry) Entry {
		return Entry{Name: path.Base(p), Path: p, Mode: te.Mode, Hash: te.ID, Dir: te.IsDir()}
	}
	err = gittree.Diff(ctx, gittree.FromStorer(b.r.Storer), from, c.TreeHash, func(ch gittree.Change) error {
		var fc Change
		switch {
		case ch.Added():
			fc = Change{Action: Added, To: entry(ch.Path, ch.To)}
		case ch.Deleted():
			fc = Change{Action: Deleted, From: entry(ch.Path, ch.From)}
		default:
			fc = Change{Action: Modified, From: entry(ch.Path, ch.From), To: entry(ch.Path, ch.To)}
		}
		return fn(fc)
	})
	if err != nil {
		return fmt.Errorf("diff %s against its parent: %w", commit, err)
	}
	return nil
}

// FillSize looks up the size of e (a file or link; folders and submodules
// stay 0).
func (b *Browse) FillSize(e *Entry) error { return b.sizeOf(e) }

// PairRenames turns an added and a deleted file with the same content
// into one rename (exact renames only: no blob is read), and sorts the
// changes by path.
func PairRenames(changes []Change) []Change {
	deleted := map[plumbing.Hash][]int{}
	for i, ch := range changes {
		if ch.Action == Deleted {
			deleted[ch.From.Hash] = append(deleted[ch.From.Hash], i)
		}
	}
	drop := map[int]bool{}
	for i, ch := range changes {
		if ch.Action != Added {
			continue
		}
		if idx := deleted[ch.To.Hash]; len(idx) > 0 {
			j := idx[0]
			deleted[ch.To.Hash] = idx[1:]
			changes[i] = Change{Action: Renamed, From: changes[j].From, To: ch.To}
			drop[j] = true
		}
	}
	out := changes[:0]
	for i, ch := range changes {
		if !drop[i] {
			out = append(out, ch)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path() < out[j].Path() })
	return out
}

// Changes lists what commit changed against its first parent, at most max
// files (the first in tree order), with sizes and exact renames, sorted
// by path; more says the commit changed more.
func (b *Browse) Changes(ctx context.Context, commit plumbing.Hash, max int) (changes []Change, more bool, err error) {
	err = b.Diff(ctx, commit, func(ch Change) error {
		if len(changes) == max {
			more = true
			return StopWalk
		}
		changes = append(changes, ch)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	for i := range changes {
		for _, e := range []*Entry{&changes[i].From, &changes[i].To} {
			if e.Path != "" {
				if err := b.sizeOf(e); err != nil {
					return nil, false, err
				}
			}
		}
	}
	return PairRenames(changes), more, nil
}

// FileChange is one commit that changed a file or folder: the entry
// before and after it (the zero Entry where there was none).
type FileChange struct {
	Commit        Commit
	Action        string // Added, Deleted or Modified
	Before, After Entry
}

// FileLog is a page of one path's history.
type FileLog struct {
	Changes []FileChange
	More    bool // another change follows this page
	// Truncated says the walk stopped at its limit before the first
	// commit: older changes, if any, are not listed.
	Truncated bool
}

// FileLog lists the commits that changed path p (a file or a folder),
// newest first, following first parents from `from` as
// `git log --first-parent -- p` does: it skips skip of them and returns up
// to n. A commit changed p when the entry at p (its id and mode, or its
// existence) differs from its first parent's; renames are not followed.
// At most limit commits are looked at, so a path untouched for a long
// history costs a bounded walk; Truncated says when it stopped there.
func (b *Browse) FileLog(ctx context.Context, from plumbing.Hash, p string, skip, n, limit int) (FileLog, error) {
	var out FileLog
	p, err := CleanPath(p)
	if err != nil {
		return out, err
	}
	if p == "" {
		return out, fmt.Errorf("file history needs a path: %w", ErrNoPath)
	}
	c, err := b.r.CommitObject(from)
	if err != nil {
		return out, fmt.Errorf("read commit %s: %w", from, ErrNoRef)
	}
	cur, err := b.entryAt(c, p)
	if err != nil {
		return out, err
	}
	found := 0
	for walked := 0; c != nil; walked++ {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if walked == limit {
			out.Truncated = true
			return out, nil
		}
		var parent *object.Commit
		var prev *object.TreeEntry
		if c.NumParents() > 0 {
			if parent, err = c.Parent(0); err != nil {
				return out, fmt.Errorf("read parent of %s: %w", c.Hash, err)
			}
			if parent.TreeHash == c.TreeHash {
				prev = cur
			} else if prev, err = b.entryAt(parent, p); err != nil {
				return out, err
			}
		}
		if !sameEntry(cur, prev) {
			if found == skip+n {
				out.More = true
				return out, nil
			}
			if found >= skip {
				fc, err := b.fileChange(c, p, prev, cur)
				if err != nil {
					return out, err
				}
				out.Changes = append(out.Changes, fc)
			}
			found++
		}
		c, cur = parent, prev
	}
	return out, nil
}

// entryAt is the tree entry at p in commit c, nil when there is none.
func (b *Browse) entryAt(c *object.Commit, p string) (*object.TreeEntry, error) {
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", c.Hash, err)
	}
	e, err := t.FindEntry(p)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find %s in %s: %w", p, c.Hash, err)
	}
	return e, nil
}

func sameEntry(a, b *object.TreeEntry) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Hash == b.Hash && a.Mode == b.Mode
}

func (b *Browse) fileChange(c *object.Commit, p string, before, after *object.TreeEntry) (FileChange, error) {
	fc := FileChange{Commit: toCommit(c), Action: Modified}
	var err error
	switch {
	case before == nil:
		fc.Action = Added
	case after == nil:
		fc.Action = Deleted
	}
	if before != nil {
		if fc.Before, err = b.entry(path.Dir(p), before); err != nil {
			return fc, err
		}
	}
	if after != nil {
		if fc.After, err = b.entry(path.Dir(p), after); err != nil {
			return fc, err
		}
	}
	return fc, nil
}

// ChangedFiles calls fn for every file (symbolic links included, never
// folders or submodules) that commit `to` adds or changes against commit
// `from` (the zero hash: every file of `to`), in tree order, with its
// size. Deleted files are not passed. It streams, as Diff does; fn
// returning StopWalk ends it.
func (b *Browse) ChangedFiles(ctx context.Context, from, to plumbing.Hash, fn func(Entry) error) error {
	var fromTree plumbing.Hash
	if !from.IsZero() {
		c, err := b.r.CommitObject(from)
		if err != nil {
			return fmt.Errorf("read commit %s: %w", from, ErrNoRef)
		}
		fromTree = c.TreeHash
	}
	c, err := b.r.CommitObject(to)
	if err != nil {
		return fmt.Errorf("read commit %s: %w", to, ErrNoRef)
	}
	err = gittree.Diff(ctx, gittree.FromStorer(b.r.Storer), fromTree, c.TreeHash, func(ch gittree.Change) error {
		if ch.Deleted() || ch.To.IsDir() || ch.To.IsGitlink() {
			return nil
		}
		e := Entry{Name: path.Base(ch.Path), Path: ch.Path, Mode: ch.To.Mode, Hash: ch.To.ID}
		if err := b.sizeOf(&e); err != nil {
			return err
		}
		return fn(e)
	})
	if err != nil {
		return fmt.Errorf("diff %s against %s: %w", to, from, err)
	}
	return nil
}
