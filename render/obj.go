package render

import (
	"io"
	"math"

	"github.com/blueprints-hq/blueprints/internal/decimal"
	"github.com/hschendel/stl"
)

// objReader reads Wavefront OBJ: vertices ("v x y z [w]"), faces ("f"
// with "i", "i/t", "i//n" or "i/t/n" references, negative ones counted
// back from the last vertex; polygons triangulated as fans), objects
// ("o") and groups ("g"); every other statement (texture coordinates,
// normals, materials, lines, smoothing) is skipped. Faces refer to
// vertices read before them, as every exporter writes them.
type objReader struct {
	s       *stream
	sw      stl.Writer
	lim     Limits
	line    int
	lineAt  int64 // file offset of the current line's start
	verts   []stl.Vec3
	n       int64 // facets passed on
	objects int
	face    []int32 // the current face's vertex indices
}

// decodeOBJ streams the facets of an OBJ file into sw.
func decodeOBJ(r io.Reader, name string, lim Limits, sw stl.Writer, hashing bool) (Decoded, error) {
	lim = lim.withDefaults()
	size := sizeOf(r)
	if size > lim.MaxBytes {
		return Decoded{}, tooLarge(name, -1, "file has %d bytes, over the limit of %d", size, lim.MaxBytes)
	}
	s := startStream(r, name, lim.MaxBytes, size, hashing)
	defer s.close()
	o := &objReader{s: s, sw: sw, lim: lim, line: 1}
	if size > 0 {
		// Faces take 20 to 40 bytes a line: room a file does not use is
		// never touched.
		sw.SetTriangleCount(uint32(min(size/16, lim.MaxTriangles)))
	}
	if err := o.read(); err != nil {
		return Decoded{}, err
	}
	if s.err != nil {
		return Decoded{}, s.err
	}
	if o.n == 0 {
		if s.total == 0 {
			return Decoded{}, malformed(name, 0, 0, "file is empty")
		}
		return Decoded{}, malformed(name, -1, 0, "file holds no faces (%d vertices)", len(o.verts))
	}
	d := Decoded{Format: FormatOBJ, Triangles: o.n, Bytes: s.total, SHA256: s.finish(), Objects: max(o.objects, 1)}
	return d, nil
}

func (o *objReader) read() error {
	for {
		tok, err := o.word()
		if err != nil {
			return err
		}
		if tok == nil {
			if !o.nextLine() {
				return o.s.err
			}
			continue
		}
		switch {
		case len(tok) == 1 && tok[0] == 'v':
			if err := o.vertex(); err != nil {
				return err
			}
		case len(tok) == 1 && tok[0] == 'f':
			if err := o.faceLine(); err != nil {
				return err
			}
		case len(tok) == 1 && tok[0] == 'o':
			o.objects++
		}
		if !o.skipLine() {
			return o.s.err
		}
	}
}

// word returns the next word on the current line, nil at its end (or at
// a comment). The slice is valid until the following call.
func (o *objReader) word() ([]byte, error) {
	s := o.s
	for {
		p := s.pos
		for p < len(s.buf) && (s.buf[p] == ' ' || s.buf[p] == '\t' || s.buf[p] == '\r' || s.buf[p] == '\f' || s.buf[p] == '\v') {
			p++
		}
		s.pos = p
		if p < len(s.buf) {
			break
		}
		if !s.refill() {
			return nil, s.err
		}
	}
	if c := s.buf[s.pos]; c == '\n' || c == '#' {
		return nil, nil
	}
	for {
		start, p := s.pos, s.pos
		for p < len(s.buf) && !asciiSpace[s.buf[p]] && s.buf[p] != '#' {
			p++
		}
		if p-start > maxToken {
			return nil, malformed(s.name, s.offset(start), o.line, "word longer than %d bytes: not an OBJ file", maxToken)
		}
		if p < len(s.buf) || s.eof {
			s.pos = p
			return s.buf[start:p], nil
		}
		if !s.refill() && s.err != nil {
			return nil, s.err
		}
	}
}

// skipLine consumes the rest of the line and its newline; false at the end
// of input.
func (o *objReader) skipLine() bool {
	s := o.s
	for {
		p := s.pos
		for p < len(s.buf) && s.buf[p] != '\n' {
			p++
		}
		s.pos = p
		if p < len(s.buf) {
			s.pos++
			o.line++
			o.lineAt = s.offset(s.pos)
			return true
		}
		if !s.refill() {
			return false
		}
	}
}

// nextLine is skipLine at the end of a line's words.
func (o *objReader) nextLine() bool { return o.skipLine() }

func (o *objReader) vertex() error {
	var v stl.Vec3
	for k := range 3 {
		tok, err := o.word()
		if err != nil {
			return err
		}
		if tok == nil {
			return malformed(o.s.name, o.lineAt, o.line, "vertex has %d coordinates, not 3", k)
		}
		f, ok := decimal.ParseFloat32(tok)
		if !ok || math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return malformed(o.s.name, o.lineAt, o.line, "vertex coordinate %q is not a finite number", clip(tok))
		}
		v[k] = f + 0
	}
	if int64(len(o.verts)) >= 3*o.lim.MaxTriangles {
		return tooLarge(o.s.name, o.lineAt, "more than %d vertices", 3*o.lim.MaxTriangles)
	}
	o.verts = append(o.verts, v)
	return nil
}

func (o *objReader) faceLine() error {
	o.face = o.face[:0]
	for {
		tok, err := o.word()
		if err != nil {
			return err
		}
		if tok == nil {
			break
		}
		i, ok := objIndex(tok)
		if !ok {
			return malformed(o.s.name, o.lineAt, o.line, "face vertex %q is not a vertex reference", clip(tok))
		}
		nv := int64(len(o.verts))
		switch {
		case i > 0 && i <= nv:
			i--
		case i < 0 && -i <= nv:
			i += nv
		default:
			return malformed(o.s.name, o.lineAt, o.line, "face refers to vertex %d, but %d vertices are defined before it", i, nv)
		}
		o.face = append(o.face, int32(i))
		if len(o.face) > 1<<16 {
			return tooLarge(o.s.name, o.lineAt, "face with more than %d vertices", 1<<16)
		}
	}
	if len(o.face) < 3 {
		return malformed(o.s.name, o.lineAt, o.line, "face with %d vertices: a face needs at least 3", len(o.face))
	}
	var t stl.Triangle
	for k := 1; k+1 < len(o.face); k++ {
		if o.n >= o.lim.MaxTriangles {
			return tooLarge(o.s.name, o.lineAt, "more than %d triangles", o.lim.MaxTriangles)
		}
		t.Vertices = [3]stl.Vec3{o.verts[o.face[0]], o.verts[o.face[k]], o.verts[o.face[k+1]]}
		o.sw.AppendTriangle(t)
		o.n++
	}
	return nil
}

// objIndex reads the vertex index of a face reference "i", "i/t", "i//n"
// or "i/t/n" (the rest is not checked: texture and normal indices are
// never used).
func objIndex(tok []byte) (int64, bool) {
	neg := false
	i := 0
	if i < len(tok) && tok[i] == '-' {
		neg = true
		i++
	}
	var v int64
	d0 := i
	for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
		v = v*10 + int64(tok[i]-'0')
		if v > 1<<40 {
			return 0, false
		}
	}
	if i == d0 || i < len(tok) && tok[i] != '/' {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

func clip(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}
