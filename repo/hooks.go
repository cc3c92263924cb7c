package repo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
)

// ZeroID is the object id git uses for "no object": the old id of a
// created ref and the new id of a deleted one.
const ZeroID = "0000000000000000000000000000000000000000"

// RefUpdate is one ref a push changes.
type RefUpdate struct {
	Old string // 40-hex id; ZeroID when the ref is created
	New string // 40-hex id; ZeroID when the ref is deleted
	Ref string // full name, "refs/heads/main"
}

// Push is a push being received (pre-receive) or just received
// (post-receive).
type Push struct {
	Owner, Project string // canonical names
	Pusher         string // the authenticated user
	Updates        []RefUpdate
	// DefaultBranch is the project's default branch (short name). For the
	// first push it is the branch this push makes the default.
	DefaultBranch string
	Dir           string // the bare repository
	// BaseURL is the server's origin as links shown to the pusher should
	// name it: --public-url, or the address the push came to
	// ("https://blueprints.example.org"); "" when unknown.
	BaseURL string
	// Gitlinks are the submodule entries of the push's new trees (set in
	// pre-receive, once the push is within its limits).
	Gitlinks []Gitlink
	// Created is set for the push that creates the project (push-to-create).
	Created bool
	// Options are the push options given ("git push -o key=value").
	Options []string
}

// PreReceiveFunc checks a push before any ref changes. An error refuses
// the whole push, and its text is shown to the pusher. gitEnv, added to a
// git command's environment, lets it read the pushed objects, which are
// still in quarantine.
type PreReceiveFunc func(ctx context.Context, p Push, gitEnv []string) error

// PostReceiveFunc runs after the refs changed. The lines it returns are
// shown to the pusher (as "remote:" lines).
type PostReceiveFunc func(ctx context.Context, p Push) []string

// OnPreReceive registers f to check every push; they run in registration
// order, and the first error refuses the push.
func (s *Server) OnPreReceive(f PreReceiveFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pre = append(s.pre, f)
}

// OnPostReceive registers f to run after every push, in registration order.
func (s *Server) OnPostReceive(f PostReceiveFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.post = append(s.post, f)
}

// SetHookURL tells the server where its hook endpoint (HookHandler)
// listens, e.g. "http://127.0.0.1:41234"; git's hooks post there.
func (s *Server) SetHookURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookURL = strings.TrimSuffix(url, "/")
}

// Environment variables the server gives git receive-pack, which passes
// them on to the hooks it runs.
const (
	envHookURL    = "BLUEPRINTS_HOOK_URL"
	envHookSecret = "BLUEPRINTS_HOOK_SECRET"
	envHookBin    = "BLUEPRINTS_HOOK_BIN"
	envOwner      = "BLUEPRINTS_OWNER"
	envProject    = "BLUEPRINTS_PROJECT"
	envPusher     = "BLUEPRINTS_PUSHER"
	envBaseURL    = "BLUEPRINTS_BASE_URL"
	envCreated    = "BLUEPRINTS_CREATED"
)

// quarantineEnv are the variables git sets for pre-receive so that the
// hook sees the pushed, not yet accepted, objects.
var quarantineEnv = []string{"GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH"}

func (s *Server) hookEnv(p store.Project, pusher, baseURL string, created bool) []string {
	s.mu.Lock()
	url := s.hookURL
	s.mu.Unlock()
	c := "0"
	if created {
		c = "1"
	}
	return []string{
		envBaseURL + "=" + baseURL,
		envCreated + "=" + c,
		envHookURL + "=" + url,
		envHookSecret + "=" + s.hookSecret,
		envHookBin + "=" + s.executable,
		envOwner + "=" + p.Owner,
		envProject + "=" + p.Name,
		envPusher + "=" + pusher,
	}
}

// installHooks writes the pre-receive and post-receive scripts that
// core.hooksPath points at. They run "blueprints hook KIND" with the
// binary the server names in the environment, and refuse a push that did
// not come through the server.
func (s *Server) installHooks() error {
	if err := os.MkdirAll(s.hooksDir, 0o755); err != nil {
		return fmt.Errorf("install hooks: %w", err)
	}
	for _, kind := range []string{"pre-receive", "post-receive"} {
		script := "#!/bin/sh\n# Written by blueprints serve: pushes are checked and recorded by the server.\n" +
			"if [ -z \"$" + envHookBin + "\" ]; then\n" +
			"\techo \"blueprints: push through the Blueprints server, not into the repository folder\" >&2\n\texit 1\nfi\n" +
			"exec \"$" + envHookBin + "\" hook " + kind + "\n"
		path := filepath.Join(s.hooksDir, kind)
		if old, err := os.ReadFile(path); err == nil && string(old) == script {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
			return fmt.Errorf("install hook %s: %w", path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("install hook %s: %w", path, err)
		}
	}
	return nil
}

// HookRequest is what "blueprints hook KIND" posts to the server.
type HookRequest struct {
	Owner   string            `json:"owner"`
	Project string            `json:"project"`
	Pusher  string            `json:"pusher"`
	BaseURL string            `json:"base_url,omitempty"`
	Updates []RefUpdate       `json:"updates"`
	Env     map[string]string `json:"env,omitempty"` // quarantine variables, absolute paths
	Created bool              `json:"created,omitempty"`
	Options []string          `json:"options,omitempty"` // push options, as given
}

// HookHandler serves the endpoints git's hooks call,
// POST /internal/hooks/pre-receive and /internal/hooks/post-receive. Serve
// it on a loopback listener of its own; requests must carry the server's
// per-process secret.
func (s *Server) HookHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /internal/hooks/pre-receive", s.servePreReceive)
	mux.HandleFunc("POST /internal/hooks/post-receive", s.servePostReceive)
	return mux
}

func (s *Server) hookPush(w http.ResponseWriter, r *http.Request) (Push, store.Project, map[string]string, bool) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+s.hookSecret)) != 1 {
		http.Error(w, "bad hook secret", http.StatusUnauthorized)
		return Push{}, store.Project{}, nil, false
	}
	var req HookRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&req); err != nil {
		http.Error(w, "bad hook request: "+err.Error(), http.StatusBadRequest)
		return Push{}, store.Project{}, nil, false
	}
	p, err := s.Project(r.Context(), req.Owner, req.Project)
	if err != nil {
		http.Error(w, "hook for unknown project: "+err.Error(), http.StatusNotFound)
		return Push{}, store.Project{}, nil, false
	}
	push := Push{
		Owner:         p.Owner,
		Project:       p.Name,
		Pusher:        req.Pusher,
		Updates:       req.Updates,
		DefaultBranch: p.DefaultBranch,
		Dir:           s.Path(p.Owner, p.Name),
		BaseURL:       req.BaseURL,
		Created:       req.Created,
		Options:       req.Options,
	}
	return push, p, req.Env, true
}

func (s *Server) servePreReceive(w http.ResponseWriter, r *http.Request) {
	push, p, env, ok := s.hookPush(w, r)
	if !ok {
		return
	}
	visibility, note, err := pushVisibility(push)
	if err != nil {
		s.pushed("rejected")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintln(w, err.Error())
		return
	}
	if push.DefaultBranch == "" {
		push.DefaultBranch = firstBranch(push.Updates, nil)
	}
	gitEnv := []string{"GIT_DIR=" + push.Dir}
	for _, k := range quarantineEnv {
		if v, ok := env[k]; ok {
			gitEnv = append(gitEnv, k+"="+v)
		}
	}
	refuse := func(err error) {
		s.log.Info("push refused", "project", push.Owner+"/"+push.Project, "pusher", push.Pusher, "reason", err)
		s.pushed("rejected")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintln(w, strings.TrimPrefix(err.Error(), ErrLimit.Error()+": "))
	}
	// The limits first: nothing else reads a push over them.
	gitlinks, err := s.checkPush(r.Context(), push, gitEnv)
	if err != nil {
		if !errors.Is(err, ErrLimit) {
			s.log.Error("check push", "project", push.Owner+"/"+push.Project, "err", err)
			err = fmt.Errorf("push refused: the server could not check it (its log says why); try again later")
		}
		refuse(err)
		return
	}
	push.Gitlinks = gitlinks
	s.mu.Lock()
	pre := slices.Clone(s.pre)
	s.mu.Unlock()
	for _, f := range pre {
		if err := f(r.Context(), push, gitEnv); err != nil {
			refuse(err)
			return
		}
	}
	if push.Created {
		// The project was made private until now; the push chose.
		if err := s.store.SetVisibility(r.Context(), p.ID, visibility); err != nil {
			http.Error(w, "set the new project's visibility: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
	if note != "" {
		fmt.Fprintln(w, note)
	}
}

// pushVisibility reads the visibility=public|private push option: the new
// project's visibility (public when not given). On a push to an existing
// project it changes nothing, and note says where to change it.
func pushVisibility(p Push) (visibility, note string, err error) {
	visibility = store.Public
	for _, o := range p.Options {
		k, v, _ := strings.Cut(o, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "visibility") {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(v)) {
		case store.Public:
			visibility = store.Public
		case store.Private:
			visibility = store.Private
		default:
			return "", "", fmt.Errorf("push option %q: visibility must be public or private", o)
		}
		if !p.Created {
			note = "Blueprints: the visibility option applies only to the push that creates a project; change it on the project's settings page"
		}
	}
	return visibility, note, nil
}

func (s *Server) servePostReceive(w http.ResponseWriter, r *http.Request) {
	push, p, _, ok := s.hookPush(w, r)
	if !ok {
		return
	}
	// The refs have changed even if what follows fails, so post-receive
	// work reports problems in its lines and the log, never as a refusal.
	ctx := context.WithoutCancel(r.Context())
	if err := s.store.TouchProject(ctx, p.ID); err != nil {
		s.log.Warn("record push", "project", p.FullName(), "err", err)
	}
	if branch, err := s.settleDefaultBranch(ctx, p, push.Updates); err != nil {
		s.log.Warn("set default branch", "project", p.FullName(), "err", err)
	} else {
		push.DefaultBranch = branch
	}
	s.mu.Lock()
	post := slices.Clone(s.post)
	s.mu.Unlock()
	var lines []string
	for _, f := range post {
		lines = append(lines, f(ctx, push)...)
	}
	s.log.Info("push", "project", p.FullName(), "pusher", push.Pusher, "refs", len(push.Updates))
	s.pushed("ok")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// firstBranch picks a default branch among the branches a push creates
// (or, failing that, among existing ones): main, then master, then the
// first in order.
func firstBranch(updates []RefUpdate, existing []string) string {
	var names []string
	for _, u := range updates {
		if b, ok := strings.CutPrefix(u.Ref, "refs/heads/"); ok && u.New != ZeroID {
			names = append(names, b)
		}
	}
	if len(names) == 0 {
		names = existing
	}
	for _, want := range []string{"main", "master"} {
		if slices.Contains(names, want) {
			return want
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// settleDefaultBranch sets the project's default branch (in the store and
// as the repository's HEAD) when it has none yet or it was deleted.
func (s *Server) settleDefaultBranch(ctx context.Context, p store.Project, updates []RefUpdate) (string, error) {
	dir := s.Path(p.Owner, p.Name)
	branches, err := s.branches(ctx, dir)
	if err != nil {
		return p.DefaultBranch, err
	}
	if p.DefaultBranch != "" && slices.Contains(branches, p.DefaultBranch) {
		return p.DefaultBranch, nil
	}
	var created []RefUpdate
	for _, u := range updates {
		if b, ok := strings.CutPrefix(u.Ref, "refs/heads/"); ok && slices.Contains(branches, b) {
			created = append(created, u)
		}
	}
	branch := firstBranch(created, branches)
	if branch == "" || branch == p.DefaultBranch {
		return p.DefaultBranch, nil
	}
	if out, err := exec.CommandContext(ctx, s.git, "--git-dir", dir, "symbolic-ref", "HEAD", "refs/heads/"+branch).CombinedOutput(); err != nil {
		return p.DefaultBranch, fmt.Errorf("git symbolic-ref HEAD in %s: %v: %s", dir, err, bytes.TrimSpace(out))
	}
	if err := s.store.SetDefaultBranch(ctx, p.ID, branch); err != nil {
		return p.DefaultBranch, err
	}
	return branch, nil
}

// branches lists the repository's branches (short names).
func (s *Server) branches(ctx context.Context, dir string) ([]string, error) {
	out, err := exec.CommandContext(ctx, s.git, "--git-dir", dir, "for-each-ref", "--format=%(refname:short)", "refs/heads/").Output()
	if err != nil {
		return nil, fmt.Errorf("list branches of %s: %w", dir, err)
	}
	return strings.Fields(string(out)), nil
}

func (s *Server) hasRefs(ctx context.Context, dir string) bool {
	out, err := exec.CommandContext(ctx, s.git, "--git-dir", dir, "for-each-ref", "--count=1").Output()
	return err == nil && len(bytes.TrimSpace(out)) > 0
}

// ErrRefused is returned by RunHook when the server refused the push.
var ErrRefused = errors.New("push refused")

// RunHook is the body of "blueprints hook KIND" (pre-receive or
// post-receive), run by git inside receive-pack: it reads git's
// "old new ref" lines from stdin, posts them with the project, pusher and
// quarantine paths to the server, and writes the server's reply to stdout
// (git shows it to the pusher). getenv is os.Getenv in production.
func RunHook(ctx context.Context, kind string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if kind != "pre-receive" && kind != "post-receive" {
		return fmt.Errorf("unknown hook %q: want pre-receive or post-receive", kind)
	}
	url := getenv(envHookURL)
	if url == "" || getenv(envHookSecret) == "" {
		return fmt.Errorf("%s hook: %s is not set: push through the Blueprints server", kind, envHookURL)
	}
	req := HookRequest{Owner: getenv(envOwner), Project: getenv(envProject), Pusher: getenv(envPusher), BaseURL: getenv(envBaseURL), Env: map[string]string{}, Created: getenv(envCreated) == "1"}
	if n, err := strconv.Atoi(getenv("GIT_PUSH_OPTION_COUNT")); err == nil && n > 0 && n <= 100 {
		for i := range n {
			req.Options = append(req.Options, getenv(fmt.Sprintf("GIT_PUSH_OPTION_%d", i)))
		}
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			return fmt.Errorf("%s hook: bad update line %q", kind, sc.Text())
		}
		req.Updates = append(req.Updates, RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s hook: read updates: %w", kind, err)
	}
	if kind == "pre-receive" {
		for _, k := range quarantineEnv {
			v := getenv(k)
			if v == "" {
				continue
			}
			req.Env[k] = absPaths(v)
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/internal/hooks/"+kind, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s hook: %w", kind, err)
	}
	hr.Header.Set("Authorization", "Bearer "+getenv(envHookSecret))
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return fmt.Errorf("%s hook: reach the server: %w", kind, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return fmt.Errorf("%s hook: read reply: %w", kind, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusForbidden:
		return ErrRefused
	default:
		return fmt.Errorf("%s hook: server answered %s", kind, resp.Status)
	}
}

// absPaths makes each path of a colon-separated list absolute (git may
// give them relative to the repository, where the hook runs).
func absPaths(list string) string {
	parts := filepath.SplitList(list)
	for i, p := range parts {
		if p != "" && !filepath.IsAbs(p) {
			if a, err := filepath.Abs(p); err == nil {
				parts[i] = a
			}
		}
	}
	return strings.Join(parts, string(filepath.ListSeparator))
}
