package render

// Read-only access to a part's geometry, for packages that reason about
// its shape (how it rests on a print bed) or write it out again (a 3MF
// plate). Coordinates are the file's, in file units.

// Len returns the number of facets.
func (m *Mesh) Len() int { return len(m.tris) / 3 }

// Vertex returns the welded vertex i, 0 ≤ i < Vertices().
func (m *Mesh) Vertex(i int) [3]float32 { return m.verts[i] }

// Facet returns the indices of facet i's three vertices, in file order,
// 0 ≤ i < Len().
func (m *Mesh) Facet(i int) [3]int32 {
	return [3]int32{m.tris[3*i], m.tris[3*i+1], m.tris[3*i+2]}
}

// Facet returns the three vertices of facet i, 0 ≤ i < Len(), in file
// order.
func (f *Facets) Facet(i int) [3][3]float32 {
	v := f.v[9*i : 9*i+9 : 9*i+9]
	return [3][3]float32{{v[0], v[1], v[2]}, {v[3], v[4], v[5]}, {v[6], v[7], v[8]}}
}
