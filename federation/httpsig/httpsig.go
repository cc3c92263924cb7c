// Package httpsig signs and verifies HTTP requests with HTTP Signatures as
// the fediverse uses them (draft-cavage-http-signatures, as Mastodon signs
// and verifies): RSA-SHA256 over "(request-target) host date digest" for
// a POST and "(request-target) host date" for a GET, with the body's
// SHA-256 in a Digest header.
//
// Data enters as an outgoing *http.Request and its body with the sender's
// key (Sign), or as an incoming request and its body (Parse, then Verify
// with the public key the caller fetched for Params.KeyID); it leaves as
// request headers, or as nil or an *Error naming what was wrong: no or a
// malformed Signature header, a required header left out of the signed
// list, a Date outside the accepted window (a replayed or stale request),
// a Digest that does not match the body, or a signature that does not
// verify. Remembering which signatures were already seen inside the window
// is the caller's job (the store is shared by every node).
package httpsig

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Algorithms accepted on incoming signatures. hs2019 leaves the algorithm
// to the key; with an RSA key it means RSA-SHA256, as Mastodon reads it.
const (
	AlgorithmRSASHA256 = "rsa-sha256"
	AlgorithmHS2019    = "hs2019"
)

// DefaultWindow is how far a request's Date may be from the receiver's
// clock, either way: long enough for a sender's queue and clock skew, short
// enough that the receiver can remember every signature seen inside it.
const DefaultWindow = time.Hour

// MaxHeaderLen bounds the Signature header read (a 4096-bit key's
// signature is 684 base64 characters; a key id is a URL).
const MaxHeaderLen = 8 << 10

// Errors that *Error wraps, for errors.Is.
var (
	ErrNoSignature  = errors.New("request is not signed")
	ErrMalformed    = errors.New("malformed Signature header")
	ErrNotCovered   = errors.New("signature does not cover a required header")
	ErrDate         = errors.New("request date outside the accepted window")
	ErrDigest       = errors.New("digest does not match the body")
	ErrBadSignature = errors.New("signature does not verify")
	ErrAlgorithm    = errors.New("unsupported signature algorithm")
)

// Error is a refused signature: Err is one of the values above, Reason
// says what exactly.
type Error struct {
	Err    error
	Reason string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Reason
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

func fail(err error, format string, args ...any) error {
	return &Error{Err: err, Reason: fmt.Sprintf(format, args...)}
}

// Params are the parts of a Signature header.
type Params struct {
	KeyID     string   // the URL of the sender's key, e.g. "https://a.example/ap/users/alice#main-key"
	Algorithm string   // lower case; "" when the header names none
	Headers   []string // signed headers in order, lower case
	Signature []byte
}

// Sign adds Date, Digest (when body is not nil) and Signature headers to r,
// signed by key under keyID at time now. The Host header is r.Host, or the
// URL's host when r.Host is empty.
func Sign(r *http.Request, body []byte, keyID string, key *rsa.PrivateKey, now time.Time) error {
	if r.Host == "" {
		r.Host = r.URL.Host
	}
	r.Header.Set("Date", now.UTC().Format(http.TimeFormat))
	headers := []string{"(request-target)", "host", "date"}
	if body != nil {
		r.Header.Set("Digest", Digest(body))
		headers = append(headers, "digest")
	}
	s, err := signingString(r, headers)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(s))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	r.Header.Set("Signature", fmt.Sprintf(`keyId="%s",algorithm="%s",headers="%s",signature="%s"`,
		keyID, AlgorithmRSASHA256, strings.Join(headers, " "), base64.StdEncoding.EncodeToString(sig)))
	return nil
}

// Digest is the Digest header value of body: "SHA-256=" and its base64
// SHA-256 (RFC 3230).
func Digest(body []byte) string {
	sum := sha256.Sum256(body)
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// Parse reads r's Signature header (or an Authorization header of scheme
// Signature, as some servers send).
func Parse(r *http.Request) (Params, error) {
	h := r.Header.Get("Signature")
	if h == "" {
		if a := r.Header.Get("Authorization"); len(a) > 10 && strings.EqualFold(a[:10], "Signature ") {
			h = a[10:]
		}
	}
	if h == "" {
		return Params{}, &Error{Err: ErrNoSignature}
	}
	return ParseHeader(h)
}

// ParseHeader reads a Signature header value:
// keyId="…",algorithm="…",headers="…",signature="…".
func ParseHeader(h string) (Params, error) {
	if len(h) > MaxHeaderLen {
		return Params{}, fail(ErrMalformed, "longer than %d bytes", MaxHeaderLen)
	}
	fields := map[string]string{}
	rest := h
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return Params{}, fail(ErrMalformed, "expected name=\"value\" at %q", clip(rest))
		}
		name := strings.TrimSpace(rest[:eq])
		rest = rest[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return Params{}, fail(ErrMalformed, "unterminated quoted value of %s", name)
			}
			val, rest = rest[1:1+end], rest[2+end:]
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			val, rest = strings.TrimSpace(rest[:end]), rest[end:]
		}
		if _, dup := fields[name]; dup {
			return Params{}, fail(ErrMalformed, "%s given twice", name)
		}
		fields[name] = val
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return Params{}, fail(ErrMalformed, "expected a comma at %q", clip(rest))
		}
		rest = rest[1:]
	}
	p := Params{KeyID: fields["keyId"], Algorithm: strings.ToLower(fields["algorithm"])}
	if p.KeyID == "" {
		return Params{}, fail(ErrMalformed, "no keyId")
	}
	if fields["signature"] == "" {
		return Params{}, fail(ErrMalformed, "no signature")
	}
	sig, err := base64.StdEncoding.DecodeString(fields["signature"])
	if err != nil {
		return Params{}, fail(ErrMalformed, "signature is not base64")
	}
	p.Signature = sig
	hs := fields["headers"]
	if hs == "" {
		// The draft's default when the list is left out.
		hs = "date"
	}
	p.Headers = strings.Fields(strings.ToLower(hs))
	return p, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Verify checks that p (from Parse) is a valid signature of r and body by
// pub, at time now, with the request's Date at most window away (0 means
// DefaultWindow). The signature must cover (request-target), host and
// date, and digest when the request has a body; the Digest must match
// body.
func Verify(r *http.Request, body []byte, p Params, pub *rsa.PublicKey, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultWindow
	}
	switch p.Algorithm {
	case "", AlgorithmRSASHA256, AlgorithmHS2019:
	default:
		return fail(ErrAlgorithm, "%q (want rsa-sha256 or hs2019)", p.Algorithm)
	}
	need := []string{"(request-target)", "host", "date"}
	if len(body) > 0 || r.Method == http.MethodPost {
		need = append(need, "digest")
	}
	for _, n := range need {
		if !contains(p.Headers, n) {
			return fail(ErrNotCovered, "%s is not in the signed headers %q", n, strings.Join(p.Headers, " "))
		}
	}
	date, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return fail(ErrDate, "Date header %q is not an HTTP date", clip(r.Header.Get("Date")))
	}
	if d := now.Sub(date); d > window || d < -window {
		return fail(ErrDate, "dated %s, %s from now (accepted: %s either way)", date.UTC().Format(time.RFC3339), d.Round(time.Second), window)
	}
	if contains(p.Headers, "digest") || len(body) > 0 {
		if err := checkDigest(r.Header.Get("Digest"), body); err != nil {
			return err
		}
	}
	s, err := signingString(r, p.Headers)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(s))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], p.Signature); err != nil {
		return fail(ErrBadSignature, "key %s", p.KeyID)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkDigest compares a Digest header with body. Of the algorithms listed
// (comma-separated), SHA-256 and SHA-512 are checked; at least one of them
// must be there and every one there must match.
func checkDigest(h string, body []byte) error {
	if h == "" {
		return fail(ErrDigest, "no Digest header")
	}
	checked := false
	for _, part := range strings.Split(h, ",") {
		alg, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fail(ErrDigest, "Digest header %q is not ALGORITHM=VALUE", clip(h))
		}
		var sum []byte
		switch strings.ToUpper(alg) {
		case "SHA-256":
			s := sha256.Sum256(body)
			sum = s[:]
		case "SHA-512":
			s := sha512.Sum512(body)
			sum = s[:]
		default:
			continue
		}
		got, err := base64.StdEncoding.DecodeString(val)
		if err != nil || !bytes.Equal(got, sum) {
			return fail(ErrDigest, "%s of the %d-byte body differs from the header's", strings.ToUpper(alg), len(body))
		}
		checked = true
	}
	if !checked {
		return fail(ErrDigest, "Digest header %q has neither SHA-256 nor SHA-512", clip(h))
	}
	return nil
}

// signingString is the text signed: one "name: value" line per header in
// order, joined by newlines.
func signingString(r *http.Request, headers []string) (string, error) {
	var b strings.Builder
	for i, h := range headers {
		if i > 0 {
			b.WriteByte('\n')
		}
		var v string
		switch h {
		case "(request-target)":
			// Path and query as sent (an incoming request's URL keeps
			// its raw path), even when the request line had the
			// absolute form.
			v = strings.ToLower(r.Method) + " " + r.URL.RequestURI()
		case "host":
			v = r.Host
			if v == "" {
				v = r.URL.Host
			}
		default:
			vals := r.Header.Values(h)
			if len(vals) == 0 {
				return "", fail(ErrNotCovered, "signed header %s is missing from the request", h)
			}
			for j := range vals {
				vals[j] = strings.TrimSpace(vals[j])
			}
			v = strings.Join(vals, ", ")
		}
		b.WriteString(h)
		b.WriteString(": ")
		b.WriteString(v)
	}
	return b.String(), nil
}
