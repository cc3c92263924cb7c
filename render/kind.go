package render

import (
	"io"
	"path"
	"strings"

	"github.com/hschendel/stl"
)

// Kind is a kind of mesh file. Each kind has a reader that yields facets
// into the same stl.Writer (DESIGN decision 12): measuring, welding,
// previews and everything downstream never ask which kind a part was.
type Kind string

// The mesh kinds render reads.
const (
	KindSTL Kind = "stl"
	Kind3MF Kind = "3mf"
	KindOBJ Kind = "obj"
)

// Part formats beyond STL's FormatASCII and FormatBinary, as Part.Format
// names them. FormatSCAD is set by whoever built the mesh from OpenSCAD.
const (
	Format3MF  = "3mf"
	FormatOBJ  = "obj"
	FormatSCAD = "scad"
)

// KindOf tells a mesh file's kind by its name's extension, in any case:
// .stl, .3mf or .obj. ok is false for any other name.
func KindOf(name string) (k Kind, ok bool) {
	switch strings.ToLower(path.Ext(name)) {
	case ".stl":
		return KindSTL, true
	case ".3mf":
		return Kind3MF, true
	case ".obj":
		return KindOBJ, true
	}
	return "", false
}

// kindFor is KindOf with STL for names of no known kind ("standard
// input").
func kindFor(name string) Kind {
	if k, ok := KindOf(name); ok {
		return k
	}
	return KindSTL
}

// ReadMesh reads a file of kind k; see the package's ReadMesh.
func (k Kind) ReadMesh(r io.Reader, name string, lim Limits) (*Mesh, error) {
	return readMesh(k, r, name, lim, meshFull)
}

// Inspect reads and measures a file of kind k; see ReadMesh.
func (k Kind) Inspect(r io.Reader, name string, lim Limits) (Part, error) {
	return inspect(k, r, name, lim)
}

// ReadFacets reads a file of kind k for drawing; see the package's
// ReadFacets.
func (k Kind) ReadFacets(r io.Reader, name string, lim Limits) (*Facets, error) {
	return readFacets(k, r, name, lim)
}

// Decode streams the facets of a file of kind k into sw; see Decode.
func (k Kind) Decode(r io.Reader, name string, lim Limits, sw stl.Writer) (Decoded, error) {
	return decode(k, r, name, lim, sw, true)
}

// decode streams the facets of a file of kind k into sw: the one place
// that asks the kind. Without hashing, Decoded.SHA256 is left empty.
//
// It is also where every kind meets the time budget: the reader reads
// through lim.withContext, so a reader that stops at its input's errors
// stops when the budget ends (see budget.go).
func decode(k Kind, r io.Reader, name string, lim Limits, sw stl.Writer, hashing bool) (d Decoded, err error) {
	r = lim.withContext(r)
	defer func() { err = lim.timedOut(name, err) }()
	switch k {
	case Kind3MF:
		return decode3MF(r, name, lim, sw)
	case KindOBJ:
		return decodeOBJ(r, name, lim, sw, hashing)
	}
	return decodeSTL(r, name, lim, sw, hashing)
}
