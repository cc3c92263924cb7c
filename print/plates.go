package print

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"

	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/threemf"
)

// Plate files: each plate as a 3MF holding its parts' meshes once and one
// build item per piece, placed where the plan put it, with a top view as
// its thumbnail; the plate's picture alone; all plates in one ZIP; and a
// single piece of a part, laid as the plan lays it.

// ThumbnailSize is the edge of the picture inside a plate's 3MF.
const ThumbnailSize = 256

// WritePlate writes plate n of pl (a plan of project) as a 3MF.
func (p *Planner) WritePlate(ctx context.Context, project string, pl *Plan, n int, w io.Writer) error {
	parts, err := pl.plateParts(n)
	if err != nil {
		return err
	}
	plate := pl.Plates[n-1]
	tw, err := threemf.NewWriter(w, titleOf(project, pl, fmt.Sprintf("plate %d", n)))
	if err != nil {
		return err
	}
	pic, err := render.NewPlate(pl.Printer.X, pl.Printer.Y, max(plate.Height, 1), ThumbnailSize)
	if err != nil {
		return err
	}
	ids := map[int]int{}
	for _, i := range parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		pt := pl.Parts[i]
		m, err := p.readMesh(ctx, project, pt.Blob, pt.Path)
		if err != nil {
			return fmt.Errorf("plate %d: %w", n, err)
		}
		id, err := tw.AddObject(pt.Name, m)
		if err != nil {
			return fmt.Errorf("plate %d: %s: %w", n, pt.Path, err)
		}
		ids[i] = id
		for _, c := range plate.Pieces {
			if c.Part == i {
				if err := pic.DrawMesh(m, c.Transform); err != nil {
					p.partLeftOut(project, n, pt.Path, err)
					break
				}
			}
		}
	}
	for _, c := range plate.Pieces {
		if err := tw.AddItem(ids[c.Part], c.Transform, pl.Parts[c.Part].Name); err != nil {
			return err
		}
	}
	var png bytes.Buffer
	if err := pic.WritePNG(&png); err == nil {
		tw.SetThumbnail(png.Bytes())
	}
	return tw.Close()
}

// partLeftOut says which part a plate picture lacks: one over its
// preview budget is left out of the picture rather than failing the plate.
func (p *Planner) partLeftOut(project string, plate int, part string, err error) {
	p.log.Warn("plate picture drawn without a part", "project", project, "plate", plate, "part", part, "err", err)
}

// WritePlates writes every plate's 3MF into one ZIP, named after the
// project and printer.
func (p *Planner) WritePlates(ctx context.Context, project string, pl *Plan, w io.Writer) error {
	zw := zip.NewWriter(w)
	base := path.Base(project) + "-" + pl.Printer.ID
	for _, plate := range pl.Plates {
		// A 3MF is compressed already.
		f, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("%s-plate-%d.3mf", base, plate.N), Method: zip.Store})
		if err != nil {
			return err
		}
		if err := p.WritePlate(ctx, project, pl, plate.N, f); err != nil {
			return err
		}
	}
	return zw.Close()
}

// WritePart writes one piece of part i of pl as a 3MF, laid in the pose
// the plan gives it, in the middle of the bed.
func (p *Planner) WritePart(ctx context.Context, project string, pl *Plan, i int, w io.Writer) error {
	if i < 0 || i >= len(pl.Parts) {
		return fmt.Errorf("%w: part %d of %d", ErrNoPlate, i, len(pl.Parts))
	}
	pt := pl.Parts[i]
	return p.WritePiece(ctx, PartRef{Project: project, Blob: pt.Blob, Path: pt.Path, SHA256: pt.SHA256, Pose: pt.Pose}, pl.Printer, w)
}

// WritePiece writes one piece of a part as a 3MF, laid in ref's pose in
// the middle of printer pr's bed. The same part, pose and printer always
// give the same bytes.
func (p *Planner) WritePiece(ctx context.Context, ref PartRef, pr Printer, w io.Writer) error {
	m, err := p.readMesh(ctx, ref.Project, ref.Blob, ref.Path)
	if err != nil {
		return err
	}
	name := partName(ref.Path)
	tw, err := threemf.NewWriter(w, name)
	if err != nil {
		return err
	}
	id, err := tw.AddObject(name, m)
	if err != nil {
		return fmt.Errorf("%s: %w", ref.Path, err)
	}
	if err := tw.AddItem(id, PartOnBed(ref.Pose, pr), name); err != nil {
		return err
	}
	return tw.Close()
}

// PartOnBed is the transform that lays a part in pose in the middle of
// the printer's bed.
func PartOnBed(pose Pose, pr Printer) [12]float64 {
	return place(pose, (pr.X-pose.Size[0])/2, (pr.Y-pose.Size[1])/2)
}

// PlatePicture returns plate n's top view as a PNG of size pixels,
// drawing it the first time it is asked for.
func (p *Planner) PlatePicture(ctx context.Context, project string, pl *Plan, n, size int) ([]byte, error) {
	parts, err := pl.plateParts(n)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s|%d|%d", pl.Version, n, size)
	if b, ok := p.pics.get(key); ok {
		return b, nil
	}
	v, err, _ := p.flight.Do("pic|"+key, func() (any, error) {
		plate := pl.Plates[n-1]
		pic, err := render.NewPlate(pl.Printer.X, pl.Printer.Y, max(plate.Height, 1), size)
		if err != nil {
			return nil, err
		}
		for _, i := range parts {
			pt := pl.Parts[i]
			f, err := p.readFacets(context.WithoutCancel(ctx), project, pt.Blob, pt.Path)
			if err != nil {
				return nil, fmt.Errorf("plate %d: %w", n, err)
			}
			for _, c := range plate.Pieces {
				if c.Part == i {
					if err := pic.Draw(f, c.Transform); err != nil {
						p.partLeftOut(project, n, pt.Path, err)
						break
					}
				}
			}
		}
		var buf bytes.Buffer
		if err := pic.WritePNG(&buf); err != nil {
			return nil, err
		}
		p.pics.put(key, buf.Bytes())
		return buf.Bytes(), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// readFacets reads a part's facets, for drawing.
func (p *Planner) readFacets(ctx context.Context, project, blob, partPath string) (*render.Facets, error) {
	rc, name, err := p.o.Source.OpenPart(ctx, project, blob, partPath)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return render.ReadFacets(rc, name, p.o.Limits)
}
