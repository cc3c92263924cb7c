package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// person is one person at their own browser: a tab in a browser context
// of its own (own cookies), in the one Chromium of the test.
type person struct {
	t   *testing.T
	b   *testenv.Browser
	ctx context.Context
	srv *testenv.Server
}

func newPerson(t *testing.T, b *testenv.Browser, srv *testenv.Server) *person {
	ctx, cancel := b.Person(t, 5*time.Minute)
	t.Cleanup(cancel)
	return &person{t: t, b: b, ctx: ctx, srv: srv}
}

// do runs steps, failing the test with where the browser was.
func (p *person) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\n%s", what, err, p.b.Describe())
	}
}

// open goes to path on the server and waits for the page's main part.
func (p *person) open(path string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate(p.srv.URL+path), chromedp.WaitReady("main"))
}

func (p *person) read(a chromedp.Action[string]) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, a)
	if err != nil {
		p.t.Fatalf("read the page: %v\n%s", err, p.b.Describe())
	}
	return v
}

// at is the path the browser is at.
func (p *person) at() string { return strings.TrimPrefix(p.read(chromedp.Location()), p.srv.URL) }

// text is what the page's main part says.
func (p *person) text() string { return p.read(chromedp.Text("main")) }

func (p *person) shot(name string) {
	p.t.Helper()
	if shot, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot()); err == nil {
		testenv.SaveScreenshot(p.t, name, shot, *keepScreenshots)
	} else {
		p.t.Errorf("screenshot %s: %v", name, err)
	}
}

// signIn signs in on /login with a password.
func (p *person) signIn(name, password string) {
	p.t.Helper()
	p.open("/login?next=/settings")
	p.do("sign in as "+name,
		chromedp.SendKeys("#login-name", name),
		chromedp.SendKeys("#login-password", password),
		chromedp.Submit("#login-password"),
		chromedp.WaitVisible(`.site-user a[href="/`+name+`"]`),
	)
}

// TestPeopleInChromium is a person's way through accounts, teams and
// private projects in real Chromium, looking at each page: an
// administrator invites bob; bob signs up with the invitation, makes a
// token and pushes with it, adds carol as a collaborator (who then
// pushes), makes the project private (it vanishes for an anonymous
// browser and for dave, signed in), creates an organisation and
// transfers the project to it, renames it and follows the old link;
// git pull through the old remote and a clone through the old address
// still work; bob signs out.
func TestPeopleInChromium(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--registration", "invite"}})
	addWithPassword(t, srv, "ada", "ada's admin password", "--admin")
	addWithPassword(t, srv, "dave", "dave's own password!")
	carol := srv.AddUser(t, "carol")
	b := testenv.StartChromium(t)

	// The administrator makes an invitation link.
	ada := newPerson(t, b, srv)
	ada.open("/login")
	ada.shot("login.png")
	ada.signIn("ada", "ada's admin password")
	ada.open("/settings/invites")
	ada.do("make an invitation", chromedp.Click(`form[action="/settings/invites"] button`), chromedp.WaitVisible(".secret"))
	invite := ada.read(chromedp.Text(".secret"))
	if !strings.HasPrefix(invite, srv.URL+"/signup?invite=") {
		t.Fatalf("invitation link %q", invite)
	}

	// bob signs up with it.
	bob := newPerson(t, b, srv)
	bob.do("open the invitation", chromedp.Navigate(invite), chromedp.WaitVisible("#signup-name"))
	bob.do("fill in the sign-up form", chromedp.SendKeys("#signup-name", "bob"), chromedp.SendKeys("#signup-password", "bob's own password"))
	bob.shot("signup.png")
	bob.do("sign up", chromedp.Submit("#signup-password"), chromedp.WaitVisible(`.site-user a[href="/bob"]`))
	if at := bob.at(); at != "/bob" {
		t.Errorf("after sign-up at %s, want /bob", at)
	}
	bob.open("/settings")
	bob.do("save the profile", chromedp.SendKeys("#display-name", "Bob Builder"), chromedp.SendKeys("#bio", "Builds rovers in the shed."),
		chromedp.Submit("#bio"), chromedp.WaitVisible(".notice.ok"))
	bob.shot("settings-profile.png")

	// A token made on the web pushes.
	bob.open("/settings/tokens")
	bob.do("create a token", chromedp.SendKeys("#token-name", "laptop"), chromedp.SetValue("#token-scope", "write"),
		chromedp.Submit("#token-name"), chromedp.WaitVisible("#new-token"))
	token := strings.TrimSpace(bob.read(chromedp.Text("#new-token")))
	bob.shot("settings-tokens.png")
	if !strings.HasPrefix(token, "bp_") || !strings.Contains(bob.text(), "laptop") {
		t.Fatalf("token %q; page:\n%s", token, bob.text())
	}
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	stl, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "testdata/corpus/prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(work, "parts"), 0o755)
	os.WriteFile(filepath.Join(work, "parts", "rover_wheel_hub.stl"), stl, 0o644)
	os.WriteFile(filepath.Join(work, "README.md"), []byte("# Rover\n\nA six-wheeled rover.\n"), 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "A wheel hub")
	testenv.Git(t, work, "remote", "add", "origin", srv.Remote("bob", token, "bob", "rover"))
	testenv.Git(t, work, "push", "-q", "-u", "origin", "main")
	bob.open("/settings/sessions")
	bob.shot("settings-sessions.png")
	if !strings.Contains(strings.ToLower(bob.text()), "this one") {
		t.Errorf("sessions page without this session:\n%s", bob.text())
	}

	// carol becomes a collaborator, then pushes.
	bob.open("/bob/rover")
	bob.do("open the project's settings", chromedp.Click(`a[href="/bob/rover/settings"]`), chromedp.WaitVisible("#collab-user"))
	bob.do("add carol", chromedp.SendKeys("#collab-user", "carol"), chromedp.SetValue("#collab-perm", "write"),
		chromedp.Submit("#collab-user"), chromedp.WaitVisible(".notice.ok"))
	if !strings.Contains(bob.text(), "carol may now write") {
		t.Errorf("adding carol:\n%s", bob.text())
	}
	bob.shot("project-settings.png")
	cw := t.TempDir()
	testenv.Git(t, cw, "clone", "-q", srv.Remote("carol", carol, "bob", "rover"), ".")
	os.WriteFile(filepath.Join(cw, "NOTES.md"), []byte("Carol's notes.\n"), 0o644)
	testenv.Git(t, cw, "add", "-A")
	testenv.Git(t, cw, "commit", "-q", "-m", "Carol's notes")
	testenv.Git(t, cw, "push", "-q", "origin", "main")

	// Public: everyone finds the part.
	anon := newPerson(t, b, srv)
	waitSearch(t, srv, "wheel hub", true)
	anon.open("/search?q=wheel+hub")
	if !strings.Contains(anon.text(), "rover_wheel_hub") {
		t.Errorf("anonymous search for the public part:\n%s", anon.text())
	}
	anon.open("/bob")
	if txt := anon.text(); !strings.Contains(txt, "bob/rover") {
		t.Errorf("bob's page, anonymous, without the public project:\n%s", txt)
	}
	bob.open("/bob")
	bob.shot("owner-user.png")
	if txt := bob.text(); !strings.Contains(txt, "bob/rover") || !strings.Contains(txt, "Bob Builder") {
		t.Errorf("bob's page without his project:\n%s", txt)
	}

	// Private: the project vanishes for the anonymous browser and for
	// dave, signed in.
	bob.open("/bob/rover/settings")
	bob.do("make it private", chromedp.Click(`input[name=visibility][value=private]`), chromedp.Submit(`input[name=visibility][value=private]`),
		chromedp.WaitVisible(".notice.ok"))
	if !strings.Contains(bob.text(), "now private") {
		t.Errorf("making it private:\n%s", bob.text())
	}
	dave := newPerson(t, b, srv)
	dave.signIn("dave", "dave's own password!")
	for _, who := range []*person{anon, dave} {
		who.open("/bob/rover")
		if txt := who.text(); !strings.Contains(txt, "No project bob/rover") {
			t.Errorf("the private project's page:\n%s", txt)
		}
		who.open("/bob/rover/blob/main/parts/rover_wheel_hub.stl")
		if txt := who.text(); !strings.Contains(txt, "No project bob/rover") {
			t.Errorf("the private part's page:\n%s", txt)
		}
		who.open("/bob")
		if txt := who.text(); strings.Contains(txt, "bob/rover") || !strings.Contains(txt, "No projects to show") {
			t.Errorf("bob's page shows the private project:\n%s", txt)
		}
		who.open("/search?q=wheel+hub")
		if txt := who.text(); strings.Contains(txt, "rover_wheel_hub") || !strings.Contains(txt, "Nothing matches") {
			t.Errorf("search shows the private part:\n%s", txt)
		}
	}
	anon.open("/bob/rover")
	anon.shot("private-anonymous.png")
	bob.open("/search?q=wheel+hub")
	if !strings.Contains(bob.text(), "rover_wheel_hub") {
		t.Errorf("bob does not find his private part:\n%s", bob.text())
	}

	// An organisation, and the project moves to it, then is renamed.
	bob.open("/settings/organisations")
	bob.do("create an organisation", chromedp.SendKeys("#org-name", "makers"), chromedp.Submit("#org-name"),
		chromedp.WaitVisible(".owner-head"))
	if at := bob.at(); at != "/makers" {
		t.Errorf("after creating the organisation at %s", at)
	}
	bob.open("/bob/rover/settings")
	bob.do("transfer to makers", chromedp.SetValue("#move-owner", "makers"), chromedp.Submit("#move-owner"),
		chromedp.WaitVisible(`a[href="/makers/rover"]`))
	if at := bob.at(); at != "/makers/rover/settings" {
		t.Errorf("after the transfer at %s", at)
	}
	bob.do("rename", chromedp.SetValue("#move-name", "rover-mk2"), chromedp.Submit("#move-name"),
		chromedp.WaitVisible(`a[href="/makers/rover-mk2"]`))
	if at := bob.at(); at != "/makers/rover-mk2/settings" {
		t.Errorf("after the rename at %s", at)
	}
	bob.open("/makers")
	bob.shot("owner-org.png")
	if txt := bob.text(); !strings.Contains(txt, "rover-mk2") || !strings.Contains(txt, "owner") {
		t.Errorf("the organisation's page:\n%s", txt)
	}
	// Old links lead to the new address, for those who may see it.
	for _, old := range []string{"/bob/rover", "/makers/rover", "/bob/rover/blob/main/parts/rover_wheel_hub.stl"} {
		bob.open(old)
		if at := bob.at(); !strings.HasPrefix(at, "/makers/rover-mk2") {
			t.Errorf("old link %s leads to %s", old, at)
		}
	}
	anon.open("/bob/rover")
	if txt := anon.text(); !strings.Contains(txt, "No project bob/rover") {
		t.Errorf("the old link of the private project, anonymous:\n%s", txt)
	}

	// git: a pull through the old remote, a clone through each old
	// address (carol, a collaborator, pushed to the new one meanwhile).
	os.WriteFile(filepath.Join(cw, "NOTES.md"), []byte("Carol's notes, after the move.\n"), 0o644)
	testenv.Git(t, cw, "commit", "-q", "-am", "After the move")
	testenv.Git(t, cw, "push", "-q", srv.Remote("carol", carol, "makers", "rover-mk2"), "main")
	head := strings.TrimSpace(testenv.Git(t, cw, "rev-parse", "HEAD"))
	testenv.Git(t, work, "pull", "-q", "--ff-only")
	if got := strings.TrimSpace(testenv.Git(t, work, "rev-parse", "HEAD")); got != head {
		t.Errorf("git pull through the old remote: at %s, want %s", got, head)
	}
	for _, old := range []string{"bob/rover", "makers/rover"} {
		owner, name, _ := strings.Cut(old, "/")
		dir := t.TempDir()
		testenv.Git(t, dir, "clone", "-q", srv.Remote("bob", token, owner, name), ".")
		if got := strings.TrimSpace(testenv.Git(t, dir, "rev-parse", "HEAD")); got != head {
			t.Errorf("clone through %s: at %s, want %s", old, got, head)
		}
	}
	// The old remote takes a push too, and dave's token finds nothing
	// there.
	testenv.Git(t, work, "commit", "-q", "--allow-empty", "-m", "Through the old remote")
	testenv.Git(t, work, "push", "-q", "origin", "main")
	daveToken := strings.TrimSpace(lastLine(runOK(t, srv, "token", "add", "dave")))
	if out, err := testenv.GitErr(t, t.TempDir(), "clone", "-q", srv.Remote("dave", daveToken, "bob", "rover"), "."); err == nil || !strings.Contains(out, "not found") {
		t.Errorf("dave clones the private project through its old address: %v\n%s", err, out)
	}

	// Sign out.
	bob.do("sign out", chromedp.Click(`.site-user button`), chromedp.WaitVisible(`.site-user a[href^="/login"]`))
	bob.open("/settings")
	if at := bob.at(); !strings.HasPrefix(at, "/login") {
		t.Errorf("settings after signing out: at %s", at)
	}
}

// waitSearch waits until an anonymous search for q finds (or not) a
// part, as the catalogue and the index catch up with a push.
func waitSearch(t *testing.T, srv *testenv.Server, q string, want bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := http.Get(srv.URL + "/api/v1/search?q=" + strings.ReplaceAll(q, " ", "+"))
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if strings.Contains(string(body), `"path"`) == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("search for %q: found = %v after 2 minutes", q, !want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
