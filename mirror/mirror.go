// Package mirror keeps pull mirrors: projects whose refs and Git LFS
// objects are copied from a git URL over HTTP(S), so that a design
// survives its origin going away.
//
// Data enters as a mirror to make (Add: a URL and a project name, from
// the web form, `blueprints mirror add` or a follow with a mirror) and as
// refreshes (the schedule, --mirror-interval; on demand; when the origin,
// a Blueprints project, announces a new version). A refresh first asks
// the origin for its refs (one GET of info/refs through the guarded
// outgoing client: the size of `git ls-remote`); when they are the ones
// fetched last time it stops there. Otherwise git fetches them, run by
// the runner with the network, writing only the project's repository,
// with the origin's address resolved, checked against the guard and
// pinned (http.curloptResolve) and redirects refused, so git reaches
// nothing the guard would refuse. LFS objects the new refs point to come
// through the package's own batch client (lfs.go). What changed leaves as
// ref updates handed to the catalog, as a push would be.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/runner"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

// DefaultInterval is how often the schedule refreshes a mirror.
const DefaultInterval = time.Hour

// Doer sends outgoing requests: the guarded client (internal/outbound).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Guard says whether an address may be reached (outbound.Client.Check).
type Guard interface {
	Check(a netip.Addr, addr string) error
}

// Repos is what mirrors need of the git server (repo.Server).
type Repos interface {
	Path(owner, project string) string
	LockProject(ctx context.Context, owner, project string) (func(), error)
	CreateRepository(ctx context.Context, owner, project, visibility string) (store.Project, error)
	SetHead(ctx context.Context, p store.Project, branch string) error
}

// Config wires a Service.
type Config struct {
	Store  *store.Store
	Repos  Repos
	Blobs  storage.Blobs
	Policy *access.Policy
	// Client makes the small requests (refs, LFS batch); Transfer
	// downloads LFS objects (long time limit, large bodies). Both guarded.
	Client, Transfer Doer
	Guard            Guard
	Runner           *runner.Runner
	Git              string // the git program ("git")
	// Updated hears every refresh that moved refs: the catalog's
	// PostReceive, as for a push.
	Updated  func(ctx context.Context, p repo.Push) []string
	Interval time.Duration
	Logger   *slog.Logger
	// Resolve looks host names up (net.DefaultResolver when nil).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Service keeps mirrors.
type Service struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
	mu   sync.Mutex
	busy map[int64]bool
}

// New returns a Service; Run refreshes on schedule.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Repos == nil || cfg.Client == nil || cfg.Guard == nil || cfg.Runner == nil {
		return nil, errors.New("mirror: store, repositories, outgoing client, guard and runner are required")
	}
	if cfg.Transfer == nil {
		cfg.Transfer = cfg.Client
	}
	if cfg.Git == "" {
		cfg.Git = "git"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Resolve == nil {
		cfg.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	return &Service{cfg: cfg, log: cfg.Logger.With("component", "mirror"), wake: make(chan struct{}, 1), busy: map[int64]bool{}}, nil
}

// CheckURL checks a URL to mirror: http or https, a host, no user name or
// password (mirrors of private repositories are not supported).
func CheckURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("mirror %q: want an http:// or https:// git URL", s)
	}
	if u.User != nil {
		return "", fmt.Errorf("mirror %s: URLs with a user name or password are refused (only public repositories are mirrored)", redact(s))
	}
	u.Fragment = ""
	return u.String(), nil
}

// ErrForbidden is returned when the person may not create the project.
var ErrForbidden = errors.New("you may not create projects there")

// Create makes owner/name a public mirror of gitURL for person by and
// leaves its first refresh to the schedule (poked now).
func (s *Service) Create(ctx context.Context, gitURL, owner, name string, by store.User, originActor, attribution string) (store.Project, error) {
	p, err := s.create(ctx, gitURL, owner, name, by, originActor, attribution)
	if err != nil {
		return p, err
	}
	s.Poke(p.ID)
	return p, nil
}

// Add makes owner/name a public mirror of gitURL for person by, and runs
// its first refresh. originActor and attribution name a Blueprints origin
// (mirror on follow); both may be empty.
func (s *Service) Add(ctx context.Context, gitURL, owner, name string, by store.User, originActor, attribution string) (store.Project, Result, error) {
	p, err := s.create(ctx, gitURL, owner, name, by, originActor, attribution)
	if err != nil {
		return p, Result{}, err
	}
	res, err := s.Refresh(ctx, p.ID)
	return p, res, err
}

func (s *Service) create(ctx context.Context, gitURL, owner, name string, by store.User, originActor, attribution string) (store.Project, error) {
	gitURL, err := CheckURL(gitURL)
	if err != nil {
		return store.Project{}, err
	}
	if err := repo.ValidName(name); err != nil {
		return store.Project{}, err
	}
	if s.cfg.Policy != nil {
		d, err := s.cfg.Policy.CreateIn(ctx, access.ViewerOf(by), owner)
		if err != nil {
			return store.Project{}, err
		}
		if d != access.Allow {
			return store.Project{}, fmt.Errorf("%s/%s: %w", owner, name, ErrForbidden)
		}
	}
	if attribution == "" {
		attribution = redact(gitURL)
	}
	p, err := s.cfg.Repos.CreateRepository(ctx, owner, name, store.Public)
	if err != nil {
		return store.Project{}, err
	}
	if err := s.cfg.Store.CreateMirror(ctx, store.Mirror{ProjectID: p.ID, URL: gitURL, OriginActor: originActor, Attribution: attribution, CreatedBy: by.ID}); err != nil {
		return p, err
	}
	s.log.Info("mirror added", "project", p.FullName(), "origin", redact(gitURL))
	return p, nil
}

// FollowMirror is federation's mirror on follow: a mirror, under the
// follower's name, of a followed Blueprints project.
func (s *Service) FollowMirror(ctx context.Context, by store.User, origin store.RemoteActor, name string) (store.Project, error) {
	if origin.CloneURI == "" {
		return store.Project{}, errors.New("the followed actor has no git repository")
	}
	attribution := origin.Name
	if origin.URL != "" {
		attribution += " (" + origin.URL + ")"
	}
	p, _, err := s.Add(ctx, origin.CloneURI, by.Name, name, by, origin.URI, strings.TrimSpace(attribution))
	if err != nil && p.ID != 0 {
		// The project exists; the schedule will try its refresh again.
		s.log.Warn("first refresh of a followed project's mirror", "project", p.FullName(), "err", err)
		return p, nil
	}
	return p, err
}

// OnUpdated sets who hears refreshes that moved refs (the catalog's
// PostReceive). Call it before Run.
func (s *Service) OnUpdated(f func(ctx context.Context, p repo.Push) []string) { s.cfg.Updated = f }

// Poke makes a mirror due now and wakes the schedule.
func (s *Service) Poke(projectID int64) {
	if err := s.cfg.Store.MirrorDue(context.Background(), projectID); err != nil {
		s.log.Warn("mark mirror due", "err", err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RefusePush is a pre-receive check: a mirror takes no push.
func (s *Service) RefusePush(ctx context.Context, p repo.Push, _ []string) error {
	m, ok, err := s.cfg.Store.IsMirror(ctx, p.Owner, p.Project)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("%s/%s is a mirror of %s and takes no pushes: push to the origin, and this mirror follows it (or ask its owner to refresh it)", p.Owner, p.Project, redact(m.URL))
	}
	return nil
}

// Run refreshes due mirrors until ctx ends, checking every few seconds
// and whenever poked.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		due, err := s.cfg.Store.Mirrors(ctx, true, "")
		if err != nil && ctx.Err() == nil {
			s.log.Warn("list due mirrors", "err", err)
		}
		for _, m := range due {
			if ctx.Err() != nil {
				break
			}
			if _, err := s.Refresh(ctx, m.ProjectID); err != nil && ctx.Err() == nil {
				s.log.Warn("refresh mirror", "project", m.Project, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// Result is what a refresh did.
type Result struct {
	Changed    bool     // refs moved
	Updates    []string // "refs/heads/main old..new"
	LFSObjects int      // objects downloaded
	Bytes      int64    // bytes of the ref advertisement
}

// Refresh brings a mirror up to date with its origin.
func (s *Service) Refresh(ctx context.Context, projectID int64) (Result, error) {
	s.mu.Lock()
	if s.busy[projectID] {
		s.mu.Unlock()
		return Result{}, nil
	}
	s.busy[projectID] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.busy, projectID)
		s.mu.Unlock()
	}()
	m, err := s.cfg.Store.MirrorOf(ctx, projectID)
	if err != nil {
		return Result{}, err
	}
	res, err := s.refresh(ctx, m)
	next := time.Now().Add(s.cfg.Interval)
	msg := ""
	if err != nil {
		msg = err.Error()
		next = time.Now().Add(min(s.cfg.Interval, 5*time.Minute))
	}
	if rerr := s.cfg.Store.MirrorChecked(context.WithoutCancel(ctx), projectID, res.refs, res.Changed, res.LFSObjects, msg, next); rerr != nil {
		return res.Result, rerr
	}
	if err == nil {
		s.log.Info("mirror refreshed", "project", m.Project, "changed", res.Changed, "updates", len(res.Updates), "lfs_objects", res.LFSObjects)
	}
	return res.Result, err
}

type refreshed struct {
	Result
	refs string
}

func (s *Service) refresh(ctx context.Context, m store.Mirror) (refreshed, error) {
	var out refreshed
	owner, name, _ := strings.Cut(m.Project, "/")
	adv, err := Advertise(ctx, s.cfg.Client, m.URL)
	if err != nil {
		return out, err
	}
	out.Bytes = adv.Bytes
	out.refs = adv.Digest()
	dir := s.cfg.Repos.Path(owner, name)
	before, err := s.localRefs(ctx, dir)
	if err != nil {
		return out, err
	}
	if out.refs == m.Refs && sameRefs(before, adv.Refs) {
		return out, nil // nothing new: one ls-remote-sized exchange
	}
	// git writes refs only under the project's push lock.
	after, err := func() (map[string]string, error) {
		unlock, err := s.cfg.Repos.LockProject(ctx, owner, name)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if err := s.fetch(ctx, dir, adv.URL); err != nil {
			return nil, err
		}
		return s.localRefs(ctx, dir)
	}()
	if err != nil {
		return out, err
	}
	p, err := s.cfg.Store.ProjectByID(ctx, m.ProjectID)
	if err != nil {
		return out, err
	}
	if adv.Head != "" && p.DefaultBranch != adv.Head {
		if _, ok := after["refs/heads/"+adv.Head]; ok {
			if err := s.cfg.Store.SetDefaultBranch(ctx, p.ID, adv.Head); err != nil {
				return out, err
			}
			if err := s.cfg.Repos.SetHead(ctx, p, adv.Head); err != nil {
				return out, err
			}
			p.DefaultBranch = adv.Head
		}
	}
	// LFS objects before the catalog reads the new commits.
	want, err := pointers(ctx, s.cfg.Git, dir)
	if err != nil {
		return out, err
	}
	if len(want) > 0 {
		n, err := s.fetchLFS(ctx, p.ID, adv.URL, want)
		out.LFSObjects = n
		if err != nil {
			return out, err
		}
	}
	push := repo.Push{Owner: p.Owner, Project: p.Name, Pusher: "mirror", DefaultBranch: p.DefaultBranch, Dir: dir}
	for ref, id := range after {
		if before[ref] != id {
			old := before[ref]
			if old == "" {
				old = repo.ZeroID
			}
			push.Updates = append(push.Updates, repo.RefUpdate{Ref: ref, Old: old, New: id})
		}
	}
	for ref, id := range before {
		if _, ok := after[ref]; !ok {
			push.Updates = append(push.Updates, repo.RefUpdate{Ref: ref, Old: id, New: repo.ZeroID})
		}
	}
	for _, u := range push.Updates {
		out.Updates = append(out.Updates, u.Ref+" "+short(u.Old)+".."+short(u.New))
	}
	out.Changed = len(push.Updates) > 0 || out.LFSObjects > 0
	if len(push.Updates) > 0 && s.cfg.Updated != nil {
		s.cfg.Updated(ctx, push)
		if err := s.cfg.Store.TouchProject(ctx, p.ID); err != nil {
			return out, err
		}
	}
	return out, nil
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func sameRefs(local, remote map[string]string) bool {
	if len(local) != len(remote) {
		return false
	}
	for k, v := range remote {
		if local[k] != v {
			return false
		}
	}
	return true
}

// localRefs are the repository's branches and tags.
func (s *Service) localRefs(ctx context.Context, dir string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, s.cfg.Git, "--git-dir", dir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags").Output()
	if err != nil {
		return nil, fmt.Errorf("list refs of %s: %w", dir, err)
	}
	refs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if id, ref, ok := strings.Cut(line, " "); ok {
			refs[ref] = id
		}
	}
	return refs, nil
}

// pin resolves the URL's host, checks every address against the guard and
// returns curl's resolve entry ("host:port:addr") for the first allowed.
func (s *Service) pin(ctx context.Context, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = s.cfg.Resolve(ctx, host); err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	var refusals []error
	for _, a := range addrs {
		if err := s.cfg.Guard.Check(a, net.JoinHostPort(a.String(), port)); err != nil {
			refusals = append(refusals, err)
			continue
		}
		ip := a.Unmap().String()
		if a.Unmap().Is6() {
			ip = "[" + ip + "]"
		}
		return host + ":" + port + ":" + ip, nil
	}
	if len(refusals) == 0 {
		return "", fmt.Errorf("resolve %s: no address", host)
	}
	return "", errors.Join(refusals...)
}

// fetch runs git fetch of every branch and tag into the bare repository,
// pinned to the checked address, with redirects and other protocols
// refused and no credential helper, through the runner.
func (s *Service) fetch(ctx context.Context, dir, repoURL string) error {
	resolve, err := s.pin(ctx, repoURL)
	if err != nil {
		return err
	}
	work, err := s.cfg.Runner.Workdir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	args := []string{
		"-c", "http.followRedirects=false",
		"-c", "http.curloptResolve=" + resolve,
		"-c", "protocol.allow=never", "-c", "protocol.http.allow=always", "-c", "protocol.https.allow=always",
		"-c", "credential.helper=", "-c", "http.proxy=", "-c", "core.askPass=",
		"-c", "fetch.fsckObjects=true",
		"--git-dir", dir,
		"fetch", "--prune", "--no-recurse-submodules", "--no-write-fetch-head", "--quiet",
		repoURL, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
	}
	res, err := s.cfg.Runner.Run(ctx, runner.Job{
		Program: s.cfg.Git, Args: args, Dir: work, Network: true, Writable: []string{dir},
		Env:    []string{"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
		Limits: runner.Limits{Timeout: time.Hour, Memory: 4 << 30, FileSize: 64 << 30, Nice: 10},
	})
	if err != nil {
		return fmt.Errorf("git fetch %s: %v: %s", redact(repoURL), err, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}
