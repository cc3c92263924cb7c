package catalog

import (
	"context"
	"io"

	"github.com/blueprints-hq/blueprints/render"
)

// RenderMeasurer measures with render.ReadMesh and draws PreviewSize
// previews, within Limits and the context's time.
type RenderMeasurer struct {
	Limits render.Limits
}

var _ Measurer = RenderMeasurer{}

// Measure implements Measurer.
func (m RenderMeasurer) Measure(ctx context.Context, r io.Reader, name string, png, stl io.Writer) (render.Part, error) {
	lim := m.Limits
	lim.Context = ctx
	mesh, err := render.ReadMesh(r, name, lim)
	if err != nil {
		return render.Part{}, err
	}
	if err := mesh.WritePNG(png, PreviewSize); err != nil {
		return render.Part{}, err
	}
	if k, _ := render.KindOf(name); k != render.KindSTL {
		if err := mesh.WriteSTL(stl); err != nil {
			return render.Part{}, err
		}
	}
	return mesh.Part(), nil
}
