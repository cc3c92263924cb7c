package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/print"
	"github.com/blueprints-hq/blueprints/print/pack"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/storage"
)

// Print benchmark settings.
const (
	printParts     = 500
	printPageGoal  = 200 * time.Millisecond // p95, 16 clients, plan cached
	printFirstGoal = 2 * time.Second        // first plan of 500 parts
	printPackGoal  = time.Second            // packing 500 parts
)

// benchPrint pushes a 500-part project (rings and blocks of mixed sizes,
// some counted twice by their names) and measures: the print page under 16
// clients once its plan is cached, beside the project page of the same
// project; the first plan, with the parts' poses already worked out (as
// the catalogue prepares them after a push) and with nothing worked out,
// beside the catalogue's own time for the push; and packing alone, beside
// PrusaSlicer arranging the same footprints.
func benchPrint(b *Bench) error {
	testenv.RequireTool(b, "git")
	srv := testenv.StartServer(b, testenv.Options{})
	token := srv.AddUser(b, "bench")
	work := b.TempDir()
	testenv.Git(b, work, "init", "-q", "-b", "main")
	boxes := writePrintParts(b, work)
	testenv.Git(b, work, "add", "-A")
	testenv.Git(b, work, "commit", "-q", "-m", "five hundred parts")
	start := time.Now()
	testenv.Git(b, work, "push", "-q", srv.Remote("bench", token, "bench", "machine"), "main")
	b.Logf("pushed %d parts; waiting for the catalog", printParts)
	if err := waitCatalog(srv.URL+"/bench/machine", 10*time.Minute); err != nil {
		return err
	}
	catalogued := time.Since(start)

	var rows [][]string
	// 1. Pages, plan cached (the first request makes it).
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: pageClients, MaxConnsPerHost: pageClients, DisableCompression: true}, Timeout: 2 * time.Minute}
	if _, _, err := fetchTTFB(client, srv.URL+"/bench/machine/print?printer=mk4"); err != nil {
		return err
	}
	var p95s [2]time.Duration
	var sizes [2]int
	for i, path := range []string{"/bench/machine/print?printer=mk4", "/bench/machine"} {
		ttfb, size, err := loadPage(client, func(int) string { return srv.URL + path })
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		p95s[i], sizes[i] = percentile(ttfb, 95), size
	}
	rows = append(rows, []string{fmt.Sprintf("print page, 500 parts, plan cached: TTFB p95, 16 clients (%d KB)", sizes[0]>>10), ms(p95s[0]), fmt.Sprintf("project page, same project (%d KB): %s", sizes[1]>>10, ms(p95s[1])), Ratio(float64(p95s[0]), float64(p95s[1])), "< " + ms(printPageGoal), met(p95s[0] < printPageGoal)})
	srv.Stop(b)

	// 2. The first plan, in this process over the server's data folder:
	// once with the poses the catalogue prepared, once with none.
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(srv.Data, "blueprints.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := storage.Open(ctx, "fs", srv.Data)
	if err != nil {
		return err
	}
	printers, err := print.LoadPrinters()
	if err != nil {
		return err
	}
	mk4, _ := printers.Lookup("mk4")
	planner := func() *print.Planner {
		p, err := print.NewPlanner(print.Options{Store: st, Source: print.NewRepoSource(filepath.Join(srv.Data, "repos"), st, blobs), Printers: printers, Limits: render.DefaultLimits()})
		if err != nil {
			b.Fatalf("planner: %v", err)
		}
		return p
	}
	t0 := time.Now()
	plan, err := planner().Plan(ctx, "bench/machine", mk4)
	if err != nil {
		return err
	}
	warm := time.Since(t0)
	if _, err := st.DB.ExecContext(ctx, `DELETE FROM print_shapes`); err != nil {
		return err
	}
	t0 = time.Now()
	if _, err := planner().Plan(ctx, "bench/machine", mk4); err != nil {
		return err
	}
	cold := time.Since(t0)
	rows = append(rows,
		[]string{fmt.Sprintf("first plan, 500 parts (%d pieces, %d plates), poses prepared", plan.Pieces, len(plan.Plates)), fmt.Sprintf("%.0f ms", ms64(warm)), fmt.Sprintf("catalogue of the push: %.1f s", catalogued.Seconds()), Ratio(warm.Seconds(), catalogued.Seconds()), "< 2 s", met(warm < printFirstGoal)},
		[]string{"first plan, 500 parts, every pose worked out from the meshes", fmt.Sprintf("%.0f ms", ms64(cold)), fmt.Sprintf("catalogue of the push: %.1f s", catalogued.Seconds()), Ratio(cold.Seconds(), catalogued.Seconds()), "", ""})

	// 3. Packing alone: the plan's footprints, and PrusaSlicer arranging
	// the same blocks.
	var rects []pack.Rect
	for _, pt := range plan.Parts {
		for range pt.Quantity {
			rects = append(rects, pack.Rect{W: pt.Pose.Size[0], H: pt.Pose.Size[1]})
		}
	}
	runs := 5
	t0 = time.Now()
	var res pack.Result
	for range runs {
		res = pack.Pack(rects, mk4.X, mk4.Y, print.DefaultSpacing)
	}
	packed := time.Since(t0) / time.Duration(runs)
	peer, peerNote := arrangeWithPrusaSlicer(b, boxes, mk4)
	rows = append(rows, []string{fmt.Sprintf("pack %d footprints on a 250 × 210 bed (%d plates, area bound %d)", len(rects), res.Bins, plan.Bound), fmt.Sprintf("%.0f ms", ms64(packed)), peerNote, Ratio(packed.Seconds(), peer.Seconds()), "< 1 s", met(packed < printPackGoal)})

	fmt.Printf("%d parts, 16 clients on loopback, %s.\n\n", printParts, Machine())
	Table([]string{"figure", "Blueprints", "peer", "ratio", "target", "met"}, rows)
	return nil
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writePrintParts writes 500 parts into work: rings (tori, no flat face)
// and blocks (some standing, some lying) of sizes from 8 to 190 mm, every
// tenth named "_x2". It returns the blocks' files, for the peer.
func writePrintParts(b *Bench, work string) []string {
	rng := rand.New(rand.NewPCG(17, 500))
	var boxes []string
	for i := range printParts {
		dir := filepath.Join(work, "parts", fmt.Sprintf("group_%02d", i/25))
		os.MkdirAll(dir, 0o755)
		size := 8 + 60*rng.Float64()
		if rng.Float64() < 0.15 {
			size = 80 + 110*rng.Float64()
		}
		var buf bytes.Buffer
		name := fmt.Sprintf("part_%03d", i)
		if i%10 == 0 {
			name += "_x2"
		}
		if i%2 == 0 {
			minor := max(1.5, size/10)
			t := stlgen.Torus{Major: size/2 - minor, Minor: minor, Center: [3]float64{0, 0, minor}, Triangles: 1500 + 10*(i%100)}
			if err := t.Write(&buf); err != nil {
				b.Fatalf("torus: %v", err)
			}
		} else {
			w, d, h := size, size*(0.3+0.7*rng.Float64()), 3+size*0.4*rng.Float64()
			if i%6 == 1 {
				d, h = h, d // standing on a narrow face
			}
			writeBox(&buf, w, d, h)
		}
		file := filepath.Join(dir, name+".stl")
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			b.Fatalf("write part: %v", err)
		}
		if i%2 == 1 {
			boxes = append(boxes, file)
		}
	}
	return boxes
}

// writeBox writes a w × d × h block as binary STL.
func writeBox(buf *bytes.Buffer, w, d, h float64) {
	v := func(i int) [3]float32 {
		return [3]float32{float32(w * float64(i&1)), float32(d * float64(i>>1&1)), float32(h * float64(i>>2&1))}
	}
	faces := [][3]int{{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4}, {2, 6, 3}, {3, 6, 7}, {0, 4, 2}, {2, 4, 6}, {1, 3, 5}, {3, 7, 5}}
	buf.Write(make([]byte, 80))
	binary.Write(buf, binary.LittleEndian, uint32(len(faces)))
	for _, f := range faces {
		binary.Write(buf, binary.LittleEndian, [3]float32{})
		for _, i := range f {
			binary.Write(buf, binary.LittleEndian, v(i))
		}
		buf.Write([]byte{0, 0})
	}
}

// arrangeWithPrusaSlicer times PrusaSlicer's command line arranging the
// blocks (half the parts) on the same bed and writing them as one 3MF: the
// tool a maker would otherwise use. Its time includes reading the files.
func arrangeWithPrusaSlicer(b *Bench, files []string, pr print.Printer) (time.Duration, string) {
	if _, err := exec.LookPath("prusa-slicer"); err != nil {
		return 0, "PrusaSlicer not installed"
	}
	out := filepath.Join(b.TempDir(), "arranged.3mf")
	args := append([]string{"--loglevel", "0", "--export-3mf", "--merge", "--bed-shape", fmt.Sprintf("0x0,%gx0,%gx%g,0x%g", pr.X, pr.X, pr.Y, pr.Y), "--output", out}, files...)
	cmd := exec.Command("prusa-slicer", args...)
	cmd.Env = append(os.Environ(), "HOME="+b.TempDir())
	start := time.Now()
	if res, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Sprintf("PrusaSlicer failed: %v %s", err, tailString(res))
	}
	took := time.Since(start)
	return took, fmt.Sprintf("PrusaSlicer 2.5 --merge of %d blocks: %.0f ms", len(files), math.Round(ms64(took)))
}

func tailString(b []byte) string {
	if len(b) > 300 {
		b = b[len(b)-300:]
	}
	return string(b)
}
