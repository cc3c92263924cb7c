package ui_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// TestPerViewerCaching: pages are cached and tagged per viewer. Each
// viewer's account bar and a project's Settings link are filled into
// cached pages per request, so a page's entity tag names them: a copy
// fetched before signing in is stale after it (and after signing out), one
// viewer's tag is never fresh for another, and a page listing projects
// (home, feeds) is never served from the cache to a viewer who sees other
// projects. The sitemap lists public projects only, whoever asks; oEmbed
// asks the access policy.
func TestPerViewerCaching(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, owner)
	srv.AddUser(t, "vera")
	const pw = "a long enough password"
	srv.SetPassword(t, owner, pw)
	srv.SetPassword(t, "vera", pw)
	s := &site{srv: srv, token: token, work: t.TempDir()}

	dir := filepath.Join(s.work, "bracket")
	testenv.Git(t, "", "init", "-q", "-b", "main", dir)
	writePart(t, dir, "arm.stl", 300)
	s.commitAndPush(t, dir, "bracket", "First version")
	// A private project of the same owner.
	jig := filepath.Join(s.work, "secret-jig")
	testenv.Git(t, "", "init", "-q", "-b", "main", jig)
	writePart(t, jig, "hidden_clamp.stl", 200)
	testenv.Git(t, jig, "add", "-A")
	testenv.Git(t, jig, "commit", "-q", "-m", "Clamp")
	testenv.Git(t, jig, "push", "-q", "-o", "visibility=private", srv.Remote(owner, token, owner, "secret-jig"), "main")
	if err := os.RemoveAll(filepath.Join(jig, ".git")); err != nil {
		t.Fatal(err)
	}

	anon, vera, maker := testenv.NewWebClient(t, srv.URL), testenv.NewWebClient(t, srv.URL), testenv.NewWebClient(t, srv.URL)
	vera.SignIn("vera", pw)
	maker.SignIn(owner, pw)
	const project = "/" + owner + "/bracket"
	settingsLink := `href="` + project + `/settings"`
	signIn := `href="/login?next=`

	// What each viewer gets, and its tag.
	page := func(who string, v *testenv.WebClient, path, tag string, want int) (string, string) {
		t.Helper()
		hdr := map[string]string{}
		if tag != "" {
			hdr["If-None-Match"] = tag
		}
		code, body, h := v.Do("GET", path, hdr, nil)
		if code != want {
			t.Fatalf("GET %s as %s with tag %q: %d, want %d", path, who, tag, code, want)
		}
		if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Cookie") {
			t.Errorf("GET %s as %s (%d): no Vary: Cookie (%q)", path, who, code, h.Values("Vary"))
		}
		return body, h.Get("ETag")
	}

	body, anonTag := page("anonymous", anon, project, "", 200)
	if !strings.Contains(body, signIn) || strings.Contains(body, settingsLink) {
		t.Errorf("anonymous project page: sign-in link %v, settings link %v", strings.Contains(body, signIn), strings.Contains(body, settingsLink))
	}
	page("anonymous", anon, project, anonTag, 304)

	// Signed in, the copy fetched before is stale.
	body, veraTag := page("vera", vera, project, anonTag, 200)
	if strings.Contains(body, signIn) || !strings.Contains(body, `href="/vera"`) || strings.Contains(body, settingsLink) {
		t.Errorf("vera's project page: sign-in link %v, her name %v, settings link %v",
			strings.Contains(body, signIn), strings.Contains(body, `href="/vera"`), strings.Contains(body, settingsLink))
	}
	if veraTag == anonTag {
		t.Errorf("vera's tag is the anonymous one: %s", veraTag)
	}
	page("vera", vera, project, veraTag, 304)
	// Another viewer's copy is never fresh for her, nor hers for them.
	body, makerTag := page("maker", maker, project, veraTag, 200)
	if !strings.Contains(body, settingsLink) || strings.Contains(body, `href="/vera"`) {
		t.Errorf("the owner's project page: settings link %v, vera's name %v", strings.Contains(body, settingsLink), strings.Contains(body, `href="/vera"`))
	}
	page("maker", maker, project, makerTag, 304)
	page("vera", vera, project, makerTag, 200)
	page("anonymous", anon, project, veraTag, 200)

	// Lists: the private project is the owner's alone, whatever the
	// page cache holds.
	for _, path := range []string{"/", "/projects.atom", "/" + owner + ".atom", "/" + owner} {
		anonBody, tag := page("anonymous", anon, path, "", 200)
		ownBody, _ := page("maker", maker, path, tag, 200)
		veraBody, _ := page("vera", vera, path, "", 200)
		againBody, _ := page("anonymous", anon, path, "", 200)
		if !strings.Contains(ownBody, "secret-jig") {
			t.Errorf("%s: the owner does not see the private project", path)
		}
		for who, b := range map[string]string{"anonymous": anonBody, "vera": veraBody, "anonymous after the owner": againBody} {
			if strings.Contains(b, "secret-jig") {
				t.Errorf("%s as %s lists the private project", path, who)
			}
		}
	}
	// Feeds for a signed-in reader are not for shared caches.
	if _, _, h := maker.Do("GET", "/projects.atom", nil, nil); !strings.HasPrefix(h.Get("Cache-Control"), "private") {
		t.Errorf("the owner's /projects.atom: Cache-Control %q", h.Get("Cache-Control"))
	}
	if _, _, h := anon.Do("GET", "/projects.atom", nil, nil); !strings.HasPrefix(h.Get("Cache-Control"), "public") {
		t.Errorf("anonymous /projects.atom: Cache-Control %q", h.Get("Cache-Control"))
	}
	// The sitemap is for crawlers: public projects, whoever asks.
	for who, v := range map[string]*testenv.WebClient{"anonymous": anon, "maker": maker} {
		code, body, _ := v.Do("GET", "/sitemap.xml", nil, nil)
		if code != 200 || !strings.Contains(body, "/"+owner+"/bracket") || strings.Contains(body, "secret-jig") {
			t.Errorf("sitemap as %s: %d, public project listed %v, private listed %v", who, code, strings.Contains(body, "/bracket"), strings.Contains(body, "secret-jig"))
		}
	}
	// oEmbed answers what the asker may read.
	embed := "/oembed?url=" + url.QueryEscape(srv.URL+"/"+owner+"/secret-jig/blob/main/hidden_clamp.stl")
	for who, c := range map[string]struct {
		v    *testenv.WebClient
		want int
	}{"anonymous": {anon, 404}, "vera": {vera, 404}, "maker": {maker, 200}} {
		if code, body, _ := c.v.Do("GET", embed, nil, nil); code != c.want || c.want == 404 && strings.Contains(body, "hidden_clamp") {
			t.Errorf("oEmbed of the private part as %s: %d, want %d\n%s", who, code, c.want, body)
		}
	}
	// The private project's commits feed is the owner's alone.
	for who, c := range map[string]struct {
		v    *testenv.WebClient
		want int
	}{"anonymous": {anon, 404}, "vera": {vera, 404}, "maker": {maker, 200}} {
		if code, _, _ := c.v.Do("GET", "/"+owner+"/secret-jig/commits.atom", nil, nil); code != c.want {
			t.Errorf("commits feed of the private project as %s: %d, want %d", who, code, c.want)
		}
	}

	// Signing out makes her copy stale again.
	if code, _, _ := vera.Do("POST", "/logout", nil, url.Values{"_csrf": {vera.CSRF("/settings")}}); code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", code)
	}
	body, _ = page("vera signed out", vera, project, veraTag, 200)
	if !strings.Contains(body, signIn) {
		t.Errorf("after signing out the page has no sign-in link")
	}
	// Signed in again, she sees what she saw, but in a new session: the
	// old copy's sign-out form carries the old session's CSRF token, so it
	// must not be fresh.
	vera.SignIn("vera", pw)
	body, again := page("vera in a new session", vera, project, veraTag, 200)
	if again == veraTag || !strings.Contains(body, `href="/vera"`) {
		t.Errorf("a new session: tag %s (old %s), her name on the page %v", again, veraTag, strings.Contains(body, `href="/vera"`))
	}
	if code, _, _ := vera.Do("POST", "/logout", nil, url.Values{"_csrf": {testenv.CSRFField.FindStringSubmatch(body)[1]}}); code != http.StatusSeeOther {
		t.Errorf("sign out with the token of the page she got: %d", code)
	}
}
