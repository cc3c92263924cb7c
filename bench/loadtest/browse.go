package main

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// browser is one person's browser: it clicks through pages, searches and
// downloads, loads the preview images a page shows (keeping them in its
// cache, as they are immutable) and pauses between clicks.
type browser struct {
	s     *site
	c     *http.Client
	rec   *recorder
	rng   *rand.Rand
	think time.Duration
	cache map[string]bool // image URLs already loaded
}

// click is one kind of click and how often it happens, out of the sum of
// weights.
type click struct {
	weight int
	do     func(b *browser, ctx context.Context)
}

var clicks = []click{
	{8, (*browser).home},
	{16, (*browser).searchPage},
	{12, (*browser).apiSearch},
	{12, (*browser).projectPage},
	{8, (*browser).treePage},
	{12, (*browser).partPage},
	{5, (*browser).rawDownload},
	{4, (*browser).previewImage},
	{5, (*browser).historyPage},
	{5, (*browser).commitPage},
	{3, (*browser).apiProjects},
	{4, (*browser).apiProject},
	{4, (*browser).workbench},
}

// run clicks until deadline.
func (b *browser) run(ctx context.Context, deadline time.Time) {
	total := 0
	for _, c := range clicks {
		total += c.weight
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n := b.rng.IntN(total)
		for _, c := range clicks {
			if n < c.weight {
				c.do(b, ctx)
				break
			}
			n -= c.weight
		}
		if b.think > 0 {
			pause := time.Duration(b.rng.Int64N(int64(2 * b.think)))
			if until := time.Until(deadline); pause > until {
				pause = until
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}
}

// get requests base+path and records it in class; it returns the status
// and, when keep is set, the body.
func (b *browser) get(ctx context.Context, class, path string, keep bool) (int, []byte) {
	u := b.s.base + path
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		u = path // the API's URLs are absolute
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		b.rec.request(class, path, 0, 0, err, "")
		return 0, nil
	}
	start := time.Now()
	resp, err := b.c.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			b.rec.request(class, path, 0, time.Since(start), err, "")
		}
		return 0, nil
	}
	var body []byte
	if keep || resp.StatusCode >= 400 {
		body, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	took := time.Since(start)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return 0, nil
	}
	b.rec.request(class, path, resp.StatusCode, took, err, string(body))
	return resp.StatusCode, body
}

var imgSrc = regexp.MustCompile(`<img[^>]*\ssrc="([^"]+)"`)

// page loads an HTML page and then the part previews on it that are not
// in the cache yet (at most six, the first ones: what is on screen).
func (b *browser) page(ctx context.Context, class, path string) {
	status, body := b.get(ctx, class, path, true)
	if status != http.StatusOK {
		return
	}
	n := 0
	for _, m := range imgSrc.FindAllSubmatch(body, -1) {
		src := html.UnescapeString(string(m[1]))
		// Previews only: READMEs may show pictures the corpus does not
		// carry, and the static files stay in a real browser's cache.
		preview := strings.HasPrefix(src, "/previews/") || strings.Contains(src, "/preview/")
		if !preview || b.cache[src] {
			continue
		}
		if n++; n > 6 {
			break
		}
		if status, _ := b.get(ctx, classFiles, src, false); status == http.StatusOK {
			b.cache[src] = true
		}
	}
}

func (b *browser) project() *project { return b.s.projects[b.rng.IntN(len(b.s.projects))] }

func (b *browser) part(p *project) string {
	if len(p.parts) == 0 {
		return ""
	}
	return p.parts[b.rng.IntN(len(p.parts))]
}

func (b *browser) home(ctx context.Context) { b.page(ctx, classPages, "/") }

func (b *browser) searchPage(ctx context.Context) {
	b.page(ctx, classSearch, "/search?"+b.query(false).Encode())
}

// apiSearch searches through the API and sometimes opens a hit's page or
// preview, as a script or a client application would.
func (b *browser) apiSearch(ctx context.Context) {
	status, body := b.get(ctx, classAPI, "/api/v1/search?"+b.query(true).Encode(), true)
	if status != http.StatusOK {
		return
	}
	var res struct {
		Hits []struct {
			URL        string `json:"url"`
			PreviewURL string `json:"preview_url"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		b.rec.request(classAPI, "search answer", 0, 0, err, "")
		return
	}
	if len(res.Hits) == 0 || b.rng.IntN(2) == 0 {
		return
	}
	h := res.Hits[b.rng.IntN(len(res.Hits))]
	if h.PreviewURL != "" && b.rng.IntN(2) == 0 {
		b.get(ctx, classFiles, h.PreviewURL, false)
	} else if h.URL != "" {
		b.page(ctx, classPages, h.URL)
	}
}

func (b *browser) projectPage(ctx context.Context) {
	b.page(ctx, classPages, "/"+b.project().full())
}

func (b *browser) treePage(ctx context.Context) {
	p := b.project()
	path := "/" + p.full() + "/tree/main"
	if len(p.folders) > 0 && b.rng.IntN(4) > 0 {
		path += "/" + escapePath(p.folders[b.rng.IntN(len(p.folders))])
	}
	b.page(ctx, classPages, path)
}

func (b *browser) partPage(ctx context.Context) {
	p := b.project()
	ref := "main"
	if b.rng.IntN(8) == 0 {
		ref = p.commits[0] // an older version, by commit id
	}
	b.page(ctx, classPages, "/"+p.full()+"/blob/"+ref+"/"+escapePath(b.part(p)))
}

func (b *browser) rawDownload(ctx context.Context) {
	p := b.project()
	b.get(ctx, classFiles, "/"+p.full()+"/raw/main/"+escapePath(b.part(p)), false)
}

func (b *browser) previewImage(ctx context.Context) {
	p := b.project()
	b.get(ctx, classFiles, "/"+p.full()+"/preview/main/"+escapePath(b.part(p))+".png", false)
}

func (b *browser) historyPage(ctx context.Context) {
	b.page(ctx, classPages, "/"+b.project().full()+"/commits/main")
}

func (b *browser) commitPage(ctx context.Context) {
	p := b.project()
	b.page(ctx, classPages, "/"+p.full()+"/commit/"+p.commits[b.rng.IntN(len(p.commits))])
}

func (b *browser) apiProjects(ctx context.Context) {
	page := 1 + b.rng.IntN(max(1, len(b.s.projects)/20))
	b.get(ctx, classAPI, "/api/v1/projects?page="+strconv.Itoa(page), false)
}

func (b *browser) apiProject(ctx context.Context) {
	b.get(ctx, classAPI, "/api/v1/projects/"+b.project().full(), false)
}

// workbench looks at a project a gitter is pushing to at this moment: its
// page or its history.
func (b *browser) workbench(ctx context.Context) {
	if len(b.s.gitters) == 0 {
		b.projectPage(ctx)
		return
	}
	p := b.s.gitters[b.rng.IntN(len(b.s.gitters))].project
	if b.rng.IntN(2) == 0 {
		b.page(ctx, classPages, "/"+p.full())
	} else {
		b.page(ctx, classPages, "/"+p.full()+"/commits/main")
	}
}

// Build volumes of common printers, for fits-in-volume searches.
var buildVolumes = [][3]int{{250, 210, 210}, {220, 220, 250}, {350, 350, 340}, {180, 180, 180}, {256, 256, 256}, {120, 120, 120}}

// query makes a search as people type them: one or two words of part
// names, sometimes misspelt or cut short, often with a filter (fits in a
// build volume, licence, category, volume range, kind, project), now and
// then sorted or on page 2. API queries sometimes ask for more hits or
// no facets.
func (b *browser) query(api bool) url.Values {
	q := url.Values{}
	words := b.s.words
	text := ""
	if len(words) > 0 {
		text = words[b.rng.IntN(len(words))]
		switch b.rng.IntN(10) {
		case 0:
			text = ""
		case 1, 2:
			text += " " + words[b.rng.IntN(len(words))]
		case 3:
			if len(text) > 4 {
				i := 1 + b.rng.IntN(len(text)-2)
				text = text[:i] + text[i+1:]
			}
		case 4:
			if len(text) > 3 {
				text = text[:3]
				q.Set("prefix", "1")
			}
		}
	}
	q.Set("q", text)
	switch b.rng.IntN(10) {
	case 0, 1:
		v := buildVolumes[b.rng.IntN(len(buildVolumes))]
		q.Set("max_x", strconv.Itoa(v[0]))
		q.Set("max_y", strconv.Itoa(v[1]))
		q.Set("max_z", strconv.Itoa(v[2]))
	case 2:
		if len(b.s.licenses) > 0 {
			q.Set("license", b.s.licenses[b.rng.IntN(len(b.s.licenses))])
		}
	case 3:
		if len(b.s.cats) > 0 {
			q.Set("category", b.s.cats[b.rng.IntN(len(b.s.cats))])
		}
	case 4:
		q.Set("min_volume", strconv.Itoa(100*(1+b.rng.IntN(50))))
		q.Set("max_volume", strconv.Itoa(100000*(1+b.rng.IntN(20))))
	case 5:
		q.Set("kind", []string{"part", "project"}[b.rng.IntN(2)])
	case 6:
		q.Set("project", b.project().full())
	}
	if b.rng.IntN(7) == 0 {
		q.Set("sort", []string{"name", "volume", "updated"}[b.rng.IntN(3)])
	}
	if b.rng.IntN(10) == 0 {
		q.Set("page", "2")
	}
	if api {
		if b.rng.IntN(10) == 0 {
			q.Set("per_page", "50")
		}
		if b.rng.IntN(5) == 0 {
			q.Set("facets", "0")
		}
	}
	return q
}
