package httpcache

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

func TestMatch(t *testing.T) {
	weak, strong := `W/"abc"`, `"abc"`
	cases := []struct {
		header, tag string
		want        bool
	}{
		{`"abc"`, strong, true},
		{`"abc"`, weak, true}, // weak comparison: weakness ignored
		{`W/"abc"`, strong, true},
		{`W/"abc"`, weak, true},
		{`"abd"`, weak, false},
		{`*`, weak, true},
		{`"x", W/"abc" , "y"`, weak, true},
		{`"x","y"`, weak, false},
		{`"x",W/"abc"`, strong, true},
		{`abc`, strong, false},         // not a quoted tag
		{`bogus, "abc"`, strong, true}, // a bad member is skipped
		{`"ab`, strong, false},
		{``, strong, false},
		{`"abc"`, "", false},
		{`W/"a,b", "abc"`, strong, true},
	}
	for _, c := range cases {
		if got := Match(c.header, c.tag); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.header, c.tag, got, c.want)
		}
	}
}

func serve(h echo.HandlerFunc, mw ...echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	e.Use(mw...)
	e.GET("/", h)
	e.HEAD("/", h)
	e.POST("/", h)
	return e
}

func do(e *echo.Echo, method string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestFresh(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tag := WeakTag("page", "v1")
	e := serve(func(c echo.Context) error {
		if fresh, err := Fresh(c, tag, mod); fresh {
			return err
		}
		return c.String(200, "body")
	})
	rec := do(e, "GET", nil)
	if rec.Code != 200 || rec.Header().Get("ETag") != tag || rec.Header().Get("Last-Modified") != "Fri, 02 Jan 2026 03:04:05 GMT" {
		t.Fatalf("plain GET: %d %v", rec.Code, rec.Header())
	}
	for _, c := range []struct {
		hdr  map[string]string
		want int
	}{
		{map[string]string{"If-None-Match": tag}, 304},
		{map[string]string{"If-None-Match": `"other", ` + tag}, 304},
		{map[string]string{"If-None-Match": strings.TrimPrefix(tag, "W/")}, 304},
		{map[string]string{"If-None-Match": "*"}, 304},
		{map[string]string{"If-None-Match": `"other"`}, 200},
		{map[string]string{"If-Modified-Since": "Fri, 02 Jan 2026 03:04:05 GMT"}, 304},
		{map[string]string{"If-Modified-Since": "Fri, 02 Jan 2026 03:04:04 GMT"}, 200},
		// If-None-Match wins over If-Modified-Since.
		{map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": "Fri, 02 Jan 2027 00:00:00 GMT"}, 200},
	} {
		if rec := do(e, "GET", c.hdr); rec.Code != c.want {
			t.Errorf("GET with %v: %d, want %d", c.hdr, rec.Code, c.want)
		} else if rec.Code == 304 && (rec.Body.Len() != 0 || rec.Header().Get("ETag") != tag) {
			t.Errorf("304 with a body or without its tag: %q %v", rec.Body.String(), rec.Header())
		}
	}
	if rec := do(e, "POST", map[string]string{"If-None-Match": tag}); rec.Code != 200 {
		t.Errorf("POST with a matching tag: %d, want 200 (only GET and HEAD are conditional here)", rec.Code)
	}
}

func TestGzip(t *testing.T) {
	big := strings.Repeat("<p>blueprints</p>\n", 200)
	for _, c := range []struct {
		name, ctype, etag, accept string
		body                      string
		want                      bool
	}{
		{"html", "text/html; charset=utf-8", "", "gzip, deflate", big, true},
		{"json", "application/json", `W/"x"`, "gzip", big, true},
		{"atom", "application/atom+xml", "", "br;q=1.0, gzip;q=0.5", big, true},
		{"svg", "image/svg+xml", "", "*", big, true},
		{"png", "image/png", "", "gzip", big, false},
		{"zip", "application/zip", "", "gzip", big, false},
		{"refused", "text/html", "", "gzip;q=0", big, false},
		{"none", "text/html", "", "", big, false},
		{"strong tag", "text/plain", `"blobid"`, "gzip", big, false},
	} {
		e := serve(func(ec echo.Context) error {
			if c.etag != "" {
				ec.Response().Header().Set("ETag", c.etag)
			}
			return ec.Blob(200, c.ctype, []byte(c.body))
		}, Gzip)
		rec := do(e, "GET", map[string]string{"Accept-Encoding": c.accept})
		got := rec.Header().Get("Content-Encoding") == "gzip"
		if got != c.want {
			t.Errorf("%s: gzipped %v, want %v", c.name, got, c.want)
			continue
		}
		if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s: no Vary: Accept-Encoding", c.name)
		}
		body := rec.Body.Bytes()
		if got {
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			body, err = io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		if string(body) != c.body {
			t.Errorf("%s: body changed (%d bytes)", c.name, len(body))
		}
	}
	// Bodiless answers and answers with their own encoding pass through.
	e := serve(func(c echo.Context) error {
		c.Response().Header().Set("Content-Type", "text/html")
		return c.NoContent(http.StatusNotModified)
	}, Gzip)
	if rec := do(e, "GET", map[string]string{"Accept-Encoding": "gzip"}); rec.Header().Get("Content-Encoding") != "" || rec.Body.Len() != 0 {
		t.Errorf("304 compressed: %v %q", rec.Header(), rec.Body.String())
	}
	e = serve(func(c echo.Context) error {
		c.Response().Header().Set("Content-Encoding", "gzip")
		return c.Blob(200, "text/css", []byte("already"))
	}, Gzip)
	if rec := do(e, "GET", map[string]string{"Accept-Encoding": "gzip"}); rec.Body.String() != "already" {
		t.Errorf("pre-encoded body recompressed: %q", rec.Body.String())
	}
	e = serve(func(c echo.Context) error { return c.Blob(200, "text/html", []byte(big)) }, Gzip)
	if rec := do(e, "HEAD", map[string]string{"Accept-Encoding": "gzip"}); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// readFromRecorder is a recorder whose ReadFrom (a connection's sendfile)
// counts its calls.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	calls int
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.calls++
	return io.Copy(r.ResponseRecorder, src)
}

// TestGzipReadFrom: a body copied into the answer (a cached git answer)
// reaches the writer's own ReadFrom when it is not compressed, and is
// compressed like any other when it is.
func TestGzipReadFrom(t *testing.T) {
	big := strings.Repeat("0032want 527ae4441ac18ab61115aba4d668d892d6f2ee28\n", 400)
	for _, c := range []struct {
		ctype string
		gzip  bool
	}{{"application/x-git-upload-pack-result", false}, {"text/plain", true}} {
		e := serve(func(ec echo.Context) error {
			ec.Response().Header().Set("Content-Type", c.ctype)
			ec.Response().WriteHeader(http.StatusOK)
			_, err := io.Copy(ec.Response().Writer, io.LimitReader(strings.NewReader(big), int64(len(big))))
			return err
		}, Gzip)
		rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		e.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if got := rec.Header().Get("Content-Encoding") == "gzip"; got != c.gzip {
			t.Fatalf("%s: gzipped %v, want %v", c.ctype, got, c.gzip)
		}
		if c.gzip {
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatalf("%s: %v", c.ctype, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", c.ctype, err)
			}
		}
		if string(body) != big {
			t.Errorf("%s: body changed (%d bytes)", c.ctype, len(body))
		}
		if want := map[bool]int{false: 1, true: 0}[c.gzip]; rec.calls != want {
			t.Errorf("%s: the writer's ReadFrom was called %d times, want %d", c.ctype, rec.calls, want)
		}
	}
}
