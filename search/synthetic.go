package search

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/render"
)

// Word lists for SyntheticParts, in the style of real open-hardware
// repositories (Voron, Prusa, OpenFlexure, farm machinery).
var (
	synthNouns = []string{
		"bracket", "clamp", "mount", "idler", "carriage", "gear", "spacer", "cover",
		"housing", "guide", "holder", "hinge", "knob", "pulley", "plate", "foot",
		"cap", "adapter", "tensioner", "joint", "panel", "duct", "shroud", "spool",
		"bearing", "block", "rail", "frame", "arm", "wheel", "hub", "shaft",
		"coupler", "nozzle", "fan", "clip", "latch", "handle", "lid", "base",
		"stand", "tray", "sleeve", "bushing", "washer", "nut", "bolt", "cleat",
		"pot", "gripper", "stage", "lens", "tube", "belt", "chain", "sprocket",
		"axle", "seat", "bumper", "fin", "enclosure", "skirt", "door", "filter",
		"shim", "grommet", "standoff", "hook", "strap", "sprayer", "hopper", "funnel",
		"plug", "boom", "tine", "blade", "chute", "auger", "coulter", "scraper",
		"bezel", "gusset", "flange", "collar", "trap", "cradle", "rack", "bin",
	}
	// Sizes, standard parts and versions makers put in names.
	synthSpecs = []string{
		"M3", "M4", "M5", "M8", "608", "625", "2020", "2040", "GT2", "20T",
		"NEMA17", "NEMA23", "5mm", "8mm", "12mm", "20mm", "40mm", "60mm", "80mm",
		"120mm", "12V", "24V", "v2", "v3", "rev4", "40x40", "60x60", "100mm",
	}
	synthQualifiers = []string{
		"front", "rear", "left", "right", "upper", "lower", "top", "bottom",
		"inner", "outer", "x", "y", "z", "xy", "small", "large", "mini", "long",
		"short", "main", "side", "center", "motor", "belt", "cable", "drive",
		"extruder", "hotend", "bed", "frame", "camera", "sensor", "pump", "valve",
	}
	synthFolders = []string{
		"Gantry", "X_Axis", "Z_Assembly", "Electronics_Bay", "Tools", "Panels",
		"Front_Doors", "Skirt", "Spool_Management", "Printhead", "AB_Drive_Units",
		"XY_Joints", "Bed", "Chassis", "Steering", "Wheels", "Mobility", "Optics",
		"Stage", "Illumination", "Enclosure", "Mounts", "Brackets", "Accessories",
	}
	synthOwners = []string{
		"voron", "prusa", "openflexure", "agrofelis", "farmhack", "opentractor",
		"makerlab", "fablab-berlin", "hackerspace", "seedbot", "openbike", "libremaker",
	}
	synthProducts = []string{
		"printer", "microscope", "tractor", "seeder", "cart", "robot", "drone",
		"loom", "press", "sawmill", "greenhouse", "bike", "trailer", "plotter",
	}
	synthLicenses   = []string{"GPL-3.0", "CERN-OHL-S-2.0", "MIT", "CC-BY-SA-4.0", "GPL-2.0", "CERN-OHL-W-2.0", "Apache-2.0", "none"}
	synthCategories = []string{"3d-printer", "agriculture", "microscope", "vehicle", "tools", "robotics", "household"}
)

// SyntheticParts returns n part documents with realistic names, paths,
// sizes and licences, the same for the same n and seed: the load for
// indexing and search benchmarks. Parts belong to about n/50 projects.
func SyntheticParts(n int, seed int64) []Doc {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x626c75657072696e))
	type project struct {
		name, license, category string
		tags                    []string
		folders                 []string
		pushes                  []time.Time // commits that touched parts
		model                   string      // the design's own name, in some part names
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	projects := make([]project, max(1, n/50))
	// Each design has its own name ("stealthburner", "sherpa"), shared by
	// about two projects: the long tail of words a commons holds.
	models := synthModelNames(rng, max(1, len(projects)/2))
	for i := range projects {
		owner := synthOwners[rng.IntN(len(synthOwners))]
		product := synthProducts[rng.IntN(len(synthProducts))]
		p := project{
			name:     fmt.Sprintf("%s/%s-%s-%d", owner, product, synthQualifiers[rng.IntN(len(synthQualifiers))], i),
			license:  synthLicenses[min(rng.IntN(len(synthLicenses)+2), len(synthLicenses)-1)],
			category: synthCategories[rng.IntN(len(synthCategories))],
			tags:     []string{product, synthCategories[rng.IntN(len(synthCategories))]},
			model:    models[rng.IntN(len(models))],
		}
		// A part's updated time is the commit that last changed it; a
		// project has a few such pushes.
		first := base.Add(time.Duration(rng.IntN(365*24*60)) * time.Minute)
		for k := range 1 + rng.IntN(5) {
			p.pushes = append(p.pushes, first.Add(time.Duration(k*rng.IntN(30*24*60))*time.Minute))
		}
		for range 2 + rng.IntN(6) {
			f := "STLs/" + synthFolders[rng.IntN(len(synthFolders))]
			if rng.IntN(3) == 0 {
				f += "/" + synthFolders[rng.IntN(len(synthFolders))]
			}
			p.folders = append(p.folders, f)
		}
		projects[i] = p
	}

	seen := make(map[string]bool, n)
	docs := make([]Doc, 0, n)
	for range n {
		p := &projects[rng.IntN(len(projects))]
		words := []string{synthQualifiers[rng.IntN(len(synthQualifiers))], synthNouns[rng.IntN(len(synthNouns))]}
		if rng.IntN(2) == 0 {
			words = append(words, synthQualifiers[rng.IntN(len(synthQualifiers))])
		}
		if rng.IntN(3) == 0 {
			spec := synthSpecs[rng.IntN(len(synthSpecs))]
			words = slices.Insert(words, rng.IntN(len(words)+1), spec)
		}
		if rng.IntN(3) == 0 {
			words = slices.Insert(words, 0, p.model)
		}
		name := synthName(rng, words)
		if rng.IntN(4) == 0 {
			name = "[a]_" + name
		}
		if rng.IntN(5) == 0 {
			name += fmt.Sprintf("_x%d", 2+rng.IntN(3))
		}
		path := p.folders[rng.IntN(len(p.folders))] + "/" + name + ".stl"
		for k := 2; seen[p.name+path]; k++ {
			path = fmt.Sprintf("%s/%s_v%d.stl", p.folders[0], name, k)
		}
		seen[p.name+path] = true

		size := [3]float64{}
		for a := range size {
			// log-uniform from 3 mm to 400 mm
			size[a] = math.Round(3*math.Pow(400.0/3, rng.Float64())*10) / 10
		}
		tris := int64(100 * math.Pow(5000, rng.Float64()))
		owner, _, _ := strings.Cut(p.name, "/")
		docs = append(docs, Doc{
			ID:       PartID(p.name, path),
			Kind:     KindPart,
			Project:  p.name,
			Owner:    owner,
			Name:     strings.TrimSuffix(path[strings.LastIndexByte(path, '/')+1:], ".stl"),
			Path:     path,
			Ref:      "main",
			Commit:   fmt.Sprintf("%040x", rng.Uint64()),
			Blob:     fmt.Sprintf("%040x", rng.Uint64()),
			License:  p.license,
			Category: p.category,
			Tags:     p.tags,
			Updated:  p.pushes[rng.IntN(len(p.pushes))],
			Part: &render.Part{
				Triangles:  tris,
				Format:     "binary",
				BBoxMax:    size,
				Size:       size,
				Volume:     math.Round(size[0]*size[1]*size[2]*(0.05+0.5*rng.Float64())*10) / 10,
				Area:       math.Round(2*(size[0]*size[1]+size[1]*size[2]+size[0]*size[2])*10) / 10,
				Watertight: rng.IntN(10) != 0,
				Shells:     1 + rng.IntN(2),
				SHA256:     fmt.Sprintf("%016x%016x%016x%016x", rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()),
			},
		})
	}
	return docs
}

// synthSyllables make up the names of designs.
var synthSyllables = []string{
	"ka", "lo", "vex", "tri", "dor", "mi", "ban", "zu", "ster", "quo", "fen", "ra",
	"tal", "gor", "bi", "nex", "sol", "ve", "pri", "mo", "stealth", "bur", "ner",
	"sher", "pa", "or", "bi", "ter", "clock", "work", "hem", "era", "mos", "qui", "to",
}

// synthModelNames returns n distinct made-up design names of two to four
// syllables.
func synthModelNames(rng *rand.Rand, n int) []string {
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		var b strings.Builder
		for range 2 + rng.IntN(3) {
			b.WriteString(synthSyllables[rng.IntN(len(synthSyllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// synthName joins words in one of the spellings makers use: snake_case,
// kebab-case, camelCase, PascalCase or words with spaces.
func synthName(rng *rand.Rand, words []string) string {
	switch rng.IntN(7) {
	case 0:
		return strings.Join(words, "-")
	case 6:
		title := slices.Clone(words)
		for i, w := range title {
			if rng.IntN(2) == 0 {
				title[i] = strings.ToUpper(w[:1]) + w[1:]
			}
		}
		return strings.Join(title, " ")
	case 1, 2:
		var b strings.Builder
		for i, w := range words {
			if i > 0 || rng.IntN(2) == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
		}
		return b.String()
	default:
		return strings.Join(words, "_")
	}
}
