// Package netsearch is federated search: a query asked of this server and
// of every peer server at once, the answers merged into one list in which
// each hit names the server it came from.
//
// Data enters as the query (URL form, as /api/v1/search takes it), the
// local search (a function run beside the peers) and the peers' answers to
// GET /api/v1/search, fetched through the guarded outgoing client. Peers'
// answers are untrusted: each is read up to a size limit, decoded into
// known fields only, every string bounded and free of control and
// bidirectional control characters, every URL required to be an
// http(s) URL on the peer's own host (relative ones are resolved against
// it), numbers required to be finite; a hit failing a check is dropped, an
// answer failing to decode drops the peer. A peer that has not answered
// by the deadline (default 800 ms) is left out, and the result says so:
// it leaves as a Result with the merged hits and one Status per server.
package netsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Defaults for the zero Config.
const (
	DefaultDeadline  = 800 * time.Millisecond
	DefaultMaxAnswer = 1 << 20
	maxHitsPerPeer   = 100
)

// Doer sends requests: the guarded outgoing client (internal/outbound).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Config wires a Network.
type Config struct {
	// Peers are the peer servers' origins ("https://b.example").
	Peers  []string
	Client Doer
	// Deadline bounds how long a search waits for peers.
	Deadline time.Duration
	// MaxAnswer bounds the bytes read of one peer's answer.
	MaxAnswer int64
	// Blocked reports whether a server (by host) is blocked by the admin;
	// blocked peers are not asked and their hits never shown.
	Blocked func(host string) bool
	// Self is this server's origin, the label of local hits.
	Self      string
	UserAgent string
	Logger    *slog.Logger
}

// Network asks peers. Safe for concurrent use.
type Network struct {
	cfg   Config
	log   *slog.Logger
	mu    sync.RWMutex
	peers []string
}

// New returns a Network over cfg.
func New(cfg Config) (*Network, error) {
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultDeadline
	}
	if cfg.MaxAnswer <= 0 {
		cfg.MaxAnswer = DefaultMaxAnswer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Client == nil {
		return nil, errors.New("federated search: no outgoing client")
	}
	n := &Network{cfg: cfg, log: cfg.Logger.With("component", "netsearch")}
	if err := n.SetPeers(cfg.Peers); err != nil {
		return nil, err
	}
	return n, nil
}

// ParsePeer checks a peer's address: an http(s) origin, without path,
// query or user info. It returns the origin without a trailing slash.
func ParsePeer(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("peer %q: want an http:// or https:// server address", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return "", fmt.Errorf("peer %q: give the server's address only (scheme and host), e.g. https://blueprints.example.org", s)
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// ParsePeers reads --peers: addresses separated by commas or spaces.
func ParsePeers(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := ParsePeer(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// SetPeers replaces the peer list (the admin page changes it).
func (n *Network) SetPeers(peers []string) error {
	var clean []string
	seen := map[string]bool{}
	for _, p := range peers {
		o, err := ParsePeer(p)
		if err != nil {
			return err
		}
		if !seen[o] && o != n.cfg.Self {
			seen[o] = true
			clean = append(clean, o)
		}
	}
	n.mu.Lock()
	n.peers = clean
	n.mu.Unlock()
	return nil
}

// Peers returns the peer list.
func (n *Network) Peers() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return append([]string(nil), n.peers...)
}

// Part is a part's measurements as hits carry them.
type Part struct {
	Format     string     `json:"format"`
	Size       [3]float64 `json:"size"`
	Volume     float64    `json:"volume"`
	Triangles  int64      `json:"triangles"`
	Watertight bool       `json:"watertight"`
}

// Hit is one result, from this server or a peer.
type Hit struct {
	Server      string    `json:"server"` // the origin of the server that holds it
	Kind        string    `json:"kind"`   // "part" or "project"
	Project     string    `json:"project"`
	Owner       string    `json:"owner"`
	Name        string    `json:"name"`
	Path        string    `json:"path,omitempty"`
	Description string    `json:"description,omitempty"`
	License     string    `json:"license"`
	Category    string    `json:"category,omitempty"`
	Updated     time.Time `json:"updated"`
	Part        *Part     `json:"part,omitempty"`
	URL         string    `json:"url"`
	PreviewURL  string    `json:"preview_url,omitempty"`
	DownloadURL string    `json:"download_url,omitempty"`
	Score       float64   `json:"score"`
}

// Status is how one server answered.
type Status struct {
	Server  string `json:"server"`
	State   string `json:"state"` // "ok", "timeout", "error", "blocked"
	Total   uint64 `json:"total"`
	Hits    int    `json:"hits"`
	Dropped int    `json:"dropped,omitempty"` // hits that failed validation
	Error   string `json:"error,omitempty"`
	Took    string `json:"took"`
}

// Answer is one server's page of hits: what Local returns for this server.
type Answer struct {
	Total uint64
	Hits  []Hit
}

// Result is a merged search.
type Result struct {
	Total   uint64   `json:"total"`
	Hits    []Hit    `json:"hits"`
	Servers []Status `json:"servers"`
	// Partial is set when a peer did not answer in time or answered
	// badly: its hits are missing.
	Partial bool `json:"partial"`
}

// Search runs local beside every peer's search for q (url form of
// /api/v1/search: q, kind, filters, page, per_page, sort), waits for the
// peers up to the deadline and merges.
func (n *Network) Search(ctx context.Context, q url.Values, local func(context.Context) (Answer, error)) (Result, error) {
	peers := n.Peers()
	fwd := url.Values{}
	for k, v := range q {
		switch k {
		case "scope", "facets", "prefix":
		default:
			fwd[k] = v
		}
	}
	fwd.Set("facets", "0")
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, n.cfg.Deadline)
	defer cancel()

	type answer struct {
		i   int
		a   Answer
		st  Status
		err error
	}
	ch := make(chan answer, len(peers))
	for i, p := range peers {
		if n.blocked(p) {
			ch <- answer{i: i, st: Status{Server: p, State: "blocked"}}
			continue
		}
		go func() {
			a, dropped, err := n.ask(dctx, p, fwd)
			st := Status{Server: p, State: "ok", Total: a.Total, Hits: len(a.Hits), Dropped: dropped, Took: time.Since(start).Round(time.Millisecond).String()}
			if err != nil {
				st.State = "error"
				if dctx.Err() != nil && ctx.Err() == nil {
					st.State = "timeout"
					st.Error = fmt.Sprintf("no answer within %s", n.cfg.Deadline)
				} else {
					st.Error = err.Error()
				}
			}
			ch <- answer{i: i, a: a, st: st, err: err}
		}()
	}
	la, lerr := local(ctx)
	if lerr != nil {
		return Result{}, lerr
	}
	res := Result{Servers: []Status{{Server: n.cfg.Self, State: "ok", Total: la.Total, Hits: len(la.Hits), Took: time.Since(start).Round(time.Millisecond).String()}}}
	answers := []Answer{la}
	peerStatus := make([]Status, len(peers))
	for range peers {
		a := <-ch
		peerStatus[a.i] = a.st
		if a.err == nil && a.st.State == "ok" {
			answers = append(answers, a.a)
		} else {
			res.Partial = true
			if a.st.State != "blocked" {
				n.log.Info("peer left out of a search", "peer", a.st.Server, "state", a.st.State, "err", a.st.Error)
			}
		}
	}
	res.Servers = append(res.Servers, peerStatus...)
	for i := range la.Hits {
		la.Hits[i].Server = n.cfg.Self
	}
	res.Hits, res.Total = merge(answers, q.Get("sort"))
	return res, nil
}

func (n *Network) blocked(origin string) bool {
	if n.cfg.Blocked == nil {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || n.cfg.Blocked(u.Host)
}

// ask fetches one peer's answer and validates it.
func (n *Network) ask(ctx context.Context, peer string, q url.Values) (Answer, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peer+"/api/v1/search?"+q.Encode(), nil)
	if err != nil {
		return Answer{}, 0, err
	}
	req.Header.Set("Accept", "application/json")
	if n.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", n.cfg.UserAgent)
	}
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		return Answer{}, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Answer{}, 0, fmt.Errorf("answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, n.cfg.MaxAnswer+1))
	if err != nil {
		return Answer{}, 0, fmt.Errorf("read answer: %w", err)
	}
	if int64(len(body)) > n.cfg.MaxAnswer {
		return Answer{}, 0, fmt.Errorf("answer over %d bytes", n.cfg.MaxAnswer)
	}
	return Decode(peer, body, n.blocked)
}

// Decode reads a peer's /api/v1/search answer, keeping the hits that pass
// validation (dropped counts the others). blocked, when not nil, drops
// hits whose URLs name a blocked host.
func Decode(peer string, body []byte, blocked func(origin string) bool) (Answer, int, error) {
	var raw struct {
		Total *uint64           `json:"total"`
		Hits  []json.RawMessage `json:"hits"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Answer{}, 0, fmt.Errorf("answer is not a search result: %v", clip(err.Error()))
	}
	if raw.Total == nil || raw.Hits == nil {
		return Answer{}, 0, errors.New("answer is not a search result: no total or hits")
	}
	base, err := url.Parse(peer)
	if err != nil {
		return Answer{}, 0, err
	}
	a := Answer{Total: *raw.Total}
	dropped := 0
	for i, h := range raw.Hits {
		if i >= maxHitsPerPeer {
			dropped += len(raw.Hits) - i
			break
		}
		hit, ok := decodeHit(base, h)
		if !ok || (blocked != nil && blocked(hit.Server)) {
			dropped++
			continue
		}
		a.Hits = append(a.Hits, hit)
	}
	if a.Total < uint64(len(a.Hits)) {
		a.Total = uint64(len(a.Hits))
	}
	return a, dropped, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// limits on a peer's strings, in bytes.
const (
	maxShort = 200
	maxPath  = 1000
	maxText  = 2000
)

func decodeHit(base *url.URL, b json.RawMessage) (Hit, bool) {
	var r struct {
		Kind        string    `json:"kind"`
		Project     string    `json:"project"`
		Owner       string    `json:"owner"`
		Name        string    `json:"name"`
		Path        string    `json:"path"`
		Description string    `json:"description"`
		License     string    `json:"license"`
		Category    string    `json:"category"`
		Updated     time.Time `json:"updated"`
		URL         string    `json:"url"`
		PreviewURL  string    `json:"preview_url"`
		DownloadURL string    `json:"download_url"`
		Score       float64   `json:"score"`
		// Part measurements are flattened into the hit (ui/api.Hit).
		Format     string     `json:"format"`
		Size       [3]float64 `json:"size"`
		Volume     float64    `json:"volume"`
		Triangles  int64      `json:"triangles"`
		Watertight bool       `json:"watertight"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Hit{}, false
	}
	if r.Kind != "part" && r.Kind != "project" {
		return Hit{}, false
	}
	owner, name, ok := strings.Cut(r.Project, "/")
	if !ok || !validName(owner) || !validName(name) || (r.Owner != "" && r.Owner != owner) {
		return Hit{}, false
	}
	for _, s := range []struct {
		v   string
		max int
	}{{r.Name, maxShort}, {r.Path, maxPath}, {r.Description, maxText}, {r.License, maxShort}, {r.Category, maxShort}, {r.Format, 16}} {
		if len(s.v) > s.max || !plain(s.v) {
			return Hit{}, false
		}
	}
	if r.Kind == "part" && r.Path == "" {
		return Hit{}, false
	}
	if !finite(r.Score) || !finite(r.Volume) || !finite(r.Size[0]) || !finite(r.Size[1]) || !finite(r.Size[2]) {
		return Hit{}, false
	}
	h := Hit{
		Server: base.Scheme + "://" + base.Host, Kind: r.Kind, Project: r.Project, Owner: owner, Name: r.Name, Path: r.Path,
		Description: r.Description, License: r.License, Category: r.Category, Updated: r.Updated, Score: r.Score,
	}
	if h.Name == "" {
		h.Name = name
	}
	var okURL bool
	if h.URL, okURL = onHost(base, r.URL); !okURL || h.URL == "" {
		return Hit{}, false
	}
	if h.PreviewURL, okURL = onHost(base, r.PreviewURL); !okURL {
		h.PreviewURL = ""
	}
	if h.DownloadURL, okURL = onHost(base, r.DownloadURL); !okURL {
		h.DownloadURL = ""
	}
	if r.Kind == "part" {
		h.Part = &Part{Format: r.Format, Size: r.Size, Volume: r.Volume, Triangles: max(r.Triangles, 0), Watertight: r.Watertight}
	}
	return h, true
}

// plain reports whether a peer's string holds only text to show: no
// control characters (tabs and newlines aside) and no bidirectional
// controls, which could make a name read as another or reorder the
// text around it on the page.
func plain(s string) bool {
	for _, r := range s {
		if r == '\t' || r == '\n' {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// validName is a Blueprints owner or project name's shape.
func validName(s string) bool {
	if s == "" || len(s) > 100 || s[0] == '.' || s[0] == '-' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// onHost resolves ref against the peer and checks it stays on the peer's
// scheme and host: a peer may only link to itself. "" stays "".
func onHost(base *url.URL, ref string) (string, bool) {
	if ref == "" {
		return "", true
	}
	if len(ref) > maxPath*3 {
		return "", false
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", false
	}
	abs := base.ResolveReference(u)
	if abs.Scheme != base.Scheme || !strings.EqualFold(abs.Host, base.Host) || abs.User != nil {
		return "", false
	}
	return abs.String(), true
}

// merge interleaves the servers' pages. By relevance, each server's scores
// are scaled by its best one, since scores of different indexes do not
// compare; other sorts compare the field itself. Ties keep server order.
func merge(answers []Answer, sortBy string) ([]Hit, uint64) {
	var all []Hit
	var total uint64
	for _, a := range answers {
		total += a.Total
		top := 0.0
		for _, h := range a.Hits {
			top = math.Max(top, h.Score)
		}
		for i, h := range a.Hits {
			if top > 0 {
				h.Score /= top
			} else {
				// No scores: keep the server's own order.
				h.Score = 1 / float64(i+1)
			}
			all = append(all, h)
		}
	}
	less := func(a, b Hit) bool { return a.Score > b.Score }
	switch sortBy {
	case "name":
		less = func(a, b Hit) bool { return strings.ToLower(a.Name) < strings.ToLower(b.Name) }
	case "volume":
		less = func(a, b Hit) bool { return volume(a) < volume(b) }
	case "updated":
		less = func(a, b Hit) bool { return a.Updated.After(b.Updated) }
	}
	sort.SliceStable(all, func(i, j int) bool { return less(all[i], all[j]) })
	return all, total
}

func volume(h Hit) float64 {
	if h.Part == nil {
		return math.Inf(1)
	}
	return h.Part.Volume
}
