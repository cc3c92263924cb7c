package print_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// browserTest drives the print page in Chromium: choose a printer, see the
// plates drawn, download a plate's 3MF from the page, and find the printer
// remembered by the search page.
func browserTest(t *testing.T, s *printSite) {
	b := testenv.StartChromium(t)
	ctx, cancel := b.Tab(t, 5*time.Minute)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.srv.URL+"/"+owner+"/Voron-Trident"),
		chromedp.Click(`a.button[href$="/print"]`),
		chromedp.WaitVisible(`#printer`),
		chromedp.SetValue(`#printer`, "mini"),
		chromedp.Click(`.printer-form button[type=submit]`),
	)
	if err != nil {
		t.Fatalf("open the print page and choose a printer: %v", err)
	}
	if err := waitFor(ctx, `location.search.includes('printer=mini') && document.readyState === 'complete' && !!document.querySelector('.plate-card')`, time.Minute); err != nil {
		t.Fatalf("the page for the chosen printer did not come: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.Contains(loc, "/print?printer=mini") {
		t.Errorf("after choosing: %s", loc)
	}
	lede, _ := chromedp.Run(ctx, chromedp.Text(`.print-head .lede`))
	if !strings.Contains(lede, "Prusa MINI+") {
		t.Errorf("page plans for %q, want the Prusa MINI+", lede)
	}
	// Every plate picture loads.
	pctx, pcancel := context.WithTimeout(ctx, time.Minute)
	_, err = chromedp.Run(pctx, chromedp.Poll[bool](`(() => { const imgs = [...document.querySelectorAll('.plate-card img')];
		imgs.forEach(i => i.scrollIntoView());
		return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth === 512); })()`, chromedp.WithPollingInterval(200*time.Millisecond)))
	pcancel()
	if err != nil {
		t.Fatalf("plate pictures did not load: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		keep(t, "print.png", shot)
	}
	if shot, err := chromedp.Run(ctx, chromedp.Screenshot(`.plate-card`)); err == nil {
		keep(t, "print-plate.png", shot)
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil || img.Bounds().Dx() < 200 {
			t.Errorf("plate card screenshot: %v", err)
		}
	}
	// Each plate's "Open in…" links hand the slicers its 3MF's absolute
	// address, in their own schemes.
	links, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const card = document.querySelector('.plate-card');
		const dl = new URL(card.querySelector('a[data-download="3mf"]').getAttribute('href'), location.href).href;
		return [...card.querySelectorAll('.handoff a')].map(a => {
			const h = a.getAttribute('href');
			const i = h.indexOf('?file=');
			return h.slice(0, i) + ' ' + (decodeURIComponent(h.slice(i + 6)) === dl);
		}).join(',');
	})()`))
	if want := "prusaslicer://open true,orcaslicer://open true,bambustudio://open true,cura://open true"; err != nil || links != want {
		t.Errorf("plate hand-off links: %q (%v), want %q", links, err, want)
	}
	// The page's 3MF link downloads a 3MF: fetched as the browser would,
	// with the page's cookies.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const a = document.querySelector('.plate-card a[data-download="3mf"]');
		const r = await fetch(a.href);
		const b = new Uint8Array(await r.arrayBuffer());
		return r.status + ' ' + r.headers.get('content-type') + ' ' + String.fromCharCode(b[0], b[1]) + ' ' + b.length;
	})()`, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("download the 3MF: %v", err)
	}
	if f := strings.Fields(got); len(f) != 4 || f[0] != "200" || f[1] != "model/3mf" || f[2] != "PK" {
		t.Errorf("3MF download: %q", got)
	}
	// A part page offers the same hand-off for the file as pushed, and a
	// way to the plan.
	err = chromedp.Do(ctx, chromedp.Navigate(s.srv.URL+"/"+owner+"/Voron-Trident/blob/main/STLs/Z_Assembly/z_carriage_rear.stl"),
		chromedp.WaitVisible(`.part-print summary`), chromedp.Click(`.part-print summary`), chromedp.WaitVisible(`.part-print .handoff li a`))
	if err != nil {
		t.Fatalf("part page: the slicer links: %v", err)
	}
	names, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.part-print .handoff a')].map(a => a.textContent + ' ' + a.getAttribute('href').split('?')[0]).join(',')`))
	if want := "PrusaSlicer prusaslicer://open,OrcaSlicer orcaslicer://open,Bambu Studio bambustudio://open,Cura cura://open"; err != nil || names != want {
		t.Errorf("part page hand-off: %q (%v), want %q", names, err, want)
	}
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		keep(t, "print-part.png", shot)
	}
	// The choice is remembered: the print page without a printer, and
	// the search page's "fits my printer".
	err = chromedp.Do(ctx, chromedp.Navigate(s.srv.URL+"/"+owner+"/Voron-Trident/print"), chromedp.WaitVisible(`.plate-card`))
	if err != nil {
		t.Fatal(err)
	}
	if lede, _ := chromedp.Run(ctx, chromedp.Text(`.print-head .lede`)); !strings.Contains(lede, "Prusa MINI+") {
		t.Errorf("the printer was not remembered: %q", lede)
	}
	err = chromedp.Do(ctx, chromedp.Navigate(s.srv.URL+"/search?q=idler"), chromedp.WaitVisible(`a.my-printer`), chromedp.Click(`a.my-printer`), chromedp.WaitVisible(`a.my-printer.selected`))
	if err != nil {
		t.Fatalf("search: fits my printer: %v", err)
	}
	loc, _ = chromedp.Run(ctx, chromedp.Location())
	for _, want := range []string{"max_x=180", "max_y=180", "max_z=180"} {
		if !strings.Contains(loc, want) {
			t.Errorf("fits my printer went to %s, want %s", loc, want)
		}
	}
}

var screenshots = flag.Bool("screenshots", false, "write the browser test's screenshots to testdata/screenshots")

// keep writes a screenshot into the test's temporary folder, or into
// testdata/screenshots with -screenshots.
func keep(t *testing.T, name string, shot []byte) {
	t.Helper()
	dir := t.TempDir()
	if *screenshots {
		dir = filepath.Join(testenv.ModuleRoot(t), "testdata", "screenshots")
	}
	if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
		t.Error(err)
	}
}

// waitFor evaluates js until it is true, through page loads (which fail an
// evaluation under way), for at most limit.
func waitFor(ctx context.Context, js string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%s stayed false for %s", js, limit)
			}
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
