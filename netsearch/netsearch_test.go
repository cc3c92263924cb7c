package netsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// peer answers /api/v1/search with hits named after it.
func peer(t *testing.T, name string, n int) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/search" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("scope") != "" || r.URL.Query().Get("facets") != "0" {
			t.Errorf("peer asked %s", r.URL.RawQuery)
		}
		var hits []map[string]any
		for i := range n {
			hits = append(hits, map[string]any{
				"kind": "part", "project": name + "/tractor", "owner": name, "name": fmt.Sprintf("%s axle %d", name, i),
				"path": fmt.Sprintf("parts/axle%d.stl", i), "license": "CC-BY-4.0", "score": float64(10 - i),
				"url": fmt.Sprintf("/%s/tractor/blob/main/parts/axle%d.stl", name, i), "preview_url": srv.URL + "/p.png",
				"size": []float64{10, 20, 30}, "volume": 100, "format": "binary", "triangles": 12,
			})
		}
		json.NewEncoder(w).Encode(map[string]any{"total": n, "page": 1, "per_page": 20, "hits": hits, "facets": map[string]any{}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hanging accepts connections and never answers.
func hanging(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

func raw(t *testing.T, body string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	t.Cleanup(s.Close)
	return s
}

func local(n int) func(context.Context) (Answer, error) {
	return func(context.Context) (Answer, error) {
		var a Answer
		for i := range n {
			a.Hits = append(a.Hits, Hit{Kind: "part", Project: "me/plough", Owner: "me", Name: fmt.Sprintf("me axle %d", i), Path: "axle.stl", URL: "/me/plough", Score: float64(5 - i)})
		}
		a.Total = uint64(n)
		return a, nil
	}
}

func TestSearchMergesWithAttribution(t *testing.T) {
	a, b := peer(t, "alice", 3), peer(t, "bob", 2)
	n, err := New(Config{Peers: []string{a.URL, b.URL + "/"}, Client: http.DefaultClient, Self: "http://c.example"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Search(context.Background(), url.Values{"q": {"axle"}, "scope": {"network"}}, local(2))
	if err != nil {
		t.Fatal(err)
	}
	if res.Partial || res.Total != 7 || len(res.Hits) != 7 || len(res.Servers) != 3 {
		t.Fatalf("%+v", res)
	}
	from := map[string]int{}
	for _, h := range res.Hits {
		from[h.Server]++
		if !strings.HasPrefix(h.URL, h.Server+"/") && h.Server != "http://c.example" {
			t.Errorf("hit %q links off its server: %s", h.Name, h.URL)
		}
	}
	if from[a.URL] != 3 || from[b.URL] != 2 || from["http://c.example"] != 2 {
		t.Errorf("hits by server %v", from)
	}
	// Each server's best hit comes before anyone's second.
	for i := range 3 {
		if res.Hits[i].Score != 1 {
			t.Errorf("hit %d: %+v", i, res.Hits[i])
		}
	}
}

func TestSearchDeadlineAndGarbage(t *testing.T) {
	good := peer(t, "bob", 2)
	bad := map[string]string{
		"hang":      hanging(t),
		"garbage":   raw(t, "\x00\x01 not json at all").URL,
		"html":      raw(t, "<html>busy</html>").URL,
		"huge":      raw(t, `{"total":1,"hits":["`+strings.Repeat("x", 2<<20)+`"]}`).URL,
		"not found": httptest.NewServer(http.NotFoundHandler()).URL,
	}
	peers := []string{good.URL}
	for _, u := range bad {
		peers = append(peers, u)
	}
	n, err := New(Config{Peers: peers, Client: http.DefaultClient, Self: "http://c.example", Deadline: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Search(context.Background(), url.Values{"q": {"axle"}}, local(1))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial || len(res.Hits) != 3 {
		t.Fatalf("want the good peer's 2 hits and 1 local, partial: %+v", res)
	}
	state := map[string]string{}
	for _, s := range res.Servers {
		state[s.Server] = s.State
	}
	if state[good.URL] != "ok" || state[bad["hang"]] != "timeout" {
		t.Errorf("states %v", state)
	}
	for name, u := range bad {
		if name != "hang" && state[u] != "error" {
			t.Errorf("%s peer: state %q", name, state[u])
		}
	}
}

func TestDecodeDropsHostileHits(t *testing.T) {
	hit := func(f func(m map[string]any)) map[string]any {
		m := map[string]any{"kind": "part", "project": "alice/tractor", "name": "axle", "path": "axle.stl", "license": "MIT", "url": "/alice/tractor/blob/main/axle.stl", "score": 1}
		f(m)
		return m
	}
	hits := []map[string]any{
		hit(func(m map[string]any) {}),
		hit(func(m map[string]any) { m["url"] = "javascript:alert(1)" }),
		hit(func(m map[string]any) { m["url"] = "https://evil.example/phish" }),
		hit(func(m map[string]any) { m["url"] = "//evil.example/phish" }),
		hit(func(m map[string]any) { m["project"] = "../../etc" }),
		hit(func(m map[string]any) { m["project"] = "alice" }),
		hit(func(m map[string]any) { m["kind"] = "user" }),
		hit(func(m map[string]any) { m["name"] = strings.Repeat("n", 5000) }),
		hit(func(m map[string]any) { m["path"] = "" }),
		hit(func(m map[string]any) { m["score"] = "high" }),
		hit(func(m map[string]any) { m["owner"] = "mallory" }),
		hit(func(m map[string]any) { m["name"] = "axle\u202egpj.exe" }),                    // a right-to-left override
		hit(func(m map[string]any) { m["license"] = "MIT\x1b[31m" }),                       // a control character
		hit(func(m map[string]any) { m["description"] = "two\nlines\u2066" }),              // an isolate
		hit(func(m map[string]any) { m["preview_url"] = "https://tracker.example/p.png" }), // kept, without the preview
		hit(func(m map[string]any) { m["name"] = `<script>alert(1)</script>` }),            // kept: escaped where shown
	}
	body, _ := json.Marshal(map[string]any{"total": 1, "hits": hits})
	a, dropped, err := Decode("https://a.example", body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Hits) != 3 || dropped != 13 {
		t.Fatalf("kept %d, dropped %d: %+v", len(a.Hits), dropped, a.Hits)
	}
	if a.Hits[0].URL != "https://a.example/alice/tractor/blob/main/axle.stl" || a.Hits[0].Server != "https://a.example" {
		t.Errorf("%+v", a.Hits[0])
	}
	if a.Hits[1].PreviewURL != "" {
		t.Errorf("off-host preview kept: %+v", a.Hits[1])
	}
	if a.Total != 3 {
		t.Errorf("total %d: a peer may not claim fewer than it sent", a.Total)
	}
	for _, bad := range []string{``, `[]`, `{"hits":[]}`, `{"total":1}`, `{"total":-1,"hits":[]}`} {
		if _, _, err := Decode("https://a.example", []byte(bad), nil); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func TestBlockedPeer(t *testing.T) {
	a, b := peer(t, "alice", 2), peer(t, "bob", 2)
	ua, _ := url.Parse(a.URL)
	n, _ := New(Config{Peers: []string{a.URL, b.URL}, Client: http.DefaultClient, Self: "http://c.example",
		Blocked: func(host string) bool { return host == ua.Host }})
	res, err := n.Search(context.Background(), url.Values{"q": {"axle"}}, local(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hits {
		if h.Server == a.URL {
			t.Errorf("blocked server's hit shown: %+v", h)
		}
	}
	if len(res.Hits) != 2 || res.Servers[1].State != "blocked" {
		t.Errorf("%+v", res)
	}
}

func TestParsePeers(t *testing.T) {
	got, err := ParsePeers("https://A.example, http://127.0.0.1:8081/")
	if err != nil || len(got) != 2 || got[0] != "https://a.example" || got[1] != "http://127.0.0.1:8081" {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"ftp://x", "a.example", "https://a.example/sub", "https://u:p@a.example", "https://a.example?q=1"} {
		if _, err := ParsePeers(bad); err == nil {
			t.Errorf("ParsePeers(%q) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"total":1,"hits":[{"kind":"part","project":"a/b","path":"x.stl","url":"/a/b"}]}`))
	f.Add([]byte(`{"total":0,"hits":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, _, err := Decode("https://a.example", b, nil)
		if err != nil {
			return
		}
		for _, h := range a.Hits {
			if !strings.HasPrefix(h.URL, "https://a.example/") {
				t.Fatalf("hit links off its server: %+v", h)
			}
		}
	})
}
