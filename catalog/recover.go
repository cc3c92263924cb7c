package catalog

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/blueprints-hq/blueprints/render"
)

// measureSafely runs the measurer and turns a panic in it (a bug in the
// STL readers that some file triggers) into an error recorded against
// that file. Without it one such file kills the whole server, and kills
// it again at every start while its job is retried.
func (c *Catalog) measureSafely(ctx context.Context, r io.Reader, name string, png, mesh io.Writer) (part render.Part, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("measuring a part panicked; the file is recorded as failed", "file", name, "panic", p, "stack", string(debug.Stack()))
			part, err = render.Part{}, fmt.Errorf("%s: internal error while reading the file (a bug in Blueprints, not in the file; the server log has the details)", name)
		}
	}()
	return c.d.Measure.Measure(ctx, r, name, png, mesh)
}
