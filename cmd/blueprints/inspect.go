package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/runner"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/scad"
)

var inspectCmd = &cli.Command{
	Name:    "inspect",
	Args:    "FILE.stl|.3mf|.obj|.scad",
	Summary: "print a part's measurements (size, volume, area, watertightness)",
	Help: `Reads a mesh file (STL binary or ASCII, 3MF, OBJ: told by the extension)
and prints what Blueprints knows about the part: facet count, format,
bounding box and size in millimetres (3MF units are converted), volume,
surface area, whether it is watertight, its number of shells, the objects
a 3MF build or an OBJ places, and the SHA-256 of its bytes. Use "-" to
read standard input, with --format when it is not STL. An OpenSCAD source
(.scad) is first built by openscad, sandboxed as the server does: the
files it reads must lie under the current folder.`,
	Setup: func(fs *cli.Flags) {
		fs.Bool("json", false, "print the part as JSON (the API's fields)")
		formatFlag(fs)
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want one part file", cli.ErrUsage)
		}
		kind, err := kindOf(fs, args[0])
		if err != nil {
			return err
		}
		part, err := inspectFile(args[0], kind)
		if err != nil {
			return err
		}
		if fs.Lookup("json").Value.(interface{ Get() any }).Get().(bool) {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(part)
		}
		return printPart(os.Stdout, args[0], part)
	},
}

// oneShotGC sets up the garbage collector for a command that reads one part
// and exits: its heap is a few big arrays without pointers whose lifetimes
// render knows (it collects between its phases itself on a big part), so
// background cycles only cost CPU (about a fifth of it on a 1M-facet part,
// for the same peak memory). The memory limit brings collections back on
// a part too big for that to be true.
func oneShotGC() {
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(1 << 30)
}

func inspectFile(path string, kind render.Kind) (render.Part, error) {
	oneShotGC()
	if scad.IsSource(path) {
		f, done, err := buildSource(path)
		if err != nil {
			return render.Part{}, err
		}
		defer done()
		p, err := render.KindSTL.Inspect(f, path, oneShotLimits())
		p.Format = render.FormatSCAD
		return p, err
	}
	if path == "-" {
		return kind.Inspect(os.Stdin, "standard input", oneShotLimits())
	}
	f, err := os.Open(path)
	if err != nil {
		return render.Part{}, fmt.Errorf("open part: %w", err)
	}
	defer f.Close()
	return kind.Inspect(f, path, oneShotLimits())
}

// buildSource builds an OpenSCAD source with openscad, sandboxed as the
// server does; files it reads must lie under the current folder (the
// repository), or beside the source when it lies elsewhere. done removes
// the built mesh.
func buildSource(file string) (*os.File, func(), error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, nil, err
	}
	root, _ := os.Getwd()
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		root, rel = filepath.Dir(abs), filepath.Base(abs)
	}
	r := runner.New(runner.Options{})
	b, err := scad.NewBuilder(r, scad.BuilderOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: cannot build OpenSCAD sources: %w", file, err)
	}
	tree := scad.DirTree{Root: root}
	c, err := scad.FindClosure(tree, filepath.ToSlash(rel), b.Version())
	if err != nil {
		return nil, nil, err
	}
	res, err := b.Build(context.Background(), tree, c)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: build: %w", file, err)
	}
	switch {
	case res.NotAPart != "":
		return nil, nil, fmt.Errorf("%s: not a part: %s", file, res.NotAPart)
	case res.Error != "":
		return nil, nil, fmt.Errorf("%s: %s", file, res.Error)
	}
	return res.STL, res.Close, nil
}

// formatFlag declares --format, the kind of a part read from standard input.
func formatFlag(fs *cli.Flags) {
	fs.String("format", "", "kind of part: stl, 3mf or obj (default: from the file's extension; stl for standard input)")
}

// kindOf is the kind of part to read: --format, else the extension, else STL.
func kindOf(fs *cli.Flags, path string) (render.Kind, error) {
	switch f := fs.Lookup("format").Value.String(); f {
	case "":
		if k, ok := render.KindOf(path); ok {
			return k, nil
		}
		return render.KindSTL, nil
	case "stl", "3mf", "obj":
		return render.Kind(f), nil
	default:
		return "", fmt.Errorf("%w: --format %q: want stl, 3mf or obj", cli.ErrUsage, f)
	}
}

func printPart(w io.Writer, name string, p render.Part) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	yes := map[bool]string{true: "yes", false: "no"}
	fmt.Fprintf(tw, "file\t%s\n", name)
	fmt.Fprintf(tw, "format\t%s\n", p.Format)
	fmt.Fprintf(tw, "triangles\t%d\n", p.Triangles)
	fmt.Fprintf(tw, "size\t%.3f × %.3f × %.3f mm\n", p.Size[0], p.Size[1], p.Size[2])
	fmt.Fprintf(tw, "bbox min\t%.3f, %.3f, %.3f\n", p.BBoxMin[0], p.BBoxMin[1], p.BBoxMin[2])
	fmt.Fprintf(tw, "bbox max\t%.3f, %.3f, %.3f\n", p.BBoxMax[0], p.BBoxMax[1], p.BBoxMax[2])
	fmt.Fprintf(tw, "volume\t%.3f mm³\n", p.Volume)
	fmt.Fprintf(tw, "area\t%.3f mm²\n", p.Area)
	wt := yes[p.Watertight]
	if !p.Watertight && p.OpenEdges > 0 {
		wt += fmt.Sprintf(" (%d open edges)", p.OpenEdges)
	}
	fmt.Fprintf(tw, "watertight\t%s\n", wt)
	fmt.Fprintf(tw, "shells\t%d\n", p.Shells)
	if p.Objects > 0 {
		fmt.Fprintf(tw, "objects\t%d\n", p.Objects)
	}
	if p.Units != "" {
		fmt.Fprintf(tw, "units\t%s (converted to mm)\n", p.Units)
	}
	if p.Degenerate > 0 {
		fmt.Fprintf(tw, "degenerate facets\t%d\n", p.Degenerate)
	}
	fmt.Fprintf(tw, "sha256\t%s\n", p.SHA256)
	return tw.Flush()
}

// oneShotLimits are the default limits for a command that reads one part
// with the collector off (oneShotGC).
func oneShotLimits() render.Limits {
	lim := render.DefaultLimits()
	lim.OneShot = true
	return lim
}
