package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is a headless Chromium (Debian's chromium) driven over the
// DevTools protocol with chromedp, with its own fresh profile. WebGL runs
// in software (SwiftShader), so the 3D viewer draws without a GPU.
type Browser struct {
	ctx     context.Context // the first tab; keeps the browser alive
	Profile string          // the user-data-dir
}

// ChromiumFlags are the command-line flags the browser is started with:
// headless, no sandbox (tests may run as root), no background traffic, and
// software WebGL.
var ChromiumFlags = []string{
	"headless", "no-sandbox", "disable-background-networking", "disable-component-update",
	"disable-sync", "no-first-run", "enable-unsafe-swiftshader", "disable-dev-shm-usage",
	"disable-extensions", "disable-default-apps", "mute-audio", "hide-scrollbars",
}

// StartChromium starts headless Chromium for t, skipping (or failing under
// CI=true) when it is not installed. It is stopped, and its profile
// removed, at t's cleanup.
func StartChromium(t T) *Browser {
	t.Helper()
	RequireTool(t, "chromium")
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("find chromium: %v", err)
	}
	profile := filepath.Join(t.TempDir(), "chromium-profile")
	if err := os.MkdirAll(profile, 0o700); err != nil {
		t.Fatalf("create chromium profile: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("password-store", "basic"),
	}
	for _, f := range ChromiumFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// Start the browser now, so a broken install fails here, plainly. The
	// first Run's context owns the browser, so it gets no timeout of its
	// own: a watchdog cancels it instead.
	watchdog := time.AfterFunc(60*time.Second, cancelTab)
	err = chromedp.Do(ctx, chromedp.Navigate("about:blank"))
	watchdog.Stop()
	if err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	return &Browser{ctx: ctx, Profile: profile}
}

// Tab opens a new tab with a time limit; close it with the returned cancel.
func (b *Browser) Tab(t T, timeout time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	tctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	return tctx, func() { cancelTimeout(); cancel() }
}

// Person opens a tab in a new browser context, with cookies and storage
// of its own: another person at another computer, in the same browser
// process. Close it with the returned cancel.
func (b *Browser) Person(t T, timeout time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	tctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	return tctx, func() { cancelTimeout(); cancel() }
}

// Describe lists the browser's open pages (address and title), to tell
// where a failed step left it.
func (b *Browser) Describe() string {
	infos, err := chromedp.Targets(b.ctx)
	if err != nil {
		return "browser pages: " + err.Error()
	}
	out := "browser pages:"
	for _, i := range infos {
		if i.Type == "page" {
			out += "\n  " + i.URL + " (" + i.Title + ")"
		}
	}
	return out
}
