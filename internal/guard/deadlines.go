package guard

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// Defaults of Timeouts: a client may stall a request body or a response
// for half a minute; streams must move at least a kilobyte a second.
const (
	DefaultReadTimeout     = 30 * time.Second
	DefaultMinTransferRate = 1 << 10
)

// Timeouts bound how slowly a client may send and receive. The zero value
// means the defaults.
type Timeouts struct {
	// ReadTimeout is how long the server may wait on a request body
	// outside the streaming routes (pages, API, LFS's JSON endpoints), in
	// all. It is also how far a streaming body, or any response, may fall
	// behind MinRate.
	ReadTimeout time.Duration
	// MinRate is the slowest a streaming request body (git pushes, LFS
	// uploads) or any response may move, in bytes a second. Only time the
	// server spends waiting on the client counts.
	MinRate int64
}

func (t Timeouts) withDefaults() Timeouts {
	if t.ReadTimeout <= 0 {
		t.ReadTimeout = DefaultReadTimeout
	}
	if t.MinRate <= 0 {
		t.MinRate = DefaultMinTransferRate
	}
	return t
}

// Deadlines sets read and write deadlines on each request's connection so
// that a slow client holds it no longer than the Timeouts allow: a body
// outside the streaming routes must arrive within ReadTimeout; a body on
// a streaming route, and every response, must keep moving at MinRate. A
// client that does not is cut off (the handler's read or write fails).
// Time spent computing an answer is not bounded here, only the time the
// client takes to send and to take it.
func Deadlines(t Timeouts, streaming func(echo.Context) bool) echo.MiddlewareFunc {
	t = t.withDefaults()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req, res := c.Request(), c.Response()
			rc := http.NewResponseController(res.Writer)
			w := &rateWriter{ResponseWriter: res.Writer, rc: rc, pace: newPace(t.ReadTimeout, t.MinRate)}
			if req.Body != nil && req.Body != http.NoBody {
				w.body = newWaitBody(req.Body, rc, t, streaming(c))
				req.Body = w.body
			}
			res.Writer = w
			// The server's last flush, after the handler, gets one window
			// (net/http clears the deadline once the request is done).
			defer func() { rc.SetWriteDeadline(time.Now().Add(t.ReadTimeout)) }()
			err := next(c)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The client is too slow to be answered at all.
				panic(http.ErrAbortHandler)
			}
			return err
		}
	}
}

// pace holds a client to a minimum rate: it may fall behind that rate by
// at most one window. Its allowance (time the transfer may still take)
// starts at one window, grows by n/rate for every n bytes moved (never
// beyond one window, so idle time earns nothing), and shrinks by the time
// spent blocked on the client. Time the handler spends elsewhere does not
// count. Without a rate, the allowance only shrinks: the whole transfer
// must fit in one window of waiting.
type pace struct {
	window    time.Duration
	rate      int64 // bytes a second; 0 for none
	allowance time.Duration
}

func newPace(window time.Duration, rate int64) *pace {
	return &pace{window: window, rate: rate, allowance: window}
}

// earn credits n bytes moved.
func (p *pace) earn(n int) {
	if p.rate > 0 && n > 0 {
		p.allowance = min(p.window, p.allowance+time.Duration(int64(n)*int64(time.Second)/p.rate))
	}
}

// waiting takes time spent blocked, and reports whether the allowance is
// spent.
func (p *pace) waiting(d time.Duration) bool {
	p.allowance -= d
	return p.allowance <= 0
}

// waitBody paces a request body (see pace): each Read gets a deadline for
// the allowance left, so a client that stops sending is cut off then. At
// the end of the body the deadline is cleared, for the server's own reads.
type waitBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	pace *pace
	done bool
	cut  atomic.Bool // the client was too slow; set from the reading goroutine
}

func newWaitBody(r io.ReadCloser, rc *http.ResponseController, t Timeouts, rated bool) *waitBody {
	b := &waitBody{ReadCloser: r, rc: rc, pace: newPace(t.ReadTimeout, 0)}
	if rated {
		b.pace.rate = t.MinRate
	}
	// Also bounds the server's own reading of a body the handler left
	// unread.
	rc.SetReadDeadline(time.Now().Add(t.ReadTimeout))
	return b
}

func (b *waitBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	start := time.Now()
	b.rc.SetReadDeadline(start.Add(b.pace.allowance))
	n, err := b.ReadCloser.Read(p)
	spent := b.pace.waiting(time.Since(start))
	b.pace.earn(n)
	if err != nil {
		b.done = true
		if err == io.EOF {
			b.rc.SetReadDeadline(time.Time{})
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			b.cut.Store(true)
		}
		return n, err
	}
	if spent {
		b.done = true
		b.cut.Store(true)
		return n, os.ErrDeadlineExceeded
	}
	return n, nil
}

// rateWriter paces the response (see pace): each write gets a deadline
// for the allowance left after crediting its own bytes, so a client that
// stops reading is cut off within one window, and one reading slower than
// MinRate soon after.
type rateWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	pace *pace
	body *waitBody // nil without a body
}

func (w *rateWriter) Write(p []byte) (int, error) {
	w.pace.earn(len(p))
	start := time.Now()
	w.rc.SetWriteDeadline(start.Add(w.pace.allowance))
	n, err := w.ResponseWriter.Write(p)
	if w.pace.waiting(time.Since(start)) && err == nil {
		err = os.ErrDeadlineExceeded
	}
	return n, err
}

// readFromSlice is how much of a ReadFrom is paced as one write.
const readFromSlice = 4 << 20

// ReadFrom sends src in slices, each paced as a write of its size, through
// the connection's own ReadFrom when it has one, so that a file (or a
// file under an io.LimitedReader) goes out with sendfile.
func (w *rateWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{w}, src)
	}
	// One level of io.LimitedReader is what sendfile sees through: slice
	// the reader it limits rather than wrap it again.
	inner, lr := src, (*io.LimitedReader)(nil)
	if l, ok := src.(*io.LimitedReader); ok {
		inner, lr = l.R, l
	}
	var total int64
	for lr == nil || lr.N > 0 {
		size := int64(readFromSlice)
		if lr != nil {
			size = min(size, lr.N)
		}
		w.pace.earn(int(size))
		start := time.Now()
		w.rc.SetWriteDeadline(start.Add(w.pace.allowance))
		n, err := rf.ReadFrom(&io.LimitedReader{R: inner, N: size})
		total += n
		if lr != nil {
			lr.N -= n
		}
		if w.pace.waiting(time.Since(start)) && err == nil {
			err = os.ErrDeadlineExceeded
		}
		if err != nil || n < size {
			return total, err
		}
	}
	return total, nil
}

// writerOnly hides a writer's ReadFrom, for io.Copy.
type writerOnly struct{ io.Writer }

// WriteHeader gives the header what is left of the allowance. After a
// body cut short, it asks for the connection to be closed: what the
// client still sends would be read as its next request.
func (w *rateWriter) WriteHeader(code int) {
	if w.body != nil && w.body.cut.Load() {
		w.Header().Set("Connection", "close")
	}
	w.rc.SetWriteDeadline(time.Now().Add(max(w.pace.allowance, time.Second)))
	w.ResponseWriter.WriteHeader(code)
}

// Flush passes flushes on (streamed git answers flush after each write).
func (w *rateWriter) Flush() {
	start := time.Now()
	w.rc.SetWriteDeadline(start.Add(max(w.pace.allowance, time.Second)))
	w.rc.Flush()
	w.pace.waiting(time.Since(start))
}

// Unwrap lets http.ResponseController reach the connection.
func (w *rateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
