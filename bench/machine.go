package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// benchMachine pushes the generated machine and times push to every part
// searchable with its preview, beside what Manyfold does for the same
// files: F3D rendering each to a 512 px PNG, one file at a time.
func benchMachine(b *Bench, peerFiles int) [][]string {
	work := b.TempDir()
	parts, tris, err := stlgen.WriteMachine(work, machineParts)
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
		cmd := exec.Command("f3d", "--output", filepath.Join(out, fmt.Sprintf("%d.png", i)), "--resolution", "512,512", filepath.Join(work, filepath.FromSlash(p.Path)))
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("f3d %s: %v\n%s", p.Path, err, o)
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
