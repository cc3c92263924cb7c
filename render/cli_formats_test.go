package render_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/threemf/threemftest"
)

// TestCLIFormats runs blueprints inspect and render on a 3MF file, on
// standard input with --format, and on an OpenSCAD source that uses a
// library (built by openscad as the server builds it).
func TestCLIFormats(t *testing.T) {
	dir := t.TempDir()
	c := threemftest.BuildTransforms()
	tmf := filepath.Join(dir, "blocks.3mf")
	os.WriteFile(tmf, c.Bytes(), 0o644)
	for _, args := range [][]string{{"inspect", tmf, "--json"}, {"inspect", "-", "--format", "3mf", "--json"}} {
		out, errOut, code := run(t, c.Bytes(), args...)
		var p render.Part
		if code != 0 || json.Unmarshal([]byte(out), &p) != nil {
			t.Fatalf("%v: exit %d: %s %s", args, code, out, errOut)
		}
		if p.Format != "3mf" || p.Triangles != c.Triangles || p.Objects != 3 || p.Units != "millimeter" || p.BBoxMax != c.Max {
			t.Errorf("%v: %+v", args, p)
		}
	}
	if _, errOut, code := run(t, nil, "render", tmf, "-o", filepath.Join(dir, "blocks.png")); code != 0 {
		t.Errorf("render 3MF: exit %d: %s", code, errOut)
	}
	if _, errOut, code := run(t, nil, "inspect", "-", "--format", "ply"); code != 2 || !strings.Contains(errOut, `--format "ply": want stl, 3mf or obj`) {
		t.Errorf("bad --format: exit %d: %s", code, errOut)
	}

	testenv.RequireTool(t, "openscad")
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	os.WriteFile(filepath.Join(dir, "lib", "shapes.scad"), []byte("module plate() { cube([40, 20, 3]); }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "plate.scad"), []byte("use <lib/shapes.scad>\nplate();\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "flat.scad"), []byte("square(3);\n"), 0o644)
	cmd := exec.Command(testenv.Binary(t), "inspect", "plate.scad", "--json")
	cmd.Dir = dir
	out, err := cmd.Output()
	var p render.Part
	if err != nil || json.Unmarshal(out, &p) != nil || p.Format != "scad" || p.Size != [3]float64{40, 20, 3} || p.Volume != 2400 {
		t.Fatalf("inspect plate.scad: %v %s", err, out)
	}
	cmd = exec.Command(testenv.Binary(t), "inspect", "flat.scad")
	cmd.Dir = dir
	msg, err := cmd.CombinedOutput()
	if err == nil || strings.TrimSpace(string(msg)) != "blueprints inspect: flat.scad: not a part: it draws in 2D" {
		t.Fatalf("inspect flat.scad: %v %q", err, msg)
	}
}
