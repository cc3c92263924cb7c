package threemf

import (
	"math"
	"testing"
)

// quickCase is an element and whether the one-pass reader takes it.
type quickCase struct {
	el    string
	quick bool
}

// TestQuickElements: the one-pass readers of the common vertex and
// triangle forms agree with the general scanner (plainAttrs and the
// value parsers) on every element they accept, and leave to it every
// form they do not know.
func TestQuickElements(t *testing.T) {
	vertices := []quickCase{
		{`<vertex x="65" y="0" z="15"/>`, true},
		{`<vertex x='1.5' y="-0" z='2e3'/>`, true},
		{`<vertex x="-0.000" y="+7" z=".5"/>`, true},
		{`<vertex x="64.9991455" y="0.333392054" z="-1.234567e+01"/>`, true},
		{`<vertex x="1" y="2" z="3" />`, false},
		{`<vertex y="2" x="1" z="3"/>`, false},
		{`<vertex  x="1" y="2" z="3"/>`, false},
		{`<vertex x="1" y="2" z="3" p:extra="4"/>`, false},
		{`<vertex x="1&#46;5" y="2" z="3"/>`, false},
		{`<vertex x="1" y="2" z="3'/>`, false},
		{`<vertex x="1 " y="2" z="3"/>`, false},
		{`<vertex x="12345678901234567890" y="2" z="3"/>`, false},
		{`<vertex x="1e99" y="2" z="3"/>`, false},
		{`<vertex x="nan" y="2" z="3"/>`, false},
		{`<vertex x="1" y="2" z="3">`, false},
		{`<vertex x="1" y="2" z="3"`, false},
		{`<vertexx="1" y="2" z="3"/>`, false},
	}
	checkQuick(t, "<vertex", [3]string{"x", "y", "z"}, vertices, func(b []byte) ([3]uint32, int, bool) {
		v, n, ok := quickVertex(b)
		return [3]uint32{math.Float32bits(v[0]), math.Float32bits(v[1]), math.Float32bits(v[2])}, n, ok
	}, func(b []byte) (uint32, bool) {
		f, ok := parseCoord(b)
		return math.Float32bits(f), ok
	})
	triangles := []quickCase{
		{`<triangle v1="0" v2="1" v3="2"/>`, true},
		{`<triangle v1='4294967294' v2="01" v3='123'/>`, true},
		{`<triangle v1="4294967295" v2="1" v3="2"/>`, false},
		{`<triangle v1="12345678901" v2="1" v3="2"/>`, false},
		{`<triangle v1="-1" v2="1" v3="2"/>`, false},
		{`<triangle v1="" v2="1" v3="2"/>`, false},
		{`<triangle v2="1" v1="0" v3="2"/>`, false},
		{`<triangle v1="0" v2="1" v3="2" pid="1"/>`, false},
		{`<triangle v1="0" v2="1" v3="2"></triangle>`, false},
	}
	checkQuick(t, "<triangle", [3]string{"v1", "v2", "v3"}, triangles, quickTriangle, parseIndex)
}

// checkQuick runs a one-pass reader (values as bits) over cases and
// compares what it takes with plainAttrs and parse.
func checkQuick(t *testing.T, tag string, names [3]string, cases []quickCase, quick func([]byte) ([3]uint32, int, bool), parse func([]byte) (uint32, bool)) {
	t.Helper()
	for _, c := range cases {
		v, n, ok := quick([]byte(c.el + "\n<"))
		if ok != c.quick {
			t.Errorf("%s: quick reader ok %v, want %v", c.el, ok, c.quick)
		}
		if !ok {
			continue
		}
		var vals [3][]byte
		if n != len(c.el) || !plainAttrs([]byte(c.el[len(tag):]), &names, &vals) {
			t.Fatalf("%s: the quick reader reads %d bytes; the general scanner does not agree", c.el, n)
		}
		for k := range 3 {
			want, ok := parse(vals[k])
			if !ok || want != v[k] {
				t.Errorf("%s: value %d is %#x, the general parser's %#x %v", c.el, k, v[k], want, ok)
			}
		}
	}
}
