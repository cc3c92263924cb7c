// Package render turns a mesh file (STL, 3MF or OBJ) into a part: its
// measurements (Part) and its preview image (a PNG). Input is streamed from
// any io.Reader (a git blob, an S3 object) and checked against Limits; bad
// input gets an error that names the file, the problem and where it is.
// Each kind of file has a reader that yields the same facets (kind.go;
// 3MF's is package threemf); everything after the reader is one path.
//
// ReadMesh welds and measures a file and can draw it; Inspect only
// measures; ReadFacets only draws, skipping the welding, topology and hash
// a picture does not need, and draws the same pixels as ReadMesh's mesh.
package render

// Part is the measured metadata of one mesh file, as the contract names
// it. Every length is in millimetres (3MF files are converted from their
// unit; STL and OBJ carry none and are taken as millimetres).
type Part struct {
	Triangles  int64      `json:"triangles"`
	Format     string     `json:"format"` // "ascii" or "binary" (STL), "3mf", "obj", "scad"
	BBoxMin    [3]float64 `json:"bbox_min"`
	BBoxMax    [3]float64 `json:"bbox_max"`
	Size       [3]float64 `json:"size"`
	Volume     float64    `json:"volume"`
	Area       float64    `json:"area"`
	Watertight bool       `json:"watertight"`
	Shells     int        `json:"shells"`
	SHA256     string     `json:"sha256"`
	// Degenerate counts facets with two equal vertices; they are left out
	// of Watertight and Shells (they add no area or volume anyway).
	Degenerate int64 `json:"degenerate_facets"`
	// OpenEdges counts edges of only one facet: the holes' rims.
	OpenEdges int64 `json:"open_edges"`
	// NonManifoldEdges counts edges of three or more facets.
	NonManifoldEdges int64 `json:"nonmanifold_edges"`
	// Objects counts the objects the file places: a 3MF build's items, an
	// OBJ's objects; 0 for STL.
	Objects int `json:"objects,omitempty"`
	// Units is the unit the file declares (3MF), before conversion to mm.
	Units string `json:"units,omitempty"`
}
