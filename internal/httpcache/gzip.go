package httpcache

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/labstack/echo/v4"
)

// compressible are the media types worth compressing: text, JSON, XML,
// SVG and scripts. Images other than SVG, archives, git packs and LFS
// objects are compressed already or streamed byte for byte.
func compressible(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case mt == "application/json", mt == "application/javascript", mt == "application/xml", mt == "image/svg+xml",
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	return false
}

// minGzip is the smallest body worth compressing when its length is known.
const minGzip = 512

// gzipPool holds writers at BestSpeed: answers are made per request, and
// on a 17 kB search answer the default level takes twice the CPU (about
// 120 µs against 60) for a tenth fewer bytes (3.9 kB against 4.3); under
// a search load that was an eighth of the server's CPU. The writers are
// klauspost/compress's (already used for 3MF): the same format in about
// 60 % of the standard library's time at that level.
var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// acceptsGzip reads Accept-Encoding: gzip (or *) with a non-zero weight.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}

// Gzip compresses answers whose Content-Type is compressible for clients
// that accept gzip. It leaves alone answers that chose their own encoding
// (the static files are stored compressed), byte ranges, answers with a
// strong entity tag (that tag names exact bytes), bodiless statuses and
// known-small bodies. Streaming answers keep flushing.
func Gzip(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		res.Header().Add("Vary", "Accept-Encoding")
		if !acceptsGzip(c.Request().Header.Get("Accept-Encoding")) {
			return next(c)
		}
		gw := &gzipWriter{ResponseWriter: res.Writer, head: c.Request().Method == http.MethodHead}
		res.Writer = gw
		defer func() {
			gw.close()
			res.Writer = gw.ResponseWriter
		}()
		return next(c)
	}
}

type gzipWriter struct {
	http.ResponseWriter
	head        bool
	wroteHeader bool
	compressing bool
	gz          *gzip.Writer
}

func (w *gzipWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	h := w.Header()
	small := false
	if n, err := strconv.Atoi(h.Get("Content-Length")); err == nil && n < minGzip {
		small = true
	}
	tag := h.Get("ETag")
	if code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified && code != http.StatusPartialContent &&
		h.Get("Content-Encoding") == "" && h.Get("Content-Range") == "" && !small &&
		(tag == "" || strings.HasPrefix(tag, "W/")) && compressible(h.Get("Content-Type")) {
		h.Del("Content-Length")
		h.Set("Content-Encoding", "gzip")
		w.compressing = true
		if !w.head {
			w.gz = gzipPool.Get().(*gzip.Writer)
			w.gz.Reset(w.ResponseWriter)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *gzipWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", http.DetectContentType(b))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.gz != nil {
		return w.gz.Write(b)
	}
	if w.compressing { // HEAD: the headers say gzip; no body goes out
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom passes an uncompressed body to the writer beneath, which may
// send a file with sendfile; a compressed one is copied through Write.
func (w *gzipWriter) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && w.wroteHeader && !w.compressing {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w}, src)
}

// writerOnly hides a writer's ReadFrom, for io.Copy.
type writerOnly struct{ io.Writer }

// Flush sends what is compressed so far, for streaming answers.
func (w *gzipWriter) Flush() {
	if w.gz != nil {
		w.gz.Flush()
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *gzipWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *gzipWriter) close() {
	if w.gz == nil {
		return
	}
	w.gz.Close()
	w.gz.Reset(nil)
	gzipPool.Put(w.gz)
	w.gz = nil
}
