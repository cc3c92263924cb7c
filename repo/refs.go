package repo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// How Browse reads refs. go-git reads them the slow way for a repository
// of many tags: every lookup of a packed ref scans the whole packed-refs
// file, and a listing parses it again. Here, one ref is found by name (its
// loose file, else the packed-refs map), and the packed-refs file is
// parsed once per version of it: the map is kept while the file's identity
// (device, inode, size, modification time) stays the same. Git replaces
// packed-refs by renaming a new file over it, so every change gives a new
// inode. The listing of every ref adds the loose refs, which are kept
// while the folders holding them are unchanged: git writes a loose ref as
// a lock file renamed into place in its folder, which changes that
// folder's modification time. A version younger than racyAge is never
// kept, since two changes within one tick of the file system's clock
// would look alike (as git's "racy index" rule). So a push, by this node
// or another sharing the repositories, is seen by the next request.

// racyAge is how old a file's modification time must be before its
// contents are kept on the strength of its identity.
const racyAge = 2 * time.Second

// maxRefChain bounds the symbolic refs followed (HEAD → refs/heads/main).
const maxRefChain = 5

// refCache is what refs of one repository are known, shared by the
// Browse values of a pool. Its methods are safe for concurrent use.
type refCache struct {
	dir   string
	reads *atomic.Int64 // full reads: packed-refs parsed, loose refs listed

	mu        sync.Mutex
	packedKey fileKey
	packed    map[string]plumbing.Hash // nil until read, or when not kept
	looseKey  string
	loose     map[string]plumbing.Hash
}

func newRefCache(dir string, reads *atomic.Int64) *refCache {
	return &refCache{dir: dir, reads: reads}
}

// fileKey is a file's identity; the zero value is a missing file.
type fileKey struct {
	dev, ino   uint64
	size       int64
	mtime      int64 // ns
	exists     bool
	racy       bool // modified too recently to be trusted
	fileSystem bool // identity known (stat gave a syscall.Stat_t)
}

func keyOf(fi fs.FileInfo, now time.Time) fileKey {
	k := fileKey{size: fi.Size(), mtime: fi.ModTime().UnixNano(), exists: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino, k.fileSystem = uint64(st.Dev), uint64(st.Ino), true
	}
	k.racy = !k.fileSystem || now.Sub(fi.ModTime()) < racyAge
	return k
}

func (k fileKey) String() string {
	return fmt.Sprintf("%d:%d:%d:%d", k.dev, k.ino, k.size, k.mtime)
}

// packedRefs returns the packed refs (never modified by the caller).
func (c *refCache) packedRefs() (map[string]plumbing.Hash, error) {
	name := filepath.Join(c.dir, "packed-refs")
	fi, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read refs: %w", err)
	}
	key := keyOf(fi, time.Now())
	c.mu.Lock()
	if c.packed != nil && !key.racy && key == c.packedKey {
		m := c.packed
		c.mu.Unlock()
		return m, nil
	}
	c.mu.Unlock()
	m, err := readPackedRefs(name)
	if c.reads != nil {
		c.reads.Add(1)
	}
	if err != nil {
		return nil, err
	}
	if !key.racy {
		c.mu.Lock()
		c.packed, c.packedKey = m, key
		c.mu.Unlock()
	}
	return m, nil
}

// readPackedRefs parses a packed-refs file: "ID NAME" lines, "^ID" lines
// (the peeled tag before them, not needed here) and "#" comments.
func readPackedRefs(name string) (map[string]plumbing.Hash, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read refs: %w", err)
	}
	m := make(map[string]plumbing.Hash, bytes.Count(data, []byte{'\n'}))
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<16)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue
		}
		id, ref, ok := strings.Cut(line, " ")
		if !ok || len(id) != 40 || !isHex(id) || !validRefName(ref) {
			return nil, fmt.Errorf("read refs: %s line %d is not \"ID NAME\": %.80q", name, n, line)
		}
		m[ref] = plumbing.NewHash(id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read refs: %s: %w", name, err)
	}
	return m, nil
}

// lookup finds the ref named full ("refs/heads/main", "HEAD"), following
// symbolic refs; ok is false when there is none.
func (c *refCache) lookup(full string) (h plumbing.Hash, ok bool, err error) {
	for range maxRefChain {
		if !validRefName(full) {
			return plumbing.ZeroHash, false, nil
		}
		id, target, found, err := c.readLoose(full)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if found && target != "" {
			full = target
			continue
		}
		if found {
			return id, true, nil
		}
		packed, err := c.packedRefs()
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		h, ok := packed[full]
		return h, ok, nil
	}
	return plumbing.ZeroHash, false, nil
}

// symbolic is the ref a symbolic ref (HEAD) names, "" when it is not one.
func (c *refCache) symbolic(full string) (string, error) {
	_, target, _, err := c.readLoose(full)
	return target, err
}

// readLoose reads the loose ref file of full: an id, or the target of a
// symbolic ref ("ref: refs/heads/main"). A folder, or a missing file, is
// no loose ref.
func (c *refCache) readLoose(full string) (id plumbing.Hash, target string, found bool, err error) {
	data, err := os.ReadFile(filepath.Join(c.dir, filepath.FromSlash(full)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) {
			return plumbing.ZeroHash, "", false, nil
		}
		return plumbing.ZeroHash, "", false, fmt.Errorf("read ref %s: %w", full, err)
	}
	s := strings.TrimSpace(string(data))
	if t, ok := strings.CutPrefix(s, "ref:"); ok {
		return plumbing.ZeroHash, strings.TrimSpace(t), true, nil
	}
	if len(s) != 40 || !isHex(s) {
		// A ref being written (git writes a lock file and renames it,
		// so this is damage): as git does, take it for missing.
		return plumbing.ZeroHash, "", false, nil
	}
	return plumbing.NewHash(s), "", true, nil
}

// all lists every ref under refs/ that names an object (symbolic refs
// left out), packed and loose, the loose one winning.
func (c *refCache) all() (map[string]plumbing.Hash, error) {
	packed, err := c.packedRefs()
	if err != nil {
		return nil, err
	}
	loose, err := c.looseRefs()
	if err != nil {
		return nil, err
	}
	m := make(map[string]plumbing.Hash, len(packed)+len(loose))
	for n, h := range packed {
		m[n] = h
	}
	for n, h := range loose {
		m[n] = h
	}
	return m, nil
}

// looseRefs lists the loose refs, read again only when a folder under
// refs/ changed (see the comment at the top).
func (c *refCache) looseRefs() (map[string]plumbing.Hash, error) {
	now := time.Now()
	var key strings.Builder
	var files []string
	racy := false
	var walk func(rel string) error
	walk = func(rel string) error {
		abs := filepath.Join(c.dir, filepath.FromSlash(rel))
		fi, err := os.Stat(abs)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while listing: its refs are gone
			}
			return err
		}
		k := keyOf(fi, now)
		racy = racy || k.racy
		fmt.Fprintf(&key, "%s=%s\n", rel, k)
		ents, err := os.ReadDir(abs)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, e := range ents {
			name := rel + "/" + e.Name()
			switch {
			case e.IsDir():
				if err := walk(name); err != nil {
					return err
				}
			case e.Type().IsRegular() && validRefName(name):
				files = append(files, name)
			}
		}
		return nil
	}
	if err := walk("refs"); err != nil {
		return nil, fmt.Errorf("list refs of %s: %w", c.dir, err)
	}
	c.mu.Lock()
	if c.loose != nil && !racy && key.String() == c.looseKey {
		m := c.loose
		c.mu.Unlock()
		return m, nil
	}
	c.mu.Unlock()
	if c.reads != nil {
		c.reads.Add(1)
	}
	m := make(map[string]plumbing.Hash, len(files))
	for _, f := range files {
		id, target, found, err := c.readLoose(f)
		if err != nil {
			return nil, err
		}
		if found && target == "" {
			m[f] = id
		}
	}
	if !racy {
		c.mu.Lock()
		c.loose, c.looseKey = m, key.String()
		c.mu.Unlock()
	}
	return m, nil
}

// validRefName says whether full is a name git could have given a ref
// (git check-ref-format's rules, for the names that matter here): "HEAD",
// or "refs/..." of non-empty components that do not start with a dot or
// end with ".lock", without "..", "@{", control characters, spaces or any
// of ~^:?*[\ . It also keeps every name inside the repository's folder.
func validRefName(full string) bool {
	if full == "HEAD" {
		return true
	}
	if !strings.HasPrefix(full, "refs/") || strings.HasSuffix(full, "/") || strings.HasSuffix(full, ".") ||
		strings.Contains(full, "..") || strings.Contains(full, "@{") || strings.Contains(full, "//") {
		return false
	}
	for i := 0; i < len(full); i++ {
		ch := full[i]
		if ch < 0x20 || ch == 0x7f || strings.IndexByte(" ~^:?*[\\", ch) >= 0 {
			return false
		}
	}
	for _, seg := range strings.Split(full, "/") {
		if seg == "" || seg[0] == '.' || strings.HasSuffix(seg, ".lock") {
			return false
		}
	}
	return path.Clean(full) == full
}
