// Package httprange reads the Range header of a GET (RFC 9110, section
// 14) for the raw-file and LFS download routes, which serve one byte range
// of a file or blob whose size they know.
package httprange

import (
	"fmt"
	"strings"
)

// Kind says how to answer a request, given its Range header.
type Kind int

const (
	// Whole: send the whole representation with 200. Used when there is no
	// Range header, its unit is not bytes, it asks for several ranges (a
	// server may ignore those) or it is not well formed.
	Whole Kind = iota
	// Partial: send Range with 206 and Content-Range.
	Partial
	// Unsatisfiable: answer 416 with Content-Range "bytes */size". The
	// range is well formed but lies outside the representation, asks for
	// no bytes, or ends before it starts.
	Unsatisfiable
)

// Range is a byte range of a representation: Length bytes from Start.
type Range struct {
	Start, Length int64
}

// ContentRange is the Content-Range value of r within size bytes.
func (r Range) ContentRange(size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", r.Start, r.Start+r.Length-1, size)
}

// Unsatisfied is the Content-Range value of a 416 answer for size bytes.
func Unsatisfied(size int64) string { return fmt.Sprintf("bytes */%d", size) }

// Parse reads the Range header h for a representation of size bytes
// (size >= 0). Only a single range is honoured: "bytes=a-b", "bytes=a-" or
// the suffix form "bytes=-n". Whitespace around the range is tolerated, as
// the header grammar allows it around list elements. For Partial, the
// returned range is non-empty and lies inside the representation.
func Parse(h string, size int64) (Range, Kind) {
	unit, spec, found := strings.Cut(strings.TrimSpace(h), "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return Range{0, size}, Whole
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found || (first == "" && last == "") {
		return Range{0, size}, Whole
	}
	if first == "" { // suffix: the last n bytes
		n, ok := digits(last)
		if !ok {
			return Range{0, size}, Whole
		}
		if n == 0 || size == 0 {
			return Range{}, Unsatisfiable
		}
		n = min(n, size)
		return Range{size - n, n}, Partial
	}
	a, ok := digits(first)
	if !ok {
		return Range{0, size}, Whole
	}
	b := int64(-1)
	if last != "" {
		if b, ok = digits(last); !ok {
			return Range{0, size}, Whole
		}
		if b < a {
			return Range{}, Unsatisfiable
		}
	}
	if a >= size {
		return Range{}, Unsatisfiable
	}
	if b < 0 || b > size-1 {
		b = size - 1
	}
	return Range{a, b - a + 1}, Partial
}

// digits parses a non-empty run of ASCII digits. Values too large for an
// int64 saturate, since they can only mean "past any real end".
func digits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63-1-9)/10 {
			n = 1<<63 - 1
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
