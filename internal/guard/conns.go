package guard

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// DefaultMaxConnsPerClient bounds the connections one address may hold
// open: far above what a browser (6) or git (a few) opens, far below the
// server's file descriptors.
const DefaultMaxConnsPerClient = 256

// connRetryAfter is what a refused connection is told to wait, in seconds.
const connRetryAfter = 10

// LimitListener wraps l so that no client address holds more than max
// connections at once: one more is answered 503 with Retry-After and
// closed. Addresses in trusted (reverse proxies, which carry many
// clients' requests) are not limited here; PerClient limits their clients
// by request. max <= 0 means DefaultMaxConnsPerClient.
func LimitListener(l net.Listener, max int, trusted []*net.IPNet, log *slog.Logger) net.Listener {
	if max <= 0 {
		max = DefaultMaxConnsPerClient
	}
	if log == nil {
		log = slog.Default()
	}
	return &limitListener{Listener: l, max: max, trusted: trusted, log: log, open: map[string]int{}}
}

type limitListener struct {
	net.Listener
	max     int
	trusted []*net.IPNet
	log     *slog.Logger

	mu       sync.Mutex
	open     map[string]int
	warnedAt time.Time
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr().String())
		if ip == "" || isTrusted(ip, l.trusted) {
			return &guardedConn{Conn: c}, nil
		}
		l.mu.Lock()
		if l.open[ip] >= l.max {
			warn := time.Since(l.warnedAt) > time.Minute
			if warn {
				l.warnedAt = time.Now()
			}
			l.mu.Unlock()
			if warn {
				l.log.Warn("refusing connections over the per-address limit", "addr", ip, "limit", l.max)
			}
			go refuseConn(c)
			continue
		}
		l.open[ip]++
		l.mu.Unlock()
		return &guardedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// refuseConn answers a connection over the limit without reading its
// request, and closes it.
func refuseConn(c net.Conn) {
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	msg := "too many connections from your address; close some and try again\n"
	c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + strconv.Itoa(connRetryAfter) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(msg)) + "\r\n\r\n" + msg))
}

// guardedConn gives its slot back when closed (once), and resets a
// connection whose write timed out instead of closing it gently: what the
// kernel still holds for a client too slow to take it would otherwise go
// on trickling out to it, for minutes, after the server gave up.
type guardedConn struct {
	net.Conn
	once     sync.Once
	release  func() // nil when not counted
	timedOut atomic.Bool
}

func (c *guardedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut.Store(true)
	}
	return n, err
}

// ReadFrom passes a copy into the connection to the connection's own
// ReadFrom, so that net/http sends a file (a cached git answer) with
// sendfile; a timeout counts as one of Write's.
func (c *guardedConn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{c}, r)
	}
	n, err := rf.ReadFrom(r)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut.Store(true)
	}
	return n, err
}

func (c *guardedConn) Close() error {
	if c.timedOut.Load() {
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	}
	err := c.Conn.Close()
	if c.release != nil {
		c.once.Do(c.release)
	}
	return err
}

// hostOf is the address without its port ("" when it has none).
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return host
}

func isTrusted(ip string, trusted []*net.IPNet) bool {
	p := net.ParseIP(ip)
	for _, n := range trusted {
		if p != nil && n.Contains(p) {
			return true
		}
	}
	return false
}

// PerClient bounds the requests in flight for each client that a trusted
// proxy forwards (as X-Forwarded-For names it): LimitListener cannot tell
// them apart, since they share the proxy's connections. Over max, a
// request is answered 503 with Retry-After. Requests straight from their
// client pass; LimitListener bounds those.
func PerClient(max int, trusted []*net.IPNet) echo.MiddlewareFunc {
	if max <= 0 {
		max = DefaultMaxConnsPerClient
	}
	var mu sync.Mutex
	inFlight := map[string]int{}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if len(trusted) == 0 {
			return next
		}
		return func(c echo.Context) error {
			if !isTrusted(hostOf(c.Request().RemoteAddr), trusted) {
				return next(c)
			}
			client := c.RealIP()
			mu.Lock()
			if inFlight[client] >= max {
				mu.Unlock()
				c.Response().Header().Set("Retry-After", strconv.Itoa(connRetryAfter))
				return c.String(http.StatusServiceUnavailable, "too many requests in flight from your address; wait for some to finish\n")
			}
			inFlight[client]++
			mu.Unlock()
			defer func() {
				mu.Lock()
				if inFlight[client]--; inFlight[client] <= 0 {
					delete(inFlight, client)
				}
				mu.Unlock()
			}()
			return next(c)
		}
	}
}
