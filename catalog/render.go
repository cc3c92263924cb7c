package catalog

import (
	"io"

	"github.com/blueprints-hq/blueprints/render"
)

// RenderMeasurer measures with render.ReadMesh and draws PreviewSize
// previews, within Limits.
type RenderMeasurer struct {
	Limits render.Limits
}

var _ Measurer = RenderMeasurer{}

// Measure implements Measurer.
func (m RenderMeasurer) Measure(r io.Reader, name string, png, stl io.Writer) (render.Part, error) {
	mesh, err := render.ReadMesh(r, name, m.Limits)
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
