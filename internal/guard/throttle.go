package guard

import (
	"container/list"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
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
	// remembered; the least recently seen are forgotten first [100000].
	MaxKeys int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger hears when an address or user name starts being refused;
	// slog.Default() when nil.
	Logger *slog.Logger
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
type Throttle struct {
	cfg  ThrottleConfig
	mu   sync.Mutex
	keys map[string]*list.Element // of *record
	lru  *list.List               // front = most recently touched
}

// record is what the throttle knows about one key: an address
// ("ip 1.2.3.4"), a user name ("user alice") or a known good pair
// ("good alice 1.2.3.4").
type record struct {
	key          string
	failures     int       // within the window starting at since
	since        time.Time // start of the counting window
	strikes      int       // refusals so far; the next lasts Backoff<<strikes
	blockedUntil time.Time
	last         time.Time // last touched: failure, or success for good pairs
}

// NewThrottle returns a throttle with cfg's settings.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	cfg.defaults()
	return &Throttle{cfg: cfg, keys: map[string]*list.Element{}, lru: list.New()}
}

func ipKey(ip string) string                 { return "ip " + ip }
func userKey(name string) string             { return "user " + clip(name) }
func goodKey(name, ip string) string         { return "good " + clip(name) + " " + ip }
func (t *Throttle) now() time.Time           { return t.cfg.Now() }
func (r *record) blocked(now time.Time) bool { return now.Before(r.blockedUntil) }

// expired reports whether the record can be forgotten: no refusal in
// force and nothing for a whole window since it ended.
func (t *Throttle) expired(r *record, now time.Time) bool {
	end := r.last
	if r.blockedUntil.After(end) {
		end = r.blockedUntil
	}
	return now.Sub(end) > t.cfg.Window
}

// get returns the live record for key, or nil. Expired records are
// dropped on the way.
func (t *Throttle) get(key string, now time.Time) *record {
	el, ok := t.keys[key]
	if !ok {
		return nil
	}
	r := el.Value.(*record)
	if t.expired(r, now) {
		t.lru.Remove(el)
		delete(t.keys, key)
		return nil
	}
	return r
}

// touch returns key's record, creating it, and marks it most recent.
// Beyond MaxKeys the least recently touched records are forgotten.
func (t *Throttle) touch(key string, now time.Time) *record {
	if r := t.get(key, now); r != nil {
		t.lru.MoveToFront(t.keys[key])
		return r
	}
	r := &record{key: key, since: now, last: now}
	t.keys[key] = t.lru.PushFront(r)
	for t.lru.Len() > t.cfg.MaxKeys {
		old := t.lru.Back()
		t.lru.Remove(old)
		delete(t.keys, old.Value.(*record).key)
	}
	return r
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

// Check reports whether an authentication attempt for user from ip must
// be refused, and for how long.
func (t *Throttle) Check(ip, user string) (time.Duration, bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	if r := t.get(ipKey(ip), now); r != nil && r.blocked(now) {
		wait = r.blockedUntil.Sub(now)
	}
	if user == "" {
		return wait, wait > 0
	}
	if r := t.get(userKey(user), now); r != nil && r.blocked(now) && t.get(goodKey(user, ip), now) == nil {
		wait = max(wait, r.blockedUntil.Sub(now))
	}
	return wait, wait > 0
}

// Failed records a failed authentication for user from ip. An empty user
// (a bearer token, which names none) counts against the address only.
func (t *Throttle) Failed(ip, user string) {
	now := t.now()
	t.mu.Lock()
	ipFor := t.fail(t.touch(ipKey(ip), now), t.cfg.IPFailures, now)
	var userFor time.Duration
	if user != "" {
		userFor = t.fail(t.touch(userKey(user), now), t.cfg.UserFailures, now)
	}
	t.mu.Unlock()
	// The user name is what the client sent, which may be anything: it is
	// logged quoted, and never the secret.
	if ipFor > 0 {
		t.cfg.Logger.Warn("refusing sign-ins from address after failed ones", "ip", ip, "user", user, "for", ipFor)
	}
	if userFor > 0 {
		t.cfg.Logger.Warn("refusing sign-ins for user name after failed ones", "user", user, "ip", ip, "for", userFor)
	}
}

// fail counts a failure and returns the length of the refusal it starts,
// or 0.
func (t *Throttle) fail(r *record, limit int, now time.Time) time.Duration {
	if now.Sub(r.since) > t.cfg.Window {
		r.failures, r.since = 0, now
	}
	r.failures++
	r.last = now
	// After a refusal has ended, one more failure is enough for the next,
	// longer one.
	if r.failures >= limit || (r.strikes > 0 && !r.blocked(now)) {
		d := t.cfg.MaxBackoff
		if r.strikes < 30 {
			d = min(t.cfg.Backoff<<r.strikes, t.cfg.MaxBackoff)
		}
		r.strikes++
		r.blockedUntil = now.Add(d)
		r.failures, r.since = 0, now
		return d
	}
	return 0
}

// Succeeded records that user signed in from ip, which exempts that
// address from a refusal of the user name (not of the address).
func (t *Throttle) Succeeded(ip, user string) {
	if user == "" {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.touch(goodKey(user, ip), now).last = now
}

// Len is the number of keys remembered.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
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
