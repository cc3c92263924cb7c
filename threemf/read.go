// Package threemf reads 3MF packages (3D Manufacturing Format, core
// specification 1.3, with the Production extension as Bambu Studio and
// OrcaSlicer write it) as a stream of facets, in millimetres, placed as
// the build places them; and writes them (write.go: meshes and the build
// items that place them, for print plates).
//
// Data enters as the package's bytes (an io.ReaderAt and its size: a zip
// needs its central directory) and leaves as facets handed to an
// stl.Writer, the same sink the STL reader feeds (DESIGN decision 12), plus
// an Info (objects placed, the model's unit). A writer that is also a
// MeshWriter gets each placed object as one indexed mesh instead (its
// vertices and triangles as the file lists them), and a VertexPreparer
// gets each vertex list as soon as it is read. The package is checked
// against Limits before anything is inflated (entry count, sizes, ratios,
// names), and the model's XML is read as a token stream: vertices and
// triangles go straight into compact arrays, never into a tree of
// elements. Errors name the file, the entry, the byte and the problem.
package threemf

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strings"

	"github.com/hschendel/stl"
	"github.com/klauspost/compress/flate"
)

// Limits bound what Read accepts. A zero field takes its default.
type Limits struct {
	MaxTriangles int64 // facets placed in the build, instances included
	MaxEntries   int   // entries in the zip
	// MaxEntryBytes bounds one entry's uncompressed size; MaxTotalBytes
	// the sum over the entries Read inflates.
	MaxEntryBytes int64
	MaxTotalBytes int64
	// MaxRatio bounds an entry's uncompressed ÷ compressed size (above
	// 1 MiB): deflate gives text meshes 5 to 20; bombs give 1000.
	MaxRatio int64
	MaxDepth int // XML element nesting, and component nesting
}

// Defaults for Limits' zero fields.
const (
	DefaultMaxTriangles  = 20_000_000
	DefaultMaxEntries    = 10_000
	DefaultMaxEntryBytes = 4 << 30
	DefaultMaxTotalBytes = 8 << 30
	DefaultMaxRatio      = 200
	DefaultMaxDepth      = 64
)

func (l Limits) withDefaults() Limits {
	if l.MaxTriangles <= 0 {
		l.MaxTriangles = DefaultMaxTriangles
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxEntryBytes <= 0 {
		l.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Info describes a package Read went through.
type Info struct {
	Objects   int    // build items: objects placed on the plate
	Triangles int64  // facets handed to the writer
	Unit      string // the root model's unit ("millimeter" when unstated)
}

// Namespaces and relationship types Read understands.
const (
	nsCore        = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
	nsProduction  = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
	relModel      = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
	relsEntry     = "_rels/.rels"
	maxRelsBytes  = 1 << 20
	ratioMinBytes = 1 << 20
)

// unitScale is millimetres per unit, for every unit 3MF names.
var unitScale = map[string]float64{
	"micron": 0.001, "millimeter": 1, "centimeter": 10, "inch": 25.4, "foot": 304.8, "meter": 1000,
}

// MeshWriter is an stl.Writer that takes a placed object's mesh at once:
// Read hands it the object's vertices (transformed, in millimetres) and
// its triangles (three indices into them each, all checked) instead of one
// AppendTriangle per facet, in the same order. The slices are only read
// during the call.
type MeshWriter interface {
	stl.Writer
	AppendMesh(verts []stl.Vec3, tris []uint32)
}

// VertexPreparer is a MeshWriter that can start on an object's vertices
// while the rest of the model is read: Read calls PrepareVertices with
// each mesh's vertex list as listed (before any transform) as soon as it
// is complete, and later hands AppendMesh that very slice when the object
// is placed as listed (identity transform, millimetres).
type VertexPreparer interface {
	MeshWriter
	PrepareVertices(verts []stl.Vec3)
}

// ItemWriter is an stl.Writer that also hears where each build item's
// facets begin: Read calls BeginItem(i) before it hands over the facets of
// item i (from 0), to tell the pieces of a plate apart.
type ItemWriter interface {
	stl.Writer
	BeginItem(i int)
}

// Read reads the 3MF package in ra (size bytes) and hands the facets of
// its build, transformed and in millimetres, to w. name appears in errors.
func Read(ra io.ReaderAt, size int64, name string, lim Limits, w stl.Writer) (Info, error) {
	lim = lim.withDefaults()
	p, err := openPackage(ra, size, name, lim)
	if err != nil {
		return Info{}, err
	}
	p.prep, _ = w.(VertexPreparer)
	rootPath, err := p.rootModel()
	if err != nil {
		return Info{}, err
	}
	// The root model, and the model parts its objects and build refer to
	// (Production extension), each read once.
	root, err := p.readModel(rootPath)
	if err != nil {
		return Info{}, err
	}
	b := &builder{p: p, w: w, scale: root.scale, lim: lim}
	total := int64(0)
	for _, it := range root.build {
		n, err := b.count(it.ref, 0)
		if err != nil {
			return Info{}, err
		}
		total += n
		if total > lim.MaxTriangles {
			return Info{}, p.tooLarge(rootPath, -1, "the build places more than %d triangles", lim.MaxTriangles)
		}
	}
	if len(root.build) == 0 {
		return Info{}, p.malformed(rootPath, -1, "the build has no items: nothing is placed")
	}
	if total == 0 {
		return Info{}, p.malformed(rootPath, -1, "the build's objects hold no triangles")
	}
	w.SetName(name)
	w.SetTriangleCount(uint32(min(total, math.MaxUint32)))
	iw, _ := w.(ItemWriter)
	for i, it := range root.build {
		if iw != nil {
			iw.BeginItem(i)
		}
		if err := b.emit(it.ref, it.m, 0); err != nil {
			return Info{}, err
		}
	}
	return Info{Objects: len(root.build), Triangles: total, Unit: root.unit}, nil
}

// pkg is an open package: its entries by normalised name, and the models
// read so far by entry name.
type pkg struct {
	name     string
	lim      Limits
	entries  map[string]*zip.File
	models   map[string]*model
	inflated int64          // bytes inflated so far
	stored   int64          // vertices and triangles kept so far
	prep     VertexPreparer // the writer, when it prepares vertex lists
}

func (p *pkg) malformed(entry string, off int64, format string, args ...any) *Error {
	return &Error{File: p.name, Entry: entry, Offset: off, Reason: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

func (p *pkg) tooLarge(entry string, off int64, format string, args ...any) *Error {
	return &Error{File: p.name, Entry: entry, Offset: off, Reason: fmt.Sprintf(format, args...), Err: ErrTooLarge}
}

// openPackage reads the zip's central directory and refuses, before
// inflating anything, what no real 3MF holds: too many entries, names that
// are absolute or climb with "..", sizes or ratios of a zip bomb.
func openPackage(ra io.ReaderAt, size int64, name string, lim Limits) (*pkg, error) {
	p := &pkg{name: name, lim: lim, entries: map[string]*zip.File{}, models: map[string]*model{}}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, p.malformed("", -1, "not a 3MF package (a 3MF file is a zip archive): %v", err)
	}
	// klauspost's inflater takes about a fifth less time than
	// compress/flate's on a big model, and inflating is the longer half of
	// reading one.
	zr.RegisterDecompressor(zip.Deflate, func(r io.Reader) io.ReadCloser { return flate.NewReader(r) })
	if len(zr.File) > lim.MaxEntries {
		return nil, p.tooLarge("", -1, "the package has %d entries, more than the limit of %d", len(zr.File), lim.MaxEntries)
	}
	for _, f := range zr.File {
		n := f.Name
		if strings.ContainsRune(n, '\\') {
			n = strings.ReplaceAll(n, "\\", "/")
		}
		if n == "" || strings.HasPrefix(n, "/") || len(n) > 1 && n[1] == ':' || strings.ContainsRune(n, 0) {
			return nil, p.malformed("", -1, "entry %q has an absolute path", f.Name)
		}
		for _, seg := range strings.Split(n, "/") {
			if seg == ".." {
				return nil, p.malformed("", -1, "entry %q climbs out of the package with \"..\"", f.Name)
			}
		}
		if f.UncompressedSize64 > uint64(lim.MaxEntryBytes) {
			return nil, p.tooLarge(n, -1, "entry declares %d bytes, more than the limit of %d", f.UncompressedSize64, lim.MaxEntryBytes)
		}
		if f.UncompressedSize64 > ratioMinBytes && f.UncompressedSize64 > uint64(lim.MaxRatio)*max(f.CompressedSize64, 1) {
			return nil, p.tooLarge(n, -1, "entry inflates %d bytes to %d (more than %d times): a zip bomb", f.CompressedSize64, f.UncompressedSize64, lim.MaxRatio)
		}
		key := strings.ToLower(path.Clean(n))
		if _, dup := p.entries[key]; dup {
			return nil, p.malformed("", -1, "entry %q appears twice", f.Name)
		}
		p.entries[key] = f
	}
	return p, nil
}

// open inflates an entry (name as the package spells it, with or without a
// leading slash), counting its bytes against the total limit.
func (p *pkg) open(entry string) (io.ReadCloser, string, error) {
	clean := strings.TrimPrefix(path.Clean("/"+entry), "/")
	f, ok := p.entries[strings.ToLower(clean)]
	if !ok {
		return nil, clean, p.malformed(clean, -1, "the package has no such entry")
	}
	if p.inflated+int64(f.UncompressedSize64) > p.lim.MaxTotalBytes {
		return nil, clean, p.tooLarge(clean, -1, "inflating it would pass %d bytes in all, the limit", p.lim.MaxTotalBytes)
	}
	p.inflated += int64(f.UncompressedSize64)
	rc, err := f.Open()
	if err != nil {
		return nil, clean, p.malformed(clean, -1, "cannot inflate: %v", err)
	}
	return rc, clean, nil
}

// rootModel finds the root model through the package relationships.
func (p *pkg) rootModel() (string, error) {
	rc, entry, err := p.open(relsEntry)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return "", p.malformed("", -1, "no %s: the package names no 3D model (is it a 3MF file?)", relsEntry)
		}
		return "", err
	}
	defer rc.Close()
	target, err := readRels(rc, entry, p)
	if err != nil {
		return "", err
	}
	if target == "" {
		return "", p.malformed(entry, -1, "no relationship of type %s: the package names no 3D model", relModel)
	}
	return strings.TrimPrefix(path.Clean("/"+target), "/"), nil
}

// builder places the build's objects and hands their facets to w.
type builder struct {
	p     *pkg
	w     stl.Writer
	scale float64
	lim   Limits
	memo  map[objRef]int64
	// placed is the vertices of the object being emitted, transformed.
	placed []stl.Vec3
}

// object finds a referenced object.
func (b *builder) object(r objRef) (*object, error) {
	m, ok := b.p.models[strings.ToLower(r.path)]
	if !ok {
		return nil, b.p.malformed(r.path, -1, "a component refers to this model part, which was not read")
	}
	o, ok := m.objects[r.id]
	if !ok {
		return nil, b.p.malformed(r.path, -1, "no object with id %d (referenced by a component or build item)", r.id)
	}
	return o, nil
}

// count returns how many facets placing r adds, instances included.
func (b *builder) count(r objRef, depth int) (int64, error) {
	if depth > b.lim.MaxDepth {
		return 0, b.p.tooLarge(r.path, -1, "components nest more than %d deep (or refer to themselves)", b.lim.MaxDepth)
	}
	if n, ok := b.memo[r]; ok {
		return n, nil
	}
	o, err := b.object(r)
	if err != nil {
		return 0, err
	}
	n := int64(len(o.tris) / 3)
	for _, c := range o.comps {
		k, err := b.count(c.ref, depth+1)
		if err != nil {
			return 0, err
		}
		n += k
		if n > b.lim.MaxTriangles {
			return 0, b.p.tooLarge(r.path, -1, "object %d places more than %d triangles", r.id, b.lim.MaxTriangles)
		}
	}
	if b.memo == nil {
		b.memo = map[objRef]int64{}
	}
	b.memo[r] = n
	return n, nil
}

// emit hands r's facets, transformed by m and scaled to millimetres, to w:
// as one indexed mesh when w is a MeshWriter, else facet by facet.
func (b *builder) emit(r objRef, m matrix, depth int) error {
	o, err := b.object(r)
	if err != nil {
		return err
	}
	if len(o.tris) > 0 {
		verts := o.verts
		if !m.isIdentity() || b.scale != 1 {
			b.placed = place(b.placed[:0], o.verts, m, b.scale)
			verts = b.placed
		}
		if mw, ok := b.w.(MeshWriter); ok {
			mw.AppendMesh(verts, o.tris)
		} else {
			var t stl.Triangle
			for i := 0; i < len(o.tris); i += 3 {
				t.Vertices = [3]stl.Vec3{verts[o.tris[i]], verts[o.tris[i+1]], verts[o.tris[i+2]]}
				b.w.AppendTriangle(t)
			}
		}
	}
	for _, c := range o.comps {
		if err := b.emit(c.ref, c.m.then(m), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// place appends verts transformed by m and scaled by s to dst.
func place(dst, verts []stl.Vec3, m matrix, s float64) []stl.Vec3 {
	for _, v := range verts {
		x, y, z := float64(v[0]), float64(v[1]), float64(v[2])
		dst = append(dst, stl.Vec3{
			float32((x*m[0] + y*m[3] + z*m[6] + m[9]) * s),
			float32((x*m[1] + y*m[4] + z*m[7] + m[10]) * s),
			float32((x*m[2] + y*m[5] + z*m[8] + m[11]) * s),
		})
	}
	return dst
}
