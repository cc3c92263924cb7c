package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/runner"
)

// benchFormats compares, in one run on the same files: `blueprints
// inspect` on a 1M-triangle 3MF and OBJ written by PrusaSlicer with
// `prusa-slicer --info` on them; our 3MF with our own binary STL of the
// same mesh; and openscad run through the runner (sandbox, limits, nice)
// with openscad run bare, on a real part.
func benchFormats(b *Bench) error {
	for _, tool := range []string{"prusa-slicer", "openscad"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is needed (make deps): %v", tool, err)
		}
	}
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	stl := filepath.Join(dir, "torus_1m.stl")
	writeTorus(b, stl, 1_000_000, false)
	for _, flag := range []string{"--export-3mf", "--export-obj"} {
		cmd := exec.Command("prusa-slicer", flag, stl)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("prusa-slicer %s: %v\n%s", flag, err, out)
		}
	}
	tmf, obj := strings.TrimSuffix(stl, ".stl")+".3mf", strings.TrimSuffix(stl, ".stl")+".obj"
	fmt.Printf("Machine: %s. Medians of %d runs, each command a fresh process; memory is its peak RSS.\n", Machine(), renderRuns)
	fmt.Printf("Files: PrusaSlicer 2.5's export of a 1M-triangle torus: 3MF %s, OBJ %s; binary STL %s.\n\n", size(b, tmf), size(b, obj), size(b, stl))

	type row struct {
		what, peerName string
		ours, peer     measured
		target         string
		ok             bool
	}
	var rows []row
	for _, f := range []struct{ what, path string }{{"parse+measure, 1M-triangle 3MF", tmf}, {"parse+measure, 1M-triangle OBJ", obj}} {
		ours, peer := alternate(b,
			func() measured { return measure(b, nil, bin, "inspect", "--json", f.path) },
			func() measured { return measure(b, nil, "prusa-slicer", "--info", f.path) })
		ok := peer.wall >= 10*ours.wall && 2*ours.rss <= peer.rss
		rows = append(rows, row{f.what, "prusa-slicer --info", ours, peer, "≥10× faster, ≤½ memory", ok})
	}
	ours, peer := alternate(b,
		func() measured { return measure(b, nil, bin, "inspect", "--json", tmf) },
		func() measured { return measure(b, nil, bin, "inspect", "--json", stl) })
	rows = append(rows, row{"3MF vs binary STL of the same mesh", "ours on the STL", ours, peer, "≤3× the STL's time", ours.wall <= 3*peer.wall})

	// The sandbox: the same build through the runner and bare, both at
	// nice 19 (the runner's default) so that only the sandbox differs.
	part := filepath.Join(dir, "scad")
	if err := os.MkdirAll(part, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(part, "bracket.scad"), []byte(benchSCAD), 0o644); err != nil {
		return err
	}
	run := runner.New(runner.Options{TempDir: dir})
	sandboxed := func() measured {
		start := time.Now()
		res, err := run.Run(context.Background(), runner.Job{Program: "openscad", Args: []string{"-o", "out.stl", "--export-format", "binstl", "bracket.scad"}, Dir: part})
		if err != nil {
			b.Fatalf("openscad in the sandbox: %v\n%s", err, res.Stderr)
		}
		return measured{wall: time.Since(start)}
	}
	bare := func() measured {
		start := time.Now()
		cmd := exec.Command("nice", "-n", "19", "openscad", "-o", "out.stl", "--export-format", "binstl", "bracket.scad")
		cmd.Dir = part
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("openscad: %v\n%s", err, out)
		}
		return measured{wall: time.Since(start)}
	}
	ours, peer = alternate(b, sandboxed, bare)
	rows = append(rows, row{"openscad build of a real part, through the runner (" + run.Isolation().How + ")", "openscad bare", ours, peer, "≤5% added", ours.wall <= peer.wall*105/100})

	var table [][]string
	for _, r := range rows {
		verdict := "meets"
		if !r.ok {
			verdict = "MISSES"
		}
		rss, prss, mratio := kb(r.ours.rss), kb(r.peer.rss), Ratio(float64(r.ours.rss), float64(r.peer.rss))
		if r.ours.rss == 0 {
			rss, prss, mratio = "", "", ""
		}
		cpu, pcpu := r.ours.cpu.Round(time.Millisecond).String(), r.peer.cpu.Round(time.Millisecond).String()
		if r.ours.cpu == 0 {
			cpu, pcpu = "", ""
		}
		table = append(table, []string{r.what, r.ours.wall.Round(time.Millisecond).String(), r.peerName + " " + r.peer.wall.Round(time.Millisecond).String(),
			Ratio(r.ours.wall.Seconds(), r.peer.wall.Seconds()), cpu, pcpu, rss, prss, mratio, verdict + " " + r.target})
	}
	Table([]string{"task", "ours", "peer", "time ratio", "ours CPU", "peer CPU", "ours peak RSS", "peer peak RSS", "memory ratio", "target"}, table)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("\nLoad average at the end: %s(figures are wall-clock; on a busy machine compare CPU too).\n", strings.Fields(string(load))[0]+" ")
	}
	return nil
}

func size(b *Bench, p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatalf("stat %s: %v", p, err)
	}
	return fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6)
}

// benchSCAD is a real-world kind of part: a bracket with rounded edges,
// slots and bolt holes (CGAL unions and differences, as most OpenSCAD
// designs).
const benchSCAD = `$fn = 48;
module rounded(size, r) {
  hull() for (x = [r, size[0] - r], y = [r, size[1] - r]) translate([x, y, 0]) cylinder(h = size[2], r = r);
}
difference() {
  union() {
    rounded([60, 30, 6], 4);
    translate([0, 0, 0]) rounded([6, 30, 40], 2);
    for (y = [4, 22]) translate([6, y, 6]) rotate([0, -90, 180]) linear_extrude(4) polygon([[0, 0], [30, 0], [0, 30]]);
  }
  for (x = [20, 45]) translate([x, 15, -1]) cylinder(h = 10, r = 2.6);
  for (z = [15, 32]) translate([-1, 15, z]) rotate([0, 90, 0]) cylinder(h = 10, r = 2.6);
  translate([25, 10, -1]) rounded([25, 10, 10], 5);
}
`
