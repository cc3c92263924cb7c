package stlgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// A generated farm machine: the assemblies of a seed drill, their parts
// named as people name them (long, with spaces), nested folders.
var (
	assemblies = []string{
		"Frame/Main Chassis", "Frame/Toolbar", "Frame/Toolbar/Wing Left", "Frame/Toolbar/Wing Right",
		"Hitch/Three Point", "Hitch/Drawbar", "Hopper", "Hopper/Lid and Latches", "Hopper/Agitator",
		"Seed Metering/Unit 1", "Seed Metering/Unit 2", "Seed Metering/Unit 3", "Seed Metering/Unit 4",
		"Seed Metering/Drive Shaft", "Coulters/Disc Opener", "Coulters/Depth Wheels", "Press Wheels",
		"Drive/Gearbox", "Drive/Chain and Sprockets", "Drive/Ground Wheel", "Markers", "Electronics/Enclosure",
		"Electronics/Sensor Mounts", "Covers and Guards", "Fasteners and Spacers",
	}
	nouns = []string{
		"Bracket", "Mount", "Plate", "Housing", "Cover", "Guard", "Spacer", "Bushing", "Gear", "Sprocket",
		"Hub", "Arm", "Clamp", "Hinge", "Latch", "Knob", "Flange", "Collar", "Shroud", "Funnel", "Tube Holder",
		"Seed Cup", "Metering Wheel", "Brush Holder", "Chain Tensioner", "Bearing Block", "Shaft Coupler",
	}
	qualifiers = []string{
		"Left", "Right", "Front", "Rear", "Upper", "Lower", "Inner", "Outer", "Main", "Small", "Large",
		"Long", "Short", "Reinforced", "Split",
	}
)

// MachinePart is one file of a generated machine.
type MachinePart struct {
	Path      string // slash-separated, relative to the machine's folder
	Triangles int
}

// WriteMachine writes a seed drill of n binary STL parts (headers that
// begin with "solid", as some CAD exporters write) and a README under dir:
// parts of 200 to 15,000 triangles, about 900 on average, in nested
// folders with long names with spaces. The same n gives the same machine.
// It returns the parts and their triangle count.
func WriteMachine(dir string, n int) ([]MachinePart, int, error) {
	rng := rand.New(rand.NewPCG(500, 16))
	var parts []MachinePart
	seen := map[string]bool{}
	total := 0
	for len(parts) < n {
		asm := assemblies[rng.IntN(len(assemblies))]
		name := qualifiers[rng.IntN(len(qualifiers))] + " " + nouns[rng.IntN(len(nouns))]
		if rng.IntN(3) == 0 {
			name += fmt.Sprintf(" %d mm", 5*(1+rng.IntN(40)))
		}
		if rng.IntN(4) == 0 {
			name += " Rev " + string(rune('A'+rng.IntN(4)))
		}
		p := asm + "/" + name + ".stl"
		if seen[p] {
			continue
		}
		seen[p] = true
		// Log-normal: most parts small, a few large.
		tris := int(math.Round(math.Exp(6.4 + 0.75*rng.NormFloat64())))
		tris = min(max(tris, 200), 15000)
		major := 10 + 80*rng.Float64()
		t := Torus{
			Major: major, Minor: major * (0.1 + 0.3*rng.Float64()), Triangles: tris,
			Center: [3]float64{0, 0, 20},
			Header: "solid " + strings.ToLower(strings.ReplaceAll(name, " ", "_")) + " exported by a CAD program",
		}
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(p)), t); err != nil {
			return nil, 0, err
		}
		n := TorusTriangles(tris)
		total += n
		parts = append(parts, MachinePart{p, n})
	}
	readme := "# Seed drill\n\nA three-point-hitch seed drill for small farms: hopper, four metering units, disc openers and press wheels.\n"
	return parts, total, os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme), 0o644)
}

// writeFile writes t to a new file at name, making its folders.
func writeFile(name string, t Torus) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	err = t.Write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
