package guard

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
)

// ThrottleConfig tunes the failed-authentication throttle. Zero fields
// take the defaults in brackets.
type ThrottleConfig struct {
	// IPFailures is how many failed authentications one client address
	// may make within Window before it is refused [10].
	IPFailures int
	// UserFailures is the same for one user name, from any address [20].
	UserFailures int
	// Window is how long failures are counted [10m].
	Window time.Duration
	// Backoff is the first refusal's length; each later one, while the
	// key keeps failing, doubles it [30s].
	Backoff time.Duration
	// MaxBackoff caps the refusal's length [15m].
	MaxBackoff time.Duration
	// MaxKeys caps the addresses, user names and known good pairs
	// remembered in memory; the least recently seen are forgotten first
	// [100000]. (Records kept in a Store expire after Window instead.)
	MaxKeys int
	// Store, when set, keeps the records (the metadata store: every node
	// of a cluster then counts the same failures and refuses the same
	// clients). When nil they are kept in this process.
	Store ThrottleStore
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger hears when an address or user name starts being refused;
	// slog.Default() when nil.
	Logger *slog.Logger
}

// ThrottleStore keeps the throttle's records; *store.Store is one.
type ThrottleStore interface {
	// ThrottleRecords returns the records of those keys that have one.
	ThrottleRecords(ctx context.Context, keys []string) (map[string]store.ThrottleRecord, error)
	// UpdateThrottleRecord runs f on key's record (zero when there is
	// none) and keeps what f leaves, atomically for that key.
	UpdateThrottleRecord(ctx context.Context, key string, f func(*store.ThrottleRecord)) error
	// ForgetThrottleRecords drops records last touched, and refused
	// until, before t.
	ForgetThrottleRecords(ctx context.Context, before time.Time) (int, error)
}

func (c *ThrottleConfig) defaults() {
	if c.IPFailures <= 0 {
		c.IPFailures = 10
	}
	if c.UserFailures <= 0 {
		c.UserFailures = 20
	}
	if c.Window <= 0 {
		c.Window = 10 * time.Minute
	}
	if c.Backoff <= 0 {
		c.Backoff = 30 * time.Second
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = max(15*time.Minute, c.Backoff)
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Throttle refuses authentication attempts, with 429 and Retry-After, from
// a client address or for a user name that has failed too often. Only
// failures count: a client with the right token is never slowed down,
// however busy. A refusal lasts Backoff, doubling with each further
// failure after it ends, up to MaxBackoff; a key that stays quiet for a
// Window after its refusal ends is forgotten.
//
// A user name being guessed from many addresses is refused for everyone,
// except from the addresses that user has recently signed in from, so an
// attacker cannot lock the owner out. Nothing resets another key's count:
// a success from one address leaves the penalties of others as they are.
//
// The records live in a ThrottleStore: the metadata store in a server, so
// that every node of a cluster sees the same; in memory otherwise. When
// the store does not answer, the throttle lets attempts through (the
// credentials are still checked) and logs it.
type Throttle struct {
	cfg  ThrottleConfig
	recs ThrottleStore

	mu        sync.Mutex
	goodSaved map[string]time.Time // good pairs this process wrote lately
	forgotAt  time.Time            // last ForgetThrottleRecords
	failing   bool                 // the store failed last time
}

// NewThrottle returns a throttle with cfg's settings.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	cfg.defaults()
	recs := cfg.Store
	if recs == nil {
		recs = newMemoryRecords(cfg.MaxKeys)
	}
	return &Throttle{cfg: cfg, recs: recs, goodSaved: map[string]time.Time{}}
}

func ipKey(ip string) string         { return "ip " + ip }
func userKey(name string) string     { return "user " + clip(name) }
func goodKey(name, ip string) string { return "good " + clip(name) + " " + ip }
func (t *Throttle) now() time.Time   { return t.cfg.Now() }

func blocked(r store.ThrottleRecord, now time.Time) bool { return now.Before(r.BlockedUntil) }

// expired reports whether the record can be forgotten: no refusal in
// force and nothing for a whole window since it ended.
func (t *Throttle) expired(r store.ThrottleRecord, now time.Time) bool {
	end := r.Last
	if r.BlockedUntil.After(end) {
		end = r.BlockedUntil
	}
	return now.Sub(end) > t.cfg.Window
}

// maxKeyName bounds the part of a user name kept in a key, so that names
// of any length cost the same memory. Real names are much shorter; longer
// ones cannot sign in, and are counted together by their first bytes.
const maxKeyName = 128

func clip(name string) string {
	if len(name) > maxKeyName {
		name = name[:maxKeyName]
	}
	return strings.ToLower(name)
}

// storeTimeout bounds each use of the record store.
const storeTimeout = 2 * time.Second

// trouble logs that the store failed (once until it works again), or that
// it works again.
func (t *Throttle) trouble(err error) {
	t.mu.Lock()
	was := t.failing
	t.failing = err != nil
	t.mu.Unlock()
	switch {
	case err != nil && !was:
		t.cfg.Logger.Error("sign-in throttle: its records are unavailable; letting attempts through meanwhile", "err", err)
	case err == nil && was:
		t.cfg.Logger.Info("sign-in throttle: its records are available again")
	}
}

// Check reports whether an authentication attempt for user from ip must
// be refused, and for how long.
func (t *Throttle) Check(ip, user string) (time.Duration, bool) {
	now := t.now()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	recs, err := t.recs.ThrottleRecords(ctx, []string{ipKey(ip), userKey(user), goodKey(user, ip)})
	t.trouble(err)
	if err != nil {
		return 0, false
	}
	live := func(key string) (store.ThrottleRecord, bool) {
		r, ok := recs[key]
		return r, ok && !t.expired(r, now)
	}
	var wait time.Duration
	if r, ok := live(ipKey(ip)); ok && blocked(r, now) {
		wait = r.BlockedUntil.Sub(now)
	}
	if user == "" {
		return wait, wait > 0
	}
	if r, ok := live(userKey(user)); ok && blocked(r, now) {
		if _, good := live(goodKey(user, ip)); !good {
			wait = max(wait, r.BlockedUntil.Sub(now))
		}
	}
	return wait, wait > 0
}

// Failed records a failed authentication for user from ip. An empty user
// (a bearer token, which names none) counts against the address only.
func (t *Throttle) Failed(ip, user string) {
	now := t.now()
	ipFor := t.fail(ipKey(ip), t.cfg.IPFailures, now)
	var userFor time.Duration
	if user != "" {
		userFor = t.fail(userKey(user), t.cfg.UserFailures, now)
	}
	t.forget(now)
	// The user name is what the client sent, which may be anything: it is
	// logged quoted, and never the secret.
	if ipFor > 0 {
		t.cfg.Logger.Warn("refusing sign-ins from address after failed ones", "ip", ip, "user", user, "for", ipFor)
	}
	if userFor > 0 {
		t.cfg.Logger.Warn("refusing sign-ins for user name after failed ones", "user", user, "ip", ip, "for", userFor)
	}
}

// fail counts a failure of key and returns the length of the refusal it
// starts, or 0.
func (t *Throttle) fail(key string, limit int, now time.Time) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	var d time.Duration
	err := t.recs.UpdateThrottleRecord(ctx, key, func(r *store.ThrottleRecord) {
		d = 0
		if t.expired(*r, now) {
			*r = store.ThrottleRecord{Since: now}
		}
		if now.Sub(r.Since) > t.cfg.Window {
			r.Failures, r.Since = 0, now
		}
		r.Failures++
		r.Last = now
		// After a refusal has ended, one more failure is enough for the
		// next, longer one.
		if r.Failures >= limit || (r.Strikes > 0 && !blocked(*r, now)) {
			d = t.cfg.MaxBackoff
			if r.Strikes < 30 {
				d = min(t.cfg.Backoff<<r.Strikes, t.cfg.MaxBackoff)
			}
			r.Strikes++
			r.BlockedUntil = now.Add(d)
			r.Failures, r.Since = 0, now
		}
	})
	t.trouble(err)
	return d
}

// forget drops expired records from the store, at most once a minute.
func (t *Throttle) forget(now time.Time) {
	t.mu.Lock()
	due := now.Sub(t.forgotAt) > time.Minute
	if due {
		t.forgotAt = now
	}
	t.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := t.recs.ForgetThrottleRecords(ctx, now.Add(-t.cfg.Window)); err != nil {
		t.trouble(err)
	}
}

// goodEvery is how often one process records the same good pair: the
// record only has to outlive a Window.
const goodEvery = time.Minute

// Succeeded records that user signed in from ip, which exempts that
// address from a refusal of the user name (not of the address).
func (t *Throttle) Succeeded(ip, user string) {
	if user == "" {
		return
	}
	now := t.now()
	key := goodKey(user, ip)
	t.mu.Lock()
	if saved, ok := t.goodSaved[key]; ok && now.Sub(saved) < goodEvery {
		t.mu.Unlock()
		return
	}
	if len(t.goodSaved) >= t.cfg.MaxKeys {
		clear(t.goodSaved)
	}
	t.goodSaved[key] = now
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := t.recs.UpdateThrottleRecord(ctx, key, func(r *store.ThrottleRecord) { r.Last = now })
	t.trouble(err)
}

// Len is the number of keys remembered in memory (0 with a Store).
func (t *Throttle) Len() int {
	if m, ok := t.recs.(*memoryRecords); ok {
		return m.len()
	}
	return 0
}

// memoryRecords keeps records in this process, the least recently touched
// forgotten first beyond a cap.
type memoryRecords struct {
	mu   sync.Mutex
	max  int
	keys map[string]*list.Element // of *memoryRecord
	lru  *list.List               // front = most recently touched
}

type memoryRecord struct {
	key string
	rec store.ThrottleRecord
}

func newMemoryRecords(max int) *memoryRecords {
	return &memoryRecords{max: max, keys: map[string]*list.Element{}, lru: list.New()}
}

func (m *memoryRecords) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

func (m *memoryRecords) ThrottleRecords(_ context.Context, keys []string) (map[string]store.ThrottleRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]store.ThrottleRecord, len(keys))
	for _, k := range keys {
		if el, ok := m.keys[k]; ok {
			out[k] = el.Value.(*memoryRecord).rec
		}
	}
	return out, nil
}

func (m *memoryRecords) UpdateThrottleRecord(_ context.Context, key string, f func(*store.ThrottleRecord)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.keys[key]
	if !ok {
		el = m.lru.PushFront(&memoryRecord{key: key})
		m.keys[key] = el
		for m.lru.Len() > m.max {
			old := m.lru.Back()
			m.lru.Remove(old)
			delete(m.keys, old.Value.(*memoryRecord).key)
		}
	} else {
		m.lru.MoveToFront(el)
	}
	f(&el.Value.(*memoryRecord).rec)
	return nil
}

func (m *memoryRecords) ForgetThrottleRecords(_ context.Context, before time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, el := range m.keys {
		r := el.Value.(*memoryRecord).rec
		if r.Last.Before(before) && r.BlockedUntil.Before(before) {
			m.lru.Remove(el)
			delete(m.keys, k)
			n++
		}
	}
	return n, nil
}

// verifiedKey is the echo.Context key Verified sets.
const verifiedKey = "guard.verified"

// Verified records on the request whether the credentials it carries were
// valid. The code that checks credentials calls it; the throttle counts
// only requests marked this way, so routes that ignore credentials never
// count as failures or successes.
func Verified(c echo.Context, ok bool) { c.Set(verifiedKey, ok) }

// Middleware refuses requests carrying credentials (basic auth, or a
// bearer access token, which counts against the address only) while their
// address or user name is refused, before the credentials are checked,
// and records the outcome of those that go through. Password sign-ins on
// the web are throttled by their handler (Check, Failed, Succeeded), since
// their user name is in the form.
func (t *Throttle) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		user, _, ok := c.Request().BasicAuth()
		if !ok && !hasBearer(c.Request()) {
			return next(c)
		}
		ip := c.RealIP()
		if wait, refused := t.Check(ip, user); refused {
			return refuse(c, wait)
		}
		err := next(c)
		if v, ok := c.Get(verifiedKey).(bool); ok {
			if v {
				t.Succeeded(ip, user)
			} else {
				t.Failed(ip, user)
			}
		}
		return err
	}
}

// hasBearer reports whether the request carries one of our bearer access
// tokens ("Authorization: Bearer bp_...").
func hasBearer(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(strings.TrimSpace(tok), "bp_")
}

// refuse answers 429 with Retry-After, as JSON for git-lfs and as plain
// text for git, which prints a text/plain body after "remote:".
func refuse(c echo.Context, wait time.Duration) error {
	secs := retryAfter(wait)
	msg := fmt.Sprintf("too many failed sign-ins from this address or for this user name; try again in %s (check the user name and access token)", (time.Duration(secs) * time.Second).String())
	h := c.Response().Header()
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set(echo.HeaderCacheControl, "no-store")
	if isLFS(c.Request()) {
		h.Set(echo.HeaderContentType, "application/vnd.git-lfs+json")
		c.Response().WriteHeader(http.StatusTooManyRequests)
		return json.NewEncoder(c.Response()).Encode(struct {
			Message string `json:"message"`
		}{msg})
	}
	return c.String(http.StatusTooManyRequests, msg+"\n")
}

// isLFS reports whether the request is for the Git LFS API.
func isLFS(r *http.Request) bool {
	return strings.Contains(r.URL.Path, "/info/lfs/") || strings.Contains(r.Header.Get(echo.HeaderAccept), "git-lfs")
}
