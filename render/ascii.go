package render

import (
	"bytes"
	"math"

	"github.com/blueprints-hq/blueprints/internal/decimal"
	"github.com/hschendel/stl"
)

// maxToken bounds one ASCII word; a longer one is garbage, not a number.
const maxToken = 512

// maxNameLine bounds the "solid NAME" line.
const maxNameLine = 64 << 10

var asciiSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, '\v': true, '\f': true}

// asciiReader is a tolerant tokenizer and parser for ASCII STL: keywords in
// any case, any whitespace (CRLF too), a bare "solid" line, no "endsolid",
// several solids one after another, "facet" without "normal".
type asciiReader struct {
	s       *stream
	sw      stl.Writer
	lim     Limits
	line    int   // line of the current position, from 1
	tokAt   int   // the last token's index in the stream's window, valid with tokBase
	tokBase int64 // the window's file offset when the last token was read
	tokLn   int   // line of the last token
	// skipNormals: the writer ignores normals (a vertexSink), so they are
	// only checked to be numbers, not converted.
	skipNormals bool
}

// readASCII streams ASCII facets from s into sw and returns the facet count.
func readASCII(s *stream, sw stl.Writer, lim Limits) (int64, error) {
	a := &asciiReader{s: s, sw: sw, lim: lim, line: 1}
	_, a.skipNormals = sw.(vertexSink)
	sw.SetASCII(true)
	tok, err := a.next()
	if err != nil {
		return 0, err
	}
	tok = bytes.TrimPrefix(tok, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	if !keyword(tok, "solid") {
		return 0, a.unexpected(tok, `"solid"`)
	}
	name, err := a.restOfLine()
	if err != nil {
		return 0, err
	}
	sw.SetName(name)

	var n int64
	var t stl.Triangle
	for {
		tok, err := a.next()
		if err != nil {
			return n, err
		}
		switch {
		case tok == nil:
			return n, nil
		case keyword(tok, "facet"):
			if n >= lim.MaxTriangles {
				return n, tooLarge(s.name, a.tokOffset(), "more than %d triangles", lim.MaxTriangles)
			}
			if err := a.facet(&t, n); err != nil {
				return n, err
			}
			sw.AppendTriangle(t)
			n++
		case keyword(tok, "endsolid"):
			if _, err := a.restOfLine(); err != nil {
				return n, err
			}
			tok, err := a.next()
			if err != nil {
				return n, err
			}
			if tok == nil || !keyword(tok, "solid") {
				// Whatever follows the last solid is not ours to judge.
				return n, nil
			}
			if _, err := a.restOfLine(); err != nil {
				return n, err
			}
		default:
			return n, a.unexpected(tok, `"facet" or "endsolid"`)
		}
	}
}

func (a *asciiReader) facet(t *stl.Triangle, n int64) error {
	tok, err := a.next()
	if err != nil {
		return err
	}
	t.Normal = stl.Vec3{}
	if keyword(tok, "normal") {
		for k := range 3 {
			if a.skipNormals && a.skipNumber() {
				continue
			}
			if t.Normal[k], err = a.number(false); err != nil {
				return err
			}
		}
		if tok, err = a.next(); err != nil {
			return err
		}
	}
	if !keyword(tok, "outer") {
		return a.unexpected(tok, `"outer loop"`)
	}
	if err := a.expect("loop"); err != nil {
		return err
	}
	for v := range 3 {
		if err := a.expect("vertex"); err != nil {
			return err
		}
		for k := range 3 {
			if t.Vertices[v][k], err = a.number(true); err != nil {
				return err
			}
		}
	}
	if err := a.expect("endloop"); err != nil {
		return err
	}
	return a.expect("endfacet")
}

func (a *asciiReader) expect(word string) error {
	s := a.s
	p := a.skipSpace()
	if end := p + len(word); end < len(s.buf) && keyword(s.buf[p:end], word) && asciiSpace[s.buf[end]] {
		a.tokAt, a.tokBase, a.tokLn = p, s.base, a.line
		s.pos = end
		return nil
	}
	tok, err := a.next()
	if err != nil {
		return err
	}
	if !keyword(tok, word) {
		return a.unexpected(tok, `"`+word+`"`)
	}
	return nil
}

// skipSpace consumes the whitespace at the current position within the
// window, counting lines, and returns the new position.
func (a *asciiReader) skipSpace() int {
	s := a.s
	buf, p := s.buf, s.pos
	for p < len(buf) && asciiSpace[buf[p]] {
		if buf[p] == '\n' {
			a.line++
		}
		p++
	}
	s.pos = p
	return p
}

// number reads one float; a vertex coordinate must be finite. Plain
// decimals followed by whitespace in the window are converted in place, in
// the same scan that finds their end; anything else goes through next and
// decimal.ParseFloat32.
func (a *asciiReader) number(vertex bool) (float32, error) {
	s := a.s
	p := a.skipSpace()
	if f, n, ok := decimal.ScanFloat32(s.buf[p:]); ok && p+n < len(s.buf) && asciiSpace[s.buf[p+n]] {
		a.tokAt, a.tokBase, a.tokLn = p, s.base, a.line
		s.pos = p + n
		return f, nil // the fast path yields finite numbers only
	}
	return a.slowNumber(vertex)
}

// skipNumber consumes a number that decimal.ParseFloat32 surely accepts, followed
// by whitespace in the window; it reports false, consuming only
// whitespace, when it cannot be sure.
func (a *asciiReader) skipNumber() bool {
	s := a.s
	p := a.skipSpace()
	if n, ok := decimal.SkipFloat32(s.buf[p:]); ok && p+n < len(s.buf) && asciiSpace[s.buf[p+n]] {
		a.tokAt, a.tokBase, a.tokLn = p, s.base, a.line
		s.pos = p + n
		return true
	}
	return false
}

func (a *asciiReader) slowNumber(vertex bool) (float32, error) {
	tok, err := a.next()
	if err != nil {
		return 0, err
	}
	if tok == nil {
		return 0, a.unexpected(tok, "a number")
	}
	f, ok := decimal.ParseFloat32(tok)
	if !ok {
		return 0, a.unexpected(tok, "a number (in float32 range)")
	}
	if vertex && (math.IsNaN(float64(f)) || math.IsInf(float64(f), 0)) {
		return 0, malformed(a.s.name, a.tokOffset(), a.tokLn, "non-finite vertex coordinate %q", tok)
	}
	return f, nil
}

// next returns the next whitespace-separated word, nil at the end of input.
// The slice is valid until the following call.
func (a *asciiReader) next() ([]byte, error) {
	s := a.s
	for {
		buf, p := s.buf, s.pos
		for p < len(buf) && asciiSpace[buf[p]] {
			if buf[p] == '\n' {
				a.line++
			}
			p++
		}
		s.pos = p
		if p < len(buf) {
			break
		}
		if !s.refill() {
			return nil, s.err
		}
	}
	for {
		buf, start := s.buf, s.pos
		p := start
		for p < len(buf) && !asciiSpace[buf[p]] {
			p++
		}
		if p-start > maxToken {
			a.tokAt, a.tokBase, a.tokLn = start, s.base, a.line
			return nil, malformed(s.name, a.tokOffset(), a.line, "word longer than %d bytes: not ASCII STL", maxToken)
		}
		if p < len(buf) || s.eof {
			a.tokAt, a.tokBase, a.tokLn = start, s.base, a.line
			s.pos = p
			return buf[start:p], nil
		}
		if !s.refill() {
			if s.err != nil {
				return nil, s.err
			}
		}
	}
}

// restOfLine consumes the rest of the current line and returns it trimmed
// (at most 256 bytes of it).
func (a *asciiReader) restOfLine() (string, error) {
	s := a.s
	var text []byte
	read := 0
	for {
		buf := s.buf
		p := s.pos
		for p < len(buf) && buf[p] != '\n' {
			p++
		}
		if len(text) < 256 {
			text = append(text, buf[s.pos:min(p, s.pos+256-len(text))]...)
		}
		read += p - s.pos
		if read > maxNameLine {
			return "", malformed(s.name, s.offset(p), a.line, "line longer than %d bytes: not ASCII STL", maxNameLine)
		}
		s.pos = p
		if p < len(buf) {
			s.pos++
			a.line++
			return trimSpace(string(text)), nil
		}
		if !s.refill() {
			return trimSpace(string(text)), s.err
		}
	}
}

func (a *asciiReader) unexpected(tok []byte, want string) error {
	if tok == nil {
		return malformed(a.s.name, a.s.total, a.line, "expected %s, found the end of the file: it is truncated", want)
	}
	shown := tok
	if len(shown) > 24 {
		shown = shown[:24]
	}
	return malformed(a.s.name, a.tokOffset(), a.tokLn, "expected %s, found %q", want, shown)
}

// tokOffset is the file offset of the last token.
func (a *asciiReader) tokOffset() int64 { return a.tokBase + int64(a.tokAt) }

// keyword reports whether tok is word in any letter case.
func keyword(tok []byte, word string) bool {
	if len(tok) != len(word) {
		return false
	}
	for i := range len(tok) {
		if tok[i]|0x20 != word[i] {
			return false
		}
	}
	return true
}
