package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/search"
)

// project is a project on the server the browsers know about.
type project struct {
	owner, name string
	folders     []string // folders holding parts
	parts       []string // part paths on main
	commits     []string // commit ids, oldest first
}

func (p *project) full() string { return p.owner + "/" + p.name }

// site is what the load runs against: the server and what was pushed.
type site struct {
	srv      *testenv.Server  // the server (with -cluster: node1)
	cluster  *testenv.Cluster // with -cluster
	base     string           // where clients go: the server, or the balancer
	remote   func(user, token, owner, project string) string
	git      gitRunner
	projects []*project // corpus and synthetic: unchanged during the load
	gitters  []*gitter
	words    []string // words of part names, for search text
	licenses []string
	cats     []string
	parts    int // parts the catalog indexed before the load

	pushTook  time.Duration // pushing every project in set-up
	indexTook time.Duration // from the last set-up push to everything searchable
}

// setUp starts the server, pushes the corpus, the synthetic projects and
// the git clients' projects, and waits until the catalog has indexed
// every part. It stops the run with Fatalf when something fails.
func setUp(ctx context.Context, r *runner, cfg config) *site {
	testenv.RequireTool(r, "git")
	s := &site{git: gitRunner{env: testenv.GitEnv(r), nice: cfg.nice}}
	if cfg.cluster {
		r.Logf("building and starting PostgreSQL, versitygw, three nodes and HAProxy")
		s.cluster = testenv.StartCluster(r, testenv.ClusterOptions{Args: []string{"--log-level", "warn"}})
		s.srv, s.base, s.remote = s.cluster.Nodes[0], s.cluster.URL, s.cluster.Remote
		r.Logf("HAProxy at %s in front of %d nodes", s.base, len(s.cluster.Nodes))
	} else {
		opt := testenv.Options{Args: []string{"--log-level", "warn"}}
		if cfg.storage == "s3" {
			s3 := testenv.StartS3(r)
			opt.Storage = "s3://" + s3.Bucket
			opt.Env = s3.Env()
			r.Logf("versitygw S3 at %s", s3.Endpoint)
		}
		r.Logf("building and starting blueprints serve")
		s.srv = testenv.StartServer(r, opt)
		s.base, s.remote = s.srv.URL, s.srv.Remote
		r.Logf("server at %s (data %s, storage %s)", s.srv.URL, s.srv.Data, cfg.storage)
	}

	// Every push in set-up is one job: write a work tree, commit, push.
	type job struct {
		p     *project
		token string
		work  string
	}
	var jobs []job
	tokens := map[string]string{}
	token := func(user string) string {
		if tokens[user] == "" {
			tokens[user] = s.srv.AddUser(r, user)
		}
		return tokens[user]
	}

	for _, cp := range testenv.Corpus(r) {
		work := testenv.CorpusWorkTree(r, cp)
		p := &project{owner: "corpus", name: cp.Name, parts: cp.Parts}
		p.folders = foldersOf(cp.Parts)
		commit(r, s.git, work, "import from "+strings.Replace(cp.Dir, "__", "/", 1))
		p.commits = append(p.commits, head(r, s.git, work))
		s.projects = append(s.projects, p)
		jobs = append(jobs, job{p, token("corpus"), work})
		s.parts += len(cp.Parts)
	}

	r.Logf("writing %d synthetic parts", cfg.parts)
	docs := search.SyntheticParts(cfg.parts, cfg.seed)
	byProject := map[string][]search.Doc{}
	var order []string
	words := map[string]bool{}
	licenses, cats := map[string]bool{}, map[string]bool{}
	for _, d := range docs {
		if byProject[d.Project] == nil {
			order = append(order, d.Project)
		}
		byProject[d.Project] = append(byProject[d.Project], d)
		for _, w := range nameWords(d.Name) {
			if len(w) >= 3 {
				words[w] = true
			}
		}
		licenses[d.License], cats[d.Category] = true, true
	}
	for _, full := range order {
		ds := byProject[full]
		owner, name, _ := strings.Cut(full, "/")
		work := r.TempDir()
		p := &project{owner: owner, name: name}
		if err := writeSynthetic(work, ds); err != nil {
			r.Fatalf("%v", err)
		}
		for _, d := range ds {
			p.parts = append(p.parts, d.Path)
		}
		p.folders = foldersOf(p.parts)
		commit(r, s.git, work, "first parts")
		p.commits = append(p.commits, head(r, s.git, work))
		// A second commit changes about one part in ten, so commit pages
		// show modified parts with their deltas.
		if err := reviseSynthetic(work, ds); err != nil {
			r.Fatalf("%v", err)
		}
		commit(r, s.git, work, "revise parts")
		p.commits = append(p.commits, head(r, s.git, work))
		s.projects = append(s.projects, p)
		jobs = append(jobs, job{p, token(owner), work})
		s.parts += len(ds)
	}
	s.words = sortedKeys(words)
	for l := range licenses {
		if l != "none" {
			s.licenses = append(s.licenses, l)
		}
	}
	sort.Strings(s.licenses)
	s.cats = sortedKeys(cats)

	for i := range cfg.gitters {
		g := newGitter(r, s, i, cfg.seed)
		g.token = token(g.user)
		s.gitters = append(s.gitters, g)
		jobs = append(jobs, job{g.project, g.token, g.work})
		s.parts++
	}

	r.Logf("pushing %d projects (%d parts)", len(jobs), s.parts)
	pushStart := time.Now()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		done int
		errs []string
	)
	next := make(chan job)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				out, err := s.git.run(ctx, j.work, "push", "--quiet", s.remote(j.p.owner, j.token, j.p.owner, j.p.name), "main")
				mu.Lock()
				done++
				if err != nil {
					errs = append(errs, fmt.Sprintf("push %s: %v\n%s", j.p.full(), err, out))
				}
				if done%25 == 0 || done == len(jobs) {
					r.Logf("  pushed %d/%d projects", done, len(jobs))
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- j
	}
	close(next)
	wg.Wait()
	s.pushTook = time.Since(pushStart)
	if len(errs) > 0 {
		r.Fatalf("%d pushes failed in set-up; the first:\n%s\nserver log tail:\n%s", len(errs), errs[0], tail(s.srv.Log(), 30))
	}
	for _, g := range s.gitters {
		g.cloneForFetch(r)
	}
	waitIndexed(ctx, r, s, cfg.setupFor)
	return s
}

// gitRunner runs the real git with the harness's isolated environment,
// at a lower priority when nice is above 0.
type gitRunner struct {
	env  []string
	nice int
}

// run runs git in dir and returns its combined output; it gives up after
// ten minutes so that a hung operation cannot hold the run.
func (g gitRunner) run(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	name := "git"
	if g.nice > 0 {
		// nice execs git: the process killed on timeout is git itself.
		name, args = "nice", append([]string{"-n", strconv.Itoa(g.nice), "git"}, args...)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = g.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func commit(r *runner, git gitRunner, work, msg string) {
	for _, args := range [][]string{{"init", "--quiet", "-b", "main"}, {"add", "-A"}, {"commit", "--quiet", "-m", msg}} {
		if out, err := git.run(context.Background(), work, args...); err != nil {
			r.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), work, err, out)
		}
	}
}

func head(r *runner, git gitRunner, work string) string {
	out, err := git.run(context.Background(), work, "rev-parse", "HEAD")
	if err != nil {
		r.Fatalf("git rev-parse HEAD in %s: %v\n%s", work, err, out)
	}
	return strings.TrimSpace(out)
}

func foldersOf(parts []string) []string {
	seen := map[string]bool{}
	for _, p := range parts {
		if d := path.Dir(p); d != "." {
			seen[d] = true
		}
	}
	return sortedKeys(seen)
}

// nameWords splits a part name into lower-case words at punctuation and
// at camelCase humps.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	prevLower := false
	for _, c := range name {
		switch {
		case unicode.IsUpper(c):
			if prevLower {
				flush()
			}
			cur = append(cur, c)
			prevLower = false
		case unicode.IsLetter(c):
			cur = append(cur, c)
			prevLower = true
		default:
			flush()
			prevLower = false
		}
	}
	flush()
	return words
}

// writeSynthetic lays out one synthetic project: a small torus per part,
// sized like the document says (its extent in x and y, its height in z),
// a README, a licence and an OKH manifest with the category and tags.
func writeSynthetic(work string, ds []search.Doc) error {
	for i, d := range ds {
		if err := writePart(filepath.Join(work, filepath.FromSlash(d.Path)), d, i, 1); err != nil {
			return err
		}
	}
	d := ds[0]
	_, name, _ := strings.Cut(d.Project, "/")
	readme := fmt.Sprintf("# %s\n\nA %s project generated for the Blueprints load test: %d parts.\n\n## Build\n\nPrint every part in PETG, 0.2 mm layers, 40 %% infill.\n", name, d.Category, len(ds))
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte(readme), 0o644); err != nil {
		return fmt.Errorf("write README: %w", err)
	}
	if d.License != "none" {
		if err := os.WriteFile(filepath.Join(work, "LICENSE"), []byte("SPDX-License-Identifier: "+d.License+"\n"), 0o644); err != nil {
			return fmt.Errorf("write LICENSE: %w", err)
		}
	}
	tags, _ := json.Marshal(d.Tags)
	manifest := fmt.Sprintf("name = %q\nversion = \"1.0\"\ncategory = %q\ntags = %s\n", name, d.Category, tags)
	if d.License != "none" {
		manifest += fmt.Sprintf("license = %q\n", d.License)
	}
	if err := os.WriteFile(filepath.Join(work, "okh.toml"), []byte(manifest), 0o644); err != nil {
		return fmt.Errorf("write okh.toml: %w", err)
	}
	return nil
}

// reviseSynthetic rewrites about one part in ten a little larger and adds
// a line to the README.
func reviseSynthetic(work string, ds []search.Doc) error {
	for i, d := range ds {
		if i%10 == 3 {
			if err := writePart(filepath.Join(work, filepath.FromSlash(d.Path)), d, i, 1.1); err != nil {
				return err
			}
		}
	}
	f, err := os.OpenFile(filepath.Join(work, "README.md"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("revise README: %w", err)
	}
	_, err = f.WriteString("\nRevision 2: a few parts grew by 10 %.\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writePart writes the torus standing for document d, scaled by scale:
// a few hundred facets at most, one part in ten as ASCII.
func writePart(file string, d search.Doc, i int, scale float64) error {
	size := d.Part.Size
	outer := scale * (size[0] + size[1]) / 4
	minor := min(scale*size[2]/2, 0.45*outer)
	tris := min(max(int(d.Part.Triangles)/500, 40), 600)
	t := stlgen.Torus{Major: outer - minor, Minor: minor, Center: [3]float64{0, 0, minor}, Triangles: tris, ASCII: i%10 == 0, Name: "part"}
	var buf bytes.Buffer
	if err := t.Write(&buf); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// waitIndexed polls the API until the index holds every pushed part and
// every project's catalog is done, printing progress. It gives up when
// nothing has moved for three minutes or after limit.
func waitIndexed(ctx context.Context, r *runner, s *site, limit time.Duration) {
	c := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	deadline := start.Add(limit)
	last, lastMove, lastLog := -1, start, time.Time{}
	for {
		if ctx.Err() != nil {
			return
		}
		var res struct {
			Total int `json:"total"`
		}
		err := getJSON(ctx, c, s.base+"/api/v1/search?kind=part&per_page=1&facets=0", &res)
		if err != nil {
			r.Logf("  catalog poll: %v", err)
		}
		if res.Total != last {
			last, lastMove = res.Total, time.Now()
		}
		if time.Since(lastLog) >= 5*time.Second {
			r.Logf("  catalog: %d/%d parts searchable", res.Total, s.parts)
			lastLog = time.Now()
		}
		if res.Total >= s.parts {
			pending, failed, err := catalogStates(ctx, c, s.base)
			if err != nil {
				r.Logf("  catalog states: %v", err)
			} else if pending == 0 {
				if len(failed) > 0 {
					r.Logf("  catalog failed in %d projects: %s", len(failed), strings.Join(failed, ", "))
				}
				s.indexTook = time.Since(start)
				r.Logf("catalog done: %d parts searchable %s after the last push", res.Total, s.indexTook.Round(time.Second))
				return
			}
		}
		if time.Since(lastMove) > 3*time.Minute || time.Now().After(deadline) {
			r.Fatalf("catalog stuck at %d of %d parts after %s\nserver log tail:\n%s", res.Total, s.parts, time.Since(start).Round(time.Second), tail(s.srv.Log(), 30))
		}
		time.Sleep(2 * time.Second)
	}
}

// catalogStates reads every project's catalog state from the API and
// returns how many are still queued or running, and which failed.
func catalogStates(ctx context.Context, c *http.Client, base string) (pending int, failed []string, err error) {
	for page := 1; ; page++ {
		var res struct {
			Total    int `json:"total"`
			Projects []struct {
				Owner   string `json:"owner"`
				Name    string `json:"name"`
				Catalog struct {
					State   string `json:"state"`
					Pending int    `json:"pending_jobs"`
				} `json:"catalog"`
			} `json:"projects"`
		}
		if err := getJSON(ctx, c, fmt.Sprintf("%s/api/v1/projects?per_page=100&page=%d", base, page), &res); err != nil {
			return 0, nil, err
		}
		for _, p := range res.Projects {
			switch {
			case p.Catalog.State == "failed":
				failed = append(failed, p.Owner+"/"+p.Name)
			case p.Catalog.State != "done" || p.Catalog.Pending > 0:
				pending++
			}
		}
		if len(res.Projects) == 0 || page*100 >= res.Total {
			return pending, failed, nil
		}
	}
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", u, resp.StatusCode, clip(string(body), 200))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// escapePath escapes each segment of a slash-separated path for a URL.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
