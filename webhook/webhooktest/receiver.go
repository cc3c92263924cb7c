// Package webhooktest is a webhook endpoint for tests: an HTTP server on
// loopback that answers each delivery with the statuses it is given, in
// order (200 once they run out), and keeps every delivery it got with
// whether its signature verifies.
package webhooktest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/blueprints-hq/blueprints/webhook"
)

// Delivery is one request the receiver got.
type Delivery struct {
	Event, GUID, Signature string // the webhook headers
	Body                   []byte
	Signed                 bool // Signature verifies with the receiver's secret
	Status                 int  // what the receiver answered
}

// Receiver is a webhook endpoint; its URL is Server.URL.
type Receiver struct {
	*httptest.Server
	secret string
	mu     sync.Mutex
	answer []int
	got    []Delivery
}

// New starts a receiver that checks signatures with secret (none when
// empty: Signed is then false) and answers with answers, then 200. It is
// closed when the test ends.
func New(t testing.TB, secret string, answers ...int) *Receiver {
	r := &Receiver{secret: secret, answer: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		status := http.StatusOK
		if len(r.answer) > 0 {
			status, r.answer = r.answer[0], r.answer[1:]
		}
		sig := req.Header.Get(webhook.HeaderSignature)
		r.got = append(r.got, Delivery{
			Event: req.Header.Get(webhook.HeaderEvent), GUID: req.Header.Get(webhook.HeaderDelivery), Signature: sig,
			Body: body, Signed: secret != "" && webhook.Verify(secret, body, sig), Status: status,
		})
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

// Deliveries are what the receiver got so far, oldest first.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}
