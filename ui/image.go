package ui

import (
	"bytes"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// README images. raw/ serves SVG as plain text, so that nothing pushed
// runs on the server's origin; an SVG in a README then shows as broken.
// image/ serves the images of a repository as images, and nothing else:
// the type comes from a fixed list by extension (never sniffed, never
// HTML), the first bytes must be that kind of image, and the answer
// carries a sandboxing Content-Security-Policy, so that an SVG opened on
// its own runs no script either (inside an <img> a browser never runs
// one). Pages point README images here.

// imageTypes are the images served, by extension.
var imageTypes = map[string]string{
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".avif": "image/avif",
	".bmp":  "image/bmp",
	".ico":  "image/x-icon",
	".svg":  "image/svg+xml",
}

// imageCSP sandboxes an image opened as a document: no script, no
// plugin, nothing loaded from anywhere but inline data, styles inside an
// SVG allowed.
const imageCSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"

// isImageOf reports whether head, a file's first bytes, begins as an
// image of type ctype does.
func isImageOf(ctype string, head []byte) bool {
	switch ctype {
	case "image/png":
		return bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n"))
	case "image/jpeg":
		return bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff})
	case "image/gif":
		return bytes.HasPrefix(head, []byte("GIF87a")) || bytes.HasPrefix(head, []byte("GIF89a"))
	case "image/webp":
		return len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP"
	case "image/avif":
		return len(head) >= 12 && string(head[4:8]) == "ftyp" && (string(head[8:12]) == "avif" || string(head[8:12]) == "avis")
	case "image/bmp":
		return bytes.HasPrefix(head, []byte("BM"))
	case "image/x-icon":
		return bytes.HasPrefix(head, []byte{0, 0, 1, 0})
	case "image/svg+xml":
		// XML (a declaration, comments, a doctype may come first) whose
		// first element is svg.
		s := strings.TrimPrefix(string(head), "\ufeff")
		for {
			s = strings.TrimLeft(s, " \t\r\n")
			switch {
			case strings.HasPrefix(s, "<?"):
				_, s, _ = strings.Cut(s, "?>")
			case strings.HasPrefix(s, "<!--"):
				_, s, _ = strings.Cut(s, "-->")
			case strings.HasPrefix(s, "<!"):
				_, s, _ = strings.Cut(s, ">")
			default:
				return len(s) > 4 && strings.EqualFold(s[:4], "<svg") && strings.ContainsRune(" \t\r\n>/", rune(s[4]))
			}
		}
	}
	return false
}

// image serves /{owner}/{project}/image/{ref}/{path}: an image of the
// repository, as that image, sandboxed.
func (u *UI) image(c echo.Context) error {
	l, err := u.locate(c)
	if err != nil {
		return u.fail(c, err)
	}
	name := path.Base(l.Path)
	ctype, ok := imageTypes[strings.ToLower(path.Ext(name))]
	if !ok {
		return u.fail(c, notFound("%s is not an image: only PNG, JPEG, GIF, WebP, AVIF, BMP, ICO and SVG files are served here; download other files from raw/.", name))
	}
	f, err := u.openFile(c.Request().Context(), l, 4096)
	if err != nil {
		return u.fail(c, err)
	}
	if isLink(f.entry) {
		return u.fail(c, notFound("%s is a symbolic link, not an image.", name))
	}
	if !isImageOf(ctype, f.head) {
		return u.fail(c, notFound("%s is not a %s image.", name, strings.TrimPrefix(ctype, "image/")))
	}
	hd := c.Response().Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Disposition", disposition(name, ctype))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", imageCSP)
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("ETag", `"`+f.etag+`"`)
	setFileCaching(hd, l)
	return serveRange(c, f.src, `"`+f.etag+`"`)
}

// ImageURL is where a README's image is served from: image/, at the
// commit (so the address never changes meaning).
func (l *located) ImageURL(p string) string {
	return l.P.URL() + "/image/" + l.Commit + "/" + escapePath(p)
}
