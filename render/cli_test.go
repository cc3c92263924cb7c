package render_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/render"
)

const cliPart = "../testdata/corpus/prusa3d__Original-Prusa-i3/Printed-Parts/STL/x-carriage.stl"

func run(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run blueprints %s: %v", strings.Join(args, " "), err)
		}
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

func TestCLIInspect(t *testing.T) {
	f, err := os.Open(cliPart)
	if err != nil {
		t.Fatal(err)
	}
	want, err := render.Inspect(f, cliPart, render.Limits{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, nil, "inspect", cliPart, "--json")
	if code != 0 {
		t.Fatalf("inspect --json: exit %d: %s", code, errOut)
	}
	var got render.Part
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("inspect --json printed %q: %v", out, err)
	}
	if got != want {
		t.Errorf("inspect --json = %+v, want %+v", got, want)
	}
	for _, field := range []string{`"triangles"`, `"format"`, `"bbox_min"`, `"bbox_max"`, `"size"`, `"volume"`, `"area"`, `"watertight"`, `"shells"`, `"sha256"`} {
		if !strings.Contains(out, field) {
			t.Errorf("inspect --json lacks %s", field)
		}
	}

	data, _ := os.ReadFile(cliPart)
	out, errOut, code = run(t, data, "inspect", "-")
	if code != 0 || !strings.Contains(out, "watertight  yes") || !strings.Contains(out, "7200") || !strings.Contains(out, want.SHA256) {
		t.Errorf("inspect - (table): exit %d\n%s%s", code, out, errOut)
	}
}

func TestCLIRender(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "part.png")
	// Flags after the argument, as in git.
	if _, errOut, code := run(t, nil, "render", cliPart, "-o", out, "--size", "200"); code != 0 {
		t.Fatalf("render: exit %d: %s", code, errOut)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("render wrote no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 200 || b.Dy() != 200 {
		t.Errorf("image is %v, want 200×200", b)
	}
}

func TestCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.stl")
	if err := os.WriteFile(bad, []byte("solid broken\nfacet normal 0 0 1\n  outer loop\n    vertex 1 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.png")
	for _, args := range [][]string{
		{"inspect", bad},
		{"inspect", bad, "--json"},
		{"render", bad, "-o", out},
		{"inspect", filepath.Join(dir, "missing.stl")},
	} {
		stdout, stderr, code := run(t, nil, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(stderr, filepath.Base(args[1])) || stdout != "" {
			t.Errorf("blueprints %s: exit %d, stdout %q, stderr %q; want one line naming the file and a non-zero exit",
				strings.Join(args, " "), code, stdout, stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("render of a bad file left %s behind (%v)", out, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("render of a bad file left files: %v", entries)
	}
	if _, _, code := run(t, nil, "render", cliPart); code != 2 {
		t.Errorf("render without -o: exit %d, want 2 (usage)", code)
	}
	if _, _, code := run(t, nil, "render", cliPart, "-o", out, "--size", "5"); code != 2 {
		t.Errorf("render --size 5: exit %d, want 2 (usage)", code)
	}
}
