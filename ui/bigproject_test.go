package ui_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/catalog/follow"
	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/search"
	"github.com/blueprints-hq/blueprints/storage"
	"github.com/blueprints-hq/blueprints/ui"
)

// A machine of 600 parts in nested folders, shaped like a real one: folders
// of a few to fifty parts, names in every style (spaces, snake_case,
// camelCase, numbers), the same file names in different folders.
var machineFolders = []struct {
	dir   string
	count int
}{
	{"", 4},
	{"frame/left", 48}, {"frame/right", 48}, {"frame/cross members", 30},
	{"drive/gearbox/stage 1", 26}, {"drive/gearbox/stage 2", 26}, {"drive/chain", 34},
	{"drive/wheels/front", 22}, {"drive/wheels/rear", 22},
	{"hitch", 16},
	{"seeder/hopper", 44}, {"seeder/metering", 52},
	{"seeder/coulters/left", 36}, {"seeder/coulters/right", 36},
	{"electronics/enclosure", 28}, {"electronics/mounts", 30},
	{"tools/jigs", 24}, {"spares", 74},
}

// machineShapes is how many different contents the machine's parts have.
const machineShapes = 100

var machineNames = []string{"bracket %d", "Mount_Plate_%d", "sideArm%d", "spacer-%02d", "gear_%d_teeth", "Bracket %d long", "clip%d"}

// machinePaths lists the 600 part paths and how many have "bracket" in
// their file name (any case).
func machinePaths() (paths []string, brackets int) {
	for _, f := range machineFolders {
		for i := range f.count {
			name := fmt.Sprintf(machineNames[i%len(machineNames)], i/len(machineNames)+1) + ".stl"
			if strings.Contains(strings.ToLower(name), "bracket") {
				brackets++
			}
			paths = append(paths, strings.TrimPrefix(f.dir+"/"+name, "/"))
		}
	}
	return paths, brackets
}

const machineReadme = `# Open seed drill

A tractor-drawn seed drill for small farms, built from steel tube and
3D-printed parts. It sows cereals and legumes in rows 12.5 cm apart.

## Building it

Print the parts in each folder, then follow the assembly guide in
docs/assembly.md. The frame takes a weekend; the seeder a day.
`

// gate lets the first allow measurements through and holds the others
// until it is opened, so that a test sees a catalogue in the middle of
// its work.
type gate struct {
	inner  catalog.Measurer
	allow  int64
	calls  atomic.Int64
	opened chan struct{}
	done   <-chan struct{}
}

func (g *gate) Measure(ctx context.Context, r io.Reader, name string, png, mesh io.Writer) (render.Part, error) {
	if g.calls.Add(1) > g.allow {
		select {
		case <-g.opened:
		case <-g.done:
			return render.Part{}, fmt.Errorf("test over")
		case <-ctx.Done():
			return render.Part{}, ctx.Err()
		}
	}
	return g.inner.Measure(ctx, r, name, png, mesh)
}

// bigSite is the pages (ui) over a real store, blob storage, search index
// and catalogue in this process, holding one 600-part project pushed with
// git; the catalogue's measurer is gated.
type bigSite struct {
	URL      string
	store    *store.Store
	gate     *gate
	head     string
	brackets int
	paths    []string
	blobs    []string // git blob ids of the parts
}

func startBigSite(t *testing.T, allow int) *bigSite {
	t.Helper()
	testenv.RequireTool(t, "git")
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	data := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(data, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := storage.Open(ctx, "fs", data)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := search.Open(filepath.Join(data, "index.bleve"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })

	// The machine, committed and pushed into the data folder's repositories.
	work := t.TempDir()
	testenv.Git(t, "", "init", "-q", "-b", "main", work)
	paths, brackets := machinePaths()
	for i, p := range paths {
		full := filepath.Join(work, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		f, err := os.Create(full)
		if err != nil {
			t.Fatal(err)
		}
		// 100 different parts, each used six times over (as real machines
		// use one part on the left and on the right): the catalogue
		// measures each content once.
		k := i % machineShapes
		torus := stlgen.Torus{Major: 20 + float64(k), Minor: 4 + float64(k%13), Center: [3]float64{0, 0, 20}, Triangles: 160 + 2*(k%50)}
		if err := torus.Write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	os.WriteFile(filepath.Join(work, "README.md"), []byte(machineReadme), 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "The whole machine")
	head := strings.TrimSpace(testenv.Git(t, work, "rev-parse", "HEAD"))
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(testenv.Git(t, work, "ls-tree", "-r", "HEAD")), "\n") {
		// "100644 blob ID\tPATH"
		if meta, p, ok := strings.Cut(line, "\t"); ok && strings.HasSuffix(p, ".stl") {
			ids = append(ids, strings.Fields(meta)[2])
		}
	}
	if len(ids) != len(paths) {
		t.Fatalf("the machine has %d parts in git, want %d", len(ids), len(paths))
	}
	bare := filepath.Join(data, "repos", owner, "seed-drill.git")
	testenv.Git(t, "", "init", "-q", "--bare", bare)
	testenv.Git(t, work, "push", "-q", bare, "main")
	proj, err := st.CreateProject(ctx, owner, "seed-drill")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetDefaultBranch(ctx, proj.ID, "main"); err != nil {
		t.Fatal(err)
	}

	// The index follows the store's change log, as on a server.
	follower, err := follow.New(follow.Config{Store: st, Index: idx})
	if err != nil {
		t.Fatal(err)
	}
	followed := make(chan struct{})
	go func() { follower.Run(ctx); close(followed) }()
	pages, err := ui.New(ui.Options{Data: data, Store: st, Blobs: blobs, Index: follower.Searcher(idx)})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	pages.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	g := &gate{inner: catalog.RenderMeasurer{Limits: render.DefaultLimits()}, allow: int64(allow), opened: make(chan struct{}), done: ctx.Done()}
	cat, err := catalog.New(catalog.Deps{Store: st, Blobs: blobs, Indexed: follower.Sync, Repos: filepath.Join(data, "repos"), Measure: g})
	if err != nil {
		t.Fatal(err)
	}
	// As the git hook does after the push.
	cat.PostReceive(ctx, repo.Push{Owner: owner, Project: "seed-drill", Pusher: owner, DefaultBranch: "main", Dir: bare,
		Updates: []repo.RefUpdate{{Old: catalog.ZeroID, New: head, Ref: "refs/heads/main"}}})
	if err := cat.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		cat.Stop()
		<-followed
	})
	return &bigSite{URL: srv.URL, store: st, gate: g, head: head, brackets: brackets, paths: paths, blobs: ids}
}

// waitMeasured waits until the store holds the n measurements the gate
// lets through, and returns how many of the machine's parts they cover.
func (s *bigSite) waitMeasured(t *testing.T, n int) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	got := 0
	for time.Now().Before(deadline) {
		m, err := s.store.BlobParts(context.Background(), s.blobs)
		if err != nil {
			t.Fatal(err)
		}
		if got = len(m); got >= n {
			if got > n {
				t.Fatalf("%d contents measured, but the gate lets only %d through", got, n)
			}
			parts := 0
			for _, b := range s.blobs {
				if _, ok := m[b]; ok {
					parts++
				}
			}
			return parts
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the catalogue did not measure %d contents in 2 minutes (%d)", n, got)
	return 0
}

// finish opens the gate and waits until the project is catalogued.
func (s *bigSite) finish(t *testing.T) {
	t.Helper()
	close(s.gate.opened)
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		m, err := s.store.ProjectMeta(context.Background(), owner+"/seed-drill")
		if err == nil && m.State == store.JobDone && m.PendingJobs == 0 && m.LatestCommit == s.head {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the machine was not catalogued within 3 minutes")
}

// TestBigProject drives the pages of a 600-part project in Chromium: its
// project page while the first push is catalogued and after, with the
// README first, the parts by folder, paged and filtered, within a page
// weight; and the commit that added them all.
func TestBigProject(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: catalogues 600 parts and drives Chromium")
	}
	s := startBigSite(t, 35)
	b := testenv.StartChromium(t)
	base := s.URL + "/" + owner + "/seed-drill"
	done := s.waitMeasured(t, 35)
	if done == 0 || done >= 600 {
		t.Fatalf("35 measured contents cover %d of the 600 parts", done)
	}
	progress := fmt.Sprintf("%d of 600", done)

	t.Run("cataloguing progress", func(t *testing.T) {
		code, body, _ := get(t, base, nil)
		if code != 200 {
			t.Fatalf("project page: status %d", code)
		}
		for _, want := range []string{"Cataloguing this project: <strong>" + progress + "</strong> parts measured", fmt.Sprintf(`<progress max="600" value="%d">`, done), `data-pending="true"`} {
			if !strings.Contains(body, want) {
				t.Errorf("project page while cataloguing lacks %q", want)
			}
		}
		if strings.Contains(body, "No parts") || strings.Contains(body, "No STL files") {
			t.Errorf("project page says there are no STL files while it catalogues 600")
		}
		// The parts already measured show with their previews, the others
		// as waiting.
		if n, m := strings.Count(body, `class="card part-card"`), strings.Count(body, "Waiting to be catalogued"); n != 60 || m == 0 || m == 60 {
			t.Errorf("first page while cataloguing: %d cards, %d of them waiting; want 60, some but not all waiting", n, m)
		}

		ctx, cancel := b.Tab(t, 4*time.Minute)
		defer cancel()
		err := chromedp.Do(ctx, chromedp.Navigate(base), chromedp.WaitVisible(".notice.progress"))
		if err != nil {
			t.Fatalf("open the project page: %v", err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(".notice.progress"))
		if err != nil || !strings.Contains(text, progress) {
			t.Errorf("progress notice %q (%v), want %s", text, err, progress)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "project-cataloguing.png", shot)
		}
		// The catalogue goes on; the open page follows it by itself.
		s.finish(t)
		state, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
			const st = document.getElementById('catalog-status');
			if (!st || st.dataset.pending !== 'false' || document.querySelector('.notice.progress')) return null;
			const cards = [...document.querySelectorAll('#parts .part-card')];
			return cards.length + ' cards, ' + cards.filter(c => c.querySelector('img')).length + ' with previews, ' + document.querySelector('.project-head').dataset.catalog;
		})()`, chromedp.WithPollingTimeout(90*time.Second)))
		if err != nil {
			t.Fatalf("the open page did not follow the catalogue to its end: %v", err)
		}
		if state != "60 cards, 60 with previews, done" {
			t.Errorf("after cataloguing, the open page shows %s; want 60 cards, 60 with previews, done", state)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("project page", func(t *testing.T) {
		ctx, cancel := b.Tab(t, 2*time.Minute)
		defer cancel()
		err := chromedp.Do(ctx,
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
				if err == nil {
					_, err = cdp.Call(ctx, tg, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
				}
				return err
			}),
			chromedp.Navigate(base),
			chromedp.WaitVisible(".part-group"),
		)
		if err != nil {
			t.Fatalf("open the project page: %v", err)
		}
		// Page weight before images: the page and its stylesheet and scripts,
		// as sent (gzipped) and as the browser decoded them; the limit holds
		// for the decoded bytes, so that compression is not what meets it.
		weight, err := chromedp.Run(ctx, chromedp.Poll[[]float64](`(() => {
			if (document.readyState !== 'complete') return null;
			const nav = performance.getEntriesByType('navigation')[0];
			let sent = nav.transferSize, decoded = nav.decodedBodySize;
			for (const r of performance.getEntriesByType('resource')) if (r.initiatorType !== 'img') { sent += r.transferSize; decoded += r.decodedBodySize; }
			return [sent, decoded];
		})()`, chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			t.Fatalf("measure the page: %v", err)
		}
		t.Logf("project page of 600 parts: %.1f KB sent before images, %.1f KB decoded", weight[0]/1024, weight[1]/1024)
		if weight[0] <= 0 || weight[1] <= 0 || weight[1] >= 150*1024 {
			t.Errorf("the page weighs %.1f KB before images (%.1f KB sent), want under 150 KB", weight[1]/1024, weight[0]/1024)
		}
		// The README comes first, in the first screen; the gallery after it.
		layout, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[
			document.querySelector('.readme').getBoundingClientRect().top < innerHeight,
			document.querySelector('.readme h1, .readme .markdown').getBoundingClientRect().top < innerHeight,
			document.querySelector('.readme').getBoundingClientRect().top < document.querySelector('#parts').getBoundingClientRect().top,
			document.querySelectorAll('#parts .part-card').length,
			document.querySelectorAll('.part-group').length,
			document.querySelector('.part-group summary').textContent.replace(/\s+/g, ' ').trim(),
			document.querySelector('.parts-status').textContent.trim(),
		].join('|')`))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Split(layout, "|")
		if f[0] != "true" || f[1] != "true" || f[2] != "true" {
			t.Errorf("README in the first screen and before the gallery: %v", f[:3])
		}
		if f[3] != "60" || f[4] == "1" {
			t.Errorf("first page: %s cards in %s folder groups, want 60 cards in several", f[3], f[4])
		}
		if f[5] != "Top level 4 parts" || !strings.Contains(f[6], "Showing 1–60 of 600") {
			t.Errorf("first group %q, status %q", f[5], f[6])
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "project-big.png", shot)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { window.scrollTo(0, document.getElementById('parts').offsetTop - 8); return true; })()`)); err != nil {
			t.Errorf("scroll to the parts: %v", err)
		} else if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "project-big-parts.png", shot)
		}
		chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { window.scrollTo(0, 0); return true; })()`))

		// A folder group folds away.
		folded, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const g = document.querySelectorAll('.part-group')[1];
			g.querySelector('summary').click();
			const r = [g.open, g.querySelector('.part-card').checkVisibility()].join(',');
			g.querySelector('summary').click();
			return r + ',' + g.open + ',' + g.querySelector('.part-card').checkVisibility() + ',' + g.querySelector('summary').textContent.replace(/\s+/g, ' ').trim();
		})()`))
		if err != nil || folded != "false,false,true,true,drive/chain 34 parts" {
			t.Errorf("folding the second group: %q (%v), want it closed with no card shown, then open again", folded, err)
		}

		// Scrolling to the end loads the next page into the same groups.
		more, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
			window.scrollTo(0, document.body.scrollHeight);
			const n = document.querySelectorAll('#parts .part-card').length;
			if (n < 120) return null;
			const folders = [...document.querySelectorAll('.part-group')].map(g => g.dataset.folder);
			const dup = folders.some((f, i) => i > 0 && folders[i - 1] === f);
			return n + ',' + dup + ',' + document.querySelector('.range-to').textContent;
		})()`, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(200*time.Millisecond)))
		if err != nil {
			t.Fatalf("scrolling did not load the next page: %v", err)
		}
		if !strings.HasPrefix(more, "120,false,120") && !strings.HasPrefix(more, "180,false,180") {
			t.Errorf("after scrolling: %s; want 120 cards (or 180), no folder split in two groups, range to match", more)
		}

		// The filter narrows the gallery as one types.
		err = chromedp.Do(ctx, chromedp.ScrollIntoView("#parts-q"), chromedp.SendKeys("#parts-q", "bracket"))
		if err != nil {
			t.Fatal(err)
		}
		filtered, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
			const st = document.querySelector('.parts-status').textContent;
			if (!st.includes('match')) return null;
			const names = [...document.querySelectorAll('#parts .card-title')].map(e => e.textContent.toLowerCase());
			return st.replace(/\s+/g, ' ').trim() + '|' + names.length + '|' + names.every(n => n.includes('bracket')) + '|' + location.search;
		})()`, chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			t.Fatalf("the filter did not narrow the gallery: %v", err)
		}
		want := fmt.Sprintf("%d of 600 parts match “bracket” · show all · Showing 1–60 of %d|60|true|?q=bracket", s.brackets, s.brackets)
		if filtered != want {
			t.Errorf("filtered gallery: %q, want %q", filtered, want)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "project-big-filtered.png", shot)
		}
	})

	t.Run("phone", func(t *testing.T) {
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		err := chromedp.Do(ctx,
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch),
			chromedp.Navigate(base), chromedp.WaitVisible(".part-group"))
		if err != nil {
			t.Fatalf("open the project page at phone size: %v", err)
		}
		// Nothing wider than the screen, and the README still before the parts.
		wide, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[document.documentElement.scrollWidth, innerWidth,
			document.querySelector('.readme').getBoundingClientRect().top < document.querySelector('#parts').getBoundingClientRect().top].join(',')`))
		if err != nil || wide != "390,390,true" {
			t.Errorf("at phone size: scroll width, screen width, README first = %q (%v)", wide, err)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "project-big-phone.png", shot)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { window.scrollTo(0, document.getElementById('parts').offsetTop - 8); return true; })()`)); err == nil {
			if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
				saveScreenshot(t, "project-big-phone-parts.png", shot)
			}
		}
	})

	t.Run("pages without script", func(t *testing.T) {
		for _, c := range []struct{ query, want string }{
			{"?page=2", "Showing 61–120 of 600"},
			{"?page=10", "Showing 541–600 of 600"},
			{"?q=bracket", fmt.Sprintf("%d of 600 parts match “bracket”", s.brackets)},
			{"?q=BRACKET+long", "of 600 parts match “BRACKET long”"},
			{"?folder=seeder/coulters", "72 of 600 parts in seeder/coulters"},
		} {
			code, body, _ := get(t, base+c.query, nil)
			if code != 200 || !strings.Contains(textOf(body), c.want) {
				t.Errorf("GET %s: status %d, want %q", c.query, code, c.want)
			}
		}
		// The part filter's words stay out of the site's search box, which
		// keeps a search's own words.
		if _, body, _ := get(t, base+"?q=bracket", nil); !strings.Contains(body, `id="site-q" type="search" name="q" value=""`) {
			t.Errorf("the project page's part filter fills the site search box")
		}
		if _, body, _ := get(t, s.URL+"/search?q=bracket", nil); !strings.Contains(body, `id="site-q" type="search" name="q" value="bracket"`) {
			t.Errorf("the search page's box does not keep its words")
		}
		if code, body, _ := get(t, base+"?page=10", nil); code != 200 || strings.Contains(body, `rel="next"`) || !strings.Contains(body, `rel="prev"`) {
			t.Errorf("last page: status %d, or its pager is wrong", code)
		}
		for _, q := range []string{"?page=0", "?page=x", "?folder=../etc", "?q=" + strings.Repeat("x", 201)} {
			if code, _, _ := get(t, base+q, nil); code != 400 {
				t.Errorf("GET %s: status %d, want 400", q, code)
			}
		}
	})

	t.Run("search", func(t *testing.T) {
		// Words of the README only (not the title or description).
		code, body, _ := get(t, s.URL+"/search?q=assembly+guide&kind=project", nil)
		if code != 200 || !strings.Contains(body, `href="/maker/seed-drill"`) {
			t.Errorf("README words: status %d, the project is not found", code)
		}
		// camelCase names typed in lower case, whole.
		code, body, _ = get(t, s.URL+"/search?q=sidearm&kind=part&per_page=100", nil)
		if n := strings.Count(body, `class="card part-card"`); code != 200 || n == 0 || n != strings.Count(body, "side<wbr>Arm")+strings.Count(body, ">sideArm") {
			t.Errorf("sidearm: status %d, %d cards, not all of them sideArm parts", code, n)
		}
		// Same-named parts in different folders: each card says its folder.
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/search?q=bracket+1&kind=part&sort=name&per_page=24"), chromedp.WaitVisible(".results .part-card"))
		if err != nil {
			t.Fatalf("search bracket 1: %v", err)
		}
		cards, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.results .part-card .card-body')].map(c => c.innerText.split('\n').slice(0, 3).join(' | '))`))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		same := 0
		for _, c := range cards {
			if seen[c] {
				t.Errorf("two cards read the same: %q", c)
			}
			seen[c] = true
			if strings.HasPrefix(c, "bracket 1 |") {
				same++
				if !strings.Contains(c, "/") {
					t.Errorf("card %q does not show its folder", c)
				}
			}
		}
		if same < 10 {
			t.Errorf("only %d cards of parts named bracket 1 (%v), want one per folder", same, cards)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "search-same-names.png", shot)
		}
	})

	t.Run("commit page", func(t *testing.T) {
		commit := base + "/commit/" + s.head
		for page, want := range map[string]string{"": "Showing 1–200 of 600 parts", "?page=2": "Showing 201–400 of 600 parts", "?page=3": "Showing 401–600 of 600 parts"} {
			code, body, _ := get(t, commit+page, nil)
			if code != 200 || !strings.Contains(textOf(body), want) || !strings.Contains(body, "600 parts</strong>") {
				t.Errorf("commit page%s: status %d, want %q", page, code, want)
			}
			if n := strings.Count(body, `<article class="part-diff">`); n != 200 {
				t.Errorf("commit page%s shows %d part diffs, want 200", page, n)
			}
			if (page != "?page=3") != strings.Contains(body, `rel="next"`) {
				t.Errorf("commit page%s: the link to the next parts is wrong", page)
			}
		}
		if code, _, _ := get(t, commit+"?page=4", nil); code != 404 {
			t.Errorf("commit page 4 of 3: status %d, want 404", code)
		}
		// In the browser: the count is in view, and the link leads on.
		ctx, cancel := b.Tab(t, time.Minute)
		defer cancel()
		err := chromedp.Do(ctx, chromedp.Navigate(commit), chromedp.WaitVisible(".part-range"))
		if err != nil {
			t.Fatalf("open the commit page: %v", err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.summary').innerText + '|' + document.querySelector('.part-range').innerText + '|' + (document.querySelector('.part-range').getBoundingClientRect().top < innerHeight)`))
		if err != nil || !strings.Contains(got, "600 parts") || !strings.Contains(got, "|Showing 1–200 of 600 parts|true") {
			t.Errorf("commit page in the browser: %q (%v)", got, err)
		}
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			saveScreenshot(t, "commit-600.png", shot)
		}
		err = chromedp.Do(ctx, chromedp.Click(`.pager a[rel="next"]`), chromedp.WaitVisible(".part-range"))
		if err != nil {
			t.Fatalf("follow the link to the next parts: %v", err)
		}
		if got, err := chromedp.Run(ctx, chromedp.Text(".part-range")); err != nil || got != "Showing 201–400 of 600 parts" {
			t.Errorf("after following the link: %q (%v)", got, err)
		}
	})
}

var tags = regexp.MustCompile(`<[^>]*>`)

// textOf is a page's text as a reader sees it: tags removed, entities
// decoded, spaces collapsed.
func textOf(page string) string {
	return strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(page, ""))), " ")
}
