package ui_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mmcdole/gofeed"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

const publicURL = "https://blueprints.example.org"

// writePart writes a generated torus of about n triangles to dir/name.
func writePart(t *testing.T, dir, name string, n int) {
	t.Helper()
	os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := stlgen.WriteTorus(f, n, false); err != nil {
		t.Fatal(err)
	}
}

// robotsAllowed applies robots.txt rules the way RFC 9309 says: the
// longest matching rule wins, Allow on a tie; '*' matches any run of
// characters and '$' anchors the end.
func robotsAllowed(rules []string, path string) bool {
	best, allow := -1, true
	for _, r := range rules {
		kind, pat, ok := strings.Cut(r, ":")
		if !ok {
			continue
		}
		kind, pat = strings.ToLower(strings.TrimSpace(kind)), strings.TrimSpace(pat)
		if (kind != "allow" && kind != "disallow") || pat == "" {
			continue
		}
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(strings.TrimSuffix(pat, "$")), `\*`, ".*")
		if strings.HasSuffix(pat, "$") {
			re += "$"
		}
		if !regexp.MustCompile(re).MatchString(path) {
			continue
		}
		if len(pat) > best || (len(pat) == best && kind == "allow") {
			best, allow = len(pat), kind == "allow"
		}
	}
	return allow
}

type sitemapDoc struct {
	XMLName xml.Name
	URLs    []struct {
		Loc     string `xml:"loc"`
		LastMod string `xml:"lastmod"`
	} `xml:"url"`
	Sitemaps []struct {
		Loc string `xml:"loc"`
	} `xml:"sitemap"`
}

// TestCrawlerEye reads the server as crawlers, link previews and feed
// readers do: robots.txt, the paged sitemap, OpenGraph tags in a real
// browser, oEmbed and the Atom feeds through a real feed parser. Every
// absolute URL must name --public-url.
func TestCrawlerEye(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--public-url", publicURL, "--sitemap-size", "3"}})
	token := srv.AddUser(t, owner)
	s := &site{srv: srv, token: token, work: t.TempDir()}
	local := func(u string) string { return strings.Replace(u, publicURL, srv.URL, 1) }

	// bracket: two parts, then a commit that changes one; clamp: one part.
	bracket := filepath.Join(s.work, "bracket")
	testenv.Git(t, "", "init", "-q", "-b", "main", bracket)
	os.WriteFile(filepath.Join(bracket, "README.md"), []byte("---\ntopics: [shelf, wall]\ncategory: Furniture\n---\n# Wall bracket\n\nA bracket that holds a shelf to a wall.\n"), 0o644)
	os.WriteFile(filepath.Join(bracket, "LICENSE"), []byte("This work is licensed under a Creative Commons Attribution-ShareAlike 3.0 Unported License. To view a copy of this license, visit http://creativecommons.org/licenses/by-sa/3.0/.\n"), 0o644)
	writePart(t, bracket, "arm.stl", 400)
	writePart(t, bracket, "plate.stl", 300)
	s.commitAndPush(t, bracket, "bracket", "First version")
	s.waitCatalogued(t, "bracket")
	writePart(t, bracket, "arm.stl", 900)
	second := s.commitAndPush(t, bracket, "bracket", "Thicker arm\n\nThe arm broke under load.")
	s.waitCatalogued(t, "bracket")
	clamp := filepath.Join(s.work, "clamp")
	testenv.Git(t, "", "init", "-q", "-b", "main", clamp)
	writePart(t, clamp, "jaw.stl", 200)
	s.commitAndPush(t, clamp, "clamp", "Clamp")
	s.waitCatalogued(t, "clamp")

	t.Run("README front matter and licence", func(t *testing.T) {
		_, page, _ := get(t, srv.URL+"/maker/bracket", nil)
		if strings.Contains(page, "topics:") || strings.Contains(page, "category: Furniture") || !strings.Contains(page, "A bracket that holds a shelf") {
			t.Errorf("project page shows the README's front matter as text, or not the README")
		}
		_, body, _ := get(t, srv.URL+"/api/v1/projects/maker/bracket", nil)
		var p struct {
			License, Category string
			Tags              []string
		}
		json.Unmarshal([]byte(body), &p)
		if p.License != "CC-BY-SA-3.0" || p.Category != "furniture" || strings.Join(p.Tags, ",") != "shelf,wall" {
			t.Errorf("project metadata %+v, want CC-BY-SA-3.0, furniture, shelf,wall", p)
		}
	})

	t.Run("robots.txt", func(t *testing.T) {
		code, body, h := get(t, srv.URL+"/robots.txt", nil)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Fatalf("GET /robots.txt: %d %s", code, h.Get("Content-Type"))
		}
		lines := strings.Split(body, "\n")
		if !strings.Contains(body, "User-agent: *") || !strings.Contains(body, "Sitemap: "+publicURL+"/sitemap.xml") {
			t.Errorf("robots.txt lacks the user agent or the sitemap:\n%s", body)
		}
		for path, want := range map[string]bool{
			"/":                                true,
			"/maker/bracket":                   true,
			"/maker/bracket/blob/main/arm.stl": true,
			"/maker/bracket/commits/main":      true,
			"/previews/" + strings.Repeat("a", 64) + "/512.png": true,
			"/maker/bracket/archive/main.zip":                   false,
			"/maker/bracket/archive/" + second + ".zip":         false,
			"/maker/bracket/raw/main/arm.stl":                   false,
			"/maker/bracket/commit/" + second:                   false,
			"/maker/bracket/tree/" + second:                     false,
			"/search?q=bracket":                                 false,
			"/api/v1/search?q=x":                                false,
		} {
			if got := robotsAllowed(lines, path); got != want {
				t.Errorf("robots.txt allows %s: %v, want %v", path, got, want)
			}
		}
	})

	t.Run("sitemap", func(t *testing.T) {
		code, body, h := get(t, srv.URL+"/sitemap.xml", nil)
		if code != 200 || !strings.Contains(h.Get("Content-Type"), "xml") {
			t.Fatalf("GET /sitemap.xml: %d %s", code, h.Get("Content-Type"))
		}
		var idx sitemapDoc
		if err := xml.Unmarshal([]byte(body), &idx); err != nil {
			t.Fatalf("sitemap index is not XML: %v\n%s", err, body)
		}
		if idx.XMLName.Local != "sitemapindex" || idx.XMLName.Space != "http://www.sitemaps.org/schemas/sitemap/0.9" {
			t.Fatalf("with 3 URLs a file, /sitemap.xml is %s %s, want a sitemapindex", idx.XMLName.Space, idx.XMLName.Local)
		}
		// Home, 2 projects, 3 parts on the default branches: 6 URLs, 2 files.
		if len(idx.Sitemaps) != 2 {
			t.Fatalf("sitemap index lists %d files, want 2:\n%s", len(idx.Sitemaps), body)
		}
		seen := map[string]bool{}
		for _, sm := range idx.Sitemaps {
			if !strings.HasPrefix(sm.Loc, publicURL+"/sitemap-") {
				t.Errorf("sitemap file %s is not under the public URL", sm.Loc)
			}
			code, body, _ := get(t, local(sm.Loc), nil)
			var set sitemapDoc
			if err := xml.Unmarshal([]byte(body), &set); code != 200 || err != nil || set.XMLName.Local != "urlset" {
				t.Fatalf("GET %s: %d, %v\n%s", sm.Loc, code, err, body)
			}
			if len(set.URLs) > 3 {
				t.Errorf("%s has %d URLs, over the limit of 3", sm.Loc, len(set.URLs))
			}
			for _, u := range set.URLs {
				if !strings.HasPrefix(u.Loc, publicURL+"/") || seen[u.Loc] {
					t.Errorf("URL %s: not under the public URL, or listed twice", u.Loc)
				}
				if u.LastMod != "" {
					if _, err := time.Parse(time.RFC3339, u.LastMod); err != nil {
						t.Errorf("lastmod %q of %s: %v", u.LastMod, u.Loc, err)
					}
				}
				seen[u.Loc] = true
			}
		}
		for _, want := range []string{"/", "/maker/bracket", "/maker/clamp", "/maker/bracket/blob/main/arm.stl", "/maker/bracket/blob/main/plate.stl", "/maker/clamp/blob/main/jaw.stl"} {
			if !seen[publicURL+want] {
				t.Errorf("sitemap lacks %s", want)
			}
		}
		if len(seen) != 6 {
			t.Errorf("sitemap lists %d URLs, want 6: %v", len(seen), seen)
		}
		if code, _, _ := get(t, srv.URL+"/sitemap-3.xml", nil); code != 404 {
			t.Errorf("GET /sitemap-3.xml: %d, want 404", code)
		}
	})

	t.Run("OpenGraph in Chromium", func(t *testing.T) {
		b := testenv.StartChromium(t)
		ctx, cancel := b.Tab(t, 60*time.Second)
		defer cancel()
		for _, page := range []string{"/maker/bracket", "/maker/bracket/blob/main/arm.stl"} {
			if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+page)); err != nil {
				t.Fatalf("open %s: %v", page, err)
			}
			meta, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(() => {
				const m = n => { const e = document.querySelector('meta[property="' + n + '"], meta[name="' + n + '"]'); return e ? e.content : ''; };
				const l = document.querySelector('link[rel="alternate"][type="application/atom+xml"]');
				return {image: m('og:image'), title: m('og:title'), desc: m('og:description'), url: m('og:url'), card: m('twitter:card'), feed: l ? l.href : ''};
			})()`))
			if err != nil {
				t.Fatalf("read meta tags of %s: %v", page, err)
			}
			if !strings.HasPrefix(meta["image"], publicURL+"/previews/") || !strings.HasSuffix(meta["image"], ".png") {
				t.Errorf("%s: og:image %q is not an absolute preview URL under %s", page, meta["image"], publicURL)
			} else if code, _, h := get(t, local(meta["image"]), nil); code != 200 || h.Get("Content-Type") != "image/png" {
				t.Errorf("%s: og:image %s answers %d %s", page, meta["image"], code, h.Get("Content-Type"))
			}
			if meta["url"] != publicURL+page || meta["title"] == "" || meta["desc"] == "" || meta["card"] != "summary_large_image" {
				t.Errorf("%s: OpenGraph/Twitter tags %v", page, meta)
			}
			if meta["feed"] != publicURL+"/maker/bracket/commits.atom" {
				t.Errorf("%s: first feed link %q", page, meta["feed"])
			}
		}
		if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		feed, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('link[rel="alternate"][type="application/atom+xml"]').href`))
		if err != nil || feed != publicURL+"/projects.atom" {
			t.Errorf("home page feed link %q (%v)", feed, err)
		}
	})

	t.Run("oEmbed", func(t *testing.T) {
		part := publicURL + "/maker/bracket/blob/main/arm.stl"
		code, body, _ := get(t, srv.URL+"/oembed?format=json&url="+url.QueryEscape(part), nil)
		var o map[string]any
		if err := json.Unmarshal([]byte(body), &o); code != 200 || err != nil {
			t.Fatalf("oEmbed: %d %v %s", code, err, body)
		}
		if o["version"] != "1.0" || o["type"] != "photo" || !strings.HasPrefix(fmt.Sprint(o["url"]), publicURL+"/maker/bracket/preview/main/arm.stl") || o["width"].(float64) != 512 {
			t.Errorf("oEmbed answer %v", o)
		}
		for q, want := range map[string]int{
			"format=xml&url=" + url.QueryEscape(part):                                             501,
			"url=" + url.QueryEscape("https://elsewhere.example/maker/bracket/blob/main/arm.stl"): 404,
			"url=" + url.QueryEscape(publicURL+"/maker/bracket"):                                  404,
			"url=" + url.QueryEscape(publicURL+"/maker/nothing/blob/main/arm.stl"):                404,
			"": 400,
		} {
			if code, _, _ := get(t, srv.URL+"/oembed?"+q, nil); code != want {
				t.Errorf("oEmbed ?%s: %d, want %d", q, code, want)
			}
		}
	})

	t.Run("Atom feeds", func(t *testing.T) {
		parse := func(path string) *gofeed.Feed {
			t.Helper()
			code, body, h := get(t, srv.URL+path, nil)
			if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/atom+xml") {
				t.Fatalf("GET %s: %d %s", path, code, h.Get("Content-Type"))
			}
			f, err := gofeed.NewParser().ParseString(body)
			if err != nil {
				t.Fatalf("parse %s: %v\n%s", path, err, body)
			}
			if f.FeedType != "atom" {
				t.Errorf("%s is %s, want atom", path, f.FeedType)
			}
			return f
		}
		projects := parse("/projects.atom")
		if len(projects.Items) != 2 || projects.Items[0].Link != publicURL+"/maker/clamp" || projects.Items[1].Link != publicURL+"/maker/bracket" {
			t.Errorf("/projects.atom: %d items, newest first want clamp then bracket: %v", len(projects.Items), links(projects))
		}
		if !strings.Contains(projects.Items[1].Content, "A bracket that holds a shelf") {
			t.Errorf("/projects.atom: bracket's entry lacks its description: %q", projects.Items[1].Content)
		}
		commits := parse("/maker/bracket/commits.atom")
		if len(commits.Items) != 2 || commits.Items[0].Link != publicURL+"/maker/bracket/commit/"+second {
			t.Fatalf("commits feed: %v", links(commits))
		}
		newest := commits.Items[0]
		if !strings.Contains(newest.Title, "Thicker arm") || !strings.Contains(newest.Description, "1 part modified") ||
			!strings.Contains(newest.Content, "arm.stl") || !strings.Contains(newest.Content, "Triangles") || !strings.Contains(newest.Content, "The arm broke under load.") {
			t.Errorf("newest commit entry: title %q, summary %q, content %q", newest.Title, newest.Description, newest.Content)
		}
		if first := commits.Items[1]; !strings.Contains(first.Description, "2 parts added") {
			t.Errorf("first commit entry summary %q", first.Description)
		}
		activity := parse("/maker.atom")
		// 3 commits and 2 projects created.
		if len(activity.Items) != 5 {
			t.Errorf("/maker.atom has %d items, want 5: %v", len(activity.Items), links(activity))
		}
		for i := 1; i < len(activity.Items); i++ {
			if activity.Items[i].UpdatedParsed.After(*activity.Items[i-1].UpdatedParsed) {
				t.Errorf("/maker.atom not newest first at %d", i)
			}
		}
		if code, _, _ := get(t, srv.URL+"/nobody.atom", nil); code != 404 {
			t.Errorf("feed of an unknown user: %d", code)
		}
		if code, _, _ := get(t, srv.URL+"/maker/nothing/commits.atom", nil); code != 404 {
			t.Errorf("feed of an unknown project: %d", code)
		}
	})
}

func links(f *gofeed.Feed) []string {
	var out []string
	for _, it := range f.Items {
		out = append(out, it.Link)
	}
	return out
}
