package httpsig

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/cavage-test-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKeyPEM(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCavageVectors checks the signing string and signature against the
// test values of draft-cavage-http-signatures (Appendix C): the same key
// and request must give the draft's signature, byte for byte (RSA PKCS #1
// v1.5 signatures are deterministic).
func TestCavageVectors(t *testing.T) {
	key := testKey(t)
	cases := []struct {
		name, date string
		headers    []string
		want       string
	}{
		// draft-05, "Default Test": only the Date header.
		{"default", "Thu, 05 Jan 2012 21:31:40 GMT", []string{"date"},
			"ATp0r26dbMIxOopqw0OfABDT7CKMIoENumuruOtarj8n/97Q3htHFYpH8yOSQk3Z5zh8UxUym6FYTb5+A0Nz3NRsXJibnYi7brE/4tx5But9kkFGzG+xpUmimN4c3TMN7OFH//+r8hBf7BT9/GmHDUVZT2JzWGLZES2xDOUuMtA="},
		// draft-12, C.2 "Basic Test": (request-target) host date.
		{"basic", "Sun, 05 Jan 2014 21:31:40 GMT", []string{"(request-target)", "host", "date"},
			"qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8VfEdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://example.com/foo?param=value&pet=dog", strings.NewReader(`{"hello": "world"}`))
			r.Header.Set("Date", c.date)
			r.Header.Set("Content-Type", "application/json")
			s, err := signingString(r, c.headers)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(s))
			sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			if got := base64.StdEncoding.EncodeToString(sig); got != c.want {
				t.Errorf("signing string %q\nsigned %s\nwant   %s", s, got, c.want)
			}
			// And Verify accepts the draft's value (coverage rules aside:
			// the default test signs only the date).
			p := Params{KeyID: "Test", Algorithm: "rsa-sha256", Headers: c.headers}
			p.Signature, _ = base64.StdEncoding.DecodeString(c.want)
			s2, _ := signingString(r, p.Headers)
			sum2 := sha256.Sum256([]byte(s2))
			if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum2[:], p.Signature); err != nil {
				t.Errorf("draft's signature does not verify: %v", err)
			}
		})
	}
}

// signed is a POST as a delivery sends it, received by a server.
func signed(t *testing.T, key *rsa.PrivateKey, body []byte, at time.Time) *http.Request {
	t.Helper()
	out, _ := http.NewRequest("POST", "https://b.example/ap/users/bob/inbox", bytes.NewReader(body))
	out.Header.Set("Content-Type", "application/activity+json")
	if err := Sign(out, body, "https://a.example/ap/users/alice#main-key", key, at); err != nil {
		t.Fatal(err)
	}
	in := httptest.NewRequest("POST", "/ap/users/bob/inbox", bytes.NewReader(body))
	in.Host = "b.example"
	for k, v := range out.Header {
		in.Header[k] = v
	}
	return in
}

func TestSignVerify(t *testing.T) {
	key := testKey(t)
	other, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"Follow"}`)

	check := func(r *http.Request, body []byte, pub *rsa.PublicKey, at time.Time) error {
		p, err := Parse(r)
		if err != nil {
			return err
		}
		return Verify(r, body, p, pub, at, 5*time.Minute)
	}
	r := signed(t, key, body, now)
	if err := check(r, body, &key.PublicKey, now.Add(time.Minute)); err != nil {
		t.Fatalf("a good signature is refused: %v", err)
	}
	p, _ := Parse(r)
	if p.KeyID != "https://a.example/ap/users/alice#main-key" || strings.Join(p.Headers, " ") != "(request-target) host date digest" {
		t.Errorf("params %+v", p)
	}

	cases := []struct {
		name string
		req  func() (*http.Request, []byte)
		pub  *rsa.PublicKey
		at   time.Time
		want error
	}{
		{"forged: another key signed", func() (*http.Request, []byte) { return signed(t, other, body, now), body }, &key.PublicKey, now, ErrBadSignature},
		{"replayed: date an hour old", func() (*http.Request, []byte) { return signed(t, key, body, now.Add(-time.Hour)), body }, &key.PublicKey, now, ErrDate},
		{"dated in the future", func() (*http.Request, []byte) { return signed(t, key, body, now.Add(10*time.Minute)), body }, &key.PublicKey, now, ErrDate},
		{"body changed after signing", func() (*http.Request, []byte) {
			return signed(t, key, body, now), []byte(`{"type":"Undo"}`)
		}, &key.PublicKey, now, ErrDigest},
		{"digest header swapped to match a new body", func() (*http.Request, []byte) {
			nb := []byte(`{"type":"Undo"}`)
			r := signed(t, key, body, now)
			r.Header.Set("Digest", Digest(nb))
			return r, nb
		}, &key.PublicKey, now, ErrBadSignature},
		{"path changed", func() (*http.Request, []byte) {
			r := signed(t, key, body, now)
			r.URL.Path = "/ap/users/carol/inbox"
			return r, body
		}, &key.PublicKey, now, ErrBadSignature},
		{"host changed", func() (*http.Request, []byte) {
			r := signed(t, key, body, now)
			r.Host = "c.example"
			return r, body
		}, &key.PublicKey, now, ErrBadSignature},
		{"digest not signed", func() (*http.Request, []byte) {
			r := signed(t, key, body, now)
			h := r.Header.Get("Signature")
			r.Header.Set("Signature", strings.Replace(h, " digest\"", "\"", 1))
			return r, body
		}, &key.PublicKey, now, ErrNotCovered},
		{"no digest header", func() (*http.Request, []byte) {
			r := signed(t, key, body, now)
			r.Header.Del("Digest")
			return r, body
		}, &key.PublicKey, now, ErrDigest},
		{"unsigned", func() (*http.Request, []byte) {
			r := signed(t, key, body, now)
			r.Header.Del("Signature")
			return r, body
		}, &key.PublicKey, now, ErrNoSignature},
		{"hmac algorithm", func() (*http.Request, []byte) {
			r := signed(t, key, body, now)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), "rsa-sha256", "hmac-sha256", 1))
			return r, body
		}, &key.PublicKey, now, ErrAlgorithm},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, b := c.req()
			err := check(r, b, c.pub, c.at)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not an *Error", err)
			}
		})
	}
}

func TestSignGET(t *testing.T) {
	key := testKey(t)
	now := time.Now()
	out, _ := http.NewRequest("GET", "https://a.example/ap/users/alice", nil)
	if err := Sign(out, nil, "k", key, now); err != nil {
		t.Fatal(err)
	}
	if out.Header.Get("Digest") != "" || !strings.Contains(out.Header.Get("Signature"), `headers="(request-target) host date"`) {
		t.Fatalf("GET headers: %v", out.Header)
	}
	in := httptest.NewRequest("GET", "/ap/users/alice", nil)
	in.Host = "a.example"
	in.Header = out.Header
	p, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(in, nil, p, &key.PublicKey, now, 0); err != nil {
		t.Fatal(err)
	}
}

func TestParseHeader(t *testing.T) {
	good := `keyId="https://a.example/u#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"`
	p, err := ParseHeader(good)
	if err != nil || p.KeyID != "https://a.example/u#main-key" || len(p.Headers) != 4 || len(p.Signature) != 3 {
		t.Fatalf("%+v %v", p, err)
	}
	if p, err := ParseHeader(`keyId="k", signature="AAAA"`); err != nil || strings.Join(p.Headers, " ") != "date" {
		t.Fatalf("headers default to date: %+v %v", p, err)
	}
	for _, bad := range []string{
		``, `keyId`, `keyId="k`, `keyId="k" signature="AAAA"`, `signature="AAAA"`, `keyId="k"`,
		`keyId="k",signature="not base64!"`, `keyId="k",keyId="j",signature="AAAA"`, `=,=`,
		`keyId="k",signature="AAAA",headers="date"` + strings.Repeat(" ", MaxHeaderLen),
	} {
		if _, err := ParseHeader(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseHeader(%.60q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestKeys(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(PublicKeyPEM(&k.PublicKey))
	if err != nil || !pub.Equal(&k.PublicKey) {
		t.Fatalf("public key round trip: %v", err)
	}
	back, err := ParsePrivateKeyPEM(PrivateKeyPEM(k))
	if err != nil || !back.Equal(k) {
		t.Fatalf("private key round trip: %v", err)
	}
	for _, bad := range []string{"", "not pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		if _, err := ParsePublicKeyPEM(bad); err == nil {
			t.Errorf("ParsePublicKeyPEM(%q) accepted", bad)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(`keyId="https://a.example/u#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"`)
	f.Add(`keyId=k,signature=AAAA`)
	f.Add(`keyId="",signature=""`)
	f.Fuzz(func(t *testing.T, h string) {
		p, err := ParseHeader(h)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not a malformed-header *Error", err)
			}
			return
		}
		if p.KeyID == "" || len(p.Headers) == 0 {
			t.Fatalf("accepted without key id or headers: %+v", p)
		}
	})
}
