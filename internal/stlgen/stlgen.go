// Package stlgen writes synthetic STL meshes for tests and benchmarks: closed
// tori of any size, in binary or ASCII, whose vertices are bit-identical
// where facets meet, so a correct reader finds them watertight.
package stlgen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Torus describes a closed torus mesh lying on the XY plane (Z up), its
// lowest point at Center.Z - Minor.
type Torus struct {
	Major, Minor float64    // ring and tube radii, in file units (mm)
	Center       [3]float64 // centre of the ring
	Triangles    int        // approximate facet count; Grid gives the exact one
	ASCII        bool       // write ASCII STL instead of binary
	// Header is the binary file's 80-byte header text (default "binary
	// torus from stlgen"); it may begin with "solid", as some exporters do.
	Header string
	// Name is the ASCII solid name (default "torus"); "" with BareSolid
	// writes a bare "solid" line.
	Name      string
	BareSolid bool
	// Trailing bytes are appended after the last binary facet.
	Trailing []byte
}

// WriteTorus writes a closed torus of about the given number of triangles
// (major radius 50 mm, tube radius 15 mm, resting on z = 0).
func WriteTorus(w io.Writer, triangles int, ascii bool) error {
	return Torus{Major: 50, Minor: 15, Center: [3]float64{0, 0, 15}, Triangles: triangles, ASCII: ascii}.Write(w)
}

// Grid returns the torus's grid of u segments around the ring and v around
// the tube; the mesh has exactly 2·u·v triangles, u·v vertices and
// 3·u·v edges.
func Grid(triangles int) (u, v int) {
	v = max(3, int(math.Round(math.Sqrt(float64(triangles)/6))))
	u = max(3, int(math.Round(float64(triangles)/float64(2*v))))
	return u, v
}

// TorusTriangles is the exact facet count Torus writes for the requested
// approximate count.
func TorusTriangles(triangles int) int {
	u, v := Grid(triangles)
	return 2 * u * v
}

// Write writes the torus to w.
func (t Torus) Write(w io.Writer) error {
	if t.Triangles <= 0 {
		return errors.New("write torus: triangle count must be positive")
	}
	if t.Major <= t.Minor || t.Minor <= 0 {
		return fmt.Errorf("write torus: need major radius %g > minor radius %g > 0", t.Major, t.Minor)
	}
	u, v := Grid(t.Triangles)
	n := 2 * u * v
	// Precompute the grid once so every shared vertex is the same float32.
	grid := make([][3]float32, u*v)
	for i := range u {
		a := 2 * math.Pi * float64(i) / float64(u)
		for j := range v {
			b := 2 * math.Pi * float64(j) / float64(v)
			r := t.Major + t.Minor*math.Cos(b)
			grid[i*v+j] = [3]float32{
				float32(t.Center[0] + r*math.Cos(a)),
				float32(t.Center[1] + r*math.Sin(a)),
				float32(t.Center[2] + t.Minor*math.Sin(b)),
			}
		}
	}
	at := func(i, j int) [3]float32 { return grid[(i%u)*v+j%v] }

	bw := bufio.NewWriterSize(w, 1<<20)
	fw := facetWriter{w: bw, ascii: t.ASCII}
	if err := fw.begin(t, n); err != nil {
		return err
	}
	for i := range u {
		for j := range v {
			p00, p10, p11, p01 := at(i, j), at(i+1, j), at(i+1, j+1), at(i, j+1)
			// Counter-clockwise seen from outside: normals point away from the tube axis.
			fw.facet(p00, p10, p11)
			fw.facet(p00, p11, p01)
		}
	}
	if err := fw.end(t); err != nil {
		return err
	}
	return bw.Flush()
}

// facetWriter writes facets in either encoding with no allocation per facet.
type facetWriter struct {
	w     *bufio.Writer
	ascii bool
	buf   []byte
	name  string
}

func (f *facetWriter) begin(t Torus, n int) error {
	if f.ascii {
		f.name = t.Name
		if f.name == "" && !t.BareSolid {
			f.name = "torus"
		}
		line := "solid"
		if f.name != "" {
			line += " " + f.name
		}
		_, err := f.w.WriteString(line + "\n")
		return err
	}
	header := make([]byte, 84)
	h := t.Header
	if h == "" {
		h = "binary torus from stlgen"
	}
	copy(header[:80], h)
	binary.LittleEndian.PutUint32(header[80:], uint32(n))
	_, err := f.w.Write(header)
	return err
}

func (f *facetWriter) end(t Torus) error {
	if f.ascii {
		_, err := f.w.WriteString("endsolid " + f.name + "\n")
		return err
	}
	_, err := f.w.Write(t.Trailing)
	return err
}

// facet writes one triangle; write errors surface at Flush.
func (f *facetWriter) facet(a, b, c [3]float32) {
	nrm := normal(a, b, c)
	if f.ascii {
		buf := f.buf[:0]
		buf = append(buf, "facet normal"...)
		buf = appendVec(buf, nrm)
		buf = append(buf, "\n  outer loop\n"...)
		for _, p := range [3][3]float32{a, b, c} {
			buf = append(buf, "    vertex"...)
			buf = appendVec(buf, p)
			buf = append(buf, '\n')
		}
		buf = append(buf, "  endloop\nendfacet\n"...)
		f.buf = buf
		f.w.Write(buf)
		return
	}
	var rec [50]byte
	for k, p := range [4][3]float32{nrm, a, b, c} {
		for m := range 3 {
			binary.LittleEndian.PutUint32(rec[12*k+4*m:], math.Float32bits(p[m]))
		}
	}
	f.w.Write(rec[:])
}

// appendVec writes the shortest decimal that reads back as the same float32.
func appendVec(buf []byte, p [3]float32) []byte {
	for _, x := range p {
		buf = append(buf, ' ')
		buf = strconv.AppendFloat(buf, float64(x), 'e', -1, 32)
	}
	return buf
}

func normal(a, b, c [3]float32) [3]float32 {
	ux, uy, uz := float64(b[0]-a[0]), float64(b[1]-a[1]), float64(b[2]-a[2])
	vx, vy, vz := float64(c[0]-a[0]), float64(c[1]-a[1]), float64(c[2]-a[2])
	nx, ny, nz := uy*vz-uz*vy, uz*vx-ux*vz, ux*vy-uy*vx
	l := math.Sqrt(nx*nx + ny*ny + nz*nz)
	if l == 0 {
		return [3]float32{}
	}
	return [3]float32{float32(nx / l), float32(ny / l), float32(nz / l)}
}
