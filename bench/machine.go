package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// benchMachine pushes the generated machine and times push to every part
// searchable with its preview, beside what Manyfold does for the same
// files: F3D rendering each to a 512 px PNG, one file at a time.
func benchMachine(b *Bench) [][]string {
	peerFiles := b.opt.machinePeerFiles
	work := b.TempDir()
	parts, tris, err := stlgen.WriteMachine(work, machineParts)
	if err != nil {
		b.Fatalf("%v", err)
	}
	testenv.Git(b, work, "init", "-q", "-b", "main")
	testenv.Git(b, work, "add", "-A")
	testenv.Git(b, work, "commit", "-q", "-m", "seed drill")

	srv := testenv.StartServer(b, testenv.Options{})
	token := srv.AddUser(b, "farmer")
	waitIdle(b, srv.PID())
	b.Logf("pushing the machine: %d parts, %d triangles", len(parts), tris)
	stopPerf := func() {}
	if b.opt.machinePerf != "" {
		stopPerf = startPerf(b, srv.PID(), b.opt.machinePerf)
	}
	ticks := treeTicks(srv.PID())
	start := time.Now()
	testenv.Git(b, work, "push", "-q", srv.Remote("farmer", token, "farmer", "seed-drill"), "main")
	pushed := time.Since(start)
	waitSearchable(b, srv.URL, "farmer/seed-drill", len(parts), 5*time.Minute)
	ours := time.Since(start)
	ourCPU := time.Duration(treeTicks(srv.PID())-ticks) * 10 * time.Millisecond // clock ticks are 10 ms
	stopPerf()
	job := jobTook(srv.Log())
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
	var peerCPU time.Duration
	for i, p := range sample {
		cmd := exec.Command("f3d", "--output", filepath.Join(out, fmt.Sprintf("%d.png", i)), "--resolution", "512,512", filepath.Join(work, filepath.FromSlash(p.Path)))
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("f3d %s: %v\n%s", p.Path, err, o)
		}
		peerCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	peer := time.Since(peerStart)
	peerLabel := "F3D, one file at a time"
	if len(sample) < len(parts) {
		peer = time.Duration(float64(peer) * float64(len(parts)) / float64(len(sample)))
		peerCPU = time.Duration(float64(peerCPU) * float64(len(parts)) / float64(len(sample)))
		peerLabel = fmt.Sprintf("F3D, one file at a time (%d of the files, scaled)", len(sample))
	}
	label := fmt.Sprintf("machine: %d parts (%d triangles), push to every part searchable with its preview", len(parts), tris)
	return [][]string{
		{label, fmt.Sprintf("%.2f s (push %.2f s, catalogue job %s)", ours.Seconds(), pushed.Seconds(), job), fmt.Sprintf("%s %.1f s", peerLabel, peer.Seconds()),
			fmt.Sprintf("%.1f× faster", peer.Seconds()/ours.Seconds()), "≤ 5 s and ≥ 20× faster"},
		{"the same, CPU time (server with git and its hooks; F3D processes)", fmt.Sprintf("%.2f s", ourCPU.Seconds()), fmt.Sprintf("%.1f s", peerCPU.Seconds()),
			fmt.Sprintf("%.1f× less", peerCPU.Seconds()/ourCPU.Seconds()), ""},
	}
}

// machineParts is the size of the generated machine.
const machineParts = 500

// jobTook is what the server's log says the catalogue job took.
func jobTook(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg=catalogued") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if d, ok := strings.CutPrefix(f, "took="); ok {
				return d
			}
		}
	}
	return "?"
}

// startPerf records pid with perf (call graphs) into file until the
// returned function is called.
func startPerf(b *Bench, pid int, file string) func() {
	cmd := exec.Command("perf", "record", "-q", "-g", "-F", "499", "-p", fmt.Sprint(pid), "-o", file)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("perf: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // perf attaches
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
}
