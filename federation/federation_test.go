package federation

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/federation/ap/aptest"
	"github.com/blueprints-hq/blueprints/federation/httpsig"
	"github.com/blueprints-hq/blueprints/internal/store"
)

type pokes struct {
	mu  sync.Mutex
	ids []int64
}

func (p *pokes) FollowMirror(ctx context.Context, by store.User, origin store.RemoteActor, name string) (store.Project, error) {
	return store.Project{ID: 42}, nil
}

func (p *pokes) Poke(id int64) {
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
}

func (p *pokes) count(id int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, x := range p.ids {
		if x == id {
			n++
		}
	}
	return n
}

type node struct {
	url    string
	store  *store.Store
	svc    *Service
	mirror *pokes
}

// newNode runs a federation service on a real HTTP server with its own
// store; its deliveries run until the test ends.
func newNode(t *testing.T, opts ...func(*Config)) *node {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := echo.New()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	n := &node{url: srv.URL, store: st, mirror: &pokes{}}
	cfg := Config{Store: st, Policy: access.New(st), Client: http.DefaultClient, Origin: srv.URL, Mirrors: n.mirror, Node: "n", Backoff: 50 * time.Millisecond, Version: "test"}
	for _, o := range opts {
		o(&cfg)
	}
	n.svc, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.svc.Register(e)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { n.svc.Run(rctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 20s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

func TestFollowAcceptAnnounceUndo(t *testing.T) {
	ctx := context.Background()
	a, b := newNode(t), newNode(t)
	alice, _ := a.store.CreateUser(ctx, "alice")
	proj, err := a.store.CreateProject(ctx, "alice", "tractor")
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := a.store.CreateProjectWith(ctx, "alice", "secret", store.Private)
	bob, _ := b.store.CreateUser(ctx, "bob")
	_ = alice

	// Documents served by A meet the fixture.
	for kind, path := range map[string]string{
		"actor": "/ap/projects/alice/tractor", "webfinger": "/.well-known/webfinger?resource=acct:alice..tractor@" + a.svc.Site().Host(),
		"nodeinfo-links": "/.well-known/nodeinfo", "nodeinfo": "/ap/nodeinfo/2.1",
	} {
		for _, err := range aptest.Check(kind, get(t, a.url+path)) {
			t.Errorf("%s: %v", path, err)
		}
	}
	// A private project is no actor, by any name.
	for _, path := range []string{"/ap/projects/alice/secret", "/.well-known/webfinger?resource=acct:alice..secret@" + a.svc.Site().Host()} {
		resp, _ := http.Get(a.url + path)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
	_ = secret

	// Bob on B follows alice/tractor on A, with a mirror.
	f, target, err := b.svc.Follow(ctx, bob, "alice/tractor@"+a.svc.Site().Host(), "tractor")
	if err != nil {
		t.Fatal(err)
	}
	if target.URI != a.svc.Site().ProjectActor("alice", "tractor") || f.MirrorProjectID != 42 {
		t.Fatalf("%+v %+v", target, f)
	}
	key := store.ProjectActor(proj.ID)
	eventually(t, "A records B's follower", func() bool {
		fs, _ := a.store.Followers(ctx, key)
		return len(fs) == 1 && fs[0].Follower == b.svc.Site().UserActor("bob")
	})
	eventually(t, "B hears the Accept", func() bool {
		fs, _ := b.store.FollowingOf(ctx, bob.ID)
		return len(fs) == 1 && fs[0].State == "accepted"
	})
	if b.mirror.count(42) == 0 {
		t.Error("the accepted follow's mirror was not refreshed")
	}

	// An Update from A reaches B, which refreshes the mirror of it.
	if err := b.store.CreateMirror(ctx, store.Mirror{ProjectID: mustProject(t, b.store, "bob", "tractor").ID, URL: a.url + "/alice/tractor.git", OriginActor: target.URI}); err != nil {
		t.Fatal(err)
	}
	mid := mustProject(t, b.store, "bob", "tractor").ID
	if err := a.svc.Announce(ctx, "alice/tractor", "0123456789012345678901234567890123456789"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B refreshes its mirror on the announcement", func() bool { return b.mirror.count(mid) > 0 })
	ds, _ := a.store.APDeliveries(ctx, 10)
	var sent []string
	for _, d := range ds {
		var act struct{ Type string }
		json.Unmarshal([]byte(d.Body), &act)
		sent = append(sent, act.Type+":"+d.State)
		if act.Type == "Create" {
			for _, err := range aptest.Check("announce", []byte(d.Body)) {
				t.Error(err)
			}
		}
		if act.Type == "Accept" {
			for _, err := range aptest.Check("accept", []byte(d.Body)) {
				t.Error(err)
			}
		}
	}
	t.Logf("A sent %v", sent)
	// The Note is served at its id (this project has no parts nor
	// licence: the end-to-end test checks a full one against the fixture).
	var note ap.Note
	noteID := a.svc.Site().VersionNote("alice", "tractor", "0123456789012345678901234567890123456789")
	if err := json.Unmarshal(get(t, noteID), &note); err != nil || note.ID != noteID || note.Type != "Note" {
		t.Errorf("note at its id: %+v %v", note, err)
	}

	// Unfollow: A forgets the follower.
	fs, _ := b.store.FollowingOf(ctx, bob.ID)
	if err := b.svc.Unfollow(ctx, bob, fs[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A drops the follower on Undo", func() bool {
		fs, _ := a.store.Followers(ctx, key)
		return len(fs) == 0
	})
}

func mustProject(t *testing.T, s *store.Store, owner, name string) store.Project {
	t.Helper()
	p, err := s.ProjectByName(context.Background(), owner, name)
	if errors.Is(err, store.ErrNotFound) {
		p, err = s.CreateProject(context.Background(), owner, name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInboxRefusals posts crafted requests to an inbox: each refusal
// must name its reason, and a good request must pass, so that the
// refusals are not an inbox that refuses everything.
func TestInboxRefusals(t *testing.T) {
	ctx := context.Background()
	a, b := newNode(t), newNode(t)
	a.store.CreateUser(ctx, "alice")
	mustProject(t, a.store, "alice", "tractor")
	bob, _ := b.store.CreateUser(ctx, "bob")
	bobID := b.svc.Site().UserActor("bob")
	bobKey, _, err := b.svc.key(ctx, store.UserActor(bob.ID))
	if err != nil {
		t.Fatal(err)
	}
	inbox := a.url + "/ap/projects/alice/tractor/inbox"
	follow := func() []byte {
		body, _ := json.Marshal(ap.Follow(bobID+"/follows/"+randomID(), bobID, a.svc.Site().ProjectActor("alice", "tractor")))
		return body
	}
	send := func(body []byte, mutate func(*http.Request, []byte) []byte, key any, at time.Time) (int, string) {
		req, _ := http.NewRequest("POST", inbox, bytes.NewReader(body))
		req.Header.Set("Content-Type", ap.ContentType)
		k := bobKey
		if key != nil {
			k = key.(*httpsigKey).k
		}
		if err := httpsig.Sign(req, body, ap.KeyID(bobID), k, at); err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			body = mutate(req, body)
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	now := time.Now()
	if code, msg := send(follow(), nil, nil, now); code != http.StatusAccepted {
		t.Fatalf("a good follow: %d %s", code, msg)
	}
	forger, _ := httpsig.NewKey()
	cases := []struct {
		name   string
		body   []byte
		mutate func(*http.Request, []byte) []byte
		key    any
		at     time.Time
		code   int
		reason string
	}{
		{"forged signature", follow(), nil, &httpsigKey{forger}, now, 401, "does not verify"},
		{"old date", follow(), nil, nil, now.Add(-3 * time.Hour), 401, "date outside"},
		{"digest mismatch", follow(), func(r *http.Request, b []byte) []byte {
			return bytes.Replace(b, []byte("Follow"), []byte("Block"), 1)
		}, nil, now, 401, "digest"},
		{"unsigned", follow(), func(r *http.Request, b []byte) []byte { r.Header.Del("Signature"); return b }, nil, now, 401, "not signed"},
		{"actor not the signer", func() []byte {
			body, _ := json.Marshal(ap.Follow(bobID+"/follows/x", b.url+"/ap/users/carol", a.svc.Site().ProjectActor("alice", "tractor")))
			return body
		}(), nil, nil, now, 401, "signed by the key of"},
	}
	for _, c := range cases {
		code, msg := send(c.body, c.mutate, c.key, c.at)
		if code != c.code || !strings.Contains(strings.ToLower(msg), c.reason) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, code, msg, c.code, c.reason)
		}
	}
	// A replay: the very same signed request twice.
	body := follow()
	req, _ := http.NewRequest("POST", inbox, bytes.NewReader(body))
	httpsig.Sign(req, body, ap.KeyID(bobID), bobKey, now)
	for i, want := range []int{202, 401} {
		r2, _ := http.NewRequest("POST", inbox, bytes.NewReader(body))
		r2.Header = req.Header.Clone()
		resp, err := http.DefaultClient.Do(r2)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (i == 1 && !strings.Contains(string(msg), "replayed")) {
			t.Errorf("send %d of the same request: %d %s, want %d", i+1, resp.StatusCode, msg, want)
		}
	}
	// A blocked server: refused before anything else.
	if err := a.store.AddBlock(ctx, hostOf(b.url), "test"); err != nil {
		t.Fatal(err)
	}
	if code, msg := send(follow(), nil, nil, time.Now()); code != 403 || !strings.Contains(msg, "blocked") {
		t.Errorf("blocked server: %d %s", code, msg)
	}
}

type httpsigKey struct{ k *rsa.PrivateKey }

// TestSignedFetch: a server answering only signed fetches (as Mastodon's
// secure mode) answers another server's, signed by its instance actor,
// and refuses unsigned, forged and blocked ones; the instance actor stays
// open and meets what Mastodon asks of remote actors.
func TestSignedFetch(t *testing.T) {
	ctx := context.Background()
	a := newNode(t, func(c *Config) { c.AuthorizedFetch = true })
	b := newNode(t)
	a.store.CreateUser(ctx, "alice")
	mustProject(t, a.store, "alice", "tractor")
	bob, _ := b.store.CreateUser(ctx, "bob")
	actor := a.svc.Site().ProjectActor("alice", "tractor")

	// B's fetch is signed, so A answers it: A checked it with B's
	// instance actor's key, fetched from B.
	ra, err := b.svc.FetchActor(ctx, actor)
	if err != nil || ra.URI != actor {
		t.Fatalf("signed fetch from B: %+v %v", ra, err)
	}
	if _, err := a.store.RemoteActorByKey(ctx, ap.KeyID(b.svc.Site().InstanceActor())); err != nil {
		t.Errorf("A did not check the fetch with B's instance key: %v", err)
	}
	// Both ways: B follows alice/tractor, A (signed-fetch only) accepts.
	if _, _, err := b.svc.Follow(ctx, bob, "alice..tractor@"+a.svc.Site().Host(), ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B hears A's Accept", func() bool {
		fs, _ := b.store.FollowingOf(ctx, bob.ID)
		return len(fs) == 1 && fs[0].State == "accepted"
	})

	fetch := func(key *rsa.PrivateKey, keyID string, at time.Time) int {
		req, _ := http.NewRequest("GET", actor, nil)
		req.Header.Set("Accept", ap.ContentType)
		if key != nil {
			if err := httpsig.Sign(req, nil, keyID, key, at); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bKey, _, err := b.svc.key(ctx, instanceKey)
	if err != nil {
		t.Fatal(err)
	}
	forger, _ := httpsig.NewKey()
	bKeyID := ap.KeyID(b.svc.Site().InstanceActor())
	for _, c := range []struct {
		name string
		key  *rsa.PrivateKey
		at   time.Time
		want int
	}{
		{"signed by B", bKey, time.Now(), 200},
		{"unsigned", nil, time.Now(), 401},
		{"forged", forger, time.Now(), 401},
		{"stale date", bKey, time.Now().Add(-3 * time.Hour), 401},
	} {
		if got := fetch(c.key, bKeyID, c.at); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if err := a.store.AddBlock(ctx, strings.ToLower(hostOf(b.url)), "test"); err != nil {
		t.Fatal(err)
	}
	if got := fetch(bKey, bKeyID, time.Now()); got != 403 {
		t.Errorf("blocked server: %d, want 403", got)
	}

	// The instance actor, WebFinger and NodeInfo stay open.
	inst := get(t, a.url+"/ap/actor")
	for _, err := range aptest.Check("actor", inst) {
		t.Errorf("instance actor: %v", err)
	}
	for _, path := range []string{"/ap/actor/outbox", "/.well-known/webfinger?resource=acct:ap@" + a.svc.Site().Host(), "/.well-known/nodeinfo"} {
		get(t, a.url+path)
	}
	// Without AuthorizedFetch, documents are open to anyone (B).
	get(t, b.url+"/ap/users/bob")
}
