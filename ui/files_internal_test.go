package ui

import "testing"

// TestContentType: 3D and CAD formats get their own types whatever the
// system's MIME table says, and nothing a browser would run as a page is
// served as such.
func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"frame.stl":     "model/stl",
		"FRAME.STL":     "model/stl",
		"plate.3mf":     "model/3mf",
		"scan.obj":      "model/obj",
		"scan.mtl":      "model/mtl",
		"bracket.step":  "model/step",
		"bracket.stp":   "model/step",
		"bracket.igs":   "model/iges",
		"scene.glb":     "model/gltf-binary",
		"scene.gltf":    "model/gltf+json",
		"cloud.ply":     "application/octet-stream",
		"gear.scad":     "text/plain; charset=utf-8",
		"print.gcode":   "text/plain; charset=utf-8",
		"scene.dae":     "text/plain; charset=utf-8", // COLLADA is XML
		"scene.x3d":     "text/plain; charset=utf-8",
		"photo.png":     "image/png",
		"drawing.svg":   "text/plain; charset=utf-8",
		"page.html":     "text/plain; charset=utf-8",
		"housing.fcstd": "application/x-freecad",
		"chassis.blend": "application/x-blender",
	} {
		if got := contentType(name, nil); got != want {
			t.Errorf("contentType(%q) = %q, want %q", name, got, want)
		}
	}
}
