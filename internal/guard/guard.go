// Package guard protects Blueprints' public HTTP server. It sits between
// the request logger and the routes: it decides which address a request
// comes from (the TCP peer, or the client a trusted proxy names), bounds
// each address's connections (LimitListener, below the HTTP server) and a
// proxied client's requests in flight, cuts off clients that send or read
// too slowly, throttles addresses and user names that keep failing to
// authenticate, requires JSON on JSON writes, bounds request bodies
// everywhere except on the streaming git and LFS routes, and sets security
// headers on every response.
//
// Authentication itself stays with its owner (repo.Server.User); it tells
// the throttle what it decided through Verified.
package guard

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// DefaultMaxBody bounds request bodies outside the streaming routes: pages,
// the JSON API and LFS's JSON endpoints send a few kilobytes at most.
const DefaultMaxBody = 1 << 20

// Config is what Install needs. The zero value is a sound default.
type Config struct {
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client. Empty: the TCP peer is the client, whatever the
	// request's headers say.
	TrustedProxies []*net.IPNet
	// MaxBody bounds request bodies outside the streaming routes, in
	// bytes; DefaultMaxBody when zero.
	MaxBody int64
	// Throttle tunes the failed-authentication throttle.
	Throttle ThrottleConfig
	// Timeouts bound how slowly clients may send and receive.
	Timeouts Timeouts
	// MaxConnsPerClient bounds each client address's connections (see
	// LimitListener) and, behind trusted proxies, its requests in flight;
	// DefaultMaxConnsPerClient when zero.
	MaxConnsPerClient int
	// Shared, when set, is the throttle to install (Throttle is then
	// ignored), so that the web sign-in form can count its failures in the
	// same throttle as git and the API.
	Shared *Throttle
}

// Install sets e's client-address extractor and adds the guard's
// middleware to e, in this order: security headers, failed-authentication
// throttle, requests in flight per proxied client, JSON content type on
// JSON writes, body limit, deadlines for slow clients (last, so that a
// body refused for its declared length stays net/http's own, which then
// closes the connection without reading it). It returns the throttle, for
// inspection. The listener's own limit is LimitListener.
func Install(e *echo.Echo, cfg Config) *Throttle {
	e.IPExtractor = IPExtractor(cfg.TrustedProxies)
	max := cfg.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	t := cfg.Shared
	if t == nil {
		t = NewThrottle(cfg.Throttle)
	}
	e.Use(Headers, t.Middleware, PerClient(cfg.MaxConnsPerClient, cfg.TrustedProxies), RequireJSON, BodyLimit(max, Streaming), Deadlines(cfg.Timeouts, Streaming))
	return t
}

// IPExtractor returns how echo's RealIP finds the client: the TCP peer,
// unless the peer is one of trusted, in which case X-Forwarded-For is read
// from the right, skipping trusted hops. Echo's default trusts
// X-Forwarded-For from anyone, which would let a client choose the address
// it is throttled under.
func IPExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// ParseProxies reads a comma- or space-separated list of CIDR ranges and
// single addresses ("10.0.0.0/8, 192.168.1.5") for Config.TrustedProxies.
func ParseProxies(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !strings.Contains(f, "/") {
			ip := net.ParseIP(f)
			if ip == nil {
				return nil, fmt.Errorf("trusted proxy %q: not an IP address or CIDR range (e.g. 10.0.0.0/8)", f)
			}
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not a CIDR range (e.g. 10.0.0.0/8): %w", f, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// retryAfter is a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
