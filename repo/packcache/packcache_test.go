package packcache

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// The test binary is its own pack-objects hook: git runs
// "packcache.test packcache-hook DIR MAX LOG git pack-objects ...", and
// the hook appends "hit" or "miss" to LOG.
func TestMain(m *testing.M) {
	if len(os.Args) > 5 && os.Args[1] == "packcache-hook" {
		max, _ := strconv.ParseInt(os.Args[3], 10, 64)
		c := Cache{Dir: os.Args[2], MaxBytes: max}
		cached, err := c.Serve(context.Background(), os.Args[5:], os.Stdin, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		f, err := os.OpenFile(os.Args[4], os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if err == nil {
			fmt.Fprintln(f, map[bool]string{true: "hit", false: "miss"}[cached])
			f.Close()
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fixture is a bare repository to clone from, a work tree that pushes
// to it, and a cache with its hook.
type fixture struct {
	t          *testing.T
	origin     string // bare repository
	work       string
	cache, log string
	max        int64
}

func newFixture(t *testing.T, max int64) *fixture {
	testenv.RequireTool(t, "git")
	root := t.TempDir()
	f := &fixture{t: t, origin: filepath.Join(root, "origin.git"), work: filepath.Join(root, "work"),
		cache: filepath.Join(root, "cache"), log: filepath.Join(root, "hook.log"), max: max}
	testenv.Git(t, "", "init", "-q", "--bare", f.origin)
	testenv.Git(t, "", "init", "-q", "-b", "main", f.work)
	for i := range 3 {
		f.commit(fmt.Sprintf("part_%d.stl", i), strings.Repeat(fmt.Sprintf("facet normal 0 0 %d\n", i), 2000))
	}
	testenv.Git(t, f.work, "tag", "-a", "v1", "-m", "first release")
	testenv.Git(t, f.work, "push", "-q", f.origin, "main", "v1")
	return f
}

func (f *fixture) commit(name, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.work, name), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
	testenv.Git(f.t, f.work, "add", name)
	testenv.Git(f.t, f.work, "commit", "-q", "-m", "add "+name)
}

// clone clones origin through git's upload-pack with the hook (--no-local
// so that git packs instead of copying files) and returns the clone and
// what the hook did.
func (f *fixture) clone(args ...string) (string, string) {
	f.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		f.t.Fatal(err)
	}
	os.Remove(f.log)
	hook := fmt.Sprintf("%s packcache-hook %s %d %s", shellQuote(exe), shellQuote(f.cache), f.max, shellQuote(f.log))
	dst := filepath.Join(f.t.TempDir(), "clone")
	// The local transport drops "git -c" settings before it runs
	// upload-pack: give them to upload-pack itself.
	upload := "git -c uploadpack.allowFilter=true -c " + shellQuote("uploadpack.packObjectsHook="+hook) + " upload-pack"
	all := append([]string{"clone", "-q", "--no-local", "--upload-pack", upload}, args...)
	testenv.Git(f.t, "", append(all, f.origin, dst)...)
	got, _ := os.ReadFile(f.log)
	return dst, strings.TrimSpace(string(got))
}

// sameRepository checks that clone passes git fsck and holds origin's
// refs and objects.
func (f *fixture) sameRepository(clone string) {
	f.t.Helper()
	testenv.Git(f.t, clone, "fsck", "--strict", "--no-dangling")
	refs := func(dir, prefix string) []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(testenv.Git(f.t, dir, "for-each-ref", "--format=%(objectname) %(refname)")), "\n") {
			if id, name, _ := strings.Cut(l, " "); strings.HasPrefix(name, prefix) {
				name = strings.Replace(name, "refs/remotes/origin/", "refs/heads/", 1)
				if name != "refs/heads/HEAD" {
					out = append(out, id+" "+name)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	if w, g := refs(f.origin, "refs/"), append(refs(clone, "refs/remotes/"), refs(clone, "refs/tags/")...); !slices.Equal(w, sortedCopy(g)) {
		f.t.Errorf("clone's refs\n%s\nwant origin's\n%s", strings.Join(sortedCopy(g), "\n"), strings.Join(w, "\n"))
	}
	objects := func(dir string) string {
		return testenv.Git(f.t, dir, "cat-file", "--batch-all-objects", "--batch-check")
	}
	if w, g := objects(f.origin), objects(clone); w != g {
		f.t.Errorf("clone's objects\n%s\nwant origin's\n%s", g, w)
	}
}

func sortedCopy(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func (f *fixture) entries() []string {
	f.t.Helper()
	es, _ := os.ReadDir(f.cache)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCachedCloneIsTheRepository(t *testing.T) {
	f := newFixture(t, 64<<20)
	first, did := f.clone()
	if did != "miss" {
		t.Fatalf("first clone: hook %q, want a miss", did)
	}
	if e := f.entries(); len(e) != 1 || !strings.HasSuffix(e[0], suffix) {
		t.Fatalf("cache after one clone: %q, want one pack", e)
	}
	f.sameRepository(first)
	for range 2 {
		again, did := f.clone()
		if did != "hit" {
			t.Fatalf("repeated clone: hook %q, want a hit", did)
		}
		f.sameRepository(again)
	}
	// The progress flag (clone -q or not) does not change the pack.
	if _, did := f.clone("--progress"); did != "hit" {
		t.Errorf("clone with progress: hook %q, want a hit", did)
	}
	// Other arguments do: a partial clone is another pack.
	if _, did := f.clone("--filter=blob:none"); did != "miss" {
		t.Errorf("partial clone: hook %q, want a miss", did)
	}
}

func TestPushInvalidates(t *testing.T) {
	f := newFixture(t, 64<<20)
	f.clone("--single-branch", "--branch", "main")

	// A push to another branch changes no pack of main.
	testenv.Git(t, f.work, "push", "-q", f.origin, "main:refs/heads/draft")
	if _, did := f.clone("--single-branch", "--branch", "main"); did != "hit" {
		t.Errorf("after a push to another branch: hook %q, want a hit", did)
	}

	// A new commit on main: clients want it, so the key changes.
	f.commit("part_new.stl", "solid new\nendsolid new\n")
	testenv.Git(t, f.work, "push", "-q", f.origin, "main")
	dst, did := f.clone("--single-branch", "--branch", "main")
	if did != "miss" {
		t.Errorf("after a push to main: hook %q, want a miss", did)
	}
	if got, want := testenv.Git(t, dst, "rev-parse", "HEAD"), testenv.Git(t, f.origin, "rev-parse", "main"); got != want {
		t.Errorf("clone at %s, want %s", got, want)
	}

	// A new tag on main's tip leaves the wanted ids as they were, but
	// --include-tag now sends the tag: the old pack must not be served.
	testenv.Git(t, f.work, "tag", "-a", "v2", "-m", "second release")
	testenv.Git(t, f.work, "push", "-q", f.origin, "v2")
	dst, did = f.clone("--single-branch", "--branch", "main")
	if !strings.HasPrefix(did, "miss") {
		t.Errorf("after a tag push: hook %q, want a miss", did)
	}
	if tags := testenv.Git(t, dst, "tag"); !strings.Contains(tags, "v2") {
		t.Errorf("clone has tags %q, want v2", tags)
	}
	f.sameRepository(f.cloneAll())
}

func (f *fixture) cloneAll() string { d, _ := f.clone(); return d }

func TestBoundedLeastRecentlyUsed(t *testing.T) {
	f := newFixture(t, 64<<20)
	for _, b := range []string{"a", "b"} {
		f.commit("part_"+b+".stl", strings.Repeat("facet "+b+"\n", 50))
		testenv.Git(t, f.work, "push", "-q", f.origin, "main:refs/heads/"+b)
	}
	// The size of each branch's pack, cloned alone.
	var total int64
	for _, b := range []string{"a", "b", "main"} {
		os.RemoveAll(f.cache)
		f.clone("--single-branch", "--branch", b)
		st, err := os.Stat(filepath.Join(f.cache, f.entries()[0]))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	// Room for any two of the three packs, not for all three.
	os.RemoveAll(f.cache)
	f.max = total - 1
	f.clone("--single-branch", "--branch", "a")
	time.Sleep(20 * time.Millisecond) // distinct modification times
	f.clone("--single-branch", "--branch", "b")
	time.Sleep(20 * time.Millisecond)
	if _, did := f.clone("--single-branch", "--branch", "a"); did != "hit" {
		t.Fatalf("second clone of a: hook %q, want a hit", did)
	}
	time.Sleep(20 * time.Millisecond)
	f.clone("--single-branch", "--branch", "main")
	if n := len(f.entries()); n != 2 {
		t.Errorf("cache holds %d entries (%q), want 2", n, f.entries())
	}
	if _, did := f.clone("--single-branch", "--branch", "a"); did != "hit" {
		t.Errorf("a, used recently, was evicted (hook %q)", did)
	}
	if _, did := f.clone("--single-branch", "--branch", "b"); did != "miss" {
		t.Errorf("b, the least recently used, was kept (hook %q)", did)
	}

	// A pack larger than the whole cache is served and not kept.
	f.max = 100
	os.RemoveAll(f.cache)
	dst, did := f.clone()
	if did != "miss" || len(f.entries()) != 0 {
		t.Errorf("oversized pack: hook %q, cache %q; want a miss and nothing kept", did, f.entries())
	}
	f.sameRepository(dst)
}

// A failed pack-objects, a damaged entry and the leftovers of a killed
// hook are never served.
func TestNeverPartial(t *testing.T) {
	f := newFixture(t, 64<<20)

	// pack-objects fails on an object the repository lacks.
	var out, errOut bytes.Buffer
	c := Cache{Dir: f.cache, MaxBytes: f.max}
	t.Chdir(f.origin)
	args := []string{"git", "pack-objects", "--revs", "--stdout", "--include-tag"}
	missing := strings.Repeat("1", 40) + "\n"
	if _, err := c.Serve(context.Background(), args, strings.NewReader(missing), &out, &errOut); err == nil {
		t.Fatalf("pack-objects of a missing object succeeded")
	}
	if e := f.entries(); len(e) != 0 {
		t.Errorf("a failed pack-objects left %q", e)
	}

	// A good pack, then its entry cut short: not served, and removed.
	head := strings.TrimSpace(testenv.Git(t, f.origin, "rev-parse", "main")) + "\n"
	out.Reset()
	if cached, err := c.Serve(context.Background(), args, strings.NewReader(head), &out, &errOut); err != nil || cached {
		t.Fatalf("first Serve: cached %v, %v", cached, err)
	}
	whole := slices.Clone(out.Bytes())
	e := filepath.Join(f.cache, f.entries()[0])
	if got, _ := os.ReadFile(e); !bytes.Equal(got, whole) {
		t.Fatalf("entry holds %d bytes, the pack sent %d", len(got), len(whole))
	}
	out.Reset()
	if cached, err := c.Serve(context.Background(), args, strings.NewReader(head), &out, &errOut); err != nil || !cached || !bytes.Equal(out.Bytes(), whole) {
		t.Fatalf("second Serve: cached %v, %v, same bytes %v", cached, err, bytes.Equal(out.Bytes(), whole))
	}
	if err := os.WriteFile(e, whole[4:20], 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if cached, err := c.Serve(context.Background(), args, strings.NewReader(head), &out, &errOut); err != nil || cached || out.Len() < 32 || string(out.Bytes()[:4]) != "PACK" {
		t.Fatalf("Serve with a damaged entry: cached %v, %v (%d bytes)", cached, err, out.Len())
	}
	if got, _ := os.ReadFile(e); len(got) < 32 || string(got[:4]) != "PACK" {
		t.Errorf("the damaged entry was not replaced by a whole pack")
	}

	// A temporary file of a hook killed an hour ago is swept; a fresh one
	// (a hook still writing) is left alone.
	old := filepath.Join(f.cache, tmpPrefix+"old")
	fresh := filepath.Join(f.cache, tmpPrefix+"fresh")
	for _, p := range []string{old, fresh} {
		os.WriteFile(p, []byte("PACK"), 0o644)
	}
	long := time.Now().Add(-2 * staleTemp)
	os.Chtimes(old, long, long)
	if err := c.evict(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Errorf("stale temporary file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}

func TestHookCommandQuoting(t *testing.T) {
	got := Hook("/opt/blue prints/bin's/blueprints", "/data/git/pack-cache", 1<<30)
	want := `'/opt/blue prints/bin'\''s/blueprints' hook pack-objects --pack-cache '/data/git/pack-cache' --pack-cache-bytes 1073741824 --`
	if got != want {
		t.Errorf("Hook = %s\nwant   %s", got, want)
	}
	c := Cache{Dir: "relative", MaxBytes: 1}
	if _, err := c.Serve(context.Background(), []string{"git", "pack-objects"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative folder: %v", err)
	}
	if _, err := (Cache{}).Serve(context.Background(), []string{"rm", "-rf"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Errorf("a command other than pack-objects was run")
	}
}
