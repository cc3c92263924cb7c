package guard

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Streaming reports whether the request is on a route whose body streams
// without bound: git's upload-pack and receive-pack POSTs and LFS object
// uploads. c.Path() is the matched route pattern, so a file or project
// name cannot pose as one of these.
func Streaming(c echo.Context) bool {
	p := c.Path()
	switch c.Request().Method {
	case http.MethodPost:
		return strings.HasSuffix(p, "/git-upload-pack") || strings.HasSuffix(p, "/git-receive-pack")
	case http.MethodPut:
		return strings.HasSuffix(p, "/info/lfs/objects/:oid")
	}
	return false
}

// BodyLimit refuses request bodies larger than max bytes with 413, except
// on routes where streaming is true. A declared Content-Length over the
// limit is refused before the handler runs; a chunked body is cut at the
// limit and, when the handler has not answered yet, answered with 413.
func BodyLimit(max int64, streaming func(echo.Context) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.Body == nil || req.Body == http.NoBody || streaming(c) {
				return next(c)
			}
			if req.ContentLength > max {
				// The body stays unread: close the connection rather than drain it.
				c.Response().Header().Set(echo.HeaderConnection, "close")
				return tooLarge(c, max)
			}
			body := &limitedBody{r: http.MaxBytesReader(c.Response(), req.Body, max)}
			req.Body = body
			err := next(c)
			if body.over && !c.Response().Committed {
				return tooLarge(c, max)
			}
			return err
		}
	}
}

func tooLarge(c echo.Context, max int64) error {
	msg := fmt.Sprintf("request body is larger than %d bytes", max)
	if isLFS(c.Request()) {
		c.Response().Header().Set(echo.HeaderContentType, "application/vnd.git-lfs+json")
		c.Response().WriteHeader(http.StatusRequestEntityTooLarge)
		_, err := fmt.Fprintf(c.Response(), "{\"message\":%q}\n", msg)
		return err
	}
	return c.String(http.StatusRequestEntityTooLarge, msg+"\n")
}

// limitedBody notes whether the body went past the limit.
type limitedBody struct {
	r    io.ReadCloser
	over bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		// Still a *http.MaxBytesError to errors.As, and a 413 when a
		// handler returns it as it is.
		b.over = true
		err = &echo.HTTPError{Code: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit), Internal: err}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// Headers sets the security headers every response carries. Pages replace
// the Content-Security-Policy with their own (which allows their scripts,
// styles and images); raw repository files replace it with a sandbox.
// Everything else, JSON, plain text and LFS objects included, gets one
// that allows nothing and sandboxes the document, so a response opened in
// a browser can run nothing in our origin.
func Headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox")
		return next(c)
	}
}

// jsonWrite reports whether the request writes through a JSON endpoint:
// a POST to one of LFS's JSON endpoints (batch, verify, locks), or any
// write to the API under /api/.
func jsonWrite(c echo.Context) bool {
	switch c.Request().Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	case http.MethodPost:
		if strings.Contains(c.Path(), "/info/lfs/") && !strings.HasSuffix(c.Path(), "/objects/:oid") {
			return true
		}
	}
	return strings.HasPrefix(c.Path(), "/api/")
}

// isJSON reports whether a Content-Type names JSON: application/json or
// any application/*+json (Git LFS sends application/vnd.git-lfs+json).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// RequireJSON refuses, with 415, a write to a JSON endpoint whose body is
// not declared JSON. A cross-site HTML form can only send form or plain
// text bodies, and a browser asks before it sends JSON to another origin,
// so this keeps a page elsewhere from creating or removing locks (or
// anything the API later lets one change) with credentials the browser
// holds for this server.
func RequireJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !jsonWrite(c) || isJSON(c.Request().Header.Get(echo.HeaderContentType)) {
			return next(c)
		}
		msg := "this endpoint takes JSON: send Content-Type: application/json"
		if isLFS(c.Request()) {
			msg = "this endpoint takes JSON: send Content-Type: application/vnd.git-lfs+json"
			c.Response().Header().Set(echo.HeaderContentType, "application/vnd.git-lfs+json")
			c.Response().WriteHeader(http.StatusUnsupportedMediaType)
			_, err := fmt.Fprintf(c.Response(), "{\"message\":%q}\n", msg)
			return err
		}
		return c.JSON(http.StatusUnsupportedMediaType, map[string]string{"error": msg})
	}
}
