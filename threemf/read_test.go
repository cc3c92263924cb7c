package threemf

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/hschendel/stl"

	"github.com/blueprints-hq/blueprints/threemf/threemftest"
)

// measureSink measures what Read hands it.
type measureSink struct {
	n        int64
	min, max [3]float64
	vol      float64
	declared uint32
}

func (m *measureSink) SetName(string)            {}
func (m *measureSink) SetBinaryHeader([]byte)    {}
func (m *measureSink) SetASCII(bool)             {}
func (m *measureSink) SetTriangleCount(n uint32) { m.declared = n }
func (m *measureSink) AppendTriangle(t stl.Triangle) {
	if m.n == 0 {
		for k := range 3 {
			m.min[k], m.max[k] = math.Inf(1), math.Inf(-1)
		}
	}
	m.n++
	var v [3][3]float64
	for i := range 3 {
		for k := range 3 {
			v[i][k] = float64(t.Vertices[i][k])
			m.min[k] = math.Min(m.min[k], v[i][k])
			m.max[k] = math.Max(m.max[k], v[i][k])
		}
	}
	a, b, c := v[0], v[1], v[2]
	m.vol += (a[0]*(b[1]*c[2]-b[2]*c[1]) + a[1]*(b[2]*c[0]-b[0]*c[2]) + a[2]*(b[0]*c[1]-b[1]*c[0])) / 6
}

func read(t *testing.T, data []byte) (Info, *measureSink, error) {
	t.Helper()
	var m measureSink
	info, err := Read(bytes.NewReader(data), int64(len(data)), "part.3mf", Limits{}, &m)
	return info, &m, err
}

func TestHandWrittenCases(t *testing.T) {
	for _, c := range threemftest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			info, m, err := read(t, c.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if info.Triangles != c.Triangles || m.n != c.Triangles || int64(m.declared) != c.Triangles {
				t.Errorf("triangles: info %d, handed %d, declared %d; want %d", info.Triangles, m.n, m.declared, c.Triangles)
			}
			if info.Objects != c.Objects || info.Unit != c.Unit {
				t.Errorf("objects %d unit %q, want %d %q", info.Objects, info.Unit, c.Objects, c.Unit)
			}
			for k := range 3 {
				if !threemftest.Close(m.min[k], c.Min[k], 1e-5, 1) || !threemftest.Close(m.max[k], c.Max[k], 1e-5, 1) {
					t.Errorf("axis %d: %g..%g, want %g..%g", k, m.min[k], m.max[k], c.Min[k], c.Max[k])
				}
			}
			if !threemftest.Close(m.vol, c.Volume, 1e-5, 1) {
				t.Errorf("volume %g, want %g", m.vol, c.Volume)
			}
		})
	}
}

// withModel is a package whose root model is xml.
func withModel(xml string) []byte {
	return threemftest.Zip(threemftest.Package(xml, nil))
}

func box() string { return threemftest.Box(1, 10, 10, 10) }

func TestHostile(t *testing.T) {
	good := threemftest.Package(threemftest.Model("", "", box(), threemftest.Item(1, "")), nil)
	without := func(name string) map[string]string {
		f := map[string]string{}
		for k, v := range good {
			if k != name {
				f[k] = v
			}
		}
		return f
	}
	deep := strings.Repeat("<g>", 200) + strings.Repeat("</g>", 200)
	cases := []struct {
		name string
		data []byte
		want string
		big  bool
	}{
		{"not a zip", []byte("solid x\nendsolid\n"), "not a 3MF package", false},
		{"empty zip", threemftest.Zip(nil), "no _rels/.rels", false},
		{"missing relationship file", threemftest.Zip(without("_rels/.rels")), "no _rels/.rels", false},
		{"no model relationship", threemftest.Zip(func() map[string]string {
			f := without("_rels/.rels")
			f["_rels/.rels"] = `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/x.png" Id="a" Type="thumbnail"/></Relationships>`
			return f
		}()), "names no 3D model", false},
		{"model missing", threemftest.Zip(without("3D/3dmodel.model")), "3D/3dmodel.model: the package has no such entry", false},
		{"dot-dot entry", threemftest.Zip(func() map[string]string { f := without(""); f["../../etc/evil"] = "x"; return f }()), `climbs out of the package`, false},
		{"absolute entry", threemftest.Zip(func() map[string]string { f := without(""); f["/etc/evil"] = "x"; return f }()), `absolute path`, false},
		{"zip bomb", bomb(t), "zip bomb", true},
		{"declared size far beyond the file", lyingSize(t, good), "to 3221225472", true},
		{"too many entries", threemftest.Zip(func() map[string]string {
			f := without("")
			for i := range DefaultMaxEntries + 1 {
				f[fmt.Sprintf("junk/%d", i)] = ""
			}
			return f
		}()), "entries, more than the limit", true},
		{"deep nesting", withModel(strings.Replace(threemftest.Model("", "", box(), threemftest.Item(1, "")), "<resources>", "<resources>"+deep, 1)), "nest more than", true},
		{"index out of range", withModel(threemftest.Model("", "", strings.Replace(box(), `v3="1"`, `v3="99"`, 1), threemftest.Item(1, ""))), "refers to vertex 99, but the object has 8 vertices", false},
		{"NaN coordinate", withModel(threemftest.Model("", "", strings.Replace(box(), `x="10" y="0"`, `x="NaN" y="0"`, 1), threemftest.Item(1, ""))), `vertex coordinate "NaN" is not a finite number`, false},
		{"NaN in the slow path", withModel(threemftest.Model("", "", strings.Replace(box(), `<vertex x="10" y="0"`, `<vertex x="&#78;aN" y="0"`, 1), threemftest.Item(1, ""))), `"NaN" is not a finite number`, false},
		{"bad unit", withModel(threemftest.Model("parsec", "", box(), threemftest.Item(1, ""))), `unit "parsec"`, false},
		{"missing object", withModel(threemftest.Model("", "", box(), threemftest.Item(7, ""))), "no object with id 7", false},
		{"component cycle", withModel(threemftest.Model("", "", `<object id="1"><components><component objectid="2"/></components></object><object id="2"><components><component objectid="1"/></components></object>`, threemftest.Item(1, ""))), "refer to themselves", true},
		{"instancing bomb", instancing(), "more than", true},
		{"entity expansion", withModel(`<?xml version="1.0"?><!DOCTYPE model [<!ENTITY a "aaaaaaaaaa">]>` + threemftest.Model("", "", box(), threemftest.Item(1, ""))), "document type declarations are not allowed", false},
		{"truncated XML", withModel(threemftest.Model("", "", box(), threemftest.Item(1, ""))[:400]), "XML", false},
		{"empty build", withModel(threemftest.Model("", "", box(), "")), "the build has no items", false},
		{"bad transform", withModel(threemftest.Model("", "", box(), threemftest.Item(1, "1 0 0 nan 1 0 0 0 1 0 0 0"))), "is not a finite number", false},
		{"path out of the package", withModel(threemftest.Model("", "", box(), `<item objectid="1" p:path="/../../etc/passwd"/>`)), "leaves the package", false},
		{"production part missing", withModel(threemftest.Model("", "", box(), `<item objectid="1" p:path="/3D/Objects/none.model"/>`)), "3D/Objects/none.model: the package has no such entry", false},
		{"truncated zip", threemftest.Zip(good)[:300], "not a 3MF package", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := read(t, c.data)
			if err == nil {
				t.Fatal("read without error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not a *threemf.Error", err, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "part.3mf: ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming part.3mf and %q", msg, c.want)
			}
			if c.big != errors.Is(err, ErrTooLarge) || !c.big != errors.Is(err, ErrMalformed) {
				t.Fatalf("error %q: too large %v, want %v", msg, errors.Is(err, ErrTooLarge), c.big)
			}
		})
	}
}

// bomb is a package whose model inflates 1000 times.
func bomb(t *testing.T) []byte {
	f := threemftest.Package(threemftest.Model("", "", box(), threemftest.Item(1, "")), nil)
	f["3D/3dmodel.model"] = strings.Replace(f["3D/3dmodel.model"], "<resources>", "<resources><!--"+strings.Repeat(" ", 50<<20)+"-->", 1)
	return threemftest.Zip(f)
}

// lyingSize rewrites the central directory of a package so that its model
// declares 3 GiB more than it holds.
func lyingSize(t *testing.T, files map[string]string) []byte {
	data := threemftest.Zip(files)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name != "3D/3dmodel.model" {
			continue
		}
		// Find the central directory header naming it and patch its
		// uncompressed size (offset 24 in the header).
		sig := []byte{'P', 'K', 1, 2}
		for i := bytes.Index(data, sig); i >= 0; {
			n := int(binary.LittleEndian.Uint16(data[i+28:]))
			if string(data[i+46:i+46+n]) == f.Name {
				binary.LittleEndian.PutUint32(data[i+24:], 0xC0000000)
				return data
			}
			j := bytes.Index(data[i+4:], sig)
			if j < 0 {
				break
			}
			i += 4 + j
		}
	}
	t.Fatal("central directory entry not found")
	return nil
}

// instancing places a 10-level tree of 10 components each: 10^10 boxes.
func instancing() []byte {
	var b strings.Builder
	b.WriteString(box())
	for lvl := 2; lvl <= 11; lvl++ {
		fmt.Fprintf(&b, `<object id="%d"><components>`, lvl)
		for range 10 {
			fmt.Fprintf(&b, `<component objectid="%d"/>`, lvl-1)
		}
		b.WriteString(`</components></object>`)
	}
	return withModel(threemftest.Model("", "", b.String(), threemftest.Item(11, "")))
}

func TestScannerMatchesDecoder(t *testing.T) {
	// The same vertices and triangles, written so the scanner reads some
	// and the decoder the others, give the same facets.
	plain := threemftest.Model("", "", box(), threemftest.Item(1, ""))
	tricky := strings.NewReplacer(
		`<vertex x="10" y="0" z="0"/>`, `<vertex x='10' y = "0"  z="0" ></vertex><!-- c -->`,
		`<triangle v1="0" v2="2" v3="1"/>`, `<triangle v1="&#48;" v2="2" v3="1"/>`,
		`<vertex x="0" y="10" z="0"/>`, "<vertex\n z=\"0\" y=\"10\" x=\"0\" pid=\"1\"/>",
	).Replace(plain)
	if tricky == plain {
		t.Fatal("replacements did not apply")
	}
	_, a, err := read(t, withModel(plain))
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := read(t, withModel(tricky))
	if err != nil {
		t.Fatal(err)
	}
	if *a != *b {
		t.Fatalf("plain %+v, tricky %+v", a, b)
	}
}
