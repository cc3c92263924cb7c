package publicurl

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]string{
		"https://blueprints.example.org":      "https://blueprints.example.org",
		"https://Blueprints.Example.org/":     "https://blueprints.example.org",
		"http://127.0.0.1:8080":               "http://127.0.0.1:8080",
		"http://[2001:db8::1]:8080/":          "http://[2001:db8::1]:8080",
		"  https://makerspace.example:8443  ": "https://makerspace.example:8443",
	}
	for in, want := range good {
		b, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if b.String() != want || !b.Fixed() {
			t.Errorf("Parse(%q) = %q (fixed %v), want %q", in, b.String(), b.Fixed(), want)
		}
	}
	bad := map[string]string{
		"ftp://example.org":              "http:// or https://",
		"example.org":                    "http:// or https://",
		"https://":                       "no host",
		"https://u:p@example.org":        "user name",
		"https://example.org/?x=1":       "query",
		"https://example.org/#top":       "query or fragment",
		"https://example.org/blueprints": "sub-path",
		"http://0.0.0.0:8080":            "wildcard",
		"http://[::]:8080":               "wildcard",
	}
	for in, want := range bad {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", in, err, want)
		}
	}
	if b, err := Parse(""); err != nil || b.Fixed() {
		t.Errorf("Parse(\"\") = %v, %v; want the request-following base", b, err)
	}
}

func TestOrigin(t *testing.T) {
	r := httptest.NewRequest("GET", "/alice/tractor", nil)
	r.Host = "Blueprints.local:8080"
	if got := (Base{}).URL(r, "/alice/tractor"); got != "http://blueprints.local:8080/alice/tractor" {
		t.Errorf("from the request: %q", got)
	}
	r.TLS = &tls.ConnectionState{}
	if got, _ := (Base{}).Origin(r); got != "https://blueprints.local:8080" {
		t.Errorf("over TLS: %q", got)
	}
	fixed := MustParse("https://blueprints.example.org")
	if got := fixed.URL(r, "/x"); got != "https://blueprints.example.org/x" {
		t.Errorf("fixed: %q", got)
	}
	r.TLS = nil
	for _, h := range []string{"[::1]:8080", "127.0.0.1", "host_name"} {
		r.Host = h
		if _, err := (Base{}).Origin(r); err != nil {
			t.Errorf("Host %q refused: %v", h, err)
		}
	}
	for _, h := range []string{"", "evil.example/path", "a b", "evil.example:80x", "[::1", "[nothost]:80", "x@y"} {
		r.Host = h
		if o, err := (Base{}).Origin(r); err == nil {
			t.Errorf("Host %q gave origin %q; want ErrNoHost", h, o)
		}
		if got := (Base{}).URL(r, "/p"); got != "/p" {
			t.Errorf("Host %q: URL = %q, want the bare path", h, got)
		}
	}
}

func TestSecure(t *testing.T) {
	plain := httptest.NewRequest("GET", "/", nil)
	overTLS := httptest.NewRequest("GET", "/", nil)
	overTLS.TLS = &tls.ConnectionState{}
	cases := []struct {
		base Base
		r    *http.Request
		want bool
	}{
		{Base{}, plain, false},
		{Base{}, overTLS, true},
		{Base{}, nil, false},
		// Behind a TLS-terminating proxy the request is plain http; the
		// public URL decides.
		{MustParse("https://blueprints.example.org"), plain, true},
		{MustParse("http://blueprints.local"), overTLS, false},
	}
	for _, c := range cases {
		if got := c.base.Secure(c.r); got != c.want {
			t.Errorf("Base %q, TLS %v: Secure = %v, want %v", c.base, c.r != nil && c.r.TLS != nil, got, c.want)
		}
	}
}
