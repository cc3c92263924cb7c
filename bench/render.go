package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/render"
)

// renderRuns is how many times each command runs; the table shows medians.
const renderRuns = 5

// benchRender compares, in one run on the same files, `blueprints inspect`
// with admesh (parse and measure) and `blueprints render` with F3D (a
// 512×512 preview), each as a separate process whose peak RSS the kernel
// reports (rusage maxrss, as /usr/bin/time -v does).
func benchRender(b *Bench) error {
	for _, tool := range []string{"admesh", "f3d", "Xvfb"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is needed (make deps): %v", tool, err)
		}
	}
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	big := filepath.Join(dir, "torus_1m_binary.stl")
	text := filepath.Join(dir, "torus_200k_ascii.stl")
	writeTorus(b, big, 1_000_000, false)
	writeTorus(b, text, 200_000, true)

	fmt.Printf("Machine: %s. Medians of %d runs, each command a fresh process; memory is its peak RSS.\n", Machine(), renderRuns)
	fmt.Printf("Ours is the real binary (%s), whose code pages alone take about %s of RSS.\n\n", "blueprints", kb(idleRSS(b, bin)))

	type row struct {
		what       string
		ours, peer measured
		peerName   string
		target     float64
	}
	var rows []row
	for _, f := range []struct{ what, path string }{
		{"parse+measure, 1M-triangle binary", big},
		{"parse+measure, 200k-triangle ASCII", text},
	} {
		checkInspect(b, bin, f.path)
		ours, peer := alternate(b,
			func() measured { return measure(b, nil, bin, "inspect", "--json", f.path) },
			func() measured { return measure(b, nil, "admesh", "--exact", f.path) })
		rows = append(rows, row{f.what, ours, peer, "admesh --exact", 3})
	}

	display, stop := startXvfb(b)
	defer stop()
	keep := filepath.Join(os.TempDir(), "blueprints-bench-previews")
	if err := os.MkdirAll(keep, 0o755); err != nil {
		b.Fatalf("mkdir: %v", err)
	}
	oursPNG, f3dPNG := filepath.Join(keep, "torus_1m_ours.png"), filepath.Join(keep, "torus_1m_f3d.png")
	ours, peer := alternate(b,
		func() measured { return measure(b, nil, bin, "render", big, "-o", oursPNG, "--size", "512") },
		func() measured {
			return measure(b, []string{"DISPLAY=" + display}, "f3d", "--output", f3dPNG, "--resolution", "512,512", big)
		})
	checkPNG(b, oursPNG)
	checkPNG(b, f3dPNG)
	// Issue 16 raised the preview target from 5× to 10× F3D.
	rows = append(rows, row{"render 512×512 PNG, 1M-triangle binary", ours, peer, "f3d (Xvfb already running)", 10})
	// Each row above includes its process starting; this one is only
	// that, for reading them (no target).
	ours, peer = alternate(b,
		func() measured { return measure(b, nil, bin, "version") },
		func() measured { return measure(b, nil, "f3d", "--version") })
	rows = append(rows, row{"start-up alone: print the version", ours, peer, "f3d --version", 0})

	var table [][]string
	for _, r := range rows {
		speedup := r.peer.wall.Seconds() / r.ours.wall.Seconds()
		verdict := "meets"
		if speedup < r.target || r.ours.rss > r.peer.rss && r.target == 3 {
			verdict = "MISSES"
		}
		target := fmt.Sprintf("%s ≥%.0f× faster (%.1f×)", verdict, r.target, speedup)
		if r.target == 0 {
			target = fmt.Sprintf("none: part of every row above (%.1f×)", speedup)
		}
		table = append(table, []string{
			r.what, r.ours.wall.Round(time.Millisecond).String(), r.peerName + " " + r.peer.wall.Round(time.Millisecond).String(),
			Ratio(r.ours.wall.Seconds(), r.peer.wall.Seconds()),
			r.ours.cpu.Round(time.Millisecond).String(), r.peer.cpu.Round(time.Millisecond).String(),
			kb(r.ours.rss), kb(r.peer.rss), Ratio(float64(r.ours.rss), float64(r.peer.rss)),
			target,
		})
	}
	Table([]string{"task", "ours", "peer", "time ratio", "ours CPU", "peer CPU", "ours peak RSS", "peer peak RSS", "memory ratio", "target"}, table)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("\nLoad average at the end: %s(figures are wall-clock; on a busy machine compare CPU too).\n", strings.Fields(string(load))[0]+" ")
	}
	fmt.Printf("\nPreviews of the 1M-triangle torus, to compare: %s (ours), %s (F3D).\n", oursPNG, f3dPNG)
	return nil
}

// buildBinary builds blueprints into dir as make build does and returns
// its path.
func buildBinary(b *Bench, dir string) string {
	bin := filepath.Join(dir, "blueprints")
	build := exec.Command("go", "build", "-o", bin+".built", "./cmd/blueprints")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build does
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build blueprints: %v\n%s", err, out)
	}
	// Installed by copying, as a user would: the linker's freshly written
	// file sits in the page cache differently and maps about 1 MB more
	// at start.
	if out, err := exec.Command("cp", bin+".built", bin).CombinedOutput(); err != nil {
		b.Fatalf("install blueprints: %v\n%s", err, out)
	}
	return bin
}

type measured struct {
	wall time.Duration
	cpu  time.Duration // user + system
	rss  int64         // KiB
}

// alternate runs ours and the peer in turns, so both see the same machine
// load, and returns each one's median time and median peak RSS.
func alternate(b *Bench, ours, peer func() measured) (measured, measured) {
	var a, p []measured
	ours() // warm the page cache and the binary
	peer()
	for range renderRuns {
		a = append(a, ours())
		p = append(p, peer())
	}
	return medianRun(a), medianRun(p)
}

func medianRun(ms []measured) measured {
	w := make([]time.Duration, len(ms))
	c := make([]time.Duration, len(ms))
	r := make([]int64, len(ms))
	for i, m := range ms {
		w[i], c[i], r[i] = m.wall, m.cpu, m.rss
	}
	slices.Sort(w)
	slices.Sort(c)
	slices.Sort(r)
	return measured{w[len(w)/2], c[len(c)/2], r[len(r)/2]}
}

// measure runs one command and returns its wall time and peak RSS. The RSS
// comes from GNU time when installed: Go starts children with vfork, and
// Linux then counts the parent's own RSS into the child's maxrss, so the
// child's rusage alone would overstate small processes.
func measure(b *Bench, env []string, name string, args ...string) measured {
	timeBin, viaTime := "", false
	if p, err := exec.LookPath("/usr/bin/time"); err == nil {
		timeBin, viaTime = p, true
	}
	cmd := exec.Command(name, args...)
	if viaTime {
		cmd = exec.Command(timeBin, append([]string{"-f", "maxrss=%M cpu=%U+%S", name}, args...)...)
	}
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	if viaTime {
		text := strings.TrimSpace(errOut.String())
		i := strings.LastIndex(text, "maxrss=")
		var rss int64
		var user, sys float64
		if i < 0 {
			b.Fatalf("no maxrss from %s:\n%s", timeBin, text)
		}
		if _, err := fmt.Sscanf(text[i:], "maxrss=%d cpu=%f+%f", &rss, &user, &sys); err != nil {
			b.Fatalf("read %s output %q: %v", timeBin, text[i:], err)
		}
		return measured{wall, time.Duration((user + sys) * float64(time.Second)), rss}
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatalf("no rusage for %s", name)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return measured{wall, cpu, ru.Maxrss}
}

// idleRSS is the peak RSS of the binary doing nothing but print its usage.
func idleRSS(b *Bench, bin string) int64 {
	return measure(b, nil, bin, "inspect", "--help").rss
}

func writeTorus(b *Bench, path string, triangles int, ascii bool) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatalf("create %s: %v", path, err)
	}
	defer f.Close()
	if err := stlgen.WriteTorus(f, triangles, ascii); err != nil {
		b.Fatalf("write %s: %v", path, err)
	}
}

// checkInspect makes sure the timed command really measured the part.
func checkInspect(b *Bench, bin, path string) {
	out, err := exec.Command(bin, "inspect", "--json", path).Output()
	if err != nil {
		b.Fatalf("inspect %s: %v", path, err)
	}
	var p render.Part
	if err := json.Unmarshal(out, &p); err != nil {
		b.Fatalf("inspect %s: %v", path, err)
	}
	if p.Triangles < 100_000 || !p.Watertight || p.Shells != 1 || p.Volume <= 0 {
		b.Fatalf("inspect %s: implausible part %+v", path, p)
	}
}

// checkPNG makes sure a preview shows something: a few thousand pixels
// differ from the corner (background) colour.
func checkPNG(b *Bench, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatalf("preview: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		b.Fatalf("preview %s: %v", path, err)
	}
	bg := img.At(0, 0)
	differ := 0
	r0, g0, b0, _ := bg.RGBA()
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r != r0 || g != g0 || bb != b0 {
				differ++
			}
		}
	}
	if differ < 5000 {
		b.Fatalf("preview %s looks blank (%d pixels differ from the background)", path, differ)
	}
}

// startXvfb starts one X server for all F3D runs, so F3D's times do not
// include starting it.
func startXvfb(b *Bench) (display string, stop func()) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatalf("pipe: %v", err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1024x768x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	done := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		done <- strings.TrimSpace(line)
	}()
	select {
	case n := <-done:
		if n == "" {
			cmd.Process.Kill()
			cmd.Wait()
			b.Fatalf("Xvfb did not report its display")
		}
		display = ":" + n
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("Xvfb did not start in 20 s")
	}
	return display, func() {
		cmd.Process.Kill()
		cmd.Wait()
		r.Close()
	}
}

func kb(k int64) string {
	return fmt.Sprintf("%.1f MB", float64(k)/1024)
}
