package ap_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/federation/ap/aptest"
	"github.com/blueprints-hq/blueprints/federation/httpsig"
)

var site = ap.Site{Origin: "https://a.example"}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// documents builds one document of every kind the fixture names.
func documents(t *testing.T) map[string][][]byte {
	t.Helper()
	k, err := httpsig.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pem := httpsig.PublicKeyPEM(&k.PublicKey)
	proj := ap.ProjectInfo{Owner: "alice", Name: "tractor", Title: "Open Tractor", Description: "A tractor <you> can build", License: "CERN-OHL-S-2.0", Created: time.Now()}
	v := ap.Version{Commit: "0123abcd", Message: "Longer axle", Date: time.Now(), Parts: 3, CoverURL: "https://a.example/alice/tractor/preview/main/axle.stl.png",
		Changes: []ap.PartChange{{Path: "axle.stl", Change: "changed", Detail: "+20 mm in X"}, {Path: "hub.stl", Change: "added"}}}
	first := v
	first.First = true
	follow := ap.Follow("https://b.example/ap/users/bob/follows/1", "https://b.example/ap/users/bob", site.ProjectActor("alice", "tractor"))
	in, err := ap.ParseActivity(mustJSON(t, follow))
	if err != nil {
		t.Fatal(err)
	}
	return map[string][][]byte{
		"actor": {
			mustJSON(t, site.UserActorDoc(ap.UserInfo{Name: "alice", Bio: "maker"}, pem)),
			mustJSON(t, site.UserActorDoc(ap.UserInfo{Name: "farm-coop", Org: true}, pem)),
			mustJSON(t, site.ProjectActorDoc(proj, pem)),
		},
		"note":           {mustJSON(t, site.VersionNoteDoc(proj, v).WithContext())},
		"announce":       {mustJSON(t, site.Announce(proj, v)), mustJSON(t, site.Announce(proj, first))},
		"follow":         {mustJSON(t, follow)},
		"accept":         {mustJSON(t, ap.Accept("https://a.example/ap/projects/alice/tractor#accepts/1", site.ProjectActor("alice", "tractor"), in))},
		"undo":           {mustJSON(t, ap.Undo("https://b.example/ap/users/bob/follows/1/undo", "https://b.example/ap/users/bob", follow))},
		"webfinger":      {mustJSON(t, site.WebFingerDoc("alice", "")), mustJSON(t, site.WebFingerDoc("alice", "tractor"))},
		"nodeinfo-links": {mustJSON(t, site.NodeInfoLinks())},
		"nodeinfo":       {mustJSON(t, ap.NodeInfoDoc("v0.2.0", ap.Usage{Users: 3, Projects: 12, Name: "Blueprints"}))},
	}
}

// TestDocumentsMeetRequirements checks every document this server builds
// against the fixture of specification requirements.
func TestDocumentsMeetRequirements(t *testing.T) {
	docs := documents(t)
	for _, kind := range aptest.Kinds() {
		if len(docs[kind]) == 0 {
			t.Errorf("no document of kind %s built", kind)
		}
		for i, d := range docs[kind] {
			for _, err := range aptest.Check(kind, d) {
				t.Errorf("%s #%d: %v\n%s", kind, i, err, d)
			}
		}
	}
}

// TestRequirementsCanFail removes or breaks one field of each kind of
// document, to show the fixture's checks bite.
func TestRequirementsCanFail(t *testing.T) {
	docs := documents(t)
	breaks := []struct {
		kind, field string
		value       any // nil deletes
	}{
		{"actor", "inbox", nil},
		{"actor", "type", "Repository"},
		{"actor", "preferredUsername", "alice/tractor"},
		{"actor", "publicKey", map[string]any{"id": "https://a.example/k", "owner": "https://c.example/someone", "publicKeyPem": "x"}},
		{"note", "to", []string{"https://a.example/ap/projects/alice/tractor/followers"}},
		{"note", "published", "yesterday"},
		{"announce", "actor", "https://c.example/ap/users/mallory"},
		{"webfinger", "links", []any{}},
		{"nodeinfo", "protocols", []string{"smoke-signals"}},
		{"nodeinfo", "usage", map[string]any{"users": map[string]any{"total": -1}}},
	}
	for _, b := range breaks {
		var m map[string]any
		if err := json.Unmarshal(docs[b.kind][0], &m); err != nil {
			t.Fatal(err)
		}
		if b.value == nil {
			delete(m, b.field)
		} else {
			m[b.field] = b.value
		}
		if errs := aptest.Check(b.kind, mustJSON(t, m)); len(errs) == 0 {
			t.Errorf("%s with %s=%v passes the fixture", b.kind, b.field, b.value)
		}
	}
}

func TestUsernames(t *testing.T) {
	cases := []struct{ owner, project, user string }{
		{"alice", "", "alice"},
		{"alice", "tractor", "alice..tractor"},
		{"a.", "b", "a...b"},
		{"a.b", "c.d", "a.b..c.d"},
		{"x_y-z", "plough.v2", "x_y-z..plough.v2"},
	}
	for _, c := range cases {
		if got := ap.Username(c.owner, c.project); got != c.user {
			t.Errorf("Username(%q, %q) = %q, want %q", c.owner, c.project, got, c.user)
		}
		o, p, ok := ap.SplitUsername(c.user)
		if !ok || o != c.owner || p != c.project {
			t.Errorf("SplitUsername(%q) = %q, %q, %v", c.user, o, p, ok)
		}
	}
	for _, typed := range []string{"alice/tractor", "alice%2Ftractor", "alice%2ftractor"} {
		if o, p, ok := ap.SplitUsername(typed); !ok || o != "alice" || p != "tractor" {
			t.Errorf("SplitUsername(%q) = %q, %q, %v", typed, o, p, ok)
		}
	}
	for _, bad := range []string{"", "a....b", "..b", "a..", "a/b/c", "/b", "a/"} {
		if o, p, ok := ap.SplitUsername(bad); ok {
			t.Errorf("SplitUsername(%q) = %q, %q, ok", bad, o, p)
		}
	}
	if u, h, ok := ap.ParseAcct("@alice..tractor@a.example:8080"); !ok || u != "alice..tractor" || h != "a.example:8080" {
		t.Errorf("ParseAcct: %q %q %v", u, h, ok)
	}
	if o, p, ok := site.Local(site.ProjectActor("alice", "tractor")); !ok || o != "alice" || p != "tractor" {
		t.Errorf("Local(project) = %q %q %v", o, p, ok)
	}
	if _, _, ok := site.Local("https://b.example/ap/users/alice"); ok {
		t.Error("Local took another server's actor")
	}
}

func TestParseActor(t *testing.T) {
	k, _ := httpsig.NewKey()
	good := site.UserActorDoc(ap.UserInfo{Name: "alice"}, httpsig.PublicKeyPEM(&k.PublicKey))
	id := good.ID
	a, err := ap.ParseActor(id, mustJSON(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if a.Inbox != id+"/inbox" || a.KeyID != id+"#main-key" || a.SharedInbox != "https://a.example/ap/inbox" || a.Type != "Person" {
		t.Errorf("%+v", a)
	}
	mutate := func(f func(*ap.Actor)) []byte {
		c := good
		f(&c)
		return mustJSON(t, c)
	}
	bad := map[string][]byte{
		"another id":       mutate(func(a *ap.Actor) { a.ID = "https://a.example/ap/users/mallory" }),
		"not an actor":     mutate(func(a *ap.Actor) { a.Type = "Note" }),
		"no username":      mutate(func(a *ap.Actor) { a.PreferredUsername = "" }),
		"foreign inbox":    mutate(func(a *ap.Actor) { a.Inbox = "https://c.example/inbox" }),
		"no inbox":         mutate(func(a *ap.Actor) { a.Inbox = "" }),
		"key of another":   mutate(func(a *ap.Actor) { a.PublicKey.Owner = "https://a.example/ap/users/bob" }),
		"foreign key id":   mutate(func(a *ap.Actor) { a.PublicKey.ID = "https://c.example/key" }),
		"no key":           mutate(func(a *ap.Actor) { a.PublicKey = ap.PublicKey{} }),
		"no context":       mutate(func(a *ap.Actor) { a.Context = []any{"https://example.org/other"} }),
		"not json":         []byte(`{"id":`),
		"an array":         []byte(`[1,2]`),
		"too big":          []byte(`{"id":"` + strings.Repeat("a", ap.MaxDocument) + `"}`),
		"inbox not a link": mutate(func(a *ap.Actor) { a.Inbox = "javascript:alert(1)" }),
		"username with @":  mutate(func(a *ap.Actor) { a.PreferredUsername = "alice@b.example" }),
		"username bidi":    mutate(func(a *ap.Actor) { a.PreferredUsername = "alice\u202e" }),
	}
	for name, b := range bad {
		if _, err := ap.ParseActor(id, b); !errors.Is(err, ap.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	} // Kept, cleaned: a display name without its bidirectional controls,
	// no clone URI on another server.
	a, err = ap.ParseActor(id, mutate(func(a *ap.Actor) {
		a.Name = "Alice\u202e\x07 Smith"
		a.CloneURI = "https://c.example/other.git"
	}))
	if err != nil || a.Name != "Alice Smith" || a.CloneURI != "" {
		t.Errorf("cleaned actor: %+v %v", a, err)
	}
}

func TestParseActivity(t *testing.T) {
	follow := ap.Follow("https://b.example/f/1", "https://b.example/ap/users/bob", "https://a.example/ap/projects/alice/tractor")
	in, err := ap.ParseActivity(mustJSON(t, follow))
	if err != nil || in.Type != "Follow" || in.Object.ID != "https://a.example/ap/projects/alice/tractor" || in.Actor != "https://b.example/ap/users/bob" {
		t.Fatalf("%+v %v", in, err)
	}
	undo, err := ap.ParseActivity(mustJSON(t, ap.Undo("https://b.example/f/1/undo", follow.Actor, follow)))
	if err != nil || undo.Object.Type != "Follow" || undo.Object.ID != follow.ID || undo.Object.Actor != follow.Actor || undo.Object.Object != follow.Object {
		t.Fatalf("%+v %v", undo, err)
	}
	// Types given as arrays, actors as objects.
	in, err = ap.ParseActivity([]byte(`{"id":"https://b.example/x","type":["Update"],"actor":{"id":"https://b.example/u"},"object":{"id":"https://b.example/n","type":"Note"}}`))
	if err != nil || in.Type != "Update" || in.Actor != "https://b.example/u" || in.Object.Type != "Note" {
		t.Fatalf("%+v %v", in, err)
	}
	for _, bad := range []string{
		`{}`, `{"type":"Follow"}`, `{"type":"Follow","actor":"bob"}`, `{"type":"Follow","actor":"https://b.example/u"}`,
		`{"type":"Follow","actor":"https://b.example/u","object":42}`, `{"type":"Follow","actor":"file:///etc/passwd","object":"https://a.example/x"}`,
		`not json`, `{"type":"Follow","actor":"https://user:pw@b.example/u","object":"https://a.example/x"}`,
	} {
		if _, err := ap.ParseActivity([]byte(bad)); !errors.Is(err, ap.ErrInvalid) {
			t.Errorf("ParseActivity(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestNoteEscapes(t *testing.T) {
	p := ap.ProjectInfo{Owner: "alice", Name: "tractor", Title: `<script>alert(1)</script>`, License: `MIT"><img>`}
	n := site.VersionNoteDoc(p, ap.Version{Commit: "c", Message: "<b>bold</b>", Date: time.Now(), Changes: []ap.PartChange{{Path: "<x>.stl", Change: "added"}}})
	if strings.Contains(n.Content, "<script") || strings.Contains(n.Content, "<b>") || strings.Contains(n.Content, "<x>") || strings.Contains(n.Content, `"><img>`) {
		t.Errorf("unescaped content: %s", n.Content)
	}
	if !strings.Contains(n.Content, "1 part added") {
		t.Errorf("no change summary: %s", n.Content)
	}
}

func FuzzParseActivity(f *testing.F) {
	f.Add([]byte(`{"id":"https://b.example/x","type":"Follow","actor":"https://b.example/u","object":"https://a.example/ap/users/alice"}`))
	f.Add([]byte(`{"type":"Undo","actor":"https://b.example/u","object":{"type":"Follow","id":"https://b.example/x","actor":"https://b.example/u","object":"https://a.example/y"}}`))
	f.Add([]byte(`{"type":["Update"],"actor":{"id":"https://b.example/u"},"object":{"id":"https://b.example/n"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := ap.ParseActivity(b)
		if err != nil {
			if !errors.Is(err, ap.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if ap.CheckIRI(in.Actor) != nil || in.Type == "" {
			t.Fatalf("accepted %+v", in)
		}
	})
}

func FuzzParseActor(f *testing.F) {
	k, _ := httpsig.NewKey()
	f.Add(mustJSON(&testing.T{}, site.UserActorDoc(ap.UserInfo{Name: "alice"}, httpsig.PublicKeyPEM(&k.PublicKey))))
	f.Add([]byte(`{"id":"https://a.example/ap/users/alice","type":"Person"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ap.ParseActor("https://a.example/ap/users/alice", b)
		if err != nil {
			if !errors.Is(err, ap.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if !ap.SameHost(a.Inbox, a.ID) || a.PublicKeyPem == "" {
			t.Fatalf("accepted %+v", a)
		}
	})
}
