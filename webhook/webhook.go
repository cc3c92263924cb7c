// Package webhook posts a project's events to the URLs its owner
// registered, as GitHub does: JSON bodies signed with HMAC-SHA256 of the
// webhook's secret in X-Blueprints-Signature-256 ("sha256=<hex>"), the
// event in X-Blueprints-Event and a delivery id in X-Blueprints-Delivery.
//
// Events enter from the push hook (Push, a repo.PostReceiveFunc) and the
// catalog (CatalogDone); each becomes a delivery row in the metadata store
// per webhook that wants it, so nothing is lost when the server stops.
// Run sends due deliveries through the guarded outgoing client (package
// outbound: loopback and private addresses refused unless allowed with
// --webhook-allow), retrying failures with doubling backoff, and records
// each attempt's status for `blueprints webhook list`.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/internal/outbound"
	"github.com/blueprints-hq/blueprints/internal/publicurl"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
)

// Events a webhook can ask for.
const (
	EventPush        = "push"
	EventCatalogDone = "catalog.done"
)

// Events are all the events, in the order --events lists them.
var Events = []string{EventPush, EventCatalogDone}

// Headers of every delivery.
const (
	HeaderSignature = "X-Blueprints-Signature-256"
	HeaderEvent     = "X-Blueprints-Event"
	HeaderDelivery  = "X-Blueprints-Delivery"
)

// Config wires a Sender.
type Config struct {
	Store  *store.Store
	Client *outbound.Client // the guarded client; its Allow list is --webhook-allow
	// PublicURL is the origin of URLs in payloads; events that did not
	// come from a request (catalog.done) carry site paths without it.
	PublicURL   publicurl.Base
	Logger      *slog.Logger
	MaxAttempts int           // tries per delivery (default 5)
	Backoff     time.Duration // wait before the first retry, doubling after (default 10s)
	UserAgent   string
}

// Sender queues and delivers webhook events.
type Sender struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
}

// New returns a Sender; start its deliveries with Run.
func New(cfg Config) *Sender {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Sender{cfg: cfg, log: cfg.Logger.With("component", "webhook"), wake: make(chan struct{}, 1)}
}

// Sign is the X-Blueprints-Signature-256 value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header in constant time, as a receiver should.
func Verify(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// NewSecret is a random secret for a webhook added without one.
func NewSecret() string {
	var b [24]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ParseEvents reads --events ("push,catalog.done"); empty means all.
func ParseEvents(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return append([]string(nil), Events...), nil
	}
	var out []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		known := false
		for _, k := range Events {
			known = known || k == e
		}
		if !known {
			return nil, fmt.Errorf("unknown event %q: want %s", e, strings.Join(Events, ", "))
		}
		out = append(out, e)
	}
	return out, nil
}

// CheckURL refuses webhook URLs that can never be delivered: not http(s),
// no host, or user info (secrets belong in the signature, not the URL).
// Where the URL leads is checked at each delivery, after DNS.
func CheckURL(s string) error {
	req, err := http.NewRequest(http.MethodPost, s, nil)
	if err != nil {
		return fmt.Errorf("webhook URL %q: %w", s, err)
	}
	switch {
	case req.URL.Scheme != "http" && req.URL.Scheme != "https":
		return fmt.Errorf("webhook URL %q: want http:// or https://", s)
	case req.URL.Hostname() == "":
		return fmt.Errorf("webhook URL %q: no host", s)
	case req.URL.User != nil:
		return fmt.Errorf("webhook URL %q: must not carry a user name or password; the secret signs each body", s)
	}
	return nil
}

// PushPayload is the body of a push event.
type PushPayload struct {
	Event   string           `json:"event"`
	Project string           `json:"project"`
	URL     string           `json:"url"`
	Pusher  string           `json:"pusher"`
	Updates []repo.RefUpdate `json:"updates"`
	Time    time.Time        `json:"time"`
}

// CatalogPayload is the body of a catalog.done event.
type CatalogPayload struct {
	Event    string    `json:"event"`
	Project  string    `json:"project"`
	URL      string    `json:"url"`
	Ref      string    `json:"ref"`
	Commit   string    `json:"commit"`
	State    string    `json:"state"` // done or failed
	Error    string    `json:"error,omitempty"`
	Parts    int       `json:"parts"`
	Measured int       `json:"measured"`
	Failed   int       `json:"failed"`
	Deleted  int       `json:"deleted"`
	Time     time.Time `json:"time"`
}

// Push queues a push event for the project's webhooks; it is a
// repo.PostReceiveFunc and prints nothing to the pusher.
func (s *Sender) Push(ctx context.Context, p repo.Push) []string {
	base := strings.TrimRight(p.BaseURL, "/")
	if s.cfg.PublicURL.Fixed() {
		base = s.cfg.PublicURL.String()
	}
	s.enqueue(ctx, p.Owner, p.Project, EventPush, PushPayload{
		Event: EventPush, Project: p.Owner + "/" + p.Project, URL: base + "/" + p.Owner + "/" + p.Project,
		Pusher: p.Pusher, Updates: p.Updates, Time: time.Now().UTC(),
	})
	return nil
}

// CatalogDone queues a catalog.done event; it is a catalog OnDone listener.
func (s *Sender) CatalogDone(ctx context.Context, d catalog.Done) {
	owner, name, _ := strings.Cut(d.Project, "/")
	state := "done"
	if d.Failed {
		state = "failed"
	}
	s.enqueue(ctx, owner, name, EventCatalogDone, CatalogPayload{
		Event: EventCatalogDone, Project: d.Project, URL: s.cfg.PublicURL.String() + "/" + d.Project,
		Ref: d.Ref, Commit: d.Commit, State: state, Error: d.Error,
		Parts: d.Stats.Parts, Measured: d.Stats.Measured, Failed: d.Stats.Failed, Deleted: d.Stats.Deleted, Time: time.Now().UTC(),
	})
}

func (s *Sender) enqueue(ctx context.Context, owner, name, event string, payload any) {
	hooks, err := s.cfg.Store.WebhooksFor(ctx, owner, name, event)
	if err != nil {
		s.log.Error("find webhooks", "project", owner+"/"+name, "event", event, "err", err)
		return
	}
	if len(hooks) == 0 {
		return
	}
	body, err := json.Marshal(payload)
	if err != nil {
		s.log.Error("encode webhook payload", "event", event, "err", err)
		return
	}
	for _, h := range hooks {
		if err := s.cfg.Store.EnqueueDelivery(ctx, h.ID, newGUID(), event, body); err != nil {
			s.log.Error("queue webhook delivery", "webhook", h.ID, "event", event, "err", err)
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Run delivers due events until ctx ends: a background worker for
// internal/server.
func (s *Sender) Run(ctx context.Context) error {
	for {
		due, err := s.cfg.Store.DueDeliveries(ctx, time.Now(), 32)
		if err != nil && ctx.Err() == nil {
			s.log.Error("read due webhook deliveries", "err", err)
		}
		for _, d := range due {
			if ctx.Err() != nil {
				return nil
			}
			s.attempt(ctx, d)
		}
		wait := time.Second
		if len(due) == 32 {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-time.After(wait):
		}
	}
}

// attempt sends d once and records the outcome.
func (s *Sender) attempt(ctx context.Context, d store.Delivery) {
	bg := context.WithoutCancel(ctx)
	hook, err := s.cfg.Store.WebhookByID(bg, d.WebhookID)
	if err != nil {
		d.State, d.Error = store.DeliveryFailed, "webhook removed"
		s.cfg.Store.RecordAttempt(bg, d)
		return
	}
	d.Attempts++
	start := time.Now()
	code, err := s.send(ctx, hook, d)
	d.Duration, d.StatusCode, d.Error = time.Since(start), code, ""
	log := s.log.With("webhook", hook.ID, "project", hook.Project, "event", d.Event, "delivery", d.GUID, "attempt", d.Attempts)
	var refused *outbound.RefusedError
	switch {
	case err == nil && code >= 200 && code < 300:
		d.State = store.DeliveryDelivered
		log.Info("webhook delivered", "status", code, "took", d.Duration.Round(time.Millisecond))
	case errors.As(err, &refused):
		// Where it leads will not change by retrying.
		d.State, d.Error = store.DeliveryFailed, err.Error()
		log.Warn("webhook refused", "err", err)
	default:
		if err != nil {
			d.Error = err.Error()
		} else {
			d.Error = fmt.Sprintf("answered %d", code)
		}
		if d.Attempts >= s.cfg.MaxAttempts {
			d.State = store.DeliveryFailed
			log.Warn("webhook failed; giving up", "status", code, "err", d.Error)
		} else {
			d.State = store.DeliveryPending
			d.NextAt = time.Now().Add(s.cfg.Backoff << (d.Attempts - 1))
			log.Info("webhook failed; will retry", "status", code, "err", d.Error, "at", d.NextAt)
		}
	}
	if err := s.cfg.Store.RecordAttempt(bg, d); err != nil {
		log.Error("record webhook attempt", "err", err)
	}
}

func (s *Sender) send(ctx context.Context, hook store.Webhook, d store.Delivery) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderEvent, d.Event)
	req.Header.Set(HeaderDelivery, d.GUID)
	req.Header.Set(HeaderSignature, Sign(hook.Secret, d.Payload))
	if s.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", s.cfg.UserAgent)
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		// The URL may carry a secret (many receivers put their token in
		// it): say what failed without it, in logs and the delivery list.
		var ue *url.Error
		if errors.As(err, &ue) {
			return 0, fmt.Errorf("%s %s: %w", ue.Op, req.URL.Host, ue.Err)
		}
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
