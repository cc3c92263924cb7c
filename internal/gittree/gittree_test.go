package gittree

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// memSource holds tree objects in memory, by their real git ids.
type memSource struct {
	trees map[plumbing.Hash][]byte
	reads int
}

func newMem() *memSource { return &memSource{trees: map[plumbing.Hash][]byte{}} }

func (m *memSource) Tree(id plumbing.Hash) ([]Entry, error) {
	data, ok := m.trees[id]
	if !ok {
		return nil, fmt.Errorf("tree %s: %w", id, ErrNotFound)
	}
	m.reads++
	return Parse(data)
}

// put stores a tree of entries (sorted) and returns its id.
func (m *memSource) put(entries ...Entry) plumbing.Hash {
	entries = slices.Clone(entries)
	Sort(entries)
	data := Encode(entries)
	id := plumbing.ComputeHash(plumbing.TreeObject, data)
	m.trees[id] = data
	return id
}

func blob(name, content string) Entry {
	return Entry{Name: name, Mode: filemode.Regular, ID: plumbing.ComputeHash(plumbing.BlobObject, []byte(content))}
}

func dir(name string, id plumbing.Hash) Entry { return Entry{Name: name, Mode: filemode.Dir, ID: id} }

// bomb stores a tree of fan entries nested levels deep: fan^levels files
// in levels objects.
func bomb(m *memSource, fan, levels int) plumbing.Hash {
	var entries []Entry
	for i := range fan {
		entries = append(entries, blob(fmt.Sprint("f", i), "x"))
	}
	id := m.put(entries...)
	for range levels - 1 {
		entries = entries[:0]
		for i := range fan {
			entries = append(entries, dir(fmt.Sprint("d", i), id))
		}
		id = m.put(entries...)
	}
	return id
}

func TestParseRejectsMalformedTrees(t *testing.T) {
	id := strings.Repeat("\x01", 20)
	good := "100644 a.stl\x00" + id + "40000 d\x00" + id + "160000 sub\x00" + id + "120000 l\x00" + id + "100755 x\x00" + id + "100664 old\x00" + id
	entries, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []filemode.FileMode{filemode.Regular, filemode.Dir, filemode.Submodule, filemode.Symlink, filemode.Executable, filemode.Regular}
	for i, e := range entries {
		if e.Mode != want[i] {
			t.Errorf("entry %d %q: mode %o, want %o", i, e.Name, e.Mode, want[i])
		}
	}
	for name, data := range map[string]string{
		"no mode":                     " a\x00" + id,
		"mode not octal":              "100648 a\x00" + id,
		"mode too long":               "10000644 a\x00" + id,
		"unknown mode":                "70000 a\x00" + id,
		"no name end":                 "100644 a" + id,
		"empty name":                  "100644 \x00" + id,
		"slash in name":               "100644 a/b\x00" + id,
		"dot":                         "40000 .\x00" + id,
		"dot dot":                     "40000 ..\x00" + id,
		"short id":                    "100644 a\x00" + id[:19],
		"trailing junk":               "100644 a\x00" + id + "1",
		"file and folder of one name": "100644 a\x00" + id + "100644 a-b\x00" + id + "40000 a\x00" + id,
		"a name twice, past a few":    manyThenAgain(id),
	} {
		if _, err := Parse([]byte(data)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
	if e, err := Parse(nil); err != nil || len(e) != 0 {
		t.Errorf("empty tree: %v %v", e, err)
	}
}

func TestCheckerCountsABombByItsObjects(t *testing.T) {
	m := newMem()
	root := bomb(m, 10, 6) // 10^6 files, 111,110 folders, 6 objects
	c := NewChecker(m, Limits{MaxPaths: 250_000, MaxDepth: 64, MaxEntries: 1000})
	_, err := c.Check(context.Background(), root)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "paths" {
		t.Fatalf("bomb: err %v, want a paths LimitError", err)
	}
	if m.reads > 50 {
		t.Errorf("checking the bomb read %d trees; it has 6", m.reads)
	}
	// The path named is the 250,001st in tree order.
	var n int64
	var nth string
	Walk(context.Background(), m, root, func(p string, e Entry) error {
		n++
		if n == 250_001 {
			nth = p
			return Stop
		}
		return nil
	})
	if le.Path != nth || !strings.Contains(le.Msg, nth) || !strings.Contains(le.Msg, "250000") {
		t.Errorf("limit error %q names %q, want the 250,001st path %q", le.Msg, le.Path, nth)
	}
	t.Logf("refusal: %s", le.Msg)

	// Under the limit, the count is exact.
	c = NewChecker(m, Limits{MaxPaths: 2_000_000})
	got, err := c.Check(context.Background(), root)
	if err != nil || got.Paths != 1_000_000+111_110 || got.Files != 1_000_000 {
		t.Errorf("count %+v, %v; want 1111110 paths, 10^6 files", got, err)
	}
	// A wider bomb saturates instead of overflowing.
	big := bomb(m, 1000, 8)
	if _, err := NewChecker(m, Limits{MaxPaths: 1 << 40}).Check(context.Background(), big); !errors.As(err, &le) || le.Limit != "paths" {
		t.Errorf("10^24 paths: %v", err)
	}
}

func TestCheckerDepthAndEntries(t *testing.T) {
	m := newMem()
	leaf := m.put(blob("deep.stl", "x"))
	id := leaf
	for i := range 9 {
		id = m.put(dir(fmt.Sprint("l", 8-i), id))
	}
	// l0/l1/.../l8/deep.stl: depth 10.
	if _, err := NewChecker(m, Limits{MaxDepth: 10}).Check(context.Background(), id); err != nil {
		t.Fatalf("depth 10 under a limit of 10: %v", err)
	}
	_, err := NewChecker(m, Limits{MaxDepth: 9}).Check(context.Background(), id)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "depth" || le.Path != "l0/l1/l2/l3/l4/l5/l6/l7/l8/deep.stl" {
		t.Fatalf("depth 10 over a limit of 9: %v (%+v)", err, le)
	}
	// The same deep subtree met again, through the memo, at a deeper place.
	c := NewChecker(m, Limits{MaxDepth: 11})
	if _, err := c.Check(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	deeper := m.put(dir("x", m.put(dir("y", id))))
	if _, err := c.Check(context.Background(), deeper); !errors.As(err, &le) || le.Limit != "depth" || le.Path != "x/y/l0/l1/l2/l3/l4/l5/l6/l7/l8/deep.stl" {
		t.Fatalf("remembered subtree nested deeper: %v (%+v)", err, le)
	}

	var many []Entry
	for i := range 101 {
		many = append(many, blob(fmt.Sprint("p", i, ".stl"), fmt.Sprint(i)))
	}
	wide := m.put(dir("parts", m.put(many...)))
	if _, err := NewChecker(m, Limits{MaxEntries: 100}).Check(context.Background(), wide); !errors.As(err, &le) || le.Limit != "entries" || le.Path != "parts" {
		t.Fatalf("101 entries over a limit of 100: %v (%+v)", err, le)
	}
}

func TestCheckerReportsGitlinksOnce(t *testing.T) {
	m := newMem()
	sub := Entry{Name: "lib", Mode: filemode.Submodule, ID: plumbing.NewHash("1111111111111111111111111111111111111111")}
	shared := m.put(sub, blob("a.stl", "a"))
	root := m.put(dir("one", shared), dir("two", shared), Entry{Name: "top", Mode: filemode.Submodule, ID: plumbing.NewHash("2222222222222222222222222222222222222222")})
	c := NewChecker(m, Limits{})
	var got []string
	c.Gitlink = func(p string, e Entry) { got = append(got, p+" "+e.ID.String()[:4]) }
	if _, err := c.Check(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[one/lib 1111 top 2222]" {
		t.Errorf("gitlinks %v", got)
	}
}

func TestDiffStreamsAndSkipsEqualFolders(t *testing.T) {
	m := newMem()
	heavy := bomb(m, 10, 5) // 10^5 files, the same on both sides
	a := m.put(dir("heavy", heavy), blob("a.stl", "1"), blob("gone.stl", "g"), blob("x", "file"),
		Entry{Name: "mode", Mode: filemode.Regular, ID: blob("", "m").ID})
	b := m.put(dir("heavy", heavy), blob("a.stl", "2"), blob("new.stl", "n"), dir("x", m.put(blob("inner.stl", "i"))),
		Entry{Name: "mode", Mode: filemode.Executable, ID: blob("", "m").ID})
	m.reads = 0
	var got []string
	err := Diff(context.Background(), m, a, b, func(c Change) error {
		kind := "M"
		if c.Added() {
			kind = "A"
		} else if c.Deleted() {
			kind = "D"
		}
		got = append(got, kind+" "+c.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"A new.stl", "A x/inner.stl", "D gone.stl", "D x", "M a.stl", "M mode"}
	if !slices.Equal(got, want) {
		t.Errorf("changes %q, want %q", got, want)
	}
	if m.reads > 3 {
		t.Errorf("diff read %d trees: the equal folder was not skipped", m.reads)
	}
	// Stop ends a diff of 10^5 additions at once.
	m.reads, got = 0, nil
	err = Diff(context.Background(), m, plumbing.ZeroHash, b, func(c Change) error {
		got = append(got, c.Path)
		if len(got) == 10 {
			return Stop
		}
		return nil
	})
	if err != nil || len(got) != 10 || m.reads > 10 {
		t.Errorf("stopped diff: %d changes, %d reads, %v", len(got), m.reads, err)
	}
	// A cancelled context ends it too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Diff(ctx, m, plumbing.ZeroHash, b, func(Change) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled diff: %v", err)
	}
}

// TestRealGitBomb builds a bomb with the real git (mktree, as an attacker
// would) and reads it back through both sources.
func TestRealGitBomb(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dirp := filepath.Join(t.TempDir(), "r.git")
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dirp
		cmd.Env = append(os.Environ(), "GIT_DIR="+dirp)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "init", "-q", "--bare", dirp).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	b := run("x\n", "hash-object", "-w", "--stdin")
	var lines strings.Builder
	for i := range 10 {
		fmt.Fprintf(&lines, "100644 blob %s\tf%d\n", b, i)
	}
	tree := run(lines.String(), "mktree")
	for range 5 {
		lines.Reset()
		for i := range 10 {
			fmt.Fprintf(&lines, "040000 tree %s\td%d\n", tree, i)
		}
		tree = run(lines.String(), "mktree")
	}
	root := plumbing.NewHash(tree)
	cf, err := StartCatFile(context.Background(), "git", dirp, append(os.Environ(), "GIT_DIR="+dirp))
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	r, err := git.PlainOpen(dirp)
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]Source{"cat-file": cf, "go-git": FromStorer(r.Storer)} {
		_, err := NewChecker(src, DefaultLimits()).Check(context.Background(), root)
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != "paths" || le.Path != "d2/d2/d4/d9/d9/f9" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if typ, size, err := cf.Info(plumbing.NewHash(b)); typ != "blob" || size != 2 || err != nil {
		t.Errorf("info: %s %d %v", typ, size, err)
	}
	if _, _, err := cf.Info(plumbing.NewHash("0123456789012345678901234567890123456789")); !errors.Is(err, ErrNotFound) {
		t.Errorf("info of a missing object: %v", err)
	}
	if _, err := cf.Tree(plumbing.NewHash(b)); err == nil || !strings.Contains(err.Error(), "not a tree") {
		t.Errorf("a blob read as a tree: %v", err)
	}
	// The process is still usable after those answers.
	if e, err := cf.Tree(root); err != nil || len(e) != 10 {
		t.Errorf("tree after errors: %d entries, %v", len(e), err)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

// TestObjectSizeClosesLooseObjects sizes 1,000 loose objects: the number
// of open files must not grow with them (go-git's own EncodedObjectSize
// leaves each loose object's file open until a garbage collection).
func TestObjectSizeClosesLooseObjects(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dirp := filepath.Join(t.TempDir(), "r.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", dirp).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	var paths []string
	tmp := t.TempDir()
	for i := range 1000 {
		p := filepath.Join(tmp, fmt.Sprint(i))
		os.WriteFile(p, []byte(fmt.Sprintf("solid part%d\nendsolid part%d\n", i, i)), 0o644)
		paths = append(paths, p)
	}
	cmd := exec.Command("git", "--git-dir", dirp, "hash-object", "-w", "--stdin-paths")
	cmd.Stdin = strings.NewReader(strings.Join(paths, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(out))
	r, err := git.PlainOpen(dirp)
	if err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	for i, id := range ids {
		size, err := ObjectSize(r.Storer, plumbing.NewHash(id))
		want := int64(len(fmt.Sprintf("solid part%d\nendsolid part%d\n", i, i)))
		if err != nil || size != want {
			t.Fatalf("size of %s: %d, %v; want %d", id, size, err, want)
		}
	}
	if after := openFDs(t); after > before+5 {
		t.Fatalf("sizing 1,000 loose objects left %d more files open", after-before)
	}
	if _, err := ObjectSize(r.Storer, plumbing.NewHash("0123456789012345678901234567890123456789")); err == nil {
		t.Errorf("size of a missing object: no error")
	}
	// For the record: go-git's own lookup.
	sz := r.Storer.(interface {
		EncodedObjectSize(plumbing.Hash) (int64, error)
	})
	before = openFDs(t)
	for _, id := range ids {
		sz.EncodedObjectSize(plumbing.NewHash(id))
	}
	t.Logf("go-git's EncodedObjectSize on 1,000 loose objects: %d more files open", openFDs(t)-before)
}

// manyThenAgain is a tree of 40 files whose last repeats the first.
func manyThenAgain(id string) string {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "100644 f%02d\x00%s", i, id)
	}
	return b.String() + "100644 f00\x00" + id
}
