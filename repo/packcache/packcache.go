// Package packcache serves repeated fetches of the same objects from a
// cache of packs, so that a popular design is packed once rather than for
// every clone, and repeated clones from a cache of whole answers, so that
// they are sent without running git at all.
//
// Answers (answer.go): the server hands a clone's request to Fetch, the
// repository's state to RepoState and the key from AnswerKey to
// OpenAnswer; a kept answer leaves as a file the server sends as it is.
// On a miss, git's answer enters through an AnswerWriter while it goes to
// the client, and is kept by Commit once git has succeeded.
//
// Packs: git's upload-pack builds the pack of a fetch by running pack-objects;
// with uploadpack.packObjectsHook set (Hook gives the value), it runs
// "blueprints hook pack-objects ... -- git pack-objects ARGS" instead, and
// that command calls Cache.Serve. Data enters on stdin (the wanted and
// common object ids, as git writes them for pack-objects) and leaves on
// stdout (the pack); entries live as files in one folder.
//
// An entry is keyed by the SHA-256 of everything the pack depends on: the
// repository, pack-objects' arguments (but --progress), its whole input
// and, since --include-tag adds the annotated tags that point into the
// pack, the repository's tags. Object ids name content, so a push that
// moves a branch changes what clients ask for and never makes an entry
// wrong; a push of a tag changes the key of every fetch that follows tags.
// An entry is written to a temporary file, synced and renamed into place
// only once pack-objects has succeeded, so a reader never sees a partial
// pack. The folder is kept under a size limit by removing the least
// recently used entries; packs and answers share the limit.
package packcache

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/lrudir"
)

// keyVersion changes when the key's recipe changes, so that old entries
// are never served for new keys.
const keyVersion = "blueprints pack cache 1\n"

// maxInput bounds the pack-objects input read into memory to compute the
// key. A larger input (a negotiation with tens of thousands of common
// commits) is passed through uncached.
const maxInput = 8 << 20

// staleTemp is the age after which a temporary file is taken for the
// leftover of a killed hook and removed.
const staleTemp = time.Hour

// suffix ends every entry's name; temporary files start with tmpPrefix.
const (
	suffix    = ".pack"
	tmpPrefix = "tmp-"
)

// Cache is a pack cache in a folder, holding at most MaxBytes of packs.
type Cache struct {
	Dir      string
	MaxBytes int64
}

// Hook returns the value of uploadpack.packObjectsHook that makes git run
// exe (the blueprints binary) as the hook of the cache in dir, bounded to
// maxBytes. Git runs it through the shell and appends "git pack-objects
// ARGS"; the hook is only honoured from protected configuration, such as
// "git -c".
func Hook(exe, dir string, maxBytes int64) string {
	return shellQuote(exe) + " hook pack-objects --pack-cache " + shellQuote(dir) +
		" --pack-cache-bytes " + strconv.FormatInt(maxBytes, 10) + " --"
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Serve does what git pack-objects would: args is the command git gave the
// hook ("git", "pack-objects", ...), run in the repository with stdin as
// its input; the pack goes to stdout and progress to stderr. A cached
// pack for the same key is copied instead of running git; cached says so.
func (c Cache) Serve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (cached bool, err error) {
	if len(args) < 2 || !slices.Contains(args[1:], "pack-objects") {
		return false, fmt.Errorf("pack cache: want a git pack-objects command after --, got %q", args)
	}
	if c.MaxBytes > 0 && !filepath.IsAbs(c.Dir) {
		return false, fmt.Errorf("pack cache: folder %q: want an absolute path", c.Dir)
	}
	input, err := io.ReadAll(io.LimitReader(stdin, maxInput+1))
	if err != nil {
		return false, fmt.Errorf("pack cache: read pack-objects input: %w", err)
	}
	if len(input) > maxInput || c.MaxBytes <= 0 {
		return false, run(ctx, args, io.MultiReader(bytes.NewReader(input), stdin), stdout, stderr)
	}
	key, err := c.key(ctx, args, input)
	if err != nil {
		return false, err
	}
	if ok, err := c.serveEntry(key, stdout); ok || err != nil {
		return ok, err
	}
	return false, c.fill(ctx, key, args, input, stdout, stderr)
}

// key is the entry name for args and input in the current repository.
func (c Cache) key(ctx context.Context, args []string, input []byte) (string, error) {
	repo, err := repository()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	field := func(b []byte) { writeField(h, b) }
	h.Write([]byte(keyVersion))
	field([]byte(repo))
	for _, a := range args[1:] {
		if a != "--progress" { // progress is on stderr; the pack is the same
			field([]byte(a))
		}
	}
	field(input)
	tags, err := tagState(ctx, args)
	if err != nil {
		return "", err
	}
	field(tags)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeField writes b to w after its length, so that the fields of a key
// cannot run into each other.
func writeField(w io.Writer, b []byte) {
	w.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
	w.Write(b)
}

// repository names the repository the hook runs in: GIT_DIR when git set
// it, else the working folder (upload-pack runs in the repository).
func repository() (string, error) {
	dir := os.Getenv("GIT_DIR")
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("pack cache: locate repository: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return abs, nil
}

// tagState lists the refs besides the input that change a pack: the tags,
// which --include-tag follows, and replacement objects. It is empty when
// args do not follow tags and no replacement exists.
func tagState(ctx context.Context, args []string) ([]byte, error) {
	patterns := []string{"refs/replace/"}
	if slices.Contains(args, "--include-tag") {
		patterns = append(patterns, "refs/tags/")
	}
	return forEachRef(ctx, args[0], "", patterns...)
}

// forEachRef lists the refs of the repository dir ("": the one git finds
// itself, as in a hook) as "ID NAME" lines: all of them, or those under
// patterns.
func forEachRef(ctx context.Context, git, dir string, patterns ...string) ([]byte, error) {
	var args []string
	if dir != "" {
		args = []string{"--git-dir", dir}
	}
	args = append(append(args, "for-each-ref", "--format=%(objectname) %(refname)"), patterns...)
	cmd := exec.CommandContext(ctx, git, args...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pack cache: list refs of %q: %v: %s", dir, err, strings.TrimSpace(errBuf.String()))
	}
	return out, nil
}

// serveEntry copies the entry key to w, reporting false when there is
// none. Once a byte is written, a failure is the caller's error: the pack
// cannot be started again.
func (c Cache) serveEntry(key string, w io.Writer) (bool, error) {
	p := filepath.Join(c.Dir, key+suffix)
	f, err := os.Open(p)
	if err != nil {
		return false, nil // missing, or removed a moment ago: build it
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !validPack(f, st.Size()) {
		// Not something this package wrote whole; never serve it.
		os.Remove(p)
		return false, nil
	}
	now := time.Now()
	os.Chtimes(p, now, now) // recently used; an error only ages it
	if _, err := io.Copy(w, f); err != nil {
		return true, fmt.Errorf("pack cache: send cached pack: %w", err)
	}
	return true, nil
}

// validPack checks what can be checked cheaply: the pack header, and a
// size that holds the header and the trailing checksum.
func validPack(f *os.File, size int64) bool {
	var hdr [12]byte
	if size < 32 {
		return false
	}
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return false
	}
	return string(hdr[:4]) == "PACK"
}

// fill runs pack-objects, sending its pack to stdout and, while it fits,
// to a temporary file that becomes the entry key once git has succeeded
// and the tags are still as they were when the key was made.
func (c Cache) fill(ctx context.Context, key string, args []string, input []byte, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("pack cache: %w", err)
	}
	tmp, err := createTemp(c.Dir, key)
	if err != nil {
		return fmt.Errorf("pack cache: %w", err)
	}
	tee := &cappedFile{f: tmp, room: c.MaxBytes}
	defer func() {
		if tee.f != nil {
			tee.f.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := run(ctx, args, bytes.NewReader(input), io.MultiWriter(stdout, tee), stderr); err != nil {
		return err
	}
	if tee.f == nil {
		return nil // larger than the whole cache
	}
	if again, err := c.key(ctx, args, input); err != nil || again != key {
		return err // tags moved while packing: the pack may be of either state
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("pack cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pack cache: %w", err)
	}
	tee.f = nil
	if err := os.Rename(tmp.Name(), filepath.Join(c.Dir, key+suffix)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pack cache: %w", err)
	}
	return c.evict()
}

func createTemp(dir, key string) (*os.File, error) {
	var r [6]byte
	rand.Read(r[:])
	return os.OpenFile(filepath.Join(dir, tmpPrefix+key+"-"+hex.EncodeToString(r[:])), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// cappedFile writes to f until room runs out; then it removes f and
// swallows the rest, so the pack still reaches the client.
type cappedFile struct {
	f    *os.File
	room int64
}

func (w *cappedFile) Write(p []byte) (int, error) {
	if w.f == nil {
		return len(p), nil
	}
	w.room -= int64(len(p))
	if w.room < 0 {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
		return len(p), nil
	}
	if _, err := w.f.Write(p); err != nil {
		// A full disk fails the cache, never the clone.
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
	return len(p), nil
}

// run runs git's command (args as the hook got them) in the repository.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pack cache: git pack-objects: %w", err)
	}
	return nil
}

// evict removes the least recently used entries (packs and answers) until
// the folder holds at most MaxBytes, and temporary files left by killed
// hooks.
func (c Cache) evict() error {
	err := lrudir.Trim(c.Dir, c.MaxBytes, "", func(name string, info fs.FileInfo) bool {
		if strings.HasPrefix(name, tmpPrefix) && time.Since(info.ModTime()) > staleTemp {
			os.Remove(filepath.Join(c.Dir, name))
		}
		return strings.HasSuffix(name, suffix) || strings.HasSuffix(name, answerSuffix)
	})
	if err != nil {
		return fmt.Errorf("pack cache: %w", err)
	}
	return nil
}
