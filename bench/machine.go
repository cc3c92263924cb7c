package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// A generated farm machine: the assemblies of a seed drill, their parts
// named as people name them (long, with spaces), nested folders.
var (
	machineAssemblies = []string{
		"Frame/Main Chassis", "Frame/Toolbar", "Frame/Toolbar/Wing Left", "Frame/Toolbar/Wing Right",
		"Hitch/Three Point", "Hitch/Drawbar", "Hopper", "Hopper/Lid and Latches", "Hopper/Agitator",
		"Seed Metering/Unit 1", "Seed Metering/Unit 2", "Seed Metering/Unit 3", "Seed Metering/Unit 4",
		"Seed Metering/Drive Shaft", "Coulters/Disc Opener", "Coulters/Depth Wheels", "Press Wheels",
		"Drive/Gearbox", "Drive/Chain and Sprockets", "Drive/Ground Wheel", "Markers", "Electronics/Enclosure",
		"Electronics/Sensor Mounts", "Covers and Guards", "Fasteners and Spacers",
	}
	machineNouns = []string{
		"Bracket", "Mount", "Plate", "Housing", "Cover", "Guard", "Spacer", "Bushing", "Gear", "Sprocket",
		"Hub", "Arm", "Clamp", "Hinge", "Latch", "Knob", "Flange", "Collar", "Shroud", "Funnel", "Tube Holder",
		"Seed Cup", "Metering Wheel", "Brush Holder", "Chain Tensioner", "Bearing Block", "Shaft Coupler",
	}
	machineQualifiers = []string{
		"Left", "Right", "Front", "Rear", "Upper", "Lower", "Inner", "Outer", "Main", "Small", "Large",
		"Long", "Short", "Reinforced", "Split",
	}
)

// machinePart is one file of the generated machine.
type machinePart struct {
	path      string
	triangles int
}

// writeMachine writes a seed drill of n binary STL parts (headers that
// begin with "solid", as some CAD exporters write) under dir: parts of 200
// to 15,000 triangles, about 900 on average. It returns the parts and
// their triangle count.
func writeMachine(dir string, n int) ([]machinePart, int, error) {
	rng := rand.New(rand.NewPCG(500, 16))
	var parts []machinePart
	seen := map[string]bool{}
	total := 0
	for len(parts) < n {
		asm := machineAssemblies[rng.IntN(len(machineAssemblies))]
		name := machineQualifiers[rng.IntN(len(machineQualifiers))] + " " + machineNouns[rng.IntN(len(machineNouns))]
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
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, 0, err
		}
		f, err := os.Create(full)
		if err != nil {
			return nil, 0, err
		}
		major := 10 + 80*rng.Float64()
		t := stlgen.Torus{
			Major: major, Minor: major * (0.1 + 0.3*rng.Float64()), Triangles: tris,
			Center: [3]float64{0, 0, 20},
			Header: "solid " + strings.ToLower(strings.ReplaceAll(name, " ", "_")) + " exported by a CAD program",
		}
		err = t.Write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, 0, fmt.Errorf("write %s: %w", full, err)
		}
		n := stlgen.TorusTriangles(tris)
		total += n
		parts = append(parts, machinePart{p, n})
	}
	readme := "# Seed drill\n\nA three-point-hitch seed drill for small farms: hopper, four metering units, disc openers and press wheels.\n"
	return parts, total, os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme), 0o644)
}

// benchMachine pushes the generated machine and times push to every part
// searchable with its preview, beside what Manyfold does for the same
// files: F3D rendering each to a 512 px PNG, one file at a time.
func benchMachine(b *Bench, peerFiles int) [][]string {
	work := b.TempDir()
	parts, tris, err := writeMachine(work, machineParts)
	if err != nil {
		b.Fatalf("%v", err)
	}
	testenv.Git(b, work, "init", "-q", "-b", "main")
	testenv.Git(b, work, "add", "-A")
	testenv.Git(b, work, "commit", "-q", "-m", "seed drill")

	srv := testenv.StartServer(b, testenv.Options{Args: []string{"--log-level", "warn"}})
	token := srv.AddUser(b, "farmer")
	waitIdle(b, srv.PID())
	b.Logf("pushing the machine: %d parts, %d triangles", len(parts), tris)
	start := time.Now()
	testenv.Git(b, work, "push", "-q", srv.Remote("farmer", token, "farmer", "seed-drill"), "main")
	pushed := time.Since(start)
	waitSearchable(b, srv.URL, "farmer/seed-drill", len(parts), 5*time.Minute)
	ours := time.Since(start)
	srv.Stop(b)

	// The peer: F3D on each file, one at a time.
	display, stop := startXvfb(b)
	defer stop()
	out := b.TempDir()
	sample := parts
	if peerFiles > 0 && peerFiles < len(parts) {
		// Every k-th part, so the sample has the machine's mix of sizes.
		sample = nil
		for i := 0; i < len(parts) && len(sample) < peerFiles; i += len(parts) / peerFiles {
			sample = append(sample, parts[i])
		}
	}
	b.Logf("F3D rendering %d files one at a time", len(sample))
	peerStart := time.Now()
	for i, p := range sample {
		cmd := exec.Command("f3d", "--output", filepath.Join(out, fmt.Sprintf("%d.png", i)), "--resolution", "512,512", filepath.Join(work, filepath.FromSlash(p.path)))
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("f3d %s: %v\n%s", p.path, err, o)
		}
	}
	peer := time.Since(peerStart)
	peerLabel := "F3D, one file at a time"
	if len(sample) < len(parts) {
		peer = time.Duration(float64(peer) * float64(len(parts)) / float64(len(sample)))
		peerLabel = fmt.Sprintf("F3D, one file at a time (%d of the files, scaled)", len(sample))
	}
	label := fmt.Sprintf("machine: %d parts (%d triangles), push to every part searchable with its preview", len(parts), tris)
	return [][]string{
		{label, fmt.Sprintf("%.2f s (push %.2f s)", ours.Seconds(), pushed.Seconds()), fmt.Sprintf("%s %.1f s", peerLabel, peer.Seconds()),
			fmt.Sprintf("%.1f× faster", peer.Seconds()/ours.Seconds()), "≤ 5 s and ≥ 20× faster"},
	}
}

// machineParts is the size of the generated machine.
const machineParts = 500
