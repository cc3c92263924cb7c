package repo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/repo"
)

// browseRepo makes a bare repository with three commits on main, a
// branch "topic", a branch "feature/x/y" and a tag "feature" (names that
// prefix each other), a lightweight and an annotated tag.
func browseRepo(t *testing.T) (bare string, commits []string) {
	testenv.RequireTool(t, "git")
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	write := func(p, body string) {
		os.MkdirAll(filepath.Dir(filepath.Join(work, p)), 0o755)
		if err := os.WriteFile(filepath.Join(work, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(msg string) {
		testenv.Git(t, work, "add", "-A")
		testenv.Git(t, work, "commit", "-q", "-m", msg)
		commits = append(commits, strings.TrimSpace(testenv.Git(t, work, "rev-parse", "HEAD")))
	}
	write("README.md", "# hi\n")
	write("parts/a.stl", "solid a\nendsolid a\n")
	write("parts/b.stl", "solid b\nendsolid b\n")
	commit("first")
	write("parts/a.stl", "solid a2\nendsolid a2\n")
	os.Remove(filepath.Join(work, "parts/b.stl"))
	write("parts/c.stl", "solid c\nendsolid c\n")
	testenv.Git(t, work, "mv", "README.md", "README.txt")
	commit("second")
	write("y/z.txt", "on main\n")
	commit("third")
	testenv.Git(t, work, "branch", "topic", commits[0])
	testenv.Git(t, work, "branch", "feature/x/y", commits[1])
	testenv.Git(t, work, "tag", "feature", commits[0])
	testenv.Git(t, work, "tag", "light", commits[0])
	testenv.Git(t, work, "tag", "-a", "v1", "-m", "release", commits[1])
	bare = filepath.Join(t.TempDir(), "p.git")
	testenv.Git(t, "", "clone", "-q", "--bare", work, bare)
	return bare, commits
}

func TestResolveRefPath(t *testing.T) {
	bare, commits := browseRepo(t)
	b, err := repo.OpenBrowse(bare)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, c := range []struct {
		in, ref, commit, path string
	}{
		{"main", "main", commits[2], ""},
		{"main/parts/a.stl", "main", commits[2], "parts/a.stl"},
		{"feature/parts", "feature", commits[0], "parts"},
		{"topic/parts", "topic", commits[0], "parts"},
		{"feature/x/y/parts/c.stl", "feature/x/y", commits[1], "parts/c.stl"},
		{"feature/x/z", "feature", commits[0], "x/z"},
		{"light/README.md", "light", commits[0], "README.md"},
		{"v1/parts", "v1", commits[1], "parts"},
		{commits[1] + "/parts", commits[1], commits[1], "parts"},
		{commits[1][:7] + "/parts", commits[1][:7], commits[1], "parts"},
	} {
		r, err := b.ResolveRefPath(c.in)
		if err != nil {
			t.Errorf("ResolveRefPath(%q): %v", c.in, err)
			continue
		}
		if r.Ref != c.ref || r.Commit.String() != c.commit || r.Path != c.path {
			t.Errorf("ResolveRefPath(%q) = %q %s %q, want %q %s %q", c.in, r.Ref, r.Commit, r.Path, c.ref, c.commit, c.path)
		}
	}
	for _, in := range []string{"", "nope", "nope/main", "abc", "zzzzzzz/x", strings.Repeat("0", 40)} {
		if _, err := b.ResolveRefPath(in); !errors.Is(err, repo.ErrNoRef) {
			t.Errorf("ResolveRefPath(%q): %v, want ErrNoRef", in, err)
		}
	}
}

func TestBrowseTreeAndBlobs(t *testing.T) {
	bare, commits := browseRepo(t)
	b, err := repo.OpenBrowse(bare)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	head, _ := b.ResolveRef("main")
	list, total, err := b.List(head, "", -1)
	if err != nil || total != 3 {
		t.Fatal(total, err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, ","); got != "parts,y,README.txt" {
		t.Errorf("root listing %s, want folders first: parts,y,README.txt", got)
	}
	e, err := b.Stat(head, "parts/a.stl")
	if err != nil || e.Dir || e.Size != int64(len("solid a2\nendsolid a2\n")) {
		t.Fatalf("Stat parts/a.stl = %+v, %v", e, err)
	}
	rc, _, err := b.OpenBlob(e.Hash)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "solid a2\nendsolid a2\n" {
		t.Errorf("blob = %q", data)
	}
	for _, bad := range []string{"../x", "parts/../../x", "/etc/passwd\x00", "parts\\a.stl", "a//b", "./parts"} {
		if _, err := b.Stat(head, bad); !errors.Is(err, repo.ErrNoPath) {
			t.Errorf("Stat(%q): %v, want ErrNoPath", bad, err)
		}
	}
	if first, total, err := b.List(head, "", 1); err != nil || total != 3 || len(first) != 1 || first[0].Name != "parts" {
		t.Errorf("List capped at 1: %+v of %d, %v", first, total, err)
	}
	if _, _, err := b.List(head, "parts/a.stl", -1); !errors.Is(err, repo.ErrNotDir) {
		t.Errorf("List of a file: %v, want ErrNotDir", err)
	}
	var files []string
	b.Files(context.Background(), head, func(e repo.Entry) error { files = append(files, e.Path); return nil })
	if got := strings.Join(files, ","); got != "README.txt,parts/a.stl,parts/c.stl,y/z.txt" {
		t.Errorf("Files = %s", got)
	}
	branches, _ := b.Branches()
	tags, _ := b.Tags()
	if strings.Join(branches, ",") != "feature/x/y,main,topic" || strings.Join(tags, ",") != "feature,light,v1" {
		t.Errorf("branches %v, tags %v", branches, tags)
	}
	_ = commits
}

func TestBrowseHistoryAndChanges(t *testing.T) {
	bare, commits := browseRepo(t)
	b, err := repo.OpenBrowse(bare)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	head, _ := b.ResolveRef("main")
	log, more, err := b.Log(head, 0, 2)
	if err != nil || len(log) != 2 || !more || log[0].Subject != "third" || log[1].Subject != "second" {
		t.Fatalf("Log page 1 = %+v more=%v err=%v", log, more, err)
	}
	log, more, _ = b.Log(head, 2, 2)
	if len(log) != 1 || more || log[0].Hash.String() != commits[0] {
		t.Errorf("Log page 2 = %+v more=%v", log, more)
	}
	second, _ := b.ResolveRef(commits[1])
	changes, more, err := b.Changes(context.Background(), second, 100)
	if err != nil || more {
		t.Fatal(more, err)
	}
	var got []string
	for _, c := range changes {
		s := c.Action + " " + c.Path()
		if c.Action == repo.Renamed {
			s += " from " + c.From.Path
		}
		got = append(got, s)
	}
	want := "renamed README.txt from README.md,modified parts/a.stl,deleted parts/b.stl,added parts/c.stl"
	if strings.Join(got, ",") != want {
		t.Errorf("Changes = %s\nwant      %s", strings.Join(got, ","), want)
	}
	first, _ := b.ResolveRef(commits[0])
	changes, _, _ = b.Changes(context.Background(), first, 100)
	if len(changes) != 3 || changes[0].Action != repo.Added {
		t.Errorf("root commit changes = %+v", changes)
	}
	// A cap stops the diff and says more follow.
	if changes, more, err := b.Changes(context.Background(), first, 2); err != nil || !more || len(changes) != 2 {
		t.Errorf("root commit changes capped at 2: %+v more=%v %v", changes, more, err)
	}
}

func TestBrowsePoolSeesPushes(t *testing.T) {
	bare, _ := browseRepo(t)
	pool := repo.NewBrowsePool(2, 4)
	b, err := pool.Get(bare)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ResolveRef("main"); err != nil {
		t.Fatal(err)
	}
	pool.Put(b)
	// A new commit arrives as a pack, as a push would bring it.
	work := t.TempDir()
	testenv.Git(t, "", "clone", "-q", bare, work)
	os.WriteFile(filepath.Join(work, "new.txt"), []byte("new\n"), 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "fourth")
	testenv.Git(t, work, "push", "-q", "origin", "main")
	testenv.Git(t, bare, "repack", "-q", "-a", "-d")
	b, err = pool.Get(bare)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Put(b)
	head, err := b.ResolveRef("main")
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.CommitInfo(head)
	if err != nil || c.Subject != "fourth" {
		t.Errorf("after a push the pool reads %+v, %v", c, err)
	}
}

// FuzzCleanPath checks that an accepted path has no empty, "." or ".."
// segment, no backslash or NUL, and no leading or trailing slash.
func FuzzCleanPath(f *testing.F) {
	f.Add("parts/a.stl")
	f.Add("../etc/passwd")
	f.Fuzz(func(t *testing.T, p string) {
		c, err := repo.CleanPath(p)
		if err != nil {
			if !errors.Is(err, repo.ErrNoPath) {
				t.Fatalf("CleanPath(%q): %v, want ErrNoPath", p, err)
			}
			return
		}
		if c == "" {
			return
		}
		if strings.ContainsAny(c, "\x00\\") || strings.HasPrefix(c, "/") || strings.HasSuffix(c, "/") {
			t.Fatalf("CleanPath(%q) = %q", p, c)
		}
		for _, seg := range strings.Split(c, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("CleanPath(%q) = %q has segment %q", p, c, seg)
			}
		}
	})
}

// TestFileLog: the history of one file lists exactly the commits that
// changed it, newest first, paged; a folder's history lists the commits
// that changed anything in it; the walk stops at its limit.
func TestFileLog(t *testing.T) {
	testenv.RequireTool(t, "git")
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	var commits []string
	step := func(msg string, files map[string]string) {
		for p, body := range files {
			full := filepath.Join(work, p)
			if body == "" {
				os.Remove(full)
				continue
			}
			os.MkdirAll(filepath.Dir(full), 0o755)
			os.WriteFile(full, []byte(body), 0o644)
		}
		testenv.Git(t, work, "add", "-A")
		testenv.Git(t, work, "commit", "-q", "--allow-empty", "-m", msg)
		commits = append(commits, strings.TrimSpace(testenv.Git(t, work, "rev-parse", "HEAD")))
	}
	step("add the arm", map[string]string{"frame/arm.stl": "solid a1\nendsolid\n", "README.md": "# r\n"})
	step("readme", map[string]string{"README.md": "# r2\n"})
	step("longer arm", map[string]string{"frame/arm.stl": "solid a2\nendsolid\n"})
	step("a foot", map[string]string{"frame/foot.stl": "solid f\nendsolid\n"})
	step("shorter arm", map[string]string{"frame/arm.stl": "solid a3\nendsolid\n"})
	step("no arm", map[string]string{"frame/arm.stl": ""})
	bare := filepath.Join(t.TempDir(), "p.git")
	testenv.Git(t, "", "clone", "-q", "--bare", work, bare)
	b, err := repo.OpenBrowse(bare)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	head, err := b.ResolveRef("main")
	if err != nil {
		t.Fatal(err)
	}
	summary := func(l repo.FileLog) string {
		var s []string
		for _, c := range l.Changes {
			s = append(s, c.Commit.Subject+":"+c.Action)
		}
		return strings.Join(s, ",")
	}
	at4, _ := b.ResolveRef(commits[4])
	log, err := b.FileLog(ctx, at4, "frame/arm.stl", 0, 30, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(log), "shorter arm:modified,longer arm:modified,add the arm:added"; got != want || log.More || log.Truncated {
		t.Errorf("history of frame/arm.stl at commit 5: %s (more %v, truncated %v), want %s", got, log.More, log.Truncated, want)
	}
	if c := log.Changes[0]; c.Before.Hash.String() != gitID(t, work, commits[2]+":frame/arm.stl") || c.After.Hash.String() != gitID(t, work, commits[4]+":frame/arm.stl") || c.After.Size != int64(len("solid a3\nendsolid\n")) {
		t.Errorf("newest change's entries: before %v, after %v", c.Before, c.After)
	}
	if c := log.Changes[2]; c.Before.Path != "" || c.After.Path != "frame/arm.stl" {
		t.Errorf("the adding commit's entries: before %v, after %v", c.Before, c.After)
	}
	// From main, the deletion comes first; paging by one.
	for i, want := range []string{"no arm:deleted", "shorter arm:modified", "longer arm:modified", "add the arm:added"} {
		l, err := b.FileLog(ctx, head, "frame/arm.stl", i, 1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if summary(l) != want || l.More != (i < 3) {
			t.Errorf("page %d of one: %s (more %v), want %s", i+1, summary(l), l.More, want)
		}
	}
	if l, _ := b.FileLog(ctx, head, "frame", 0, 30, 1000); summary(l) != "no arm:modified,shorter arm:modified,a foot:modified,longer arm:modified,add the arm:added" {
		t.Errorf("history of the folder: %s", summary(l))
	}
	if l, _ := b.FileLog(ctx, head, "frame/arm.stl", 0, 30, 3); summary(l) != "no arm:deleted,shorter arm:modified" || !l.Truncated {
		t.Errorf("history limited to 3 commits: %s (truncated %v)", summary(l), l.Truncated)
	}
	if l, _ := b.FileLog(ctx, head, "nothing/here.stl", 0, 30, 1000); len(l.Changes) != 0 {
		t.Errorf("history of a path that never existed: %s", summary(l))
	}
	for _, p := range []string{"", "../x", "a//b"} {
		if _, err := b.FileLog(ctx, head, p, 0, 30, 1000); !errors.Is(err, repo.ErrNoPath) {
			t.Errorf("FileLog(%q): %v, want ErrNoPath", p, err)
		}
	}
}

func gitID(t *testing.T, dir, rev string) string {
	t.Helper()
	return strings.TrimSpace(testenv.Git(t, dir, "rev-parse", rev))
}

// TestBrowsePoolRefs: with 20,000 packed tags, resolving a ref for a page
// reads the packed-refs file once for every request of the pool, listing
// the refs reads the loose ones once, and a push of a tag, a branch, a
// moved branch or a deleted tag is seen by the very next request.
func TestBrowsePoolRefs(t *testing.T) {
	testenv.RequireTool(t, "git")
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "a.txt"), []byte("a\n"), 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "first")
	first := strings.TrimSpace(testenv.Git(t, work, "rev-parse", "HEAD"))
	bare := filepath.Join(t.TempDir(), "p.git")
	testenv.Git(t, "", "clone", "-q", "--bare", work, bare)
	testenv.Git(t, work, "remote", "add", "origin", bare)
	var in strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&in, "create refs/tags/v%d %s\n", i, first)
	}
	cmd := exec.Command("git", "update-ref", "--stdin")
	cmd.Dir, cmd.Stdin = bare, strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git update-ref: %v\n%s", err, out)
	}
	testenv.Git(t, bare, "pack-refs", "--all")
	// Files changed in the last moments are never trusted (two changes
	// within one tick of the file system's clock look alike): age them,
	// as if the tags had been pushed a while ago.
	old := time.Now().Add(-time.Hour)
	filepath.WalkDir(bare, func(p string, d os.DirEntry, err error) error {
		if err == nil && (d.IsDir() || d.Name() == "packed-refs") {
			os.Chtimes(p, old, old)
		}
		return nil
	})

	pool := repo.NewBrowsePool(2, 4)
	use := func(fn func(b *repo.Browse)) {
		t.Helper()
		b, err := pool.Get(bare)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Put(b)
		fn(b)
	}
	for range 3 {
		use(func(b *repo.Browse) {
			res, err := b.ResolveRefPath("v12345/a.txt")
			if err != nil || res.Commit.String() != first || res.Ref != "v12345" || res.Path != "a.txt" {
				t.Fatalf("resolve v12345/a.txt: %+v %v", res, err)
			}
			if branch, h, err := b.Head(); err != nil || branch != "main" || h.String() != first {
				t.Fatalf("head: %s %s %v", branch, h, err)
			}
			if _, err := b.ResolveRef("../packed-refs"); !errors.Is(err, repo.ErrNoRef) {
				t.Fatalf("a ref name outside refs/: %v, want ErrNoRef", err)
			}
		})
	}
	if n := pool.RefReads(); n != 1 {
		t.Errorf("three requests resolving a ref read the refs %d times, want 1 (the packed-refs file, once)", n)
	}
	tags := func() []string {
		var tags []string
		use(func(b *repo.Browse) {
			var err error
			if tags, err = b.Tags(); err != nil {
				t.Fatal(err)
			}
		})
		return tags
	}
	for range 2 {
		if got := tags(); len(got) != 20000 {
			t.Fatalf("%d tags, want 20000", len(got))
		}
	}
	if n := pool.RefReads(); n != 2 {
		t.Errorf("after two listings the refs were read %d times, want 2 (the loose refs listed once more)", n)
	}

	// A push: a new tag, a new branch, main moved on, a packed tag deleted.
	os.WriteFile(filepath.Join(work, "new.txt"), []byte("new\n"), 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "second")
	second := strings.TrimSpace(testenv.Git(t, work, "rev-parse", "HEAD"))
	testenv.Git(t, work, "tag", "fresh-tag")
	testenv.Git(t, work, "branch", "fresh/branch")
	testenv.Git(t, work, "push", "-q", "origin", "main", "fresh-tag", "fresh/branch", ":refs/tags/v5")
	use(func(b *repo.Browse) {
		for _, ref := range []string{"main", "fresh-tag", "fresh/branch"} {
			if h, err := b.ResolveRef(ref); err != nil || h.String() != second {
				t.Errorf("after the push %s is %s %v, want %s", ref, h, err, second)
			}
		}
		if res, err := b.ResolveRefPath("fresh/branch/new.txt"); err != nil || res.Ref != "fresh/branch" || res.Path != "new.txt" {
			t.Errorf("fresh/branch/new.txt: %+v %v", res, err)
		}
		if _, err := b.ResolveRef("v5"); !errors.Is(err, repo.ErrNoRef) {
			t.Errorf("deleted tag v5: %v, want ErrNoRef", err)
		}
		if _, h, err := b.Head(); err != nil || h.String() != second {
			t.Errorf("head after the push: %s %v", h, err)
		}
		branches, err := b.Branches()
		if err != nil || strings.Join(branches, ",") != "fresh/branch,main" {
			t.Errorf("branches after the push: %v %v", branches, err)
		}
	})
	got := tags()
	if len(got) != 20000 || !slices.Contains(got, "fresh-tag") || slices.Contains(got, "v5") {
		t.Errorf("after the push: %d tags, fresh-tag listed %v, v5 listed %v", len(got), slices.Contains(got, "fresh-tag"), slices.Contains(got, "v5"))
	}
}
