package render

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/hschendel/stl"
)

// decodeSolid reads data with our reader into an stl.Solid.
func decodeSolid(t testing.TB, data []byte, name string) (*stl.Solid, Decoded, error) {
	t.Helper()
	var s stl.Solid
	d, err := Decode(bytes.NewReader(data), name, Limits{}, &s)
	return &s, d, err
}

// TestAgainstHschendel compares every facet with hschendel/stl's reader on
// every corpus and generated file that both accept.
func TestAgainstHschendel(t *testing.T) {
	files := append(corpusFiles(t), generatedFiles(t, t.TempDir())...)
	compared := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ref, refErr := stl.ReadAll(bytes.NewReader(data))
		got, d, err := decodeSolid(t, data, path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if refErr != nil {
			t.Logf("%s: hschendel rejects it (%v); skipped", path, refErr)
			continue
		}
		compared++
		if ref.IsAscii != (d.Format == FormatASCII) {
			t.Errorf("%s: format %s, hschendel ascii=%v", path, d.Format, ref.IsAscii)
		}
		if len(ref.Triangles) != len(got.Triangles) {
			t.Errorf("%s: %d facets, hschendel %d", path, len(got.Triangles), len(ref.Triangles))
			continue
		}
		for i := range ref.Triangles {
			a, b := ref.Triangles[i], got.Triangles[i]
			if a.Vertices != b.Vertices || a.Normal != b.Normal && !(hasNaN(a.Normal) && hasNaN(b.Normal)) || a.Attributes != b.Attributes {
				t.Errorf("%s: facet %d = %v, hschendel %v", path, i, b, a)
				break
			}
		}
	}
	if compared < 30 {
		t.Errorf("compared only %d files with hschendel's reader", compared)
	}
}

func hasNaN(v stl.Vec3) bool {
	return v[0] != v[0] || v[1] != v[1] || v[2] != v[2]
}

// TestTolerantInput: real-world variations that must read the same as a
// clean file.
func TestTolerantInput(t *testing.T) {
	var clean bytes.Buffer
	if err := stlgen.WriteTorus(&clean, 600, true); err != nil {
		t.Fatal(err)
	}
	want, err := Inspect(bytes.NewReader(clean.Bytes()), "clean", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	text := clean.String()
	var bin bytes.Buffer
	if err := stlgen.WriteTorus(&bin, 600, false); err != nil {
		t.Fatal(err)
	}
	solidHeader := append([]byte(nil), bin.Bytes()...)
	copy(solidHeader, "solid torus from a CAD tool that writes binary STL")
	cases := map[string][]byte{
		"bare solid":          []byte("solid\n" + text[strings.Index(text, "\n")+1:]),
		"upper case":          []byte(strings.ToUpper(text)),
		"CRLF":                []byte(strings.ReplaceAll(text, "\n", "\r\n")),
		"no endsolid":         []byte(text[:strings.LastIndex(text, "endsolid")]),
		"tabs and blanks":     []byte(strings.ReplaceAll(text, "  ", "\t \t")),
		"leading blanks":      []byte("\n  " + text),
		"byte order mark":     []byte("\xef\xbb\xbf" + text),
		"two solids":          []byte(text + text[:strings.Index(text, "endfacet")+9] + "endsolid\n"),
		"no normal":           []byte(strings.ReplaceAll(text, "facet normal", "facet\n normal")),
		"binary":              bin.Bytes(),
		"binary solid header": solidHeader,
		"binary trailing":     append(append([]byte(nil), bin.Bytes()...), "trailing bytes\x00\x01"...),
	}
	for name, data := range cases {
		p, err := Inspect(bytes.NewReader(data), name, Limits{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		wantTris := want.Triangles
		if name == "two solids" {
			wantTris++
		}
		if p.Triangles != wantTris || p.Size != want.Size || p.Watertight != (name != "two solids") {
			t.Errorf("%s: %d facets, size %v, watertight %v; want %d, %v", name, p.Triangles, p.Size, p.Watertight, wantTris, want.Size)
		}
		if math.Abs(p.Volume-want.Volume) > 1e-9*want.Volume && name != "two solids" {
			t.Errorf("%s: volume %g, want %g", name, p.Volume, want.Volume)
		}
	}
	// "no normal" really drops "normal": facet without normal values.
	if _, err := Inspect(strings.NewReader("solid x\nfacet outer loop vertex 0 0 0 vertex 1 0 0 vertex 0 1 0 endloop endfacet\n"), "x", Limits{}); err != nil {
		t.Errorf("facet without normal: %v", err)
	}
}

// TestMalformed: bad input gets an error naming the file, the problem and
// its place, never a panic, a hang or a partial result.
func TestMalformed(t *testing.T) {
	var bin, ascii bytes.Buffer
	if err := stlgen.WriteTorus(&bin, 1000, false); err != nil {
		t.Fatal(err)
	}
	if err := stlgen.WriteTorus(&ascii, 200, true); err != nil {
		t.Fatal(err)
	}
	header := func(count uint32, facets int) []byte {
		b := append([]byte(nil), bin.Bytes()[:84+50*facets]...)
		binary.LittleEndian.PutUint32(b[80:], count)
		return b
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100_000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	garbage := []byte("solid x\n")
	for len(garbage) < 200_000 {
		garbage = append(garbage, "solid facet ((((( vertex outer loop endloop "...)
	}
	nan := append([]byte(nil), bin.Bytes()...)
	binary.LittleEndian.PutUint32(nan[84+50*7+12+4:], math.Float32bits(float32(math.NaN())))
	asciiText := ascii.String()

	cases := []struct {
		name  string
		data  []byte
		want  string // in the message
		limit error
	}{
		{"empty", nil, "empty", ErrMalformed},
		{"ten bytes", []byte("0123456789"), "too short", ErrMalformed},
		{"truncated binary", bin.Bytes()[:84+50*500+17], "truncated", ErrMalformed},
		{"truncated ascii", ascii.Bytes()[:ascii.Len()/2], "", ErrMalformed},
		{"header count far above size", header(900_000, 10), "declares 900000 triangles", ErrMalformed},
		{"random bytes", random, "", ErrMalformed},
		{"four billion triangles", header(4_000_000_000, 3), "declares 4000000000 triangles", ErrMalformed},
		{"deep garbage after solid", garbage, "line 2", ErrMalformed},
		{"nan vertex", nan, "facet 7", ErrMalformed},
		{"inf ascii vertex", []byte(strings.Replace(asciiText, "vertex 6.5e+01", "vertex inf", 1)), "non-finite", ErrMalformed},
		{"bad number", []byte(strings.Replace(asciiText, "vertex 6.5e+01", "vertex 6.5e+0x1", 1)), "expected a number", ErrMalformed},
		{"huge exponent", []byte(strings.Replace(asciiText, "vertex 6.5e+01", "vertex 6.5e+99", 1)), "float32 range", ErrMalformed},
		{"missing endloop", []byte(strings.Replace(asciiText, "endloop", "", 1)), `expected "endloop"`, ErrMalformed},
		{"long word", []byte("solid x\nfacet normal " + strings.Repeat("1", 5000)), "longer than", ErrMalformed},
		{"long name line", []byte("solid " + strings.Repeat("x", 100_000)), "longer than", ErrMalformed},
		{"no facets", []byte("solid x\nendsolid x\n"), "no facets", ErrMalformed},
		{"degenerate only", []byte("solid x\nfacet normal 0 0 0 outer loop vertex 1 1 1 vertex 1 1 1 vertex 2 2 2 endloop endfacet\n"), "degenerate", ErrMalformed},
		{"binary zero count, no facets", header(0, 0), "no facets", ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ReadMesh(bytes.NewReader(c.data), "bad.stl", Limits{})
			if c.name == "four billion triangles" {
				// Through a stream of unknown length the limit stops it first.
				_, err := ReadMesh(io.MultiReader(bytes.NewReader(c.data)), "bad.stl", Limits{})
				if !errors.Is(err, ErrTooLarge) {
					t.Errorf("streamed: %v, want over the limit", err)
				}
			}
			if err == nil {
				t.Fatalf("read %d bytes: no error, part %+v", len(c.data), m.Part())
			}
			if m != nil {
				t.Errorf("partial mesh returned with error %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "bad.stl: ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
			if !errors.Is(err, c.limit) {
				t.Errorf("error %q is not %v", msg, c.limit)
			}
			var fe *FormatError
			if errors.As(err, &fe) && fe.Offset < 0 && fe.Line == 0 && c.name != "no facets" && c.name != "degenerate only" && c.name != "binary zero count, no facets" {
				t.Errorf("error %q gives no place", msg)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	var bin, ascii bytes.Buffer
	if err := stlgen.WriteTorus(&bin, 1000, false); err != nil {
		t.Fatal(err)
	}
	if err := stlgen.WriteTorus(&ascii, 1000, true); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"binary": bin.Bytes(), "ascii": ascii.Bytes()} {
		// A reader that cannot tell its size, like a network stream.
		stream := func() io.Reader { return io.MultiReader(bytes.NewReader(data)) }
		if _, err := Inspect(stream(), name, Limits{MaxTriangles: int64(stlgen.TorusTriangles(1000) - 1)}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s over the triangle limit: %v", name, err)
		}
		if _, err := Inspect(stream(), name, Limits{MaxBytes: int64(len(data) - 1)}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s over the size limit: %v", name, err)
		}
		if _, err := Inspect(bytes.NewReader(data), name, Limits{MaxBytes: int64(len(data) - 1)}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s over the size limit, size known: %v", name, err)
		}
		p, err := Inspect(stream(), name, Limits{MaxBytes: int64(len(data)), MaxTriangles: int64(stlgen.TorusTriangles(1000))})
		if err != nil || p.Triangles != int64(stlgen.TorusTriangles(1000)) {
			t.Errorf("%s at the limits: %v, %d facets", name, err, p.Triangles)
		}
	}
}

// TestStreamsWithoutSeeking reads through a reader that delivers a few bytes
// at a time and cannot seek; results and hash match the whole-file read.
func TestStreamsWithoutSeeking(t *testing.T) {
	for _, ascii := range []bool{false, true} {
		var buf bytes.Buffer
		if err := stlgen.WriteTorus(&buf, 30000, ascii); err != nil {
			t.Fatal(err)
		}
		want, err := Inspect(bytes.NewReader(buf.Bytes()), "whole", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Inspect(&trickle{data: buf.Bytes()}, "trickle", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("ascii=%v: trickled read %+v, whole %+v", ascii, got, want)
		}
	}
}

type trickle struct {
	data []byte
	n    int
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.n++
	k := min(len(p), len(r.data), 1+r.n%97)
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}
