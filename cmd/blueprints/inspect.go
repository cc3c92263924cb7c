package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"text/tabwriter"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/render"
)

var inspectCmd = &cli.Command{
	Name:    "inspect",
	Args:    "FILE.stl",
	Summary: "print an STL part's measurements (size, volume, area, watertightness)",
	Help: `Reads an STL file (binary or ASCII) and prints what Blueprints knows about
the part: facet count, format, bounding box and size, volume, surface area,
whether it is watertight, its number of shells and the SHA-256 of its bytes.
Use "-" to read standard input.`,
	Setup: func(fs *cli.Flags) {
		fs.Bool("json", false, "print the part as JSON (the API's fields)")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want one STL file", cli.ErrUsage)
		}
		part, err := inspectFile(args[0])
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

func inspectFile(path string) (render.Part, error) {
	oneShotGC()
	if path == "-" {
		return render.Inspect(os.Stdin, "standard input", oneShotLimits())
	}
	f, err := os.Open(path)
	if err != nil {
		return render.Part{}, fmt.Errorf("open part: %w", err)
	}
	defer f.Close()
	return render.Inspect(f, path, oneShotLimits())
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
