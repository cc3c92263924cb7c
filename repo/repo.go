// Package repo is Blueprints' git server: bare repositories under
// data/repos/{owner}/{project}.git, served over git's smart HTTP protocol by
// running the git binary (upload-pack, receive-pack --stateless-rpc) behind
// Echo routes. Authentication (HTTP basic: user and access token) and
// authorisation happen here, in Go, before git runs; git's pre-receive and
// post-receive hooks call back into the running server, which hands each
// push to the functions registered with OnPreReceive and OnPostReceive.
//
// Data enters as pushes (packs and ref updates) and leaves as clones and
// fetches; other packages reach a project's repository through Path and
// Project, and reuse Viewer and Policy for their own routes. Who may read,
// push or create is decided by the access policy (package access).
package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/auth"
	"github.com/blueprints-hq/blueprints/internal/publicurl"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo/packcache"
)

// Config says where repositories live and how hooks reach the server.
type Config struct {
	// Data is the data folder; hook scripts and scratch repositories go
	// in Data/git, and repositories in Data/repos unless Repos is set.
	Data string
	// Repos is the folder of bare repositories, {Repos}/{owner}/{name}.git;
	// Data/repos when empty. Nodes of a cluster share it.
	Repos string
	// Store holds users, tokens and projects, and the push locks every
	// node sharing it honours.
	Store *store.Store
	// Policy decides who may read, push to and create projects;
	// access.New(Store) when nil.
	Policy *access.Policy
	// Executable is the blueprints binary git's hooks run
	// ("blueprints hook pre-receive"); os.Executable() when empty.
	Executable string
	// Git is the git binary; "git" when empty.
	Git string
	// Logger receives warnings about failed git runs; slog.Default() when nil.
	Logger *slog.Logger
	// Pushes, when set, counts pushes by result (for metrics).
	Pushes PushCounter
	// GitNice is the scheduling niceness (0 to 19) of the git processes
	// that serve clones and pushes, and of their children. Pack
	// generation and indexing are bulk work; a positive value lets pages,
	// search and the API answer first when the CPU is busy. 0 leaves git
	// at the server's own priority. Linux only; ignored elsewhere.
	GitNice int
	// PublicURL is the server's public origin (--public-url); without it
	// links shown to pushers name the address the push came to.
	PublicURL publicurl.Base
	// Limits bound what one push may bring (checked in pre-receive);
	// DefaultPushLimits when nil.
	Limits *PushLimits
	// PackCacheBytes bounds the pack cache (Data/git/pack-cache), which
	// serves repeated clones and fetches of the same objects without
	// packing them again, and repeated plain clones without running git
	// (see package packcache); 0 turns it off.
	PackCacheBytes int64
}

// PushCounter counts pushes by how they ended: "ok" (refs updated),
// "rejected" (no right to push, or a pre-receive check refused it) or
// "error" (git failed).
type PushCounter interface {
	Pushed(result string)
}

// pushed counts one push with result, when a PushCounter is set.
func (s *Server) pushed(result string) {
	if s.pushes != nil {
		s.pushes.Pushed(result)
	}
}

// Server serves git repositories over smart HTTP and runs push hooks.
type Server struct {
	gitNice    int    // niceness of git processes, 0 for none
	root       string // Data/repos
	hooksDir   string // Data/git/hooks
	emptyRepo  string // Data/git/empty.git, advertised for push-to-create
	store      *store.Store
	policy     *access.Policy
	tokens     *auth.Tokens
	executable string
	git        string
	log        *slog.Logger
	hookSecret string
	pushes     PushCounter
	public     publicurl.Base
	limits     PushLimits
	uploadCfg  []string // -c settings of upload-pack

	// answers keeps whole answers of clones (off when MaxBytes is 0);
	// gitVersion, part of their keys, is what "git version" says.
	answers    packcache.Cache
	gitVersion string
	fillMu     sync.Mutex
	filling    map[[32]byte]bool // answers being kept by a request

	mu      sync.Mutex
	hookURL string
	pre     []PreReceiveFunc
	post    []PostReceiveFunc
}

// New prepares the folders, hook scripts and scratch repository under
// cfg.Data and returns a Server. Call SetHookURL once the internal hook
// endpoint listens.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("new repo server: no store")
	}
	data, err := filepath.Abs(cfg.Data)
	if err != nil {
		return nil, fmt.Errorf("new repo server: data folder %s: %w", cfg.Data, err)
	}
	exe := cfg.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("new repo server: find own binary for hooks: %w", err)
		}
	}
	git := cfg.Git
	if git == "" {
		git = "git"
	}
	if git, err = exec.LookPath(git); err != nil {
		return nil, fmt.Errorf("new repo server: git is needed (install it, e.g. apt-get install git): %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Policy == nil {
		cfg.Policy = access.New(cfg.Store)
	}
	if cfg.GitNice < 0 || cfg.GitNice > 19 {
		return nil, fmt.Errorf("new repo server: git niceness %d: want 0 to 19", cfg.GitNice)
	}
	var secret [24]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("new repo server: hook secret: %w", err)
	}
	root := filepath.Join(data, "repos")
	if cfg.Repos != "" {
		if root, err = filepath.Abs(cfg.Repos); err != nil {
			return nil, fmt.Errorf("new repo server: repository folder %s: %w", cfg.Repos, err)
		}
	}
	s := &Server{
		gitNice:    cfg.GitNice,
		root:       root,
		hooksDir:   filepath.Join(data, "git", "hooks"),
		emptyRepo:  filepath.Join(data, "git", "empty.git"),
		store:      cfg.Store,
		policy:     cfg.Policy,
		tokens:     auth.NewTokens(cfg.Store),
		executable: exe,
		git:        git,
		log:        log,
		hookSecret: hex.EncodeToString(secret[:]),
		pushes:     cfg.Pushes,
		public:     cfg.PublicURL,
		limits:     DefaultPushLimits(),
		uploadCfg:  uploadConfig,
	}
	if cfg.Limits != nil {
		s.limits = *cfg.Limits
	}
	if cfg.PackCacheBytes < 0 {
		return nil, fmt.Errorf("new repo server: pack cache size %d: want 0 or more bytes", cfg.PackCacheBytes)
	}
	if cfg.PackCacheBytes > 0 {
		// Each node keeps its own cache in its data folder, also when the
		// repositories are shared: entries are named by content.
		dir := filepath.Join(data, "git", "pack-cache")
		hook := packcache.Hook(exe, dir, cfg.PackCacheBytes)
		s.uploadCfg = append(slices.Clip(uploadConfig), "uploadpack.packObjectsHook="+hook)
		out, err := exec.Command(git, "version").Output()
		if err != nil {
			return nil, fmt.Errorf("new repo server: git version: %w", err)
		}
		s.answers = packcache.Cache{Dir: dir, MaxBytes: cfg.PackCacheBytes}
		s.gitVersion = strings.TrimSpace(string(out))
		s.filling = map[[32]byte]bool{}
	}
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, fmt.Errorf("new repo server: %w", err)
	}
	if err := s.installHooks(); err != nil {
		return nil, fmt.Errorf("new repo server: %w", err)
	}
	if _, err := os.Stat(filepath.Join(s.emptyRepo, "HEAD")); err != nil {
		if err := s.initBare(context.Background(), s.emptyRepo); err != nil {
			return nil, fmt.Errorf("new repo server: %w", err)
		}
	}
	return s, nil
}

// Root is the folder holding every owner's repositories (Data/repos).
func (s *Server) Root() string { return s.root }

// Path is the bare repository of a project, given its canonical owner and
// name (as in store.Project). Both must be valid names.
func (s *Server) Path(owner, project string) string {
	return filepath.Join(s.root, owner, project+".git")
}

// safePath is Path after checking both names, and that the result stays
// under the root.
func (s *Server) safePath(owner, project string) (string, error) {
	if err := ValidName(owner); err != nil {
		return "", err
	}
	if err := ValidName(project); err != nil {
		return "", err
	}
	p := s.Path(owner, project)
	rel, err := filepath.Rel(s.root, p)
	if err != nil || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%w: %s/%s leaves the repository folder", ErrInvalidName, owner, project)
	}
	return p, nil
}

// Project looks a project up by owner and name, ignoring case, after
// validating both. It returns an error wrapping ErrInvalidName for a bad
// name and store.ErrNotFound for a missing project. A trailing ".git" on
// the project name is accepted, as in remote URLs.
func (s *Server) Project(ctx context.Context, owner, project string) (store.Project, error) {
	project = trimGit(project)
	if err := ValidName(owner); err != nil {
		return store.Project{}, err
	}
	if err := ValidName(project); err != nil {
		return store.Project{}, err
	}
	return s.store.ProjectByName(ctx, owner, project)
}

func trimGit(name string) string {
	if len(name) > 4 && strings.EqualFold(name[len(name)-4:], ".git") {
		return name[:len(name)-4]
	}
	return name
}

// create makes a new, empty project: its row and its bare repository. It
// starts private, so that nobody sees it before the push that creates it
// has chosen its visibility (pre-receive sets it).
func (s *Server) create(ctx context.Context, owner, project string) (store.Project, error) {
	dir, err := s.safePath(owner, project)
	if err != nil {
		return store.Project{}, err
	}
	p, err := s.store.CreateProjectWith(ctx, owner, project, store.Private)
	if err != nil {
		return store.Project{}, err
	}
	// A folder left by a crash or an old project of the same name would
	// mix histories; start clean.
	if err := os.RemoveAll(dir); err != nil {
		s.store.DeleteProject(context.WithoutCancel(ctx), p.ID)
		return store.Project{}, fmt.Errorf("create project %s: %w", p.FullName(), err)
	}
	err = s.initBare(ctx, dir)
	if err == nil {
		err = s.pinHooks(ctx, dir)
	}
	if err != nil {
		s.store.DeleteProject(context.WithoutCancel(ctx), p.ID)
		os.RemoveAll(dir)
		return store.Project{}, fmt.Errorf("create project %s: %w", p.FullName(), err)
	}
	return p, nil
}

// remove deletes a project's row and repository (used to undo a
// push-to-create that stored nothing).
func (s *Server) remove(ctx context.Context, p store.Project) error {
	if err := s.store.DeleteProject(ctx, p.ID); err != nil {
		return err
	}
	dir, err := s.safePath(p.Owner, p.Name)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func (s *Server) initBare(ctx context.Context, dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	// An empty template: no sample hooks; ours come through core.hooksPath.
	out, err := exec.CommandContext(ctx, s.git, "init", "--quiet", "--bare", "--template=", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("git init %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pinHooks points the repository's own core.hooksPath at the server's
// hooks (relative, so the data folder may move), so that even a push made
// straight into the folder, around the server, meets them and is refused.
func (s *Server) pinHooks(ctx context.Context, dir string) error {
	rel, err := filepath.Rel(dir, s.hooksDir)
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, s.git, "--git-dir", dir, "config", "core.hooksPath", rel).CombinedOutput()
	if err != nil {
		return fmt.Errorf("git config core.hooksPath in %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// LockProject takes the push lock of owner/project (case-insensitively),
// waiting for it, and returns its release function. Every node sharing
// the store honours it (a PostgreSQL advisory lock, released by
// PostgreSQL if the node dies): pushes to one project are serialised
// across the cluster, and the stale-lock sweep removes git's lock files in
// a repository only while it holds the project's push lock. Anything that
// makes git write refs in a repository (a push, a mirror fetch) must hold
// it.
func (s *Server) LockProject(ctx context.Context, owner, project string) (func(), error) {
	return s.store.Lock(ctx, PushLockName(owner, project))
}

// PushLockName names the push lock of owner/project in the store
// (Store.Lock), case-insensitively.
func PushLockName(owner, project string) string {
	return "push " + strings.ToLower(owner+"/"+project)
}
