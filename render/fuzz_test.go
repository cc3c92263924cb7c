package render

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/hschendel/stl"
)

// facetCounter is an stl.Writer that checks what a reader hands it.
type facetCounter struct {
	t      *testing.T
	n      int64
	ascii  bool
	header []byte
}

func (c *facetCounter) SetName(string)            {}
func (c *facetCounter) SetBinaryHeader(h []byte)  { c.header = h }
func (c *facetCounter) SetASCII(a bool)           { c.ascii = a }
func (c *facetCounter) SetTriangleCount(n uint32) {}
func (c *facetCounter) AppendTriangle(t stl.Triangle) {
	for _, v := range t.Vertices {
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				c.t.Fatalf("reader passed a non-finite vertex %v", t.Vertices)
			}
		}
	}
	c.n++
}

// fuzzReader runs one reader over data through a small-chunk stream and
// checks its contract: an error is a FormatError or an I/O error naming the
// file, a success counts every facet it passed on.
func fuzzReader(t *testing.T, data []byte, read func(*stream, stl.Writer, Limits) (int64, error)) {
	lim := Limits{MaxBytes: 1 << 20, MaxTriangles: 5000}
	s := newStream(io.MultiReader(bytes.NewReader(data)), "fuzz.stl", lim.MaxBytes, -1)
	defer s.close()
	s.refill()
	c := &facetCounter{t: t}
	n, err := read(s, c, lim)
	if n != c.n {
		t.Fatalf("reader says %d facets, passed %d", n, c.n)
	}
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) && s.err == nil {
			t.Fatalf("error is not a FormatError: %v", err)
		}
		if !bytes.HasPrefix([]byte(err.Error()), []byte("fuzz.stl")) && !bytes.Contains([]byte(err.Error()), []byte("fuzz.stl")) {
			t.Fatalf("error does not name the file: %v", err)
		}
		return
	}
	if n > lim.MaxTriangles {
		t.Fatalf("%d facets passed the limit of %d", n, lim.MaxTriangles)
	}
}

func FuzzReadBinary(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, data, func(s *stream, w stl.Writer, lim Limits) (int64, error) {
			return readBinary(s, w, lim, -1)
		})
	})
}

func FuzzReadASCII(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, data, readASCII)
	})
}

// FuzzReadMesh runs the whole path: detection, reading, welding, topology,
// preview; and the preview's shortcut, ReadFacets, which must accept what
// ReadMesh accepts and draw the same pixels.
func FuzzReadMesh(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxBytes: 1 << 20, MaxTriangles: 5000}
		m, err := ReadMesh(bytes.NewReader(data), "fuzz.stl", lim)
		fc, ferr := ReadFacets(bytes.NewReader(data), "fuzz.stl", lim)
		if ferr != nil && fc != nil {
			t.Fatal("facets returned with an error")
		}
		if err != nil {
			if m != nil {
				t.Fatal("mesh returned with an error")
			}
			if fc != nil {
				// Both read with the same decoder: ReadMesh can only
				// refuse more for having nothing but degenerate facets,
				// which the preview refuses too.
				if !strings.Contains(err.Error(), "degenerate") {
					t.Fatalf("ReadFacets accepts what ReadMesh refuses: %v", err)
				}
				if _, err := fc.Render(32); err == nil {
					t.Fatal("the facets' preview draws a file of degenerate facets")
				}
			}
			return
		}
		p := m.Part()
		if p.Triangles <= 0 || p.Shells < 0 || p.Area <= 0 || math.IsNaN(p.Volume) || len(p.SHA256) != 64 {
			t.Fatalf("implausible part %+v", p)
		}
		a, err := m.Render(32)
		if err != nil {
			t.Fatal(err)
		}
		if ferr != nil {
			t.Fatalf("ReadMesh accepts what ReadFacets refuses: %v", ferr)
		}
		b, err := fc.Render(32)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Pix, b.Pix) {
			t.Fatal("the facets' preview differs from the mesh's")
		}
		// Wide facets drawn by runs, as every sample tested.
		r := newRaster(3*32, 1)
		r.wideFrom = 1 << 40
		r.fit(m.verts)
		r.draw(m.verts, m.tris, Limits{})
		c := r.resolve(32, 3)
		r.done()
		if !bytes.Equal(a.Pix, c.Pix) {
			t.Fatal("drawing by runs differs from testing every sample")
		}
	})
}

// FuzzReadOBJ feeds OBJ text to ReadMesh: an error names the file in one
// line, a success has facets that are all finite.
func FuzzReadOBJ(f *testing.F) {
	f.Add([]byte(quadBox))
	f.Add([]byte("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"))
	f.Add([]byte("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -3/1/1 -2//2 -1/3\n# end"))
	f.Add([]byte("v 1e38 1e38 1e38\nv -1e38 0 0\nv 0 1 0\nf 1 2 3 1 2 3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxBytes: 1 << 20, MaxTriangles: 5000}
		c := &facetCounter{t: t}
		d, err := KindOBJ.Decode(io.MultiReader(bytes.NewReader(data)), "fuzz.obj", lim, c)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "fuzz.obj: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line naming the file", msg)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FormatError: %v", err)
			}
			return
		}
		if d.Triangles != c.n || d.Triangles == 0 || d.Triangles > lim.MaxTriangles {
			t.Fatalf("decoded %d facets, passed %d", d.Triangles, c.n)
		}
		if _, err := ReadMesh(bytes.NewReader(data), "fuzz.obj", lim); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("ReadMesh: %v", err)
		}
	})
}
