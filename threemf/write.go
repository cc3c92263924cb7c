// Writing 3MF packages: one XML model of meshes (objects) and a build that
// places them (items), which PrusaSlicer, OrcaSlicer, Bambu Studio and
// Cura open with every object in place. Objects stream in one at a time,
// each mesh written out as it comes (a plate of many big parts is never
// held in memory at once); items, which refer to objects, are written at
// Close, with the package's other parts.

package threemf

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Mesh is welded geometry: vertices, and facets as three vertex indices.
type Mesh interface {
	Vertices() int
	Vertex(i int) [3]float32
	Len() int
	Facet(i int) [3]int32
}

// The entries Writer makes, and the thumbnail's relationship type (the
// model's, relModel, and the core namespace, nsCore, are read.go's).
const (
	modelPath     = "3D/3dmodel.model"
	thumbnailPath = "Metadata/thumbnail.png"
	relThumbnail  = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"
)

// Writer writes one 3MF package. Create it with NewWriter, add objects
// and items, and Close it; the package is complete only after Close.
type Writer struct {
	zw        *zip.Writer
	model     *bufio.Writer
	objects   int
	items     []item
	thumbnail []byte
	err       error
	closed    bool
	buf       []byte
}

type item struct {
	object    int
	transform [12]float64
	name      string
}

// NewWriter starts a package on w, its model titled title.
func NewWriter(w io.Writer, title string) (*Writer, error) {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	mw, err := zw.Create(modelPath)
	if err != nil {
		return nil, fmt.Errorf("write 3MF: %w", err)
	}
	tw := &Writer{zw: zw, model: bufio.NewWriterSize(mw, 64<<10)}
	fmt.Fprintf(tw.model, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<model unit="millimeter" xml:lang="en-US" xmlns="%s">`+"\n", nsCore)
	tw.metadata("Title", title)
	tw.metadata("Application", "Blueprints")
	tw.model.WriteString(" <resources>\n")
	return tw, nil
}

func (w *Writer) metadata(name, value string) {
	fmt.Fprintf(w.model, " <metadata name=\"%s\">%s</metadata>\n", name, escape(value))
}

// AddObject writes a mesh as an object named name and returns its id for
// AddItem. Facets with a repeated vertex (which 3MF forbids) are left out;
// a mesh with no facet left is refused.
func (w *Writer) AddObject(name string, m Mesh) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("write 3MF: add object: writer closed")
	}
	nv, nf := m.Vertices(), m.Len()
	kept := 0
	for i := range nf {
		if f := m.Facet(i); f[0] != f[1] && f[1] != f[2] && f[0] != f[2] {
			kept++
		}
	}
	if kept == 0 {
		return 0, fmt.Errorf("write 3MF: object %q has no facets with three distinct vertices", name)
	}
	w.objects++
	id := w.objects
	fmt.Fprintf(w.model, "  <object id=\"%d\" type=\"model\" name=\"%s\">\n   <mesh>\n    <vertices>\n", id, escape(name))
	b := w.buf[:0]
	for i := range nv {
		v := m.Vertex(i)
		b = append(b, `     <vertex x="`...)
		b = appendNum(b, v[0])
		b = append(b, `" y="`...)
		b = appendNum(b, v[1])
		b = append(b, `" z="`...)
		b = appendNum(b, v[2])
		b = append(b, "\"/>\n"...)
		if len(b) > 32<<10 {
			w.model.Write(b)
			b = b[:0]
		}
	}
	b = append(b, "    </vertices>\n    <triangles>\n"...)
	for i := range nf {
		f := m.Facet(i)
		if f[0] == f[1] || f[1] == f[2] || f[0] == f[2] {
			continue
		}
		b = append(b, `     <triangle v1="`...)
		b = strconv.AppendInt(b, int64(f[0]), 10)
		b = append(b, `" v2="`...)
		b = strconv.AppendInt(b, int64(f[1]), 10)
		b = append(b, `" v3="`...)
		b = strconv.AppendInt(b, int64(f[2]), 10)
		b = append(b, "\"/>\n"...)
		if len(b) > 32<<10 {
			w.model.Write(b)
			b = b[:0]
		}
	}
	b = append(b, "    </triangles>\n   </mesh>\n  </object>\n"...)
	if _, err := w.model.Write(b); err != nil {
		w.err = fmt.Errorf("write 3MF: %w", err)
		return 0, w.err
	}
	w.buf = b[:0]
	return id, nil
}

// AddItem places object id on the build plate: each vertex v goes to
// R·v + T, transform holding R row by row, then T (mm). name, when not
// empty, names the item for slicers that show it.
func (w *Writer) AddItem(id int, transform [12]float64, name string) error {
	if id < 1 || id > w.objects {
		return fmt.Errorf("write 3MF: add item: no object %d", id)
	}
	w.items = append(w.items, item{id, transform, name})
	return nil
}

// SetThumbnail adds a PNG picture of the build, which file browsers and
// slicers show.
func (w *Writer) SetThumbnail(png []byte) { w.thumbnail = png }

// Close writes the build and the package's remaining parts. It does not
// close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if len(w.items) == 0 {
		return errors.New("write 3MF: a build needs at least one item")
	}
	w.model.WriteString(" </resources>\n <build>\n")
	for _, it := range w.items {
		fmt.Fprintf(w.model, "  <item objectid=\"%d\" transform=\"%s\"", it.object, transformAttr(it.transform))
		if it.name != "" {
			fmt.Fprintf(w.model, " partnumber=\"%s\"", escape(it.name))
		}
		w.model.WriteString("/>\n")
	}
	w.model.WriteString(" </build>\n</model>\n")
	if err := w.model.Flush(); err != nil {
		return fmt.Errorf("write 3MF: %w", err)
	}
	rels := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` + "\n" +
		` <Relationship Target="/` + modelPath + `" Id="rel0" Type="` + relModel + `"/>` + "\n"
	types := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` + "\n" +
		` <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` + "\n" +
		` <Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>` + "\n"
	if w.thumbnail != nil {
		rels += ` <Relationship Target="/` + thumbnailPath + `" Id="rel1" Type="` + relThumbnail + `"/>` + "\n"
		types += ` <Default Extension="png" ContentType="image/png"/>` + "\n"
		if err := w.file(thumbnailPath, w.thumbnail, zip.Store); err != nil {
			return err
		}
	}
	rels += "</Relationships>\n"
	types += "</Types>\n"
	if err := w.file("_rels/.rels", []byte(rels), zip.Deflate); err != nil {
		return err
	}
	if err := w.file("[Content_Types].xml", []byte(types), zip.Deflate); err != nil {
		return err
	}
	if err := w.zw.Close(); err != nil {
		return fmt.Errorf("write 3MF: %w", err)
	}
	return nil
}

func (w *Writer) file(name string, data []byte, method uint16) error {
	f, err := w.zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
	if err == nil {
		_, err = f.Write(data)
	}
	if err != nil {
		return fmt.Errorf("write 3MF %s: %w", name, err)
	}
	return nil
}

// transformAttr writes a transform (the rotation row by row, then the
// translation) in 3MF's order: the rotation's columns, then the translation
// ("m00 m01 m02 m10 ... m32", row vectors times M).
func transformAttr(t [12]float64) string {
	order := [12]int{0, 3, 6, 1, 4, 7, 2, 5, 8, 9, 10, 11}
	parts := make([]string, 12)
	for i, k := range order {
		v := t[k]
		if v == 0 {
			v = 0 // no "-0"
		}
		parts[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.Join(parts, " ")
}

// appendNum writes a coordinate as the shortest decimal that reads back
// as the same float32.
func appendNum(b []byte, v float32) []byte {
	if v == 0 {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, float64(v), 'f', -1, 32)
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

// escape makes text safe in XML character data and attributes, dropping
// characters XML cannot hold.
func escape(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r != 0xFFFE && r != 0xFFFF && !(r >= 0xD800 && r <= 0xDFFF) {
			return r
		}
		return -1
	}, s)
	return escaper.Replace(s)
}
