package render

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"

	"github.com/hschendel/stl"
)

// WriteSTL writes the mesh as binary STL, facets in file order with their
// normals: what the 3D viewer loads for every kind of part (one loader for
// every format). It needs a mesh read with its vertices (ReadMesh).
func (m *Mesh) WriteSTL(w io.Writer) error {
	n := len(m.tris) / 3
	return writeBinarySTL(w, m.name, n, func(i int) [3]stl.Vec3 {
		return [3]stl.Vec3{m.verts[m.tris[3*i]], m.verts[m.tris[3*i+1]], m.verts[m.tris[3*i+2]]}
	})
}

// WriteSTL writes the facets as binary STL; see Mesh.WriteSTL.
func (f *Facets) WriteSTL(w io.Writer) error {
	v := f.vertices()
	return writeBinarySTL(w, f.name, f.Len(), func(i int) [3]stl.Vec3 { return [3]stl.Vec3{v[3*i], v[3*i+1], v[3*i+2]} })
}

func writeBinarySTL(w io.Writer, name string, n int, facet func(i int) [3]stl.Vec3) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var head [84]byte
	copy(head[:80], "binary STL written by Blueprints from "+name)
	binary.LittleEndian.PutUint32(head[80:], uint32(n))
	bw.Write(head[:])
	var rec [50]byte
	for i := range n {
		v := facet(i)
		nx, ny, nz := normal(v)
		put := func(at int, x float32) { binary.LittleEndian.PutUint32(rec[at:], math.Float32bits(x)) }
		put(0, nx)
		put(4, ny)
		put(8, nz)
		for j := range 3 {
			for k := range 3 {
				put(12+12*j+4*k, v[j][k])
			}
		}
		if _, err := bw.Write(rec[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// normal is a facet's unit normal (zero for a degenerate facet).
func normal(v [3]stl.Vec3) (float32, float32, float32) {
	ux, uy, uz := float64(v[1][0]-v[0][0]), float64(v[1][1]-v[0][1]), float64(v[1][2]-v[0][2])
	wx, wy, wz := float64(v[2][0]-v[0][0]), float64(v[2][1]-v[0][1]), float64(v[2][2]-v[0][2])
	nx, ny, nz := uy*wz-uz*wy, uz*wx-ux*wz, ux*wy-uy*wx
	l := math.Sqrt(nx*nx + ny*ny + nz*nz)
	if l == 0 {
		return 0, 0, 0
	}
	return float32(nx / l), float32(ny / l), float32(nz / l)
}
