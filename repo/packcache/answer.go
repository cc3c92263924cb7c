package packcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Answers. Besides packs, the cache keeps whole answers of upload-pack:
// the exact bytes it wrote for a fetch (acknowledgement, side-band
// pkt-lines with the pack and progress, final flush), so that the same
// request against the same repository is answered from one file, without
// running git at all.
//
// Only plain clones are answered this way (see Fetch): wants and no
// haves, "done", and no option that makes the answer depend on more than
// the wanted objects (shallow, deepen, filter, want-ref, packfile-uris,
// server options). Every want must be the tip of a ref, so that what is
// served is reachable now and never an object pruned since. The key
// (AnswerKey) holds the request, the git protocol, git's version and
// settings, and the repository's State: its refs, shallow file, grafts
// and config. A push changes the refs, hence the key; a changed setting
// changes it too.
//
// An entry is the answer followed by a trailer (magic, key, length) and
// is written to a temporary file, synced and renamed into place only
// after git answered in full, so a crash or a full disk never leaves a
// partial answer that passes for a whole one: OpenAnswer serves a file
// only when its trailer names the key and the file's exact length.

// answerSuffix ends every answer entry's name.
const answerSuffix = ".answer"

// answerMagic starts an entry's trailer; answerKeyVersion changes when the
// key's recipe does.
const (
	answerMagic      = "BPANSWR1"
	answerKeyVersion = "blueprints upload-pack answer 1\n"
	trailerLen       = len(answerMagic) + sha256.Size + 8
)

// MaxFetchRequest is the largest request Fetch reads as a clone; larger
// ones (thousands of wants) are passed to git unread.
const MaxFetchRequest = 64 << 10

// Fetch reads an upload-pack request (the decompressed POST body, with
// gitProtocol the Git-Protocol header) and reports whether its answer may
// be served from the cache. It returns the wanted ids and the request as
// it goes into the key: the bytes as sent, but the agent (the client's
// version, which git only logs) removed.
func Fetch(gitProtocol string, body []byte) (wants []string, keyed []byte, ok bool) {
	lines, ok := pktLines(body)
	if !ok {
		return nil, nil, false
	}
	if strings.Contains(gitProtocol, "version=2") {
		return fetchV2(lines)
	}
	return fetchV0(lines)
}

// pkt is one pkt-line: its payload without a trailing newline, or a
// special packet (flush "0000", delim "0001").
type pkt struct {
	text    string
	special string
}

// pktLines splits body into pkt-lines; false when it is not wholly made of
// them.
func pktLines(body []byte) ([]pkt, bool) {
	var out []pkt
	for len(body) > 0 {
		if len(body) < 4 {
			return nil, false
		}
		var n [2]byte
		if _, err := hex.Decode(n[:], body[:4]); err != nil {
			return nil, false
		}
		size := int(n[0])<<8 | int(n[1])
		switch {
		case size == 0 || size == 1:
			out = append(out, pkt{special: string(body[:4])})
			body = body[4:]
			continue
		case size < 4 || size > len(body):
			return nil, false
		}
		out = append(out, pkt{text: strings.TrimSuffix(string(body[4:size]), "\n")})
		body = body[size:]
	}
	return out, true
}

// oid reports whether s is a full object id (SHA-1 or SHA-256), in lower
// case as git writes them.
func oid(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// fetchV2 reads a protocol v2 "command=fetch" request: capabilities, a
// delimiter, arguments, a flush and nothing after it.
func fetchV2(lines []pkt) ([]string, []byte, bool) {
	var wants []string
	var keyed bytes.Buffer
	part, done := 0, false // 0: capabilities, 1: arguments, 2: after the flush
	for i, l := range lines {
		switch {
		case l.special == "0001" && part == 0:
			part = 1
		case l.special == "0000" && part == 1:
			part = 2
		case l.special != "" || part == 2:
			return nil, nil, false
		case part == 0:
			switch {
			case i == 0 && l.text == "command=fetch":
			case i > 0 && strings.HasPrefix(l.text, "agent="):
				continue // logged by git, never changes the answer
			case i > 0 && (l.text == "object-format=sha1" || l.text == "object-format=sha256"):
			default:
				return nil, nil, false
			}
		default:
			switch a := l.text; {
			case a == "thin-pack" || a == "no-progress" || a == "include-tag" || a == "ofs-delta":
			case a == "done":
				done = true
			case strings.HasPrefix(a, "want ") && oid(a[5:]):
				wants = append(wants, a[5:])
			default:
				return nil, nil, false
			}
		}
		fmt.Fprintf(&keyed, "%s%s\n", l.special, l.text)
	}
	return wants, keyed.Bytes(), part == 2 && done && len(wants) > 0
}

// v0Capabilities are the capabilities a clone may ask for in protocol v0
// without its answer depending on more than its wants.
var v0Capabilities = map[string]bool{
	"multi_ack": true, "multi_ack_detailed": true, "no-done": true, "side-band": true, "side-band-64k": true,
	"thin-pack": true, "no-progress": true, "include-tag": true, "ofs-delta": true,
	"object-format=sha1": true, "object-format=sha256": true,
	// Clones announce these; alone (without deepen lines, which are not
	// taken) they change nothing.
	"deepen-since": true, "deepen-not": true, "deepen-relative": true,
}

// fetchV0 reads a protocol v0 (or v1) request of a clone: wants, the
// first with capabilities, a flush, "done", and nothing else.
func fetchV0(lines []pkt) ([]string, []byte, bool) {
	var wants []string
	var keyed bytes.Buffer
	part := 0 // 0: wants, 1: after the flush, 2: after done
	for _, l := range lines {
		switch {
		case part == 0 && l.special == "0000" && len(wants) > 0:
			part = 1
		case part == 1 && l.text == "done" && l.special == "":
			part = 2
		case part != 0 || l.special != "" || !strings.HasPrefix(l.text, "want "):
			return nil, nil, false
		default:
			f := strings.Split(l.text[5:], " ")
			if !oid(f[0]) || len(wants) > 0 && len(f) > 1 {
				return nil, nil, false
			}
			wants = append(wants, f[0])
			kept := f[:1]
			for _, c := range f[1:] {
				switch {
				case strings.HasPrefix(c, "agent="):
				case v0Capabilities[c]:
					kept = append(kept, c)
				default:
					return nil, nil, false
				}
			}
			l.text = "want " + strings.Join(kept, " ")
		}
		fmt.Fprintf(&keyed, "%s%s\n", l.special, l.text)
	}
	return wants, keyed.Bytes(), part == 2
}

// State is what a repository's answers depend on besides the request.
type State struct {
	dump []byte          // refs, shallow, grafts and config, as hashed
	tips map[string]bool // object ids refs point at
}

// RepoState reads the State of the bare repository dir with git.
func RepoState(ctx context.Context, git, dir string) (State, error) {
	refs, err := forEachRef(ctx, git, dir)
	if err != nil {
		return State{}, err
	}
	st := State{tips: map[string]bool{}}
	for _, l := range strings.Split(string(refs), "\n") {
		if id, _, ok := strings.Cut(l, " "); ok {
			st.tips[id] = true
		}
	}
	var dump bytes.Buffer
	field := func(b []byte) { writeField(&dump, b) }
	field(refs)
	// A shallow server repository, grafts and the repository's own
	// settings (hidden refs, for one) change answers.
	for _, name := range []string{"shallow", filepath.Join("info", "grafts"), "config"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return State{}, fmt.Errorf("pack cache: %w", err)
		}
		field([]byte(name))
		field(b)
	}
	st.dump = dump.Bytes()
	return st, nil
}

// Tips reports whether every id in wants is the tip of a ref in st.
func (st State) Tips(wants []string) bool {
	for _, w := range wants {
		if !st.tips[w] {
			return false
		}
	}
	return len(wants) > 0
}

// Equal reports whether st and o would key answers alike.
func (st State) Equal(o State) bool { return bytes.Equal(st.dump, o.dump) }

// AnswerKey names the answer of upload-pack to a request (keyed, from
// Fetch) made with gitProtocol to the repository dir in state st, when
// git (of version gitVersion) runs with settings cfg.
func AnswerKey(gitVersion string, cfg []string, dir, gitProtocol string, keyed []byte, st State) [sha256.Size]byte {
	h := sha256.New()
	field := func(b []byte) { writeField(h, b) }
	h.Write([]byte(answerKeyVersion))
	field([]byte(gitVersion))
	field([]byte(strings.Join(cfg, "\x00")))
	field([]byte(dir))
	field([]byte(gitProtocol))
	field(keyed)
	field(st.dump)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (c Cache) answerPath(key [sha256.Size]byte) string {
	return filepath.Join(c.Dir, hex.EncodeToString(key[:])+answerSuffix)
}

// Answer is a cached answer, open for reading; Size bytes from the start
// of File are the answer. Close it when done.
type Answer struct {
	File *os.File
	Size int64
}

// Close closes the answer's file.
func (a *Answer) Close() error { return a.File.Close() }

// OpenAnswer opens the answer cached under key, or returns nil when there
// is none. A file whose trailer does not name key and its exact length is
// never served, and is removed.
func (c Cache) OpenAnswer(key [sha256.Size]byte) *Answer {
	if c.MaxBytes <= 0 {
		return nil
	}
	p := c.answerPath(key)
	f, err := os.Open(p)
	if err != nil {
		return nil // missing, or evicted a moment ago
	}
	st, err := f.Stat()
	if err != nil || !validTrailer(f, st.Size(), key) {
		f.Close()
		os.Remove(p)
		return nil
	}
	now := time.Now()
	os.Chtimes(p, now, now) // recently used; an error only ages it
	return &Answer{File: f, Size: st.Size() - int64(trailerLen)}
}

func trailer(key [sha256.Size]byte, size int64) []byte {
	t := append([]byte(answerMagic), key[:]...)
	return binary.BigEndian.AppendUint64(t, uint64(size))
}

func validTrailer(f *os.File, size int64, key [sha256.Size]byte) bool {
	if size <= int64(trailerLen) {
		return false
	}
	got := make([]byte, trailerLen)
	if _, err := f.ReadAt(got, size-int64(trailerLen)); err != nil {
		return false
	}
	return bytes.Equal(got, trailer(key, size-int64(trailerLen)))
}

// AnswerWriter keeps a copy of an answer while git writes it. Writes never
// fail: past the cache's size, or on a disk error, the copy is dropped
// and the answer still reaches the client.
type AnswerWriter struct {
	c    Cache
	key  [sha256.Size]byte
	file *cappedFile
	n    int64
}

// NewAnswer starts the entry of key; nil when the cache is off or its
// folder cannot be written (the answer is then only sent).
func (c Cache) NewAnswer(key [sha256.Size]byte) *AnswerWriter {
	if c.MaxBytes <= 0 || !filepath.IsAbs(c.Dir) {
		return nil
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil
	}
	f, err := createTemp(c.Dir, hex.EncodeToString(key[:]))
	if err != nil {
		return nil
	}
	return &AnswerWriter{c: c, key: key, file: &cappedFile{f: f, room: c.MaxBytes}}
}

// Write copies p to the entry while it fits.
func (w *AnswerWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.file.Write(p)
}

// Abort drops the entry.
func (w *AnswerWriter) Abort() {
	if f := w.file.f; f != nil {
		f.Close()
		os.Remove(f.Name())
		w.file.f = nil
	}
}

// Commit makes the copy the entry of its key, once git has answered in
// full, then keeps the cache under its size. It does nothing when the
// copy was dropped.
func (w *AnswerWriter) Commit() error {
	f := w.file.f
	if f == nil {
		return nil
	}
	defer w.Abort() // on failure; a no-op once renamed
	if _, err := w.file.Write(trailer(w.key, w.n)); err != nil || w.file.f == nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("pack cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pack cache: %w", err)
	}
	if err := os.Rename(f.Name(), w.c.answerPath(w.key)); err != nil {
		return fmt.Errorf("pack cache: %w", err)
	}
	w.file.f = nil
	return w.c.evict()
}
