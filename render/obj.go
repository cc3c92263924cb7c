package render

import (
	"io"
	"math"
	"slices"

	"github.com/blueprints-hq/blueprints/internal/decimal"
	"github.com/blueprints-hq/blueprints/threemf"
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
	// mw takes the whole mesh at the end when sw is a MeshWriter: the
	// facets are then gathered in tris (three indices into verts each).
	mw   threemf.MeshWriter
	tris []uint32
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
	o.mw, _ = sw.(threemf.MeshWriter)
	if size > 0 {
		// Faces take 20 to 40 bytes a line: room a file does not use is
		// never touched.
		room := min(size/16, lim.MaxTriangles)
		sw.SetTriangleCount(uint32(room))
		if o.mw != nil {
			o.tris = make([]uint32, 0, 3*room)
		}
		// Files hold about half as many vertices as faces, in lines of 20
		// to 40 bytes; more room is made by doubling if need be.
		o.verts = make([]stl.Vec3, 0, min(size/40, 3*lim.MaxTriangles))
	}
	if err := o.read(); err != nil {
		return Decoded{}, err
	}
	if s.err != nil {
		return Decoded{}, s.err
	}
	if o.mw != nil && len(o.tris) > 0 {
		if mb, ok := o.mw.(*meshBuilder); ok {
			mb.appendOwnedMesh(o.verts, o.tris)
		} else {
			o.mw.AppendMesh(o.verts, o.tris)
		}
		o.tris = nil
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
		if ok, err := o.quickLine(); ok || err != nil {
			if err != nil {
				return err
			}
			continue
		}
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
	return o.addVertex(v)
}

func (o *objReader) addVertex(v stl.Vec3) error {
	if int64(len(o.verts)) >= 3*o.lim.MaxTriangles {
		return tooLarge(o.s.name, o.lineAt, "more than %d vertices", 3*o.lim.MaxTriangles)
	}
	if len(o.verts) == cap(o.verts) {
		// Twice the room at a time: append grows big slices by a quarter,
		// copying them over and over.
		o.verts = slices.Grow(o.verts, max(len(o.verts), 1024))
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
	return o.addFace()
}

// addFace triangulates the face in o.face (checked indices) as a fan.
func (o *objReader) addFace() error {
	if len(o.face) < 3 {
		return malformed(o.s.name, o.lineAt, o.line, "face with %d vertices: a face needs at least 3", len(o.face))
	}
	var t stl.Triangle
	for k := 1; k+1 < len(o.face); k++ {
		if o.n >= o.lim.MaxTriangles {
			return tooLarge(o.s.name, o.lineAt, "more than %d triangles", o.lim.MaxTriangles)
		}
		if o.mw != nil {
			o.tris = append(o.tris, uint32(o.face[0]), uint32(o.face[k]), uint32(o.face[k+1]))
		} else {
			t.Vertices = [3]stl.Vec3{o.verts[o.face[0]], o.verts[o.face[k]], o.verts[o.face[k+1]]}
			o.sw.AppendTriangle(t)
		}
		o.n++
	}
	return nil
}

// quickLineMax is the longest line quickLine reads; it leaves longer ones
// to the general reader.
const quickLineMax = 256

// quickLine reads a whole line of the forms most exporters write, in one
// pass: "v x y z" with plain decimals and "f i j k..." with positive
// indices in range, single spaces, ending in "\n". It reports false,
// having consumed nothing, for anything else (other spacing or forms,
// comments, out-of-range indices, numbers it cannot convert exactly):
// the general reader then reads the line and judges it.
func (o *objReader) quickLine() (bool, error) {
	s := o.s
	if len(s.buf)-s.pos < quickLineMax {
		return false, nil
	}
	b := s.buf[s.pos : s.pos+quickLineMax]
	if b[1] != ' ' {
		return false, nil
	}
	i := 2
	switch b[0] {
	case 'v':
		var v stl.Vec3
		for k := range 3 {
			f, n, ok := decimal.ScanFloat32(b[i:])
			i += n
			if !ok || b[i] != " \n"[k/2] {
				return false, nil
			}
			i++
			v[k] = f + 0
		}
		err := o.addVertex(v)
		o.endQuickLine(i)
		return true, err
	case 'f':
		nv := uint64(len(o.verts))
		face := o.face[:0]
		for {
			d0 := i
			var x uint64
			for b[i]-'0' <= 9 && i-d0 < 10 {
				x = x*10 + uint64(b[i]-'0')
				i++
			}
			if i == d0 || x == 0 || x > nv || b[i] != ' ' && b[i] != '\n' {
				return false, nil
			}
			face = append(face, int32(x-1))
			i++
			if b[i-1] == '\n' {
				break
			}
			if i >= len(b)-12 {
				return false, nil
			}
		}
		o.face = face
		err := o.addFace()
		o.endQuickLine(i)
		return true, err
	}
	return false, nil
}

// endQuickLine moves past the line quickLine read (n bytes, its newline
// included), once what it holds is added (errors name the line).
func (o *objReader) endQuickLine(n int) {
	o.s.pos += n
	o.line++
	o.lineAt = o.s.offset(o.s.pos)
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
