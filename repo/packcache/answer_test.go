package packcache

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// request builds a pkt-line request from lines; "0000" and "0001" are sent
// as flush and delimiter packets.
func request(lines ...string) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		if l == "0000" || l == "0001" {
			b.WriteString(l)
			continue
		}
		fmt.Fprintf(&b, "%04x%s", len(l)+4, l)
	}
	return b.Bytes()
}

var (
	idA = strings.Repeat("a", 40)
	idB = strings.Repeat("b", 40)
)

func v2Clone(args ...string) []byte {
	lines := []string{"command=fetch", "agent=git/2.39.5", "object-format=sha1", "0001", "thin-pack", "no-progress", "ofs-delta", "want " + idA + "\n", "want " + idB + "\n"}
	lines = append(lines, args...)
	return request(append(lines, "done\n", "0000")...)
}

func TestFetchTakesOnlyPlainClones(t *testing.T) {
	wants, plain, ok := Fetch("version=2", v2Clone())
	if !ok || !slices.Equal(wants, []string{idA, idB}) {
		t.Fatalf("a v2 clone: wants %q, ok %v", wants, ok)
	}
	// The agent (the client's version) is not part of the key...
	other := bytes.Replace(v2Clone(), []byte("0015agent=git/2.39.5"), []byte("0015agent=git/2.45.1"), 1)
	if _, k, ok := Fetch("version=2", other); !ok || !bytes.Equal(k, plain) {
		t.Errorf("another agent keys the request differently (%v):\n%q\n%q", ok, k, plain)
	}
	// ...but every argument is: with progress, the answer holds it.
	progress := request("command=fetch", "0001", "thin-pack", "ofs-delta", "want "+idA+"\n", "want "+idB+"\n", "done\n", "0000")
	if _, k, ok := Fetch("version=2", progress); !ok || bytes.Equal(k, plain) {
		t.Errorf("a clone with progress keys like one without (%v)", ok)
	}

	// What makes an answer depend on more than the wanted objects, or is
	// not a whole clone request, is left to git.
	for name, body := range map[string][]byte{
		"have":            v2Clone("have " + idA + "\n"),
		"shallow":         v2Clone("shallow " + idA + "\n"),
		"deepen":          v2Clone("deepen 1\n"),
		"deepen-since":    v2Clone("deepen-since 1700000000\n"),
		"deepen-not":      v2Clone("deepen-not main\n"),
		"filter":          v2Clone("filter blob:none\n"),
		"want-ref":        v2Clone("want-ref refs/heads/main\n"),
		"packfile-uris":   v2Clone("packfile-uris https\n"),
		"sideband-all":    v2Clone("sideband-all\n"),
		"wait-for-done":   v2Clone("wait-for-done\n"),
		"unknown":         v2Clone("no-such-argument\n"),
		"server-option":   request("command=fetch", "server-option=x", "0001", "want "+idA+"\n", "done\n", "0000"),
		"no done":         request("command=fetch", "0001", "want "+idA+"\n", "0000"),
		"no want":         request("command=fetch", "0001", "done\n", "0000"),
		"short want":      request("command=fetch", "0001", "want abc\n", "done\n", "0000"),
		"ls-refs":         request("command=ls-refs", "0001", "peel\n", "0000"),
		"after the flush": append(v2Clone(), request("done\n")...),
		"cut short":       v2Clone()[:len(v2Clone())-3],
		"not pkt-lines":   []byte("GET / HTTP/1.1\r\n"),
		"empty":           nil,
	} {
		if _, _, ok := Fetch("version=2", body); ok {
			t.Errorf("%s: taken as a plain clone", name)
		}
	}
}

func TestFetchProtocolV0(t *testing.T) {
	clone := func(caps string, more ...string) []byte {
		return request(append([]string{"want " + idA + " " + caps + "\n", "want " + idB + "\n", "0000"}, more...)...)
	}
	caps := "multi_ack_detailed no-done side-band-64k thin-pack no-progress ofs-delta deepen-since deepen-not agent=git/2.39.5"
	wants, k, ok := Fetch("", clone(caps, "done\n"))
	if !ok || !slices.Equal(wants, []string{idA, idB}) {
		t.Fatalf("a v0 clone: wants %q, ok %v", wants, ok)
	}
	if _, k2, _ := Fetch("", clone(strings.Replace(caps, "2.39.5", "2.45.1", 1), "done\n")); !bytes.Equal(k, k2) {
		t.Errorf("another agent keys the request differently")
	}
	for name, body := range map[string][]byte{
		"have":         clone(caps, "have "+idA+"\n", "done\n"),
		"no done":      clone(caps),
		"shallow":      request("want "+idA+" "+caps+"\n", "shallow "+idB+"\n", "0000", "done\n"),
		"deepen":       request("want "+idA+" "+caps+"\n", "deepen 1\n", "0000", "done\n"),
		"filter":       clone(caps+" filter", "filter blob:none\n", "done\n"),
		"caps twice":   request("want "+idA+" "+caps+"\n", "want "+idB+" thin-pack\n", "0000", "done\n"),
		"unknown cap":  clone(caps+" allow-any-sha1", "done\n"),
		"deepen-since": request("want "+idA+" "+caps+"\n", "deepen-since 1700000000\n", "0000", "done\n"),
		"flush first":  request("0000", "done\n"),
		"after done":   clone(caps, "done\n", "done\n"),
		"delim":        clone(caps, "0001", "done\n"),
		"uppercase id": request("want "+strings.ToUpper(idA)+" "+caps+"\n", "0000", "done\n"),
		"v2 under v0":  v2Clone(),
	} {
		if _, _, ok := Fetch("", body); ok {
			t.Errorf("%s: taken as a plain clone", name)
		}
	}
	if _, _, ok := Fetch("version=2", clone(caps, "done\n")); ok {
		t.Errorf("a v0 request taken as a v2 clone")
	}
}

// cacheFor is a cache in a temporary folder holding at most max bytes.
func cacheFor(t *testing.T, max int64) Cache {
	return Cache{Dir: filepath.Join(t.TempDir(), "cache"), MaxBytes: max}
}

func keep(t *testing.T, c Cache, key [32]byte, answer []byte) {
	t.Helper()
	w := c.NewAnswer(key)
	if w == nil {
		t.Fatalf("NewAnswer: nil")
	}
	for chunk := range slices.Chunk(answer, 7) {
		if n, err := w.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func read(t *testing.T, a *Answer) []byte {
	t.Helper()
	defer a.Close()
	b := make([]byte, a.Size)
	if _, err := a.File.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAnswerEntries(t *testing.T) {
	c := cacheFor(t, 1<<20)
	key, other := [32]byte{1}, [32]byte{2}
	answer := []byte("0008NAK\n" + strings.Repeat("0010\x01PACK-ish data", 100) + "0000")
	if c.OpenAnswer(key) != nil {
		t.Fatalf("an empty cache served an answer")
	}
	keep(t, c, key, answer)
	a := c.OpenAnswer(key)
	if a == nil {
		t.Fatalf("the kept answer is not served")
	}
	if got := read(t, a); !bytes.Equal(got, answer) {
		t.Fatalf("served %d bytes, kept %d", len(got), len(answer))
	}
	if c.OpenAnswer(other) != nil {
		t.Errorf("another key's request got this answer")
	}

	// An entry renamed to another key's name is not that key's answer.
	if err := os.Rename(c.answerPath(key), c.answerPath(other)); err != nil {
		t.Fatal(err)
	}
	if c.OpenAnswer(other) != nil {
		t.Errorf("an entry under the wrong name was served")
	}

	// Cut short anywhere, an entry is never served, and is removed.
	keep(t, c, key, answer)
	whole, err := os.ReadFile(c.answerPath(key))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 8, len(whole) / 2, len(whole) - trailerLen, len(whole) - 1} {
		if err := os.WriteFile(c.answerPath(key), whole[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if a := c.OpenAnswer(key); a != nil {
			a.Close()
			t.Errorf("an entry cut to %d of %d bytes was served", n, len(whole))
		}
		if _, err := os.Stat(c.answerPath(key)); err == nil {
			t.Errorf("an entry cut to %d bytes was kept", n)
		}
	}
	// So is one that grew.
	os.WriteFile(c.answerPath(key), append(slices.Clone(whole), '0'), 0o644)
	if c.OpenAnswer(key) != nil {
		t.Errorf("an entry with a byte appended was served")
	}

	// An aborted answer (git failed, the client went away) leaves nothing.
	w := c.NewAnswer(key)
	w.Write(answer)
	w.Abort()
	if es, _ := os.ReadDir(c.Dir); len(es) != 0 {
		t.Errorf("an aborted answer left %v", es)
	}
	if c.OpenAnswer(key) != nil {
		t.Errorf("an aborted answer was served")
	}
}

func TestAnswersBounded(t *testing.T) {
	answer := bytes.Repeat([]byte("x"), 1000)
	entry := int64(len(answer) + trailerLen)

	// Larger than the whole cache: sent, never kept.
	c := cacheFor(t, entry-1)
	keep(t, c, [32]byte{1}, answer)
	if c.OpenAnswer([32]byte{1}) != nil {
		t.Errorf("an answer larger than the cache was kept")
	}
	if es, _ := os.ReadDir(c.Dir); len(es) != 0 {
		t.Errorf("an oversized answer left %v", es)
	}

	// Room for two: the least recently used goes.
	c = cacheFor(t, 2*entry)
	keep(t, c, [32]byte{1}, answer)
	keep(t, c, [32]byte{2}, answer)
	old := c.answerPath([32]byte{1})
	for i, p := range []string{old, c.answerPath([32]byte{2})} {
		// Distinct use times without sleeping.
		at := time.Now().Add(time.Duration(i-10) * time.Minute)
		os.Chtimes(p, at, at)
	}
	c.OpenAnswer([32]byte{1}).Close() // used now: the newest
	keep(t, c, [32]byte{3}, answer)
	if c.OpenAnswer([32]byte{2}) != nil {
		t.Errorf("the least recently used answer was kept")
	}
	for _, k := range [][32]byte{{1}, {3}} {
		a := c.OpenAnswer(k)
		if a == nil {
			t.Errorf("answer %d was evicted", k[0])
			continue
		}
		a.Close()
	}

	// Off: nothing is kept or served.
	off := Cache{Dir: c.Dir}
	if off.NewAnswer([32]byte{4}) != nil || off.OpenAnswer([32]byte{1}) != nil {
		t.Errorf("a cache of size 0 keeps or serves answers")
	}
}

// TestAnswerKey checks what the key of an answer depends on: each input,
// and the repository's refs, shallow file and config.
func TestAnswerKey(t *testing.T) {
	f := newFixture(t, 64<<20)
	ctx := context.Background()
	state := func() State {
		t.Helper()
		st, err := RepoState(ctx, "git", f.origin)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := state()
	main := strings.TrimSpace(testenv.Git(t, f.origin, "rev-parse", "main"))
	tag := strings.TrimSpace(testenv.Git(t, f.origin, "rev-parse", "v1"))
	if !st.Tips([]string{main, tag}) {
		t.Errorf("main and v1 are not tips")
	}
	parent := strings.TrimSpace(testenv.Git(t, f.origin, "rev-parse", "main^"))
	if st.Tips([]string{main, parent}) || st.Tips(nil) {
		t.Errorf("a commit below a tip, or no want, passes for tips")
	}
	if !st.Equal(state()) {
		t.Errorf("the state changed without a change")
	}

	base := AnswerKey("git 2.39.5", []string{"a=b"}, f.origin, "version=2", []byte("req"), st)
	for name, k := range map[string][32]byte{
		"git version": AnswerKey("git 2.45.1", []string{"a=b"}, f.origin, "version=2", []byte("req"), st),
		"settings":    AnswerKey("git 2.39.5", []string{"a=c"}, f.origin, "version=2", []byte("req"), st),
		"settings 2":  AnswerKey("git 2.39.5", []string{"a=b", ""}, f.origin, "version=2", []byte("req"), st),
		"repository":  AnswerKey("git 2.39.5", []string{"a=b"}, f.origin+"x", "version=2", []byte("req"), st),
		"protocol":    AnswerKey("git 2.39.5", []string{"a=b"}, f.origin, "", []byte("req"), st),
		"request":     AnswerKey("git 2.39.5", []string{"a=b"}, f.origin, "version=2", []byte("req2"), st),
	} {
		if k == base {
			t.Errorf("the key does not depend on the %s", name)
		}
	}

	changes := []struct {
		name string
		do   func()
	}{
		{"a push to another branch", func() { testenv.Git(t, f.work, "push", "-q", f.origin, "main:refs/heads/draft") }},
		{"a tag", func() { testenv.Git(t, f.origin, "tag", "light", "main^") }},
		{"a setting", func() { testenv.Git(t, f.origin, "config", "uploadpack.hideRefs", "refs/heads/draft") }},
		{"a shallow file", func() { os.WriteFile(filepath.Join(f.origin, "shallow"), []byte(parent+"\n"), 0o644) }},
	}
	for _, ch := range changes {
		before := state()
		ch.do()
		if now := state(); now.Equal(before) || AnswerKey("g", nil, f.origin, "", nil, now) == AnswerKey("g", nil, f.origin, "", nil, before) {
			t.Errorf("%s leaves the key as it was", ch.name)
		}
	}
	if _, err := RepoState(ctx, "git", filepath.Join(t.TempDir(), "missing.git")); err == nil {
		t.Errorf("the state of a missing repository was read")
	}
}
