// Package publicurl is where every absolute URL the server prints or
// serves comes from: push output, LFS hrefs, feeds, sitemaps, OpenGraph
// tags, oEmbed and API URLs.
//
// Data enters as the --public-url setting (parsed once by Parse) and, when
// that is empty, as each request's own scheme and Host header; it leaves as
// an origin string ("https://blueprints.example.org", no trailing slash)
// that callers put in front of a site path. A wildcard bind address
// (0.0.0.0, [::]) never appears: without --public-url the client's own
// Host header names the server, as it reached it.
package publicurl

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Base is the server's public origin, or the empty Base that takes it from
// each request. The zero value is usable.
type Base struct {
	origin string // "https://host[:port]"; "" to use the request's
}

// Parse reads a --public-url value: an http or https URL with a host and
// no path (other than "/"), query, fragment or user info. "" gives the
// Base that follows each request.
func Parse(s string) (Base, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Base{}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Base{}, fmt.Errorf("public URL %q: %w", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return Base{}, fmt.Errorf("public URL %q: want an http:// or https:// URL", s)
	case u.Host == "" || u.Hostname() == "":
		return Base{}, fmt.Errorf("public URL %q: no host name", s)
	case u.User != nil:
		return Base{}, fmt.Errorf("public URL %q: must not carry a user name or password", s)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return Base{}, fmt.Errorf("public URL %q: must not have a query or fragment", s)
	case strings.Trim(u.Path, "/") != "":
		return Base{}, fmt.Errorf("public URL %q: serving under a sub-path (%s) is not supported; give the origin only, e.g. https://blueprints.example.org", s, u.Path)
	}
	if ip := net.ParseIP(strings.Trim(u.Hostname(), "[]")); ip != nil && ip.IsUnspecified() {
		return Base{}, fmt.Errorf("public URL %q: %s is a wildcard address no client can reach; give the name or address clients use", s, u.Hostname())
	}
	return Base{origin: u.Scheme + "://" + strings.ToLower(u.Host)}, nil
}

// MustParse is Parse for constants in tests; it panics on a bad URL.
func MustParse(s string) Base {
	b, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Fixed reports whether the origin was set with --public-url.
func (b Base) Fixed() bool { return b.origin != "" }

// String is the configured origin, or "" when it follows requests.
func (b Base) String() string { return b.origin }

// Secure reports whether cookies set in the answer to r should carry the
// Secure attribute: the public URL is https, or, without one, r came over
// TLS. Behind a TLS-terminating proxy, set --public-url https://… so
// session cookies are never sent over plain http.
func (b Base) Secure(r *http.Request) bool {
	if b.origin != "" {
		return strings.HasPrefix(b.origin, "https://")
	}
	return r != nil && r.TLS != nil
}

// ErrNoHost reports a request whose Host header cannot name the server.
var ErrNoHost = errors.New("request has no usable Host header")

// Origin is the origin for links in the answer to r: the configured one,
// or r's scheme (https when it came over TLS) and Host header. A Host
// header that is not a plain host[:port] (say one carrying a path or
// spaces) gives "" and ErrNoHost, so no link is built from it.
func (b Base) Origin(r *http.Request) (string, error) {
	if b.origin != "" {
		return b.origin, nil
	}
	if r == nil || !validHost(r.Host) {
		return "", ErrNoHost
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host), nil
}

// URL is origin + path for the answer to r (path starts with "/"). With
// an unusable Host header it falls back to the bare path, which is still
// a working link on a page.
func (b Base) URL(r *http.Request, path string) string {
	o, err := b.Origin(r)
	if err != nil {
		return path
	}
	return o + path
}

// validHost accepts "name", "name:port", "1.2.3.4:port" and "[::1]:port",
// the forms a Host header takes, and nothing that could change the
// meaning of a URL built from it.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		host, port = h[1:end], h[end+1:]
		if net.ParseIP(host) == nil {
			return false
		}
		if port != "" && !strings.HasPrefix(port, ":") {
			return false
		}
		port = strings.TrimPrefix(port, ":")
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	if strings.HasPrefix(h, "[") {
		return true
	}
	if host == "" {
		return false
	}
	for _, c := range host {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}
