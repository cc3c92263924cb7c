package ui

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// This file is what crawlers read: robots.txt, the sitemap and the
// oEmbed answer for part pages. Every absolute URL comes from u.public.

// robotsRules keep crawlers off what is endless or heavy to make: zips
// built on the fly for every commit, raw files, commit diffs, file trees
// at every commit and search results. Project pages, part pages on the
// default branch and history stay open; the sitemap lists what to crawl.
var robotsRules = []string{
	"Disallow: /*/*/archive/",
	"Disallow: /*/*/raw/",
	"Disallow: /*/*/commit/",
	"Disallow: /*/*/tree/",
	"Disallow: /search",
	"Disallow: /api/",
	"Allow: /previews/",
}

func (u *UI) robots(c echo.Context) error {
	var b strings.Builder
	b.WriteString("# Blueprints: crawl projects and parts; archives, raw files, diffs and searches are made on demand.\nUser-agent: *\n")
	for _, r := range robotsRules {
		b.WriteString(r + "\n")
	}
	fmt.Fprintf(&b, "\nSitemap: %s\n", u.public.URL(c.Request(), "/sitemap.xml"))
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.String(http.StatusOK, b.String())
}

// sitemapPageSize is the most URLs in one sitemap file (the protocol's
// limit is 50,000 URLs and 50 MB).
const sitemapPageSize = 50000

type sitemapURL struct {
	Loc     string `xml:"loc"`
	LastMod string `xml:"lastmod,omitempty"`
}

type urlSet struct {
	XMLName xml.Name     `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 urlset"`
	URLs    []sitemapURL `xml:"url"`
}

type sitemapIndex struct {
	XMLName  xml.Name     `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 sitemapindex"`
	Sitemaps []sitemapURL `xml:"sitemap"`
}

// siteURLs lists the paths a crawler should visit: the home page, each
// public project and each of its parts on the default branch, with the
// time they last changed. Public is what the access policy lets a viewer
// nobody signed in as see, whoever asks: the sitemap is the same for all.
func (u *UI) siteURLs(ctx context.Context) ([]sitemapURL, error) {
	scope, err := u.access.Scope(ctx, access.Viewer{})
	if err != nil {
		return nil, err
	}
	projects, _, err := u.store.ListProjects(ctx, store.ProjectQuery{Visible: scope.Store()})
	if err != nil {
		return nil, err
	}
	out := []sitemapURL{{Loc: "/"}}
	for _, p := range projects {
		if !scope.Sees(p) {
			continue
		}
		base := "/" + p.Owner + "/" + p.Name
		out = append(out, sitemapURL{Loc: base, LastMod: p.Updated.UTC().Format(time.RFC3339)})
		if p.DefaultBranch == "" {
			continue
		}
		parts, err := u.store.ProjectParts(ctx, p.FullName())
		if err != nil {
			return nil, err
		}
		for _, cp := range parts {
			if cp.Error != "" || cp.Ref != p.DefaultBranch {
				continue
			}
			out = append(out, sitemapURL{Loc: base + "/blob/" + escapePath(cp.Ref) + "/" + escapePath(cp.Path), LastMod: cp.Updated.UTC().Format(time.RFC3339)})
		}
	}
	return out, nil
}

// sitemap answers /sitemap.xml: the URLs themselves when they fit one
// file, else an index of /sitemap-N.xml files.
func (u *UI) sitemap(c echo.Context) error {
	return u.sitemapPage(c, 0)
}

// sitemapN answers /sitemap-N.xml, N from 1.
func (u *UI) sitemapN(c echo.Context) error {
	n, err := strconv.Atoi(strings.TrimSuffix(c.Param("n"), ".xml"))
	if err != nil || n < 1 {
		return u.fail(c, notFound("No such sitemap."))
	}
	return u.sitemapPage(c, n)
}

func (u *UI) sitemapPage(c echo.Context, n int) error {
	urls, err := u.siteURLs(c.Request().Context())
	if err != nil {
		return u.fail(c, err)
	}
	abs := func(p string) string { return u.public.URL(c.Request(), p) }
	size := u.sitemapSize
	if size <= 0 {
		size = sitemapPageSize
	}
	var doc any
	switch {
	case n == 0 && len(urls) <= size:
		set := urlSet{URLs: urls}
		for i := range set.URLs {
			set.URLs[i].Loc = abs(set.URLs[i].Loc)
		}
		doc = set
	case n == 0:
		var idx sitemapIndex
		for i := 1; (i-1)*size < len(urls); i++ {
			idx.Sitemaps = append(idx.Sitemaps, sitemapURL{Loc: abs("/sitemap-" + strconv.Itoa(i) + ".xml")})
		}
		doc = idx
	default:
		lo := (n - 1) * size
		if lo >= len(urls) || len(urls) <= size {
			return u.fail(c, notFound("No sitemap %d.", n))
		}
		set := urlSet{URLs: urls[lo:min(lo+size, len(urls))]}
		for i := range set.URLs {
			set.URLs[i].Loc = abs(set.URLs[i].Loc)
		}
		doc = set
	}
	out, err := xml.MarshalIndent(doc, "", " ")
	if err != nil {
		return u.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=600")
	return c.Blob(http.StatusOK, "application/xml; charset=utf-8", append([]byte(xml.Header), out...))
}

// oembedAnswer is an oEmbed 1.0 "photo" answer: the part's preview.
type oembedAnswer struct {
	Version      string `json:"version"`
	Type         string `json:"type"`
	Title        string `json:"title"`
	AuthorName   string `json:"author_name"`
	AuthorURL    string `json:"author_url"`
	ProviderName string `json:"provider_name"`
	ProviderURL  string `json:"provider_url"`
	URL          string `json:"url"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	ThumbnailURL string `json:"thumbnail_url"`
	ThumbWidth   int    `json:"thumbnail_width"`
	ThumbHeight  int    `json:"thumbnail_height"`
}

// oembed answers GET /oembed?url=PART_PAGE[&format=json][&maxwidth=N]
// for part pages of this server (oembed.com, section 2).
func (u *UI) oembed(c echo.Context) error {
	if f := c.QueryParam("format"); f != "" && f != "json" {
		return c.JSON(http.StatusNotImplemented, map[string]string{"error": "only format=json is served"})
	}
	raw := c.QueryParam("url")
	pu, err := url.Parse(raw)
	if raw == "" || err != nil {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "url: want the address of a part page"})
	}
	origin, oerr := u.public.Origin(c.Request())
	if pu.IsAbs() && (oerr != nil || !strings.EqualFold(pu.Scheme+"://"+pu.Host, origin)) {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "url is not a page of this server"})
	}
	segs := strings.SplitN(strings.TrimPrefix(pu.Path, "/"), "/", 5)
	if len(segs) < 5 || segs[2] != "blob" || !isPart(segs[4]) {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "url is not a part page (/{owner}/{project}/blob/{ref}/{path})"})
	}
	// Whoever asks sees what the policy lets them read; a project they
	// may not read is a missing one.
	ctx := c.Request().Context()
	varyViewer(c)
	v, err := u.viewer(c)
	if err != nil {
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "bad credentials"})
	}
	row, err := u.store.ProjectByName(ctx, segs[0], segs[1])
	if errors.Is(err, store.ErrNotFound) {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no such part"})
	}
	if err != nil {
		return u.fail(c, err)
	}
	if ok, err := u.access.Can(ctx, v, access.Read, row); err != nil {
		return u.fail(c, err)
	} else if !ok {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no such part"})
	}
	if !v.Anonymous() {
		c.Response().Header().Set("Cache-Control", "private, no-cache")
	}
	size := 512
	if mw, err := strconv.Atoi(c.QueryParam("maxwidth")); err == nil && mw > 0 && mw < size {
		size = mw
	}
	if mh, err := strconv.Atoi(c.QueryParam("maxheight")); err == nil && mh > 0 && mh < size {
		size = mh
	}
	base := "/" + row.Owner + "/" + row.Name
	preview := u.public.URL(c.Request(), base+"/preview/"+escapePath(segs[3])+"/"+escapePath(segs[4])+".png")
	return c.JSON(http.StatusOK, oembedAnswer{
		Version: "1.0", Type: "photo", Title: partName(segs[4]) + " · " + row.FullName(),
		AuthorName: row.Owner, AuthorURL: u.public.URL(c.Request(), base),
		ProviderName: "Blueprints", ProviderURL: u.public.URL(c.Request(), "/"),
		URL: preview, Width: size, Height: size,
		ThumbnailURL: preview, ThumbWidth: size, ThumbHeight: size,
	})
}
