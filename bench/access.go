package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/search"
)

// Access benchmark settings.
const (
	accessPrivate    = 1000 // private projects in the index
	accessWarmup     = 200  // queries of each viewer not measured
	accessSearchGoal = 1.2  // p99 with private projects ÷ p99 without
)

// benchAccess measures what private projects and sessions cost.
//
// Search: one index of synthetic parts with 1,000 private projects, and
// beside it an index of the same parts with none private. Each query of a
// mix in which no query repeats is asked of both, in turn, in-process (so
// the two see the same machine): by an anonymous viewer (who must not
// find the private parts), by a signed-in viewer who may read one
// owner's projects and twenty private projects besides, and by an
// administrator. The peer of each is the anonymous search of the index
// with none private.
//
// Pages: time to first byte of the same pages for a signed-in session
// (the session looked up, the account bar filled, the viewer's scope
// built) beside an anonymous browser, 16 clients each.
func benchAccess(b *Bench) error {
	if err := benchAccessSearch(b); err != nil {
		return err
	}
	return benchAccessPages(b)
}

func benchAccessSearch(b *Bench) error {
	n := b.opt.accessParts
	docs := search.SyntheticParts(n, 1)
	var projects []string
	seen := map[string]bool{}
	for _, d := range docs {
		if !seen[d.Project] {
			seen[d.Project] = true
			projects = append(projects, d.Project)
		}
	}
	slices.Sort(projects)
	// Every other project is private, up to accessPrivate: private
	// projects spread over every owner, as people make them.
	private := map[string]bool{}
	for i := 0; i < len(projects) && len(private) < accessPrivate; i += 2 {
		private[projects[i]] = true
	}
	withPrivate := make([]search.Doc, len(docs))
	privateParts := 0
	for i, d := range docs {
		d.Private = private[d.Project]
		if d.Private {
			privateParts++
		}
		withPrivate[i] = d
	}
	// The signed-in viewer: one owner's projects and twenty private
	// projects of others (a collaborator).
	owner := docs[0].Owner
	var granted []string
	for _, p := range projects {
		if private[p] && !strings.HasPrefix(p, owner+"/") && len(granted) < 20 {
			granted = append(granted, p)
		}
	}
	b.Logf("%d parts in %d projects, %d of them private (%d parts)", n, len(projects), len(private), privateParts)

	build := func(name string, docs []search.Doc) *search.Bleve {
		start := time.Now()
		idx, err := search.Open(filepath.Join(b.TempDir(), name))
		if err != nil {
			b.Fatalf("open the index: %v", err)
		}
		b.Cleanup(func() { idx.Close() })
		for i := 0; i < len(docs); i += scaleApply {
			if err := idx.Apply(context.Background(), docs[i:min(i+scaleApply, len(docs))], nil); err != nil {
				b.Fatalf("build the index: %v", err)
			}
		}
		b.Logf("built the index %s in %s", name, time.Since(start).Round(time.Second))
		return idx
	}
	public := build("public.bleve", docs)
	mixed := build("private.bleve", withPrivate)

	viewers := []struct {
		name  string
		idx   *search.Bleve
		scope search.Scope
		sees  int // parts a search of every part finds
	}{
		{"none private, anonymous (peer)", public, search.Scope{}, n},
		{fmt.Sprintf("%d private, anonymous", len(private)), mixed, search.Scope{}, n - privateParts},
		{fmt.Sprintf("%d private, signed in (1 owner + %d projects)", len(private), len(granted)), mixed, search.NewScope(false, []string{owner}, granted), 0},
		{fmt.Sprintf("%d private, administrator", len(private)), mixed, search.NewScope(true, nil, nil), n},
	}
	// What each viewer finds: the filter must filter, or the figures
	// measure nothing.
	for i, v := range viewers {
		res, err := v.idx.Search(context.Background(), search.Query{Kind: search.KindPart, PerPage: 1, Scope: v.scope})
		if err != nil {
			return err
		}
		if v.sees == 0 {
			for _, d := range withPrivate {
				if !d.Private || d.Owner == owner || slices.Contains(granted, d.Project) {
					viewers[i].sees++
				}
			}
			v.sees = viewers[i].sees
		}
		if int(res.Total) != v.sees {
			b.Fatalf("%s: a search of every part finds %d, want %d", v.name, res.Total, v.sees)
		}
	}

	mix := scaleQueries(docs, b.opt.accessQueries)
	docs, withPrivate = nil, nil
	queries := make([]search.Query, len(mix))
	for i, m := range mix {
		v, _ := url.ParseQuery(m.query)
		q, err := search.ParseQuery(v)
		if err != nil {
			b.Fatalf("query %q: %v", m.query, err)
		}
		queries[i] = q
	}
	b.Logf("asking %d distinct queries of each of %d viewers, in turn", len(queries), len(viewers))
	took := make([][]time.Duration, len(viewers))
	load := loadAverage()
	for i, q := range queries {
		for k := range viewers {
			// Rotate who goes first, so that no viewer always follows
			// another's search of the same words.
			v := viewers[(i+k)%len(viewers)]
			q.Scope = v.scope
			start := time.Now()
			if _, err := v.idx.Search(context.Background(), q); err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
			if i >= accessWarmup {
				took[(i+k)%len(viewers)] = append(took[(i+k)%len(viewers)], time.Since(start))
			}
		}
	}
	for _, t := range took {
		slices.Sort(t)
	}
	peer := took[0]
	msf := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	var rows [][]string
	for k, v := range viewers {
		target := ""
		if k == 1 {
			target = fmt.Sprintf("p99 ≤ %.1f× peer", accessSearchGoal)
		}
		rows = append(rows, []string{
			v.name, fmt.Sprintf("%d", v.sees),
			msf(pct(took[k], 0.5)) + " / " + msf(pct(took[k], 0.99)),
			msf(pct(peer, 0.5)) + " / " + msf(pct(peer, 0.99)),
			Ratio(pct(took[k], 0.99).Seconds(), pct(peer, 0.99).Seconds()), target,
		})
	}
	fmt.Printf("Search over %dk parts in %d projects, %d private; %d distinct queries (the scale section's mix, none repeated), each asked by every viewer in turn, in-process after %d warm-up queries. %s; load average %s before, %s after.\n\n",
		n/1000, len(projects), len(private), len(queries)-accessWarmup, accessWarmup, Machine(), load, loadAverage())
	Table([]string{"viewer", "parts visible", "p50 / p99", "peer p50 / p99", "p99 ratio", "target"}, rows)
	fmt.Println()
	return nil
}

var accessCSRF = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func benchAccessPages(b *Bench) error {
	testenv.RequireTool(b, "git")
	srv := testenv.StartServer(b, testenv.Options{})
	const password = "a bench password, long enough"
	cmd := exec.Command(testenv.Binary(b), "user", "add", "maker", "--password-stdin", "--data", srv.Data)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("user add: %v\n%s", err, out)
	}
	token := strings.TrimSpace(lastLineOf(runOrFail(b, srv, "token", "add", "maker")))

	// A public project of 20 parts, and a private one the signed-in
	// viewer owns (so their home page and searches are scoped).
	for _, p := range []struct{ name, vis string }{{"rings", "public"}, {"drafts", "private"}} {
		work := b.TempDir()
		testenv.Git(b, work, "init", "-q", "-b", "main")
		os.MkdirAll(filepath.Join(work, "parts"), 0o755)
		for i := range 20 {
			var buf bytes.Buffer
			t := stlgen.Torus{Major: 20 + float64(i), Minor: 4 + float64(i%5), Center: [3]float64{0, 0, 4 + float64(i%5)}, Triangles: 2000}
			if err := t.Write(&buf); err != nil {
				return err
			}
			os.WriteFile(filepath.Join(work, "parts", fmt.Sprintf("%s_bracket_%02d_ring.stl", p.name, i)), buf.Bytes(), 0o644)
		}
		os.WriteFile(filepath.Join(work, "README.md"), []byte("# "+p.name+"\n\nTwenty rings.\n"), 0o644)
		testenv.Git(b, work, "add", "-A")
		testenv.Git(b, work, "commit", "-q", "-m", "twenty rings")
		testenv.Git(b, work, "push", "-q", "-o", "visibility="+p.vis, srv.Remote("maker", token, "maker", p.name), "main")
	}
	if err := waitCatalog(srv.URL+"/maker/rings", 5*time.Minute); err != nil {
		return err
	}

	// Sign in as a browser does: the form's CSRF token, then the POST.
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{MaxIdleConnsPerHost: pageClients, MaxConnsPerHost: pageClients, DisableCompression: true}
	signedIn := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := signedIn.Get(srv.URL + "/login")
	if err != nil {
		return err
	}
	var page bytes.Buffer
	page.ReadFrom(res.Body)
	res.Body.Close()
	m := accessCSRF.FindSubmatch(page.Bytes())
	if m == nil {
		return fmt.Errorf("no CSRF token on /login")
	}
	res, err = signedIn.PostForm(srv.URL+"/login", url.Values{"_csrf": {string(m[1])}, "username": {"maker"}, "password": {password}, "next": {"/"}})
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("sign in: status %d", res.StatusCode)
	}
	// The signed-in client must see what only the owner sees.
	if body := getText(b, signedIn, srv.URL+"/maker"); !strings.Contains(body, "drafts") {
		return fmt.Errorf("the signed-in client does not see its private project on /maker")
	}
	anonymous := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: pageClients, MaxConnsPerHost: pageClients, DisableCompression: true}, Timeout: 30 * time.Second}
	if body := getText(b, anonymous, srv.URL+"/maker"); strings.Contains(body, "drafts") {
		return fmt.Errorf("the anonymous client sees the private project on /maker")
	}

	pages := []struct{ name, path string }{
		{"home", "/"},
		{"owner page", "/maker"},
		{"search", "/search?q=bracket+ring"},
		{"search, a new query each time", "/search?q=bracket+ring&min_volume=%d"},
		{"project (20 parts)", "/maker/rings"},
		{"part", "/maker/rings/blob/main/parts/rings_bracket_07_ring.stl"},
		{"settings (signed in only)", "/settings"},
	}
	var rows [][]string
	for _, p := range pages {
		url := func(i int) string {
			if strings.Contains(p.path, "%d") {
				return srv.URL + fmt.Sprintf(p.path, i+1)
			}
			return srv.URL + p.path
		}
		// Anonymous, signed in, signed in, anonymous: neither side always
		// runs on a warmer (or busier) machine.
		var ours, peer []time.Duration
		for _, signed := range []bool{false, true, true, false} {
			c, who := anonymous, "anonymous"
			if signed {
				c, who = signedIn, "signed in"
			} else if p.path == "/settings" {
				continue // signed in only
			}
			took, _, err := loadPage(c, url)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", p.name, who, err)
			}
			if signed {
				ours = append(ours, took...)
			} else {
				peer = append(peer, took...)
			}
		}
		peer95, ratio := "n/a", "n/a"
		if len(peer) > 0 {
			peer95 = ms(percentile(peer, 95))
			ratio = Ratio(float64(percentile(ours, 95)), float64(percentile(peer, 95)))
		}
		verdict := "ok"
		if percentile(ours, 95) >= pageP95Goal {
			verdict = "over target"
		}
		rows = append(rows, []string{p.name, ms(percentile(ours, 50)), ms(percentile(ours, 95)), peer95, ratio, ms(pageP95Goal), verdict})
	}
	fmt.Printf("Time to first byte with a signed-in session beside an anonymous browser, %d clients, 2 × %d requests per page each (anonymous, signed in, signed in, anonymous), loopback, %s.\n\n", pageClients, pageRequests, Machine())
	Table([]string{"page", "signed in p50", "signed in p95", "anonymous p95 (peer)", "p95 ratio", "target p95", ""}, rows)
	return nil
}

func runOrFail(b *Bench, srv *testenv.Server, args ...string) string {
	out, err := srv.Run(b, args...)
	if err != nil {
		b.Fatalf("blueprints %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func lastLineOf(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func getText(b *Bench, c *http.Client, u string) string {
	res, err := c.Get(u)
	if err != nil {
		b.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	if res.StatusCode != 200 {
		b.Fatalf("GET %s: status %d", u, res.StatusCode)
	}
	return buf.String()
}
