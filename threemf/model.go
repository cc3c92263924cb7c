package threemf

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/hschendel/stl"

	"github.com/blueprints-hq/blueprints/internal/decimal"
)

// matrix is a 3MF transform, "m00 m01 m02 m10 m11 m12 m20 m21 m22 m30 m31
// m32": points are row vectors, p' = (x y z 1) × M, the last row the
// translation.
type matrix [12]float64

var identity = matrix{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}

func (a matrix) isIdentity() bool { return a == identity }

// then returns the transform that applies a, then b.
func (a matrix) then(b matrix) matrix {
	var m matrix
	for r := range 4 {
		for c := range 3 {
			v := a[3*r]*b[c] + a[3*r+1]*b[3+c] + a[3*r+2]*b[6+c]
			if r == 3 {
				v += b[9+c]
			}
			m[3*r+c] = v
		}
	}
	return m
}

// objRef names an object: its model part's entry and its id there.
type objRef struct {
	path string
	id   int
}

// component is an object placed by a transform: a component of another
// object, or a build item.
type component struct {
	ref objRef
	m   matrix
}

// object is a mesh (verts; tris, three vertex indices each) or a group of
// components, or both.
type object struct {
	verts []stl.Vec3
	tris  []uint32
	comps []component
}

// model is one model part of the package.
type model struct {
	path    string
	unit    string
	scale   float64
	objects map[int]*object
	build   []component
}

// externalRefs lists the other model parts this one's components and
// build items refer to.
func (m *model) externalRefs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(r objRef) {
		if k := strings.ToLower(r.path); k != strings.ToLower(m.path) && !seen[k] {
			seen[k] = true
			out = append(out, r.path)
		}
	}
	for _, it := range m.build {
		add(it.ref)
	}
	for _, o := range m.objects {
		for _, c := range o.comps {
			add(c.ref)
		}
	}
	return out
}

// readModel reads a model part, and the parts its components refer to.
func (p *pkg) readModel(entry string) (*model, error) {
	queue := []string{entry}
	var first *model
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if _, ok := p.models[strings.ToLower(e)]; ok {
			continue
		}
		m, err := p.parseModel(e)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = m
		}
		queue = append(queue, m.externalRefs()...)
	}
	return first, nil
}

// parser reads one model part's XML: encoding/xml for its structure, and a
// scanner of its own for the long lists of vertex and triangle elements,
// which takes over only where it understands every byte and gives back to
// the decoder anything else.
type parser struct {
	p     *pkg
	entry string
	src   *source
	dec   *xml.Decoder
	m     *model
	obj   *object // the object being read
	objID int
	depth int
	// scanned counts the bytes the scanner took: the decoder's offset
	// plus scanned is the source's when the decoder holds no byte back.
	scanned int64
	size    int64 // the entry's size, as its zip header declares it (and the zip reader holds it to)
}

// maxElement bounds one vertex or triangle element for the scanner; a
// longer one is left to the decoder.
const maxElement = 1024

func (p *pkg) parseModel(entry string) (*model, error) {
	rc, clean, err := p.open(entry)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	m := &model{path: clean, unit: "millimeter", scale: 1, objects: map[int]*object{}}
	p.models[strings.ToLower(clean)] = m
	ahead := newReadAhead(rc)
	defer ahead.close()
	src := &source{r: ahead, buf: make([]byte, 0, 64<<10)}
	dec := xml.NewDecoder(src)
	dec.Strict = true
	ps := &parser{p: p, entry: clean, src: src, dec: dec, m: m, size: int64(p.entries[strings.ToLower(clean)].UncompressedSize64)}
	if err := ps.run(); err != nil {
		return nil, err
	}
	return m, nil
}

func (ps *parser) malformed(format string, args ...any) *Error {
	return ps.p.malformed(ps.entry, ps.src.consumed(), format, args...)
}

func (ps *parser) run() error {
	sawModel := false
	for {
		tok, err := ps.dec.Token()
		if err == io.EOF {
			if !sawModel {
				return ps.malformed("no <model> element")
			}
			return nil
		}
		if err != nil {
			return ps.xmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			ps.depth++
			if ps.depth > ps.p.lim.MaxDepth {
				return ps.p.tooLarge(ps.entry, ps.src.consumed(), "elements nest more than %d deep", ps.p.lim.MaxDepth)
			}
			if t.Name.Space != nsCore {
				continue // other extensions and slicer metadata: not geometry
			}
			if ps.depth == 1 {
				if t.Name.Local != "model" {
					return ps.malformed("the root element is <%s>, not <model>", t.Name.Local)
				}
				sawModel = true
				if err := ps.modelAttrs(t); err != nil {
					return err
				}
				continue
			}
			if err := ps.start(t); err != nil {
				return err
			}
		case xml.EndElement:
			ps.depth--
			if t.Name.Space == nsCore && t.Name.Local == "object" && ps.obj != nil {
				if err := ps.endObject(); err != nil {
					return err
				}
			}
		case xml.Directive:
			return ps.malformed("document type declarations are not allowed in 3MF")
		}
	}
}

func (ps *parser) modelAttrs(t xml.StartElement) error {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == "unit" {
			s, ok := unitScale[a.Value]
			if !ok {
				return ps.malformed("unit %q is not one of micron, millimeter, centimeter, inch, foot, meter", a.Value)
			}
			ps.m.unit, ps.m.scale = a.Value, s
		}
	}
	return nil
}

func (ps *parser) start(t xml.StartElement) error {
	switch t.Name.Local {
	case "object":
		if ps.obj != nil {
			return ps.malformed("<object> inside another object")
		}
		id, err := ps.intAttr(t, "id")
		if err != nil {
			return err
		}
		if _, dup := ps.m.objects[id]; dup {
			return ps.malformed("two objects have id %d", id)
		}
		ps.obj, ps.objID = &object{}, id
	case "vertices", "triangles":
		if ps.obj == nil {
			return ps.malformed("<%s> outside an object", t.Name.Local)
		}
		if t.Name.Local == "triangles" && cap(ps.obj.tris) == 0 && len(ps.obj.verts) > 0 {
			// A closed mesh has twice as many triangles as vertices: room
			// for them at once spares copying a big list as it grows
			// (bounded by what the vertices read so far and the rest of
			// the entry can hold; more is made if need be).
			n := min(int64(2*len(ps.obj.verts)+2), ps.room(len(`<triangle v1="0" v2="0" v3="0"/>`))+1, ps.p.lim.MaxTriangles)
			ps.obj.tris = make([]uint32, 0, 3*n)
		}
		if err := ps.list(t.Name.Local == "vertices"); err != nil {
			return err
		}
		if t.Name.Local == "vertices" && ps.p.prep != nil && ps.m.scale == 1 {
			// While the inflater runs ahead on the other core, the
			// writer can start on them.
			ps.p.prep.PrepareVertices(ps.obj.verts)
		}
	case "vertex":
		if ps.obj == nil {
			return ps.malformed("<vertex> outside an object")
		}
		var v [3]float32
		for k, n := range []string{"x", "y", "z"} {
			s, ok := attr(t, n)
			if !ok {
				return ps.malformed("a vertex has no %s", n)
			}
			f, err := ps.coord([]byte(s))
			if err != nil {
				return err
			}
			v[k] = f
		}
		return ps.addVertex(v)
	case "triangle":
		if ps.obj == nil {
			return ps.malformed("<triangle> outside an object")
		}
		var v [3]uint32
		for k, n := range []string{"v1", "v2", "v3"} {
			s, ok := attr(t, n)
			if !ok {
				return ps.malformed("a triangle has no %s", n)
			}
			i, ok := parseIndex([]byte(s))
			if !ok {
				return ps.malformed("triangle %s=%q is not a vertex index", n, s)
			}
			v[k] = i
		}
		return ps.addTriangle(v)
	case "component":
		if ps.obj == nil {
			return ps.malformed("<component> outside an object")
		}
		c, err := ps.placement(t)
		if err != nil {
			return err
		}
		ps.obj.comps = append(ps.obj.comps, c)
	case "item":
		c, err := ps.placement(t)
		if err != nil {
			return err
		}
		ps.m.build = append(ps.m.build, c)
	}
	return nil
}

// endObject checks an object's triangles against its vertices and keeps it.
func (ps *parser) endObject() error {
	o := ps.obj
	n := uint32(len(o.verts))
	for i, v := range o.tris {
		if v >= n {
			return ps.malformed("object %d: triangle %d refers to vertex %d, but the object has %d vertices", ps.objID, i/3, v, n)
		}
	}
	ps.m.objects[ps.objID] = o
	ps.obj = nil
	return nil
}

// placement reads a component's or a build item's objectid, transform and
// Production extension path.
func (ps *parser) placement(t xml.StartElement) (component, error) {
	id, err := ps.intAttr(t, "objectid")
	if err != nil {
		return component{}, err
	}
	c := component{ref: objRef{path: ps.m.path, id: id}, m: identity}
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "transform":
			if c.m, err = ps.parseMatrix(a.Value); err != nil {
				return c, err
			}
		case a.Name.Space == nsProduction && a.Name.Local == "path":
			p := strings.TrimPrefix(path.Clean("/"+a.Value), "/")
			if strings.Contains(a.Value, "..") || p == "" {
				return c, ps.malformed("path %q leaves the package", a.Value)
			}
			c.ref.path = p
		}
	}
	return c, nil
}

func (ps *parser) parseMatrix(s string) (matrix, error) {
	f := strings.Fields(s)
	if len(f) != 12 {
		return matrix{}, ps.malformed("transform %q has %d numbers, not 12", s, len(f))
	}
	var m matrix
	for i, w := range f {
		v, err := strconv.ParseFloat(w, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return matrix{}, ps.malformed("transform %q: %q is not a finite number", s, w)
		}
		m[i] = v
	}
	return m, nil
}

func (ps *parser) intAttr(t xml.StartElement, name string) (int, error) {
	s, ok := attr(t, name)
	if !ok {
		return 0, ps.malformed("<%s> has no %s", t.Name.Local, name)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, ps.malformed("<%s> %s=%q is not a positive integer", t.Name.Local, name, s)
	}
	return v, nil
}

func attr(t xml.StartElement, name string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (ps *parser) coord(b []byte) (float32, error) {
	f, ok := parseCoord(b)
	if !ok {
		return 0, ps.p.malformed(ps.entry, ps.src.consumed(), "vertex coordinate %q is not a finite number", b)
	}
	return f, nil
}

func parseCoord(b []byte) (float32, bool) {
	if len(b) == 0 || len(b) > 64 {
		return 0, false
	}
	v, ok := decimal.ParseFloat32(b)
	if !ok || v != v || math.IsInf(float64(v), 0) {
		return 0, false
	}
	return v, true
}

func parseIndex(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return uint32(v), v < math.MaxUint32
}

func (ps *parser) addVertex(v [3]float32) error {
	if ps.p.stored >= 3*ps.p.lim.MaxTriangles {
		return ps.p.tooLarge(ps.entry, ps.src.consumed(), "more than %d vertices", 3*ps.p.lim.MaxTriangles)
	}
	ps.p.stored++
	if len(ps.obj.verts) == cap(ps.obj.verts) {
		ps.obj.verts = grow(ps.obj.verts, ps.room(len(`<vertex x="0" y="0" z="0"/>`)))
	}
	ps.obj.verts = append(ps.obj.verts, stl.Vec3(v))
	return nil
}

// room is how many elements of at least size bytes the rest of the entry
// can hold.
func (ps *parser) room(size int) int64 {
	return max(0, ps.size-ps.src.consumed()) / int64(size)
}

// grow returns s with more room: twice its capacity, but no more than
// bound further elements (what the rest of the entry can hold), and at
// least one. Go's append grows big slices by a quarter at a time, which
// copied a big mesh's arrays four times over.
func grow[T any](s []T, bound int64) []T {
	n := max(2*cap(s), 4096)
	if int64(n-len(s)) > bound {
		n = len(s) + int(max(bound, 1))
	}
	out := make([]T, len(s), n)
	copy(out, s)
	return out
}

func (ps *parser) addTriangle(v [3]uint32) error {
	if ps.p.stored >= 3*ps.p.lim.MaxTriangles {
		return ps.p.tooLarge(ps.entry, ps.src.consumed(), "more than %d triangles", ps.p.lim.MaxTriangles)
	}
	ps.p.stored++
	if cap(ps.obj.tris)-len(ps.obj.tris) < 3 {
		ps.obj.tris = grow(ps.obj.tris, 3*ps.room(len(`<triangle v1="0" v2="0" v3="0"/>`))+3)
	}
	ps.obj.tris = append(ps.obj.tris, v[0], v[1], v[2])
	return nil
}

// list reads the content of <vertices> or <triangles>: the scanner takes
// the plain elements it fully understands; anything else (comments, an
// entity in a value, a prefix) goes through the decoder, after which the
// scanner may take over again.
func (ps *parser) list(vertices bool) error {
	for {
		// The scanner may only start where the decoder has read exactly
		// what the source gave it (no byte held back after text).
		if ps.dec.InputOffset()+ps.scanned == ps.src.consumed() {
			before := ps.src.consumed()
			if err := ps.scan(vertices); err != nil {
				return err
			}
			ps.scanned += ps.src.consumed() - before
		}
		tok, err := ps.dec.Token()
		if err != nil {
			if err == io.EOF {
				return ps.malformed("the file ends inside <%s>", map[bool]string{true: "vertices", false: "triangles"}[vertices])
			}
			return ps.xmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			ps.depth++
			if ps.depth > ps.p.lim.MaxDepth {
				return ps.p.tooLarge(ps.entry, ps.src.consumed(), "elements nest more than %d deep", ps.p.lim.MaxDepth)
			}
			if t.Name.Space == nsCore {
				if err := ps.start(t); err != nil {
					return err
				}
			}
		case xml.EndElement:
			ps.depth--
			if t.Name.Space == nsCore && (t.Name.Local == "vertices" || t.Name.Local == "triangles") {
				return nil
			}
		case xml.Directive:
			return ps.malformed("document type declarations are not allowed in 3MF")
		}
	}
}

// scan consumes whitespace and plain vertex (or triangle) elements from
// the source, and stops before anything else.
func (ps *parser) scan(vertices bool) error {
	s := ps.src
	tag := "<triangle"
	if vertices {
		tag = "<vertex"
	}
	for {
		if s.pos >= len(s.buf) && !s.fill() {
			return nil
		}
		c := s.buf[s.pos]
		if c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			s.pos++
			continue
		}
		if c != '<' {
			return nil
		}
		if len(s.buf)-s.pos < maxElement {
			s.fill()
		}
		// The form every exporter writes, read in one pass; anything else
		// (other quotes or spacing, attributes in another order or more of
		// them, entities, numbers it cannot convert exactly) goes on below.
		if vertices {
			if v, n, ok := quickVertex(s.buf[s.pos:]); ok {
				if err := ps.addVertex(v); err != nil {
					return err
				}
				s.pos += n
				continue
			}
		} else if v, n, ok := quickTriangle(s.buf[s.pos:]); ok {
			if err := ps.addTriangle(v); err != nil {
				return err
			}
			s.pos += n
			continue
		}
		end := indexByte(s.buf[s.pos:], '>')
		for end < 0 && len(s.buf)-s.pos < maxElement {
			if !s.fill() {
				return nil
			}
			end = indexByte(s.buf[s.pos:], '>')
		}
		if end < 0 {
			return nil
		}
		el := s.buf[s.pos : s.pos+end+1]
		if len(el) < len(tag)+3 || string(el[:len(tag)]) != tag || !isSpace(el[len(tag)]) {
			return nil
		}
		var vals [3][]byte
		names := [3]string{"x", "y", "z"}
		if !vertices {
			names = [3]string{"v1", "v2", "v3"}
		}
		if !plainAttrs(el[len(tag):], &names, &vals) {
			return nil
		}
		if vertices {
			var v [3]float32
			for k := range 3 {
				f, ok := parseCoord(vals[k])
				if !ok {
					return ps.coordError(vals[k])
				}
				v[k] = f
			}
			if err := ps.addVertex(v); err != nil {
				return err
			}
		} else {
			var v [3]uint32
			for k := range 3 {
				i, ok := parseIndex(vals[k])
				if !ok {
					return ps.p.malformed(ps.entry, s.consumed(), "triangle %s=%q is not a vertex index", names[k], vals[k])
				}
				v[k] = i
			}
			if err := ps.addTriangle(v); err != nil {
				return err
			}
		}
		s.pos += end + 1
	}
}

// quickVertex reads `<vertex x="1" y="2" z="3"/>` at the start of b (either
// quote, one space between attributes) and returns its coordinates, as
// parseCoord gives them, and its length. ok is false on anything else.
func quickVertex(b []byte) (v [3]float32, n int, ok bool) {
	// Unrolled, so that each name is compared as a constant.
	i, q, ok := quickAttr(b, 0, `<vertex x=`)
	if ok {
		v[0], i, ok = quickCoord(b, i, q)
	}
	if ok {
		i, q, ok = quickAttr(b, i, ` y=`)
	}
	if ok {
		v[1], i, ok = quickCoord(b, i, q)
	}
	if ok {
		i, q, ok = quickAttr(b, i, ` z=`)
	}
	if ok {
		v[2], i, ok = quickCoord(b, i, q)
	}
	if !ok {
		return v, 0, false
	}
	n, ok = quickEnd(b, i)
	return v, n, ok
}

// quickCoord reads the coordinate at b[i:] up to its closing quote q, when
// decimal.ScanFloat32 converts it exactly, and returns it and where the
// value ends.
func quickCoord(b []byte, i int, q byte) (float32, int, bool) {
	f, m, ok := decimal.ScanFloat32(b[i:])
	i += m
	if !ok || i >= len(b) || b[i] != q {
		return 0, 0, false
	}
	return f, i + 1, true
}

// quickTriangle reads `<triangle v1="0" v2="1" v3="2"/>` at the start of b
// as quickVertex reads a vertex, with parseIndex's rules.
func quickTriangle(b []byte) (v [3]uint32, n int, ok bool) {
	// Unrolled, so that each name is compared as a constant.
	i, q, ok := quickAttr(b, 0, `<triangle v1=`)
	if ok {
		v[0], i, ok = quickIndex(b, i, q)
	}
	if ok {
		i, q, ok = quickAttr(b, i, ` v2=`)
	}
	if ok {
		v[1], i, ok = quickIndex(b, i, q)
	}
	if ok {
		i, q, ok = quickAttr(b, i, ` v3=`)
	}
	if ok {
		v[2], i, ok = quickIndex(b, i, q)
	}
	if !ok {
		return v, 0, false
	}
	n, ok = quickEnd(b, i)
	return v, n, ok
}

// quickIndex reads the vertex index at b[i:] up to its closing quote q
// (parseIndex's rules), and returns it and where the value ends.
func quickIndex(b []byte, i int, q byte) (uint32, int, bool) {
	d0 := i
	var x uint64
	for i < len(b) && b[i]-'0' <= 9 && i-d0 < 10 {
		x = x*10 + uint64(b[i]-'0')
		i++
	}
	if i == d0 || i >= len(b) || b[i] != q || x >= math.MaxUint32 {
		return 0, 0, false
	}
	return uint32(x), i + 1, true
}

// quickAttr checks that b[i:] goes on with sep (what comes before a
// value: the element's name or a space, the attribute's name and "=") and
// a quote, and returns where the value starts and its quote.
func quickAttr(b []byte, i int, sep string) (int, byte, bool) {
	if len(b)-i < len(sep)+1 || string(b[i:i+len(sep)]) != sep {
		return 0, 0, false
	}
	i += len(sep)
	if q := b[i]; q == '"' || q == '\'' {
		return i + 1, q, true
	}
	return 0, 0, false
}

// quickEnd checks that b[i:] starts with "/>" and returns the element's
// length.
func quickEnd(b []byte, i int) (int, bool) {
	if i+2 > len(b) || b[i] != '/' || b[i+1] != '>' {
		return 0, false
	}
	return i + 2, true
}

func (ps *parser) coordError(b []byte) error {
	return ps.p.malformed(ps.entry, ps.src.consumed(), "vertex coordinate %q is not a finite number", b)
}

// plainAttrs reads ` a="v" b='w' />` (el after the element name): every
// attribute a plain name with a value free of entities, ending in "/>".
// It fills vals for names and reports false on anything else, including a
// missing name, so that the decoder can judge.
func plainAttrs(el []byte, names *[3]string, vals *[3][]byte) bool {
	i := 0
	for {
		for i < len(el) && isSpace(el[i]) {
			i++
		}
		if i >= len(el) {
			return false
		}
		if el[i] == '/' {
			return i+2 == len(el) && el[i+1] == '>' && vals[0] != nil && vals[1] != nil && vals[2] != nil
		}
		n0 := i
		for i < len(el) && isNameByte(el[i]) {
			i++
		}
		name := el[n0:i]
		if len(name) == 0 || len(name) >= 5 && string(name[:5]) == "xmlns" {
			return false
		}
		for i < len(el) && isSpace(el[i]) {
			i++
		}
		if i >= len(el) || el[i] != '=' {
			return false
		}
		i++
		for i < len(el) && isSpace(el[i]) {
			i++
		}
		if i >= len(el) || el[i] != '"' && el[i] != '\'' {
			return false
		}
		q := el[i]
		i++
		v0 := i
		for i < len(el) && el[i] != q {
			if el[i] == '&' || el[i] == '<' {
				return false
			}
			i++
		}
		if i >= len(el) {
			return false
		}
		val := el[v0:i]
		i++
		if k := attrIndex(name, names); k >= 0 {
			if vals[k] != nil {
				return false // twice: the decoder decides
			}
			vals[k] = val
		}
	}
}

// attrIndex is the index of name in names, or -1: names are one byte
// ("x") or a letter and a digit ("v1"), compared without a conversion.
func attrIndex(name []byte, names *[3]string) int {
	if len(name) != len(names[0]) {
		return -1
	}
	switch len(name) {
	case 1:
		for k := range 3 {
			if name[0] == names[k][0] {
				return k
			}
		}
	case 2:
		if name[0] == names[0][0] {
			for k := range 3 {
				if name[1] == names[k][1] {
					return k
				}
			}
		}
	}
	return -1
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':'
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// xmlError turns a decoder error into one naming the entry and offset.
func (ps *parser) xmlError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return ps.malformed("XML: %s", se.Msg)
	}
	return ps.malformed("XML: %v", err)
}

// source is a buffered reader over an entry's inflated bytes: the decoder
// reads it a byte at a time (it implements io.ByteReader, so the decoder
// adds no buffer of its own and its offset stays the source's), and the
// scanner reads its buffer directly.
type source struct {
	r   io.Reader
	buf []byte
	pos int
	off int64 // entry offset of buf[0]
	err error
}

// fill keeps buf[pos:] and reads more; false at the end or on error.
func (s *source) fill() bool {
	if s.err != nil {
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:])
		s.off += int64(s.pos)
		s.buf = s.buf[:n]
		s.pos = 0
	}
	if len(s.buf) == cap(s.buf) {
		s.buf = append(s.buf, 0)[:len(s.buf)]
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err != nil {
		s.err = err
	}
	return n > 0 || err == nil && s.fill()
}

func (s *source) consumed() int64 { return s.off + int64(s.pos) }

// ReadByte implements io.ByteReader for the decoder.
func (s *source) ReadByte() (byte, error) {
	if s.pos >= len(s.buf) && !s.fill() {
		if s.err == io.EOF || s.err == nil {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("inflate: %w", s.err)
	}
	c := s.buf[s.pos]
	s.pos++
	return c, nil
}

// Read implements io.Reader (the decoder only uses ReadByte).
func (s *source) Read(p []byte) (int, error) {
	if s.pos >= len(s.buf) && !s.fill() {
		if s.err == nil {
			return 0, io.EOF
		}
		return 0, s.err
	}
	n := copy(p, s.buf[s.pos:])
	s.pos += n
	return n, nil
}
