package outbound

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func loopbackServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// serverOn starts a server on a given loopback address (127.0.0.2 is
// loopback too on Linux, but outside a 127.0.0.1/32 allow list).
func serverOn(t *testing.T, ip string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }

func TestRefusesLoopbackWithoutAllowList(t *testing.T) {
	s := loopbackServer(t, ok)
	_, err := New(Config{}).Get(context.Background(), s.URL)
	var re *RefusedError
	if !errors.Is(err, ErrRefused) || !errors.As(err, &re) || re.Reason != "loopback address" {
		t.Fatalf("GET %s without allow list: %v; want a refusal naming the loopback address", s.URL, err)
	}
	// A name resolving to loopback is checked after resolution.
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	if _, err := New(Config{}).Get(context.Background(), url); !errors.Is(err, ErrRefused) {
		t.Fatalf("GET %s: %v; want refused after DNS resolution", url, err)
	}
}

func TestAllowListLetsThrough(t *testing.T) {
	s := loopbackServer(t, ok)
	allow, err := ParseAllow("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := New(Config{Allow: allow, UserAgent: "Blueprints-Test"}).Get(context.Background(), s.URL)
	if err != nil {
		t.Fatalf("GET allowed loopback: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "hello" {
		t.Fatalf("body %q", b)
	}
}

func TestRedirectIsCheckedToo(t *testing.T) {
	inner := serverOn(t, "127.0.0.2", ok)
	outer := serverOn(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL, http.StatusFound)
	})
	c := New(Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	_, err := c.Get(context.Background(), outer.URL)
	var re *RefusedError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Addr, "127.0.0.2:") {
		t.Fatalf("redirect to 127.0.0.2: %v; want refused at the redirect", err)
	}
	// With both allowed the same redirect is followed.
	c = New(Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/30")}})
	resp, err := c.Get(context.Background(), outer.URL)
	if err != nil {
		t.Fatalf("allowed redirect: %v", err)
	}
	resp.Body.Close()
}

func TestRedirectLimit(t *testing.T) {
	var s *httptest.Server
	s = loopbackServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.URL+"/again", http.StatusFound)
	})
	c := New(Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, MaxRedirects: 2})
	if _, err := c.Get(context.Background(), s.URL); err == nil || !strings.Contains(err.Error(), "stopped after 2 redirects") {
		t.Fatalf("endless redirects: %v", err)
	}
	c = New(Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, MaxRedirects: 1})
	to := loopbackServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	if _, err := c.Get(context.Background(), to.URL); !errors.Is(err, ErrRefused) {
		t.Fatalf("redirect to file://: %v", err)
	}
}

func TestBodyLimit(t *testing.T) {
	s := loopbackServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100))
	})
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	resp, err := New(Config{Allow: allow, MaxBody: 10}).Get(context.Background(), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, ErrTooLarge) || len(b) != 10 {
		t.Fatalf("read %d bytes, err %v; want 10 and ErrTooLarge", len(b), err)
	}
	resp, err = New(Config{Allow: allow, MaxBody: 100}).Get(context.Background(), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(b) != 100 {
		t.Fatalf("body exactly at the limit: %d bytes, %v", len(b), err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	s := loopbackServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := New(Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Timeout: 100 * time.Millisecond})
	_, err := c.Get(context.Background(), s.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("server that never answers: %v; want a timeout", err)
	}
}

func TestRestricted(t *testing.T) {
	refused := []string{"127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "fe80::1", "fc00::1", "0.0.0.0", "::", "100.64.0.1", "224.0.0.1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "240.0.0.1", "255.255.255.255"}
	for _, s := range refused {
		if Restricted(netip.MustParseAddr(s)) == "" {
			t.Errorf("%s counted as public", s)
		}
	}
	public := []string{"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8", "1.1.1.1"}
	for _, s := range public {
		if r := Restricted(netip.MustParseAddr(s)); r != "" {
			t.Errorf("%s refused as %s", s, r)
		}
	}
}

func TestParseAllow(t *testing.T) {
	got, err := ParseAllow("127.0.0.0/8, 10.1.2.3 ::1 ::ffff:192.168.0.0/112")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.0/8", "10.1.2.3/32", "::1/128", "192.168.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "nope", "10.0.0/8"} {
		if _, err := ParseAllow(bad); err == nil {
			t.Errorf("ParseAllow(%q) accepted", bad)
		}
	}
}
