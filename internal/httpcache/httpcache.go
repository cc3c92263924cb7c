// Package httpcache makes answers cheaper to send again: entity tags and
// Last-Modified with the conditional requests of RFC 9110 (If-None-Match
// with lists, weak tags and "*"; If-Modified-Since when no tag is asked
// about), and gzip for text answers. Handlers call Fresh with a tag derived
// from what the answer is made of (the page cache's version stamps, a
// commit id, a hash of a JSON body) and answer 304 when it says so; Gzip
// is middleware deciding per answer, from its Content-Type, whether to
// compress.
package httpcache

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// WeakTag is a weak entity tag (W/"…") naming the parts an answer is made
// of. Weak, because the same content may be sent gzipped or not, and
// because pages name relative times that may drift within their cache
// lifetime.
func WeakTag(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return `W/"` + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18]) + `"`
}

// StrongTag is a strong entity tag for an exact byte sequence named by id
// (a git object id, an LFS oid).
func StrongTag(id string) string { return `"` + id + `"` }

// opaque is an entity tag without its weakness marker.
func opaque(tag string) string { return strings.TrimPrefix(strings.TrimSpace(tag), "W/") }

// Match reports whether an If-None-Match header value matches the current
// representation's tag, by weak comparison (RFC 9110, 13.1.2): "*" matches
// any, and a list matches when one member has the same opaque tag, weak
// or not.
func Match(header, tag string) bool {
	if tag == "" {
		return false
	}
	want := opaque(tag)
	for len(header) > 0 {
		header = strings.TrimLeft(header, " \t,")
		if header == "" {
			break
		}
		if header[0] == '*' {
			return true
		}
		weak := strings.HasPrefix(header, "W/")
		rest := header
		if weak {
			rest = header[2:]
		}
		if len(rest) == 0 || rest[0] != '"' {
			// Not an entity tag: skip to the next member.
			i := strings.IndexByte(header, ',')
			if i < 0 {
				break
			}
			header = header[i+1:]
			continue
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			break
		}
		if rest[:end+2] == want {
			return true
		}
		header = rest[end+2:]
	}
	return false
}

// Fresh sets the answer's ETag (when tag is not "") and Last-Modified
// (when modified is not zero) and reports whether the client's copy is
// current, in which case it has answered 304 Not Modified. Only GET and
// HEAD are evaluated. If-Modified-Since counts only when the request has
// no If-None-Match (RFC 9110, 13.1.3).
func Fresh(c echo.Context, tag string, modified time.Time) (bool, error) {
	h, req := c.Response().Header(), c.Request()
	if tag != "" {
		h.Set("ETag", tag)
	}
	if !modified.IsZero() {
		h.Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false, nil
	}
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		if tag == "" || !Match(inm, tag) {
			return false, nil
		}
		return true, c.NoContent(http.StatusNotModified)
	}
	if ims := req.Header.Get("If-Modified-Since"); ims != "" && !modified.IsZero() {
		t, err := http.ParseTime(ims)
		if err == nil && !modified.Truncate(time.Second).After(t) {
			return true, c.NoContent(http.StatusNotModified)
		}
	}
	return false, nil
}
