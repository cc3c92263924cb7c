package main

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/scad"
)

var renderCmd = &cli.Command{
	Name:    "render",
	Args:    "FILE.stl|.3mf|.obj|.scad",
	Summary: "write a part's preview image (PNG)",
	Help: `Renders the part (STL, 3MF or OBJ) as the server previews it: a
three-quarter view, Z up, fitted to the frame. Use "-" to read standard
input, with --format when it is not STL.`,
	Setup: func(fs *cli.Flags) {
		formatFlag(fs)
		fs.String("o", "", "output PNG file (required)")
		fs.Int("size", render.DefaultPreviewSize, fmt.Sprintf("image width and height in pixels (%d..%d)", render.MinPreviewSize, render.MaxPreviewSize))
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want one part file", cli.ErrUsage)
		}
		kind, err := kindOf(fs, args[0])
		if err != nil {
			return err
		}
		out := fs.Lookup("o").Value.String()
		if out == "" {
			return fmt.Errorf("%w: -o OUT.png is required", cli.ErrUsage)
		}
		size := fs.Lookup("size").Value.(interface{ Get() any }).Get().(int)
		if size < render.MinPreviewSize || size > render.MaxPreviewSize {
			return fmt.Errorf("%w: --size %d is outside %d..%d", cli.ErrUsage, size, render.MinPreviewSize, render.MaxPreviewSize)
		}
		img, err := drawPart(args[0], kind, size)
		if err != nil {
			return err
		}
		return writePreview(img, out)
	},
}

// drawPart draws the part for a preview only: no welding, topology or
// hash, which a preview does not need. A file is drawn straight from the
// disk; standard input and OpenSCAD sources are read first.
func drawPart(path string, kind render.Kind, size int) (*image.RGBA, error) {
	oneShotGC()
	if scad.IsSource(path) {
		f, done, err := buildSource(path)
		if err != nil {
			return nil, err
		}
		defer done()
		fc, err := render.KindSTL.ReadFacets(f, path, oneShotLimits())
		if err != nil {
			return nil, err
		}
		return fc.Render(size)
	}
	if path == "-" {
		fc, err := kind.ReadFacets(bufio.NewReader(os.Stdin), "standard input", oneShotLimits())
		if err != nil {
			return nil, err
		}
		return fc.Render(size)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open part: %w", err)
	}
	defer f.Close()
	return kind.RenderFile(f, path, size, oneShotLimits())
}

// writePreview writes the PNG beside its destination and renames it into
// place, so a failure never leaves a partial image.
func writePreview(img *image.RGBA, out string) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".preview-*.png")
	if err != nil {
		return fmt.Errorf("create preview: %w", err)
	}
	// CreateTemp makes the file private; a preview is an ordinary file.
	err = tmp.Chmod(0o644)
	w := bufio.NewWriterSize(tmp, 256<<10)
	if err == nil {
		err = render.EncodePNG(w, img)
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return errors.Join(fmt.Errorf("write preview %s", out), err)
	}
	return nil
}
