package mirror

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxAdvert bounds the ref advertisement read from an origin.
const maxAdvert = 16 << 20

// Refs is an origin's ref advertisement: what `git ls-remote` shows.
type Refs struct {
	Refs map[string]string // "refs/heads/main" → commit id (branches and tags only)
	Head string            // the branch HEAD points at ("main"), "" when unknown
	// URL is the repository URL after the redirects the advertisement
	// followed (each checked by the guarded client), without the
	// trailing /info/refs: what git then fetches, with no redirect.
	URL string
	// Bytes is the size of the exchange: the answer's body.
	Bytes int64
}

// Digest names the refs: equal digests, nothing to fetch.
func (r Refs) Digest() string {
	names := make([]string, 0, len(r.Refs))
	for n := range r.Refs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "HEAD %s\n", r.Head)
	for _, n := range names {
		fmt.Fprintf(h, "%s %s\n", r.Refs[n], n)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ErrNotGit is returned when the origin does not speak git's smart HTTP.
var ErrNotGit = errors.New("not a git repository served over smart HTTP")

// Advertise asks the origin for its refs: one GET of info/refs (protocol
// v0, as `git ls-remote` does), through the guarded client. The refs are
// read with git's pkt-line framing, every line checked.
func Advertise(ctx context.Context, client Doer, repoURL string) (Refs, error) {
	u := strings.TrimRight(repoURL, "/") + "/info/refs?service=git-upload-pack"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Refs{}, err
	}
	req.Header.Set("User-Agent", "git/2.39-blueprints-mirror")
	resp, err := client.Do(req)
	if err != nil {
		return Refs{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Refs{}, fmt.Errorf("%s answered %s", redact(repoURL), resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-advertisement" {
		return Refs{}, fmt.Errorf("%s: %w (content type %q)", redact(repoURL), ErrNotGit, ct)
	}
	final := resp.Request.URL
	base := *final
	base.RawQuery = ""
	base.Path = strings.TrimSuffix(base.Path, "/info/refs")
	base.RawPath = ""
	cr := &countingReader{r: io.LimitReader(resp.Body, maxAdvert+1)}
	refs, err := parseAdvert(bufio.NewReader(cr))
	if cr.n > maxAdvert {
		return Refs{}, fmt.Errorf("%s: ref advertisement over %d bytes", redact(repoURL), maxAdvert)
	}
	if err != nil {
		return Refs{}, fmt.Errorf("%s: %w", redact(repoURL), err)
	}
	refs.URL = base.String()
	refs.Bytes = cr.n
	return refs, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readPkt reads one pkt-line; flush is a "0000" packet.
func readPkt(r *bufio.Reader) (line string, flush bool, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", false, fmt.Errorf("truncated ref advertisement: %w", err)
	}
	n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
	if err != nil {
		return "", false, fmt.Errorf("bad pkt-line length %q", hdr[:])
	}
	if n == 0 {
		return "", true, nil
	}
	if n < 4 {
		return "", false, fmt.Errorf("bad pkt-line length %d", n)
	}
	buf := make([]byte, n-4)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", false, fmt.Errorf("truncated pkt-line: %w", err)
	}
	return strings.TrimSuffix(string(buf), "\n"), false, nil
}

func isHex40(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(s[i])) {
			return false
		}
	}
	return true
}

// parseAdvert reads a v0 smart-HTTP advertisement: the service line, a
// flush, then "<id> <ref>" lines (capabilities after a NUL on the first)
// and a flush. Only branches and tags are kept; peeled tags (^{}) and
// other refs (pull requests, notes) are left out.
func parseAdvert(r *bufio.Reader) (Refs, error) {
	line, _, err := readPkt(r)
	if err != nil {
		return Refs{}, err
	}
	if line != "# service=git-upload-pack" {
		return Refs{}, fmt.Errorf("%w: first line %q", ErrNotGit, clip(line))
	}
	if _, flush, err := readPkt(r); err != nil || !flush {
		return Refs{}, fmt.Errorf("%w: no flush after the service line", ErrNotGit)
	}
	out := Refs{Refs: map[string]string{}}
	first := true
	for {
		line, flush, err := readPkt(r)
		if err != nil {
			return Refs{}, err
		}
		if flush {
			return out, nil
		}
		if first {
			var caps string
			line, caps, _ = strings.Cut(line, "\x00")
			for _, c := range strings.Fields(caps) {
				if v, ok := strings.CutPrefix(c, "symref=HEAD:refs/heads/"); ok {
					out.Head = v
				}
			}
			first = false
		}
		id, ref, ok := strings.Cut(line, " ")
		if !ok || !isHex40(id) {
			return Refs{}, fmt.Errorf("bad ref line %q", clip(line))
		}
		if ref == "capabilities^{}" {
			continue // an empty repository
		}
		if strings.HasSuffix(ref, "^{}") || !(strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/")) {
			continue
		}
		if strings.ContainsAny(ref, "\x00 \t\n") || strings.Contains(ref, "..") {
			return Refs{}, fmt.Errorf("bad ref name %q", clip(ref))
		}
		out.Refs[ref] = id
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// redact drops user info from a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(bad URL)"
	}
	u.User = nil
	return u.String()
}
