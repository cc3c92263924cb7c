package render

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
)

// Benchmarks of the parts of ReadMesh and Render on generated tori; the
// comparison with admesh and F3D is in bench/render.go (go run ./bench).

func torusBytes(b *testing.B, triangles int, ascii bool) []byte {
	b.Helper()
	var buf bytes.Buffer
	if err := stlgen.WriteTorus(&buf, triangles, ascii); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func benchRead(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ReadMesh(bytes.NewReader(data), "torus.stl", Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadBinary1M(b *testing.B)  { benchRead(b, torusBytes(b, 1_000_000, false)) }
func BenchmarkReadASCII200k(b *testing.B) { benchRead(b, torusBytes(b, 200_000, true)) }

func BenchmarkRender1M(b *testing.B) {
	m, err := ReadMesh(bytes.NewReader(torusBytes(b, 1_000_000, false)), "torus.stl", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var buf bytes.Buffer
		if err := m.WritePNG(&buf, DefaultPreviewSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderSmall draws a part of about a thousand facets, as most
// parts of a machine are: the preview's fixed costs (frames, resolve, PNG)
// are most of it.
func BenchmarkRenderSmall(b *testing.B) {
	m := readCorpusMesh(b, "rwb27__openflexure_microscope/stl/sample_clips.stl")
	b.Logf("%d facets", len(m.tris)/3)
	for b.Loop() {
		var buf bytes.Buffer
		if err := m.WritePNG(&buf, DefaultPreviewSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderFile1M draws a 1M-facet binary STL file straight from
// the disk and encodes the PNG, as `blueprints render` does (the F3D
// comparison in bench/render.go times that command).
func BenchmarkRenderFile1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "torus.stl")
	if err := os.WriteFile(path, torusBytes(b, 1_000_000, false), 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for b.Loop() {
		img, err := RenderFile(f, path, DefaultPreviewSize, DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		if err := EncodePNG(io.Discard, img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspectFile inspects the file named by BLUEPRINTS_INSPECT_BENCH
// (any kind) as `blueprints inspect` does, for profiles of a real export.
func BenchmarkInspectFile(b *testing.B) {
	name := os.Getenv("BLUEPRINTS_INSPECT_BENCH")
	if name == "" {
		b.Skip("BLUEPRINTS_INSPECT_BENCH names no mesh file")
	}
	for b.Loop() {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		_, err = Inspect(f, name, Limits{OneShot: true})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}
