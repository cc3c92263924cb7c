package ui

import (
	"net/url"

	"github.com/labstack/echo/v4"
)

// headMeta is what a page tells other machines in its <head>: its
// canonical address, its feeds, its oEmbed endpoint and the OpenGraph and
// Twitter card tags that give a shared link a title, text and picture.
// Every URL in it is absolute (from --public-url or the request's host).
type headMeta struct {
	Canonical string
	Feeds     []feedLink
	OEmbed    string
	OG        *openGraph
}

type feedLink struct {
	Title, URL string
}

type openGraph struct {
	Type        string // "website", "article"
	Title       string
	Description string
	URL         string
	Image       string
	ImageAlt    string
	ImageSize   int // the preview is square
}

// describer is a page view that has something to say in its <head>; abs
// turns a site path into an absolute URL.
type describer interface {
	describe(abs func(string) string) headMeta
}

// headFor builds the head metadata of a page whose view is body.
func (u *UI) headFor(c echo.Context, body any) headMeta {
	abs := func(p string) string { return u.public.URL(c.Request(), p) }
	h := headMeta{Feeds: []feedLink{{"New projects on Blueprints", abs("/projects.atom")}}}
	if d, ok := body.(describer); ok {
		own := d.describe(abs)
		h.Canonical, h.OEmbed, h.OG = own.Canonical, own.OEmbed, own.OG
		h.Feeds = append(own.Feeds, h.Feeds...)
	}
	return h
}

// scopedKey is a page cache key made specific to what may differ between
// two requests for the same page: the origin its absolute links name (a
// page made for one Host header is never served for another) and what the
// viewer may see (the access policy's scope: every anonymous viewer shares
// "public"). The page cache and the pages' entity tags both use it; the
// tags also name the viewer's own parts of the page (see pageTag).
func (u *UI) scopedKey(c echo.Context, key string) string {
	o, _ := u.public.Origin(c.Request())
	return key + "|" + o + "|" + u.viewerScope(c)
}

// viewerScope names what the viewer of a request may see, so that no page
// made for one viewer is served to another who sees less. When the scope
// cannot be asked, the key names the failure and the viewer, so nothing
// is shared across viewers.
func (u *UI) viewerScope(c echo.Context) string {
	_, key, err := u.scope(c)
	if err != nil {
		v, _ := u.viewer(c)
		return "unscoped:" + v.Name
	}
	return key
}

func (v projectView) describe(abs func(string) string) headMeta {
	h := headMeta{Canonical: abs(v.P.URL())}
	h.Feeds = []feedLink{
		{"Commits to " + v.P.Full(), abs(v.P.URL() + "/commits.atom")},
		{"Activity of " + v.P.Owner, abs("/" + v.P.Owner + ".atom")},
	}
	title := v.P.Full()
	if v.Meta.Title != "" && v.Meta.Title != v.P.Name {
		title = v.Meta.Title + " · " + v.P.Full()
	}
	desc := v.Meta.Description
	if desc == "" {
		desc = plural(v.Totals.Parts, "part") + " to print, measure and fork on Blueprints."
	}
	og := &openGraph{Type: "website", Title: title, Description: clipText(desc, 300), URL: h.Canonical}
	// The cover is the largest part, as on the home page's cards.
	if best := v.Cover; best != nil {
		og.Image, og.ImageAlt, og.ImageSize = abs(best.Preview), "Preview of "+best.Name, 512
	}
	h.OG = og
	return h
}

func (v partView) describe(abs func(string) string) headMeta {
	page := abs(v.L.BlobURL(v.L.Path))
	h := headMeta{
		Canonical: page,
		Feeds:     []feedLink{{"Commits to " + v.L.P.Full(), abs(v.L.P.URL() + "/commits.atom")}},
		OEmbed:    abs("/oembed?format=json&url=" + url.QueryEscape(page)),
	}
	desc := "A part of " + v.L.P.Full() + " on Blueprints."
	if v.Part != nil {
		desc = formatDims(v.Part) + " · " + formatVolume(v.Part.Volume) + " · " + formatCount(v.Part.Triangles) + " triangles. " + desc
	}
	og := &openGraph{Type: "article", Title: partName(v.L.Path) + " · " + v.L.P.Full(), Description: desc, URL: page}
	if v.Preview != "" {
		og.Image, og.ImageAlt, og.ImageSize = abs(v.Preview), "Preview of "+partName(v.L.Path), 512
	}
	h.OG = og
	return h
}

// clipText cuts s to at most n bytes at a word boundary, with an ellipsis.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > n/2 && s[cut] != ' ' {
		cut--
	}
	return s[:cut] + "…"
}
