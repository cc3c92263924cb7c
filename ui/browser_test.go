package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

var updateScreenshots = flag.Bool("screenshots", false, "write the browser tests' screenshots to testdata/screenshots")

// saveScreenshot keeps a small copy of a screenshot: in the test's temp
// folder, or in testdata/screenshots with -screenshots.
func saveScreenshot(t *testing.T, name string, shot []byte) {
	t.Helper()
	testenv.SaveScreenshot(t, name, shot, *updateScreenshots)
}

// cspRecorder, run before a page's own scripts, keeps the page's
// Content-Security-Policy violations in window.cspViolations.
const cspRecorder = `window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.cspViolations.push(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`

// checkNoCSPViolations fails t if the page in ctx had anything blocked by
// its Content-Security-Policy (its import map, scripts, styles, previews,
// the STL download). Then it checks that the policy is in force and the
// recorder hears it, by adding an inline script, which must be blocked.
func checkNoCSPViolations(t *testing.T, ctx context.Context) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.cspViolations)`))
	if err != nil || got != "[]" {
		t.Errorf("Content-Security-Policy violations on the page: %s (%v)", got, err)
	}
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { window.inlineRan = false;
		const s = document.createElement('script'); s.textContent = 'window.inlineRan = true;';
		document.body.appendChild(s); return true; })()`))
	if err != nil {
		t.Fatalf("add an inline script: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	blocked, err := chromedp.Run(pctx, chromedp.Poll[string](`(() => { const v = window.cspViolations.filter(v => v.startsWith('script-src'));
		return v.length > 0 ? String(window.inlineRan) : null; })()`, chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil || blocked != "false" {
		t.Errorf("an inline script was not blocked by the page's policy (ran: %q, %v)", blocked, err)
	}
}

func browserTests(t *testing.T, s *site, h *history) {
	b := testenv.StartChromium(t)
	base := s.srv.URL + "/" + owner + "/Voron-Trident"

	t.Run("search then open a part in 3D", func(t *testing.T) {
		ctx, cancel := b.Tab(t, 2*time.Minute)
		defer cancel()
		err := chromedp.Do(ctx,
			// Every page records what its Content-Security-Policy blocked.
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
					Source: cspRecorder,
				})
				return err
			}),
			chromedp.Navigate(s.srv.URL+"/"),
			chromedp.WaitVisible("#hero-q"),
			chromedp.SendKeys("#hero-q", "z carriage"),
			chromedp.Submit("#hero-q"),
			chromedp.WaitVisible(`.results .part-card`),
		)
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		// The result's preview must actually load (lazy images included).
		pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
		_, err = chromedp.Run(pctx, chromedp.Poll[bool](`(() => { const imgs = [...document.querySelectorAll('.results .part-card img')];
			return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); })()`, chromedp.WithPollingInterval(100*time.Millisecond)))
		pcancel()
		if err != nil {
			t.Fatalf("search result previews did not load: %v", err)
		}
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err == nil {
			saveScreenshot(t, "search.png", shot)
		}
		err = chromedp.Do(ctx,
			chromedp.Click(`.results .part-card a[href*="z_carriage_rear"]`),
			chromedp.WaitReady(`.viewer[data-state="ready"]`),
		)
		if err != nil {
			t.Fatalf("open part and load the viewer: %v", err)
		}
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if !strings.Contains(loc, "/blob/main/STLs/Z_Assembly/z_carriage_rear.stl") {
			t.Errorf("part page at %s", loc)
		}
		checkNoCSPViolations(t, ctx)
		tris, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.viewer').dataset.triangles`))
		if err != nil || tris != "41368" {
			t.Errorf("viewer loaded %q triangles (%v), want 41368", tris, err)
		}
		// Read the canvas back: the part is drawn in blue over a
		// transparent background, so count blue pixels.
		frac, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => {
			const c = document.querySelector('.viewer-canvas');
			const g = c.getContext('webgl2') || c.getContext('webgl');
			const w = g.drawingBufferWidth, h = g.drawingBufferHeight;
			const px = new Uint8Array(w * h * 4);
			g.readPixels(0, 0, w, h, g.RGBA, g.UNSIGNED_BYTE, px);
			let part = 0;
			for (let i = 0; i < px.length; i += 4) {
				if (px[i+3] > 200 && px[i+2] > px[i] + 40) part++;
			}
			return part / (w * h);
		})()`))
		if err != nil {
			t.Fatalf("read canvas: %v", err)
		}
		if frac < 0.03 {
			t.Errorf("the part covers %.1f%% of the canvas, want at least 3%%", 100*frac)
		}
		shot, err = chromedp.Run(ctx, chromedp.Screenshot(".viewer"))
		if err != nil {
			t.Fatalf("screenshot viewer: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		if n := countBlue(img); n < img.Bounds().Dx()*img.Bounds().Dy()/40 {
			t.Errorf("screenshot of the viewer has %d part pixels of %d", n, img.Bounds().Dx()*img.Bounds().Dy())
		}
		full, _ := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		saveScreenshot(t, "part.png", full)

		// Keyboard and buttons: wireframe (W), dimensions (button).
		err = chromedp.Do(ctx,
			chromedp.Focus(".viewer-canvas"),
			chromedp.KeyEvent("w"),
			chromedp.Click(`button[data-action="dims"]`),
		)
		if err != nil {
			t.Fatalf("toggle wireframe and dimensions: %v", err)
		}
		state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[
			document.querySelector('button[data-action="wireframe"]').getAttribute('aria-pressed'),
			document.querySelector('button[data-action="dims"]').getAttribute('aria-pressed'),
			[...document.querySelectorAll('.dim-label')].filter(e => !e.hidden).map(e => e.textContent).join(',')].join('|')`))
		if err != nil {
			t.Fatal(err)
		}
		if want := "true|true|X 49.1 mm,Y 76.1 mm,Z 36.0 mm"; state != want {
			t.Errorf("after W and Dimensions: %q, want %q", state, want)
		}
		if shot, err := chromedp.Run(ctx, chromedp.Screenshot(".viewer")); err == nil {
			saveScreenshot(t, "viewer-wireframe-dimensions.png", shot)
		}
	})

	t.Run("phone-sized viewer draws", func(t *testing.T) {
		ctx, cancel := b.Tab(t, 2*time.Minute)
		defer cancel()
		// A phone: 390×844 CSS pixels at three device pixels each, touch.
		err := chromedp.Do(ctx,
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch),
			chromedp.Navigate(base+"/blob/main/STLs/Z_Assembly/z_carriage_rear.stl"),
			chromedp.WaitReady(`.viewer[data-state="ready"]`),
		)
		if err != nil {
			t.Fatalf("open the part page at phone size: %v", err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const c = document.querySelector('.viewer-canvas');
			const g = c.getContext('webgl2') || c.getContext('webgl');
			const w = g.drawingBufferWidth, h = g.drawingBufferHeight;
			const px = new Uint8Array(w * h * 4);
			g.readPixels(0, 0, w, h, g.RGBA, g.UNSIGNED_BYTE, px);
			let part = 0;
			for (let i = 0; i < px.length; i += 4) {
				if (px[i+3] > 200 && px[i+2] > px[i] + 40) part++;
			}
			const stage = document.querySelector('.stage').getBoundingClientRect();
			return JSON.stringify({w, h, part: part / (w * h), innerWidth, dpr: devicePixelRatio, stageRight: stage.right, cssWidth: c.clientWidth, preview: document.querySelector('.viewer-preview').hidden});
		})()`))
		if err != nil {
			t.Fatalf("read the canvas: %v", err)
		}
		var res struct {
			W, H       int
			Part       float64
			InnerWidth float64
			DPR        float64
			StageRight float64
			CSSWidth   float64
			Preview    bool
		}
		if err := json.Unmarshal([]byte(got), &res); err != nil {
			t.Fatalf("canvas read-back %q: %v", got, err)
		}
		if res.InnerWidth != 390 || res.DPR != 3 {
			t.Fatalf("not a phone viewport: %s", got)
		}
		// Drawn at two device pixels per CSS pixel (the cap), the whole
		// stage, inside the screen.
		if res.W != int(2*res.CSSWidth+0.5) || res.StageRight > res.InnerWidth {
			t.Errorf("canvas %d×%d device pixels for %.0f CSS pixels, stage ends at %.0f of %.0f", res.W, res.H, res.CSSWidth, res.StageRight, res.InnerWidth)
		}
		if res.Part < 0.03 || !res.Preview {
			t.Errorf("at phone size the part covers %.1f%% of the canvas (want at least 3%%), preview hidden %v", 100*res.Part, res.Preview)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "part-phone.png", shot)
		}
	})

	t.Run("without WebGL the preview stays", func(t *testing.T) {
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		err := chromedp.Do(ctx,
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
					Source: `HTMLCanvasElement.prototype.getContext = function () { return null; };`,
				})
				return err
			}),
			chromedp.Navigate(base+"/blob/main/STLs/Z_Assembly/z_carriage_rear.stl"),
			chromedp.WaitReady(`.viewer[data-state="no-webgl"]`),
		)
		if err != nil {
			t.Fatalf("open part page without WebGL: %v", err)
		}
		state, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
			const img = document.querySelector('.viewer-preview');
			if (!img.complete || img.naturalWidth === 0) return null;
			return [img.hidden, document.querySelector('.viewer-canvas').hidden, document.querySelector('.viewer-status').textContent].join('|');
		})()`, chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("preview did not load: %v", err)
		}
		if !strings.HasPrefix(state, "false|true|") || !strings.Contains(state, "WebGL") {
			t.Errorf("without WebGL: preview hidden, canvas hidden, status = %q", state)
		}
	})

	t.Run("commit page shows both previews and deltas", func(t *testing.T) {
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/commit/"+h.second),
			chromedp.WaitVisible(".part-diff"),
		)
		if err != nil {
			t.Fatalf("open commit page: %v", err)
		}
		// Images load lazily: scroll each into view, then wait for them.
		loaded, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
			const imgs = [...document.querySelectorAll('.part-diff img')];
			imgs.forEach(i => { i.loading = 'eager'; });
			if (!imgs.every(i => i.complete && i.naturalWidth > 0)) return null;
			return imgs.map(i => i.alt).join('|');
		})()`, chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			t.Fatalf("previews did not load: %v", err)
		}
		for _, alt := range []string{"[a]_xy_left before this commit", "[a]_xy_left after this commit"} {
			if !strings.Contains(loaded, alt) {
				t.Errorf("commit page images %q lack %q", loaded, alt)
			}
		}
		text, err := chromedp.Run(ctx, chromedp.Text(".part-diff .deltas"))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("+%.2f mm", h.after.Size[0]-h.before.Size[0]); !strings.Contains(text, want) || !strings.Contains(text, "Volume") {
			t.Errorf("deltas %q lack %q", text, want)
		}
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err == nil {
			saveScreenshot(t, "commit.png", shot)
		}
	})

	t.Run("file history page", func(t *testing.T) {
		// The project is pushed by TestSite's "file history" subtest.
		if code, _, _ := get(t, s.srv.URL+"/"+owner+"/history", nil); code != 200 {
			t.Fatalf("no project %s/history (status %d): run this with TestSite/file_history, which pushes it", owner, code)
		}
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		err := chromedp.Do(ctx,
			chromedp.Navigate(s.srv.URL+"/"+owner+"/history/commits/main/frame/arm.stl"),
			chromedp.WaitVisible(".file-history"),
		)
		if err != nil {
			t.Fatalf("open the history page: %v", err)
		}
		// Every version's preview loads.
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const imgs = [...document.querySelectorAll('.history-thumb img')];
			return imgs.length === 3 && imgs.every(i => i.complete && i.naturalWidth > 0); })()`, chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Errorf("the history's three previews did not load: %v", err)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "history.png", shot)
		}
	})

	t.Run("owner link leads to the owner's page", func(t *testing.T) {
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		err := chromedp.Do(ctx,
			chromedp.Navigate(base),
			chromedp.WaitVisible(".project-title .owner a"),
			chromedp.Click(".project-title .owner a"),
			chromedp.WaitVisible(".owner-head"),
		)
		if err != nil {
			t.Fatalf("follow the owner link: %v", err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + '|' + [...document.querySelectorAll('.projects .card-title')].map(e => e.textContent).sort().join(',')`))
		if err != nil || !strings.HasPrefix(got, "/"+owner+"|") || !strings.Contains(got, "Voron Trident") {
			t.Errorf("owner page: %q (%v), want /%s listing its projects", got, err, owner)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "owner.png", shot)
		}
	})

	t.Run("download all as zip", func(t *testing.T) {
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		dir := t.TempDir()
		events := true
		err := chromedp.Do(ctx,
			chromedp.Navigate(base),
			chromedp.WaitVisible(".project-actions"),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
					Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: &events,
				})
				return err
			}),
		)
		if err != nil {
			t.Fatalf("open project page: %v", err)
		}
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err == nil {
			saveScreenshot(t, "project.png", shot)
		}
		if err := chromedp.Do(ctx, chromedp.Click(`a[href$="/archive/main.zip"]`)); err != nil {
			t.Fatalf("click download: %v", err)
		}
		zipPath := filepath.Join(dir, "Voron-Trident-main.zip")
		deadline := time.Now().Add(45 * time.Second)
		for {
			if st, err := os.Stat(zipPath); err == nil && st.Size() > 0 {
				if _, err := os.Stat(zipPath + ".crdownload"); err != nil {
					break
				}
			}
			if time.Now().After(deadline) {
				entries, _ := os.ReadDir(dir)
				t.Fatalf("no download in %s after 45 s (%v)", dir, entries)
			}
			time.Sleep(200 * time.Millisecond)
		}
		data, err := os.ReadFile(zipPath)
		if err != nil {
			t.Fatal(err)
		}
		checkZip(t, data, "Voron-Trident-main/", h.dir)
	})
}

// countBlue counts pixels of the part's blue.
func countBlue(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if bl>>8 > r>>8+60 && bl>>8 > g>>8+20 {
				n++
			}
		}
	}
	return n
}
