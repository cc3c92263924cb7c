// Package outbound is the one HTTP client for requests the server makes to
// other hosts: webhooks now, mirrors and federation later (DESIGN decision
// 13). A request enters through Client.Do and leaves through a dialer that
// checks the address it is about to connect to, after DNS resolution and
// for every connection (so for every redirect too): loopback, private,
// link-local, shared (CGNAT), multicast and unspecified addresses are
// refused unless the admin allowed them by CIDR. Answers come back with
// their bodies cut at a size limit, within a time limit, after at most a
// few redirects. Environment proxies are ignored: a proxy would hide the
// real destination from the check.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Defaults for the zero Config.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBody      = 1 << 20
	DefaultMaxRedirects = 3
)

// Config bounds a Client.
type Config struct {
	// Allow lists the otherwise refused addresses a request may reach
	// (--webhook-allow, --outbound-allow), e.g. 127.0.0.0/8 in tests or
	// 10.0.0.0/8 for a receiver on the admin's own network.
	Allow []netip.Prefix
	// Timeout bounds a whole request, redirects and body included.
	Timeout time.Duration
	// MaxBody bounds how many bytes of an answer's body may be read;
	// reading past it fails with ErrTooLarge.
	MaxBody int64
	// MaxRedirects is the most redirects followed; 0 means
	// DefaultMaxRedirects, a negative value follows none.
	MaxRedirects int
	// UserAgent is sent when the request sets none.
	UserAgent string
}

// Client is a guarded HTTP client. Safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
}

// ErrRefused is wrapped by every error about a destination the client will
// not reach.
var ErrRefused = errors.New("destination refused")

// ErrTooLarge is returned when an answer's body goes past Config.MaxBody.
var ErrTooLarge = errors.New("answer too large")

// RefusedError names the address refused and why.
type RefusedError struct {
	Addr   string // "127.0.0.1:8080"
	Reason string // "loopback address"
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %s is a %s; allow it with a CIDR range (e.g. --webhook-allow) if it is meant", ErrRefused, e.Addr, e.Reason)
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

// New returns a Client bounded by cfg.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	c := &Client{cfg: cfg}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: c.control}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c.http = &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > max(cfg.MaxRedirects, 0) {
				return fmt.Errorf("stopped after %d redirects", len(via)-1)
			}
			return checkScheme(req)
		},
	}
	return c
}

// ParseAllow reads a comma- or space-separated list of CIDR ranges and
// single addresses ("127.0.0.0/8, 10.1.2.3") for Config.Allow.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("allowed address %q: not an IP address or CIDR range (e.g. 10.0.0.0/8)", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("allowed range %q: not a CIDR range (e.g. 10.0.0.0/8): %w", f, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Do sends req. Its body, if the answer has one, stops at MaxBody with
// ErrTooLarge. A refused destination gives an error wrapping ErrRefused
// (use errors.As with *RefusedError for the address).
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req); err != nil {
		return nil, err
	}
	if req.Header.Get("User-Agent") == "" && c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: c.cfg.MaxBody, limit: c.cfg.MaxBody}
	return resp, nil
}

// Get is Do for a GET of url under ctx.
func (c *Client) Get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

func checkScheme(req *http.Request) error {
	if req.URL == nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		return fmt.Errorf("%w: %s: only http and https URLs are fetched", ErrRefused, req.URL)
	}
	return nil
}

// control runs just before each connection is made, with the address
// DNS gave: the one place that sees where a request really goes.
func (c *Client) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Addr: address, Reason: "address that cannot be checked"}
	}
	return c.Check(ap.Addr(), address)
}

// Check reports whether a may be connected to (shown as addr in the
// error): nil for a public address or one in Allow.
func (c *Client) Check(a netip.Addr, addr string) error {
	a = a.Unmap()
	reason := Restricted(a)
	if reason == "" {
		return nil
	}
	for _, p := range c.cfg.Allow {
		if p.Contains(a) {
			return nil
		}
	}
	return &RefusedError{Addr: addr, Reason: reason}
}

// special are the ranges beyond what netip's predicates name that no
// request to the outside world should reach.
var special = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 address"},
}

// Restricted names why a is not a public destination ("loopback
// address"), or "" when it is one.
func Restricted(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "invalid address"
	case a.IsUnspecified():
		return "unspecified address"
	case a.IsLoopback():
		return "loopback address"
	case a.IsPrivate():
		return "private address"
	case a.IsLinkLocalUnicast():
		return "link-local address"
	case a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast(), a.IsMulticast():
		return "multicast address"
	}
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.reason
		}
	}
	return ""
}

// limitedBody fails a read that would go past the limit, instead of
// silently ending the body early as io.LimitReader does.
type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a body that ends exactly at the limit from
		// one that goes on.
		var one [1]byte
		n, err := l.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.limit)
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
