package scad

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/runner"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// mapTree is a Tree held in memory.
type mapTree map[string]string

func (m mapTree) Version(p string) (string, bool) {
	s, ok := m[p]
	if !ok {
		return "", false
	}
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:]), true
}

func (m mapTree) Open(p string) (io.ReadCloser, error) {
	s, ok := m[p]
	if !ok {
		return nil, os.ErrNotExist
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

// Fixture is the repository the issue asks for: a part that uses a
// library, the library, a 2D drawing, a file with an error, one that
// imports /etc/passwd, one that includes ../../x, and one that never
// finishes.
var Fixture = mapTree{
	"lib/shapes.scad":    "// A library: modules only.\nmodule plate(w, d) { cube([w, d, 3]); }\nmodule peg() { cylinder(h = 10, r = 2, $fn = 24); }\n",
	"parts/bracket.scad": "use <../lib/shapes.scad>\n/* include <not/this.scad> */\n// use <nor/this.scad>\nplate(40, 20);\ntranslate([10, 10, 3]) peg();\necho(\"include <a string, not a file>\");\n",
	"parts/outline.scad": "square([30, 10]);\n",
	"parts/broken.scad":  "cube([10, 10, 10]\n",
	"parts/sneaky.scad":  "cube(5);\nimport(\"/etc/passwd\");\n",
	"parts/climber.scad": "include <../../x.scad>\ncube(5);\n",
	"parts/forever.scad": "echo(len([for (a = [0:99999]) for (b = [0:99999]) if (a < 0) a]));\ncube(1);\n",
}

func TestRefs(t *testing.T) {
	got := Refs([]byte(Fixture["parts/bracket.scad"] + "import(file = \"m.stl\");\nsurface(\"h.dat\", center = true);\nx = import;\nimport(str(\"a\", \"b\"));\ninclude<c d.scad>\n"))
	want := []Ref{
		{Use, "../lib/shapes.scad", 1},
		{Import, "m.stl", 7},
		{Surface, "h.dat", 8},
		{Include, "c d.scad", 11},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("refs %+v, want %+v", got, want)
	}
}

func TestClosure(t *testing.T) {
	c, err := FindClosure(Fixture, "parts/bracket.scad", "OpenSCAD version test")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Files, []string{"lib/shapes.scad", "parts/bracket.scad"}) || !strings.HasPrefix(c.Key, "scad-") {
		t.Fatalf("closure %+v", c)
	}
	// The key follows every file's content and the program's version,
	// and nothing else.
	other := mapTree{}
	for k, v := range Fixture {
		other[k] = v
	}
	other["README.md"] = "changed"
	other["parts/outline.scad"] = "square(1);"
	if c2, _ := FindClosure(other, "parts/bracket.scad", "OpenSCAD version test"); c2.Key != c.Key {
		t.Errorf("unrelated changes changed the key")
	}
	other["lib/shapes.scad"] += "\n// changed\n"
	if c2, _ := FindClosure(other, "parts/bracket.scad", "OpenSCAD version test"); c2.Key == c.Key {
		t.Errorf("a changed library kept the key")
	}
	if c2, _ := FindClosure(Fixture, "parts/bracket.scad", "OpenSCAD version 2"); c2.Key == c.Key {
		t.Errorf("another program version kept the key")
	}
	for file, want := range map[string]string{
		"parts/sneaky.scad":  `parts/sneaky.scad: line 2: import("/etc/passwd") refused: absolute paths are not followed`,
		"parts/climber.scad": `parts/climber.scad: line 1: include <../../x.scad> refused: the path leaves the repository`,
	} {
		_, err := FindClosure(Fixture, file, "v")
		var re *RefusedError
		if !errors.As(err, &re) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", file, err, want)
		}
	}
}

func TestBuild(t *testing.T) {
	testenv.RequireTool(t, "openscad")
	var runs []string
	// Nice 19 (the default) starves the builds behind a busy test run.
	r := runner.New(runner.Options{TempDir: t.TempDir(), Limits: runner.Limits{Nice: 5}})
	// Builds run at nice 19: on a busy machine even a small one may take
	// a while, so only the endless one gets a short time limit.
	b, err := NewBuilder(r, BuilderOptions{Runs: func(s string) { runs = append(runs, s) }})
	if err != nil {
		t.Fatal(err)
	}
	short, err := NewBuilder(r, BuilderOptions{Timeout: 3 * time.Second, Runs: func(s string) { runs = append(runs, s) }})
	if err != nil {
		t.Fatal(err)
	}
	build := func(file string) Result {
		t.Helper()
		c, err := FindClosure(Fixture, file, b.Version())
		if err != nil {
			t.Fatal(err)
		}
		bb := b
		if file == "parts/forever.scad" {
			bb = short
		}
		res, err := bb.Build(context.Background(), Fixture, c)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		t.Cleanup(res.Close)
		return res
	}
	res := build("parts/bracket.scad")
	if res.STL == nil || res.Error != "" || res.NotAPart != "" {
		t.Fatalf("bracket: %+v", res)
	}
	head := make([]byte, 84)
	if _, err := io.ReadFull(res.STL, head); err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint32(head[80:]); n < 20 {
		t.Fatalf("bracket has %d facets", n)
	}
	if res := build("lib/shapes.scad"); res.STL != nil || !strings.Contains(res.NotAPart, "library") {
		t.Errorf("library: %+v", res)
	}
	if res := build("parts/outline.scad"); res.STL != nil || res.NotAPart != "it draws in 2D" {
		t.Errorf("2D: %+v", res)
	}
	if res := build("parts/broken.scad"); res.STL != nil || !strings.HasPrefix(res.Error, "ERROR: Parser error: syntax error in file parts/broken.scad, line ") {
		t.Errorf("broken: %+v", res)
	}
	if res := build("parts/forever.scad"); res.STL != nil || res.Error != "OpenSCAD did not finish within 3s (the server's --scad-timeout)" {
		t.Errorf("forever: %+v", res)
	}
	if want := []string{RunBuilt, RunSkipped, RunSkipped, RunFailed, RunTimeout}; !reflect.DeepEqual(runs, want) {
		t.Errorf("runs %v, want %v", runs, want)
	}
}
