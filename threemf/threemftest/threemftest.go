// Package threemftest writes small 3MF packages by hand for tests: one
// case per feature of the format (each unit, build transforms, nested
// components, the Production extension as Bambu Studio and OrcaSlicer
// write it), with the figures a reader must find, and hostile packages.
package threemftest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Case is a hand-written 3MF package and what reading it must give.
type Case struct {
	Name      string
	Files     map[string]string // package entries
	Triangles int64
	Objects   int
	Unit      string
	Min, Max  [3]float64 // millimetres
	Volume    float64    // mm³
}

// Bytes returns the package as a zip.
func (c Case) Bytes() []byte { return Zip(c.Files) }

// Zip packs files (name → content) into a zip, in name order, deflated.
func Zip(files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			panic(err)
		}
		w.Write([]byte(files[n]))
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

const (
	contentTypes = `<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
 <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
 <Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>
</Types>`
	rels = `<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
 <Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>
</Relationships>`
	// NSCore is the 3MF core namespace; NSProduction the Production
	// extension's.
	NSCore       = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
	NSProduction = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
)

// Package returns the entries of a package whose root model is
// 3D/3dmodel.model with the given XML, plus extra entries.
func Package(root string, extra map[string]string) map[string]string {
	f := map[string]string{"[Content_Types].xml": contentTypes, "_rels/.rels": rels, "3D/3dmodel.model": root}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// Model wraps resources and build XML in a <model> element.
func Model(unit, attrs, resources, build string) string {
	u := ""
	if unit != "" {
		u = ` unit="` + unit + `"`
	}
	return `<?xml version="1.0" encoding="UTF-8"?>
<model` + u + ` xml:lang="en-US" xmlns="` + NSCore + `" xmlns:p="` + NSProduction + `"` + attrs + `>
 <metadata name="Application">threemftest</metadata>
 <resources>
` + resources + `
 </resources>
 <build>
` + build + `
 </build>
</model>`
}

// Box is the XML of a mesh object: an axis-aligned box from the origin to
// (x, y, z), 12 triangles facing out.
func Box(id int, x, y, z float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  <object id=\"%d\" type=\"model\">\n   <mesh>\n    <vertices>\n", id)
	for i := range 8 {
		fmt.Fprintf(&b, "     <vertex x=\"%g\" y=\"%g\" z=\"%g\"/>\n", float64(i&1)*x, float64(i>>1&1)*y, float64(i>>2&1)*z)
	}
	b.WriteString("    </vertices>\n    <triangles>\n")
	for _, t := range boxTris {
		fmt.Fprintf(&b, "     <triangle v1=\"%d\" v2=\"%d\" v3=\"%d\"/>\n", t[0], t[1], t[2])
	}
	b.WriteString("    </triangles>\n   </mesh>\n  </object>")
	return b.String()
}

// boxTris are a box's facets over vertices numbered by bits (x=1, y=2, z=4),
// counter-clockwise from outside.
var boxTris = [12][3]int{
	{0, 2, 1}, {1, 2, 3}, // z = 0
	{4, 5, 6}, {5, 7, 6}, // z = 1
	{0, 1, 4}, {1, 5, 4}, // y = 0
	{2, 6, 3}, {3, 6, 7}, // y = 1
	{0, 4, 2}, {2, 4, 6}, // x = 0
	{1, 3, 5}, {3, 7, 5}, // x = 1
}

// Item is a build item placing object id with a transform ("" for none).
func Item(id int, transform string) string {
	if transform == "" {
		return fmt.Sprintf(`  <item objectid="%d" printable="1"/>`, id)
	}
	return fmt.Sprintf(`  <item objectid="%d" transform="%s" printable="1"/>`, id, transform)
}

// Translate is the transform moving by (x, y, z).
func Translate(x, y, z float64) string {
	return fmt.Sprintf("1 0 0 0 1 0 0 0 1 %g %g %g", x, y, z)
}

// RotZ90 turns 90° about z (x → y), then moves by (x, y, z).
func RotZ90(x, y, z float64) string {
	return fmt.Sprintf("0 1 0 -1 0 0 0 0 1 %g %g %g", x, y, z)
}

// Units returns one case per unit 3MF names: a box of 20 mm × 10 mm × 5 mm
// written in that unit.
func Units() []Case {
	var out []Case
	for _, u := range []struct {
		name  string
		scale float64
	}{{"micron", 0.001}, {"millimeter", 1}, {"centimeter", 10}, {"inch", 25.4}, {"foot", 304.8}, {"meter", 1000}} {
		x, y, z := 20/u.scale, 10/u.scale, 5/u.scale
		out = append(out, Case{
			Name:      "unit_" + u.name,
			Files:     Package(Model(u.name, "", Box(1, x, y, z), Item(1, "")), nil),
			Triangles: 12, Objects: 1, Unit: u.name,
			Min: [3]float64{0, 0, 0}, Max: [3]float64{20, 10, 5}, Volume: 1000,
		})
	}
	return out
}

// BuildTransforms places one box three times: as it is, moved, and turned.
func BuildTransforms() Case {
	return Case{
		Name: "build_transforms",
		Files: Package(Model("millimeter", "", Box(1, 20, 10, 5),
			Item(1, "")+"\n"+Item(1, Translate(40, 0, 0))+"\n"+Item(1, RotZ90(0, 30, 2))), nil),
		Triangles: 36, Objects: 3, Unit: "millimeter",
		// The turned box spans x -10..0, y 30..50, z 2..7.
		Min: [3]float64{-10, 0, 0}, Max: [3]float64{60, 50, 7}, Volume: 3000,
	}
}

// Nested places a group of groups: object 3 holds object 2 (moved) and
// the box (turned); object 2 holds the box (moved); the build moves
// object 3 up.
func Nested() Case {
	res := Box(1, 20, 10, 5) + `
  <object id="2" type="model"><components>
   <component objectid="1" transform="` + Translate(0, 0, 10) + `"/>
  </components></object>
  <object id="3" type="model"><components>
   <component objectid="2" transform="` + Translate(30, 0, 0) + `"/>
   <component objectid="1" transform="` + RotZ90(0, 0, 0) + `"/>
  </components></object>`
	return Case{
		Name:      "nested_components",
		Files:     Package(Model("millimeter", "", res, Item(3, Translate(0, 0, 1))), nil),
		Triangles: 24, Objects: 1, Unit: "millimeter",
		// Box in object 2: x 30..50, y 0..10, z 11..16. Turned box:
		// x -10..0, y 0..20, z 1..6.
		Min: [3]float64{-10, 0, 1}, Max: [3]float64{50, 20, 16}, Volume: 2000,
	}
}

// Production is the layout Bambu Studio and OrcaSlicer save: the meshes in
// 3D/Objects/object_N.model, the root model's objects made of components
// that point there with p:path, and the build placing those.
func Production() Case {
	part := `<?xml version="1.0" encoding="UTF-8"?>
<model unit="millimeter" xml:lang="en-US" xmlns="` + NSCore + `" xmlns:BambuStudio="http://schemas.bambulab.com/package/2021" xmlns:p="` + NSProduction + `" requiredextensions="p">
 <metadata name="BambuStudio:3mfVersion">1</metadata>
 <resources>
` + strings.Replace(Box(1, 20, 10, 5), `type="model"`, `p:UUID="00010000-81cb-4c03-9d28-80fed5dfa1dc" type="model"`, 1) + `
` + strings.Replace(Box(2, 4, 4, 4), `type="model"`, `p:UUID="00010001-81cb-4c03-9d28-80fed5dfa1dc" type="model"`, 1) + `
 </resources>
 <build/>
</model>`
	root := `<?xml version="1.0" encoding="UTF-8"?>
<model unit="millimeter" xml:lang="en-US" xmlns="` + NSCore + `" xmlns:slic3rpe="http://schemas.slic3r.org/3mf/2017/06" xmlns:p="` + NSProduction + `" requiredextensions="p">
 <metadata name="Application">BambuStudio-01.09.00.70</metadata>
 <metadata name="BambuStudio:3mfVersion">1</metadata>
 <resources>
  <object id="3" p:UUID="00000001-61cb-4c03-9d28-80fed5dfa1dc" type="model">
   <components>
    <component p:path="/3D/Objects/object_1.model" objectid="1" p:UUID="00010000-b206-40ff-9872-83e8017abed1" transform="1 0 0 0 1 0 0 0 1 0 0 0"/>
    <component p:path="/3D/Objects/object_1.model" objectid="2" p:UUID="00010001-b206-40ff-9872-83e8017abed1" transform="` + Translate(8, 3, 5) + `"/>
   </components>
  </object>
 </resources>
 <build p:UUID="2c7c17d8-22b5-4d84-8835-1976022ea369">
  <item objectid="3" p:UUID="00000002-b1ec-4553-aec9-835e5b724bb4" transform="` + Translate(100, 100, 0) + `" printable="1"/>
 </build>
</model>`
	return Case{
		Name: "production_extension",
		Files: Package(root, map[string]string{
			"3D/Objects/object_1.model":      part,
			"3D/_rels/3dmodel.model.rels":    `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/Objects/object_1.model" Id="rel-1" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>`,
			"Metadata/model_settings.config": `<?xml version="1.0" encoding="UTF-8"?><config><object id="3"><metadata key="name" value="box"/></object></config>`,
			"Metadata/plate_1.png":           "\x89PNG not really",
		}),
		Triangles: 24, Objects: 1, Unit: "millimeter",
		Min: [3]float64{100, 100, 0}, Max: [3]float64{120, 110, 9}, Volume: 1064,
	}
}

// Cases returns every hand-written case.
func Cases() []Case {
	return append(Units(), BuildTransforms(), Nested(), Production())
}

// Close reports whether got is within rel of want (relative to max(|want|,
// scale)).
func Close(got, want, rel, scale float64) bool {
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), scale)
}
