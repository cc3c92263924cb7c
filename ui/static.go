package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

//go:embed static
var staticFS embed.FS

// staticFile is one embedded asset, with its gzip form when that is
// smaller.
type staticFile struct {
	body  []byte
	ctype string
	etag  string
	once  sync.Once
	gz    []byte // made on first use, nil when it would not be smaller
}

func (f *staticFile) gzipped() []byte {
	f.once.Do(func() {
		if !strings.HasPrefix(f.ctype, "text/") && f.ctype != "image/svg+xml" {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(f.body)
		zw.Close()
		if buf.Len() < len(f.body) {
			f.gz = buf.Bytes()
		}
	})
	return f.gz
}

// staticFiles serves the stylesheet, the viewer and three.js under
// /static/{version}/, where version is a hash of all of them, so the URLs
// change whenever a file does and can be cached forever.
type staticFiles struct {
	prefix    string // "/static/0123abcd"
	files     map[string]*staticFile
	importMap string // the import map that points "three" at the vendored copy
	csp       string // the pages' Content-Security-Policy, allowing that import map
}

func newStaticFiles() (*staticFiles, error) {
	s := &staticFiles{files: map[string]*staticFile{}}
	all := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		all.Write(sum[:])
		f := &staticFile{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		f.ctype = mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".js":
			f.ctype = "text/javascript; charset=utf-8"
		case ".css":
			f.ctype = "text/css; charset=utf-8"
		case "":
			f.ctype = "text/plain; charset=utf-8"
		}
		if f.ctype == "" {
			f.ctype = "application/octet-stream"
		}
		s.files[strings.TrimPrefix(p, "static/")] = f
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.prefix = "/static/" + hex.EncodeToString(all.Sum(nil)[:6])
	s.importMap = `{"imports":{"three":"` + s.prefix + `/vendor/three/three.module.js","three/addons/":"` + s.prefix + `/vendor/three/"}}`
	sum := sha256.Sum256([]byte(s.importMap))
	// Pages run only our own scripts and this import map; README images
	// may come from anywhere over HTTPS.
	s.csp = "default-src 'self'; script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	return s, nil
}

// serveStatic answers /static/{version}/{file}. An old version still gets
// the current file, but is not cached for long.
func (u *UI) serveStatic(c echo.Context) error {
	rest := c.Param("*")
	version, name, ok := strings.Cut(rest, "/")
	f := u.static.files[name]
	if !ok || f == nil {
		return u.fail(c, notFound("No such file."))
	}
	h := c.Response().Header()
	if "/static/"+version == u.static.prefix {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=60")
	}
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if match := c.Request().Header.Get("If-None-Match"); match == f.etag {
		return c.NoContent(http.StatusNotModified)
	}
	body := f.body
	if strings.Contains(c.Request().Header.Get("Accept-Encoding"), "gzip") {
		if gz := f.gzipped(); gz != nil {
			h.Set("Content-Encoding", "gzip")
			body = gz
		}
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	return c.Blob(http.StatusOK, f.ctype, body)
}
