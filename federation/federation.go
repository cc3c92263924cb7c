// Package federation makes this server a peer of the fediverse: every
// public user, organisation and project is an ActivityPub actor; remote
// servers follow them and receive a Create or Update (a Note) when a
// project's default branch gets a new version; local people follow remote
// actors, and may keep a mirror of a followed Blueprints project.
//
// Data enters as HTTP requests (WebFinger, NodeInfo, actor documents,
// signed POSTs to inboxes, verified with package httpsig against the
// sender's key fetched through the guarded outgoing client), as finished
// catalog jobs (Announce), and as follows made on the web or the command
// line (Follow, Unfollow). It leaves as documents, as rows in the store
// (followers, follows, the outbox, the delivery queue) and as signed POSTs
// sent by Run's delivery loop, retried with doubling waits. Blocked
// servers and actors are refused at the inbox and never delivered to.
package federation

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/federation/httpsig"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// Doer sends outgoing requests: the guarded client (internal/outbound).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Mirrors is what federation asks of the mirror service.
type Mirrors interface {
	// FollowMirror creates, for person by, a mirror named name of the
	// project actor origin (its clone URI), refreshed when it announces.
	FollowMirror(ctx context.Context, by store.User, origin store.RemoteActor, name string) (store.Project, error)
	// Poke refreshes a mirror soon.
	Poke(projectID int64)
}

// Config wires a Service.
type Config struct {
	Store  *store.Store
	Policy *access.Policy
	Client Doer
	// Origin is the server's public origin (--public-url); every actor id
	// is under it.
	Origin string
	// RepoPath is where a project's bare repository is (repo.Server.Path).
	RepoPath func(owner, name string) string
	Mirrors  Mirrors // nil: no mirror on follow
	Logger   *slog.Logger
	// Node names this node in delivery leases.
	Node string
	// Window is how far a signed request's Date may be from now
	// (httpsig.DefaultWindow when zero).
	Window      time.Duration
	MaxAttempts int           // delivery tries (default 8)
	Backoff     time.Duration // first retry wait, doubling (default 5s)
	Version     string        // software version for NodeInfo
	OpenSignup  bool          // NodeInfo's openRegistrations
	UserAgent   string
	// AuthorizedFetch makes actor documents, collections and Notes
	// answer only GETs signed by another server's actor (Mastodon's
	// secure mode); blocked servers then get nothing. The instance
	// actor, WebFinger and NodeInfo stay open.
	AuthorizedFetch bool
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
}

// Service is the fediverse side of the server.
type Service struct {
	cfg  Config
	site ap.Site
	log  *slog.Logger
	wake chan struct{}

	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey // local actor → key, parsed once
}

// New returns a Service; Register adds its routes, Run delivers.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Policy == nil || cfg.Client == nil {
		return nil, errors.New("federation: store, policy and outgoing client are required")
	}
	origin := strings.TrimRight(cfg.Origin, "/")
	if u, err := url.Parse(origin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("federation: origin %q is not an http(s) origin", cfg.Origin)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 5 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = httpsig.DefaultWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Blueprints/" + cfg.Version + " (+" + origin + ")"
	}
	return &Service{cfg: cfg, site: ap.Site{Origin: origin}, log: cfg.Logger.With("component", "federation"),
		wake: make(chan struct{}, 1), keys: map[string]*rsa.PrivateKey{}}, nil
}

// Site names this server's ActivityPub URLs.
func (s *Service) Site() ap.Site { return s.site }

// Register adds the routes: discovery, actors and their collections,
// inboxes.
func (s *Service) Register(e *echo.Echo) {
	e.GET("/.well-known/webfinger", s.webfinger)
	e.GET("/.well-known/nodeinfo", s.nodeinfoLinks)
	e.GET("/ap/nodeinfo/2.1", s.nodeinfo)
	e.POST("/ap/inbox", s.inbox)
	e.GET("/ap/actor", s.instanceActor)
	e.GET("/ap/actor/:collection", s.instanceCollection)
	signed := s.signedFetch
	e.GET("/ap/users/:name", signed(s.userActor))
	e.GET("/ap/users/:name/:collection", signed(s.userCollection))
	e.POST("/ap/users/:name/inbox", s.inbox)
	e.GET("/ap/projects/:owner/:project", signed(s.projectActor))
	e.GET("/ap/projects/:owner/:project/:collection", signed(s.projectCollection))
	e.GET("/ap/projects/:owner/:project/versions/:commit", signed(s.versionNote))
	e.POST("/ap/projects/:owner/:project/inbox", s.inbox)
}

// local is a local actor: a user or organisation, or a public project.
type local struct {
	Key     string // store.UserActor / store.ProjectActor
	ID      string // actor id
	User    store.User
	Project store.Project // zero for a user
}

// errHidden is a local actor that does not exist or may not be shown
// (a private project, a disabled account): 404 as for a missing one.
var errHidden = errors.New("no such actor")

func (s *Service) localUser(ctx context.Context, name string) (local, error) {
	u, err := s.cfg.Store.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled != nil) {
		return local{}, errHidden
	}
	if err != nil {
		return local{}, err
	}
	return local{Key: store.UserActor(u.ID), ID: s.site.UserActor(u.Name), User: u}, nil
}

func (s *Service) localProject(ctx context.Context, owner, name string) (local, error) {
	p, err := s.cfg.Store.ProjectByName(ctx, owner, name)
	if errors.Is(err, store.ErrNotFound) {
		return local{}, errHidden
	}
	if err != nil {
		return local{}, err
	}
	// The one access policy: only what an anonymous visitor may read is
	// an actor.
	d, err := s.cfg.Policy.Decide(ctx, access.Viewer{}, access.Read, p)
	if err != nil {
		return local{}, err
	}
	if d != access.Allow {
		return local{}, errHidden
	}
	return local{Key: store.ProjectActor(p.ID), ID: s.site.ProjectActor(p.Owner, p.Name), Project: p}, nil
}

// localByID finds the local actor an actor id names.
func (s *Service) localByID(ctx context.Context, id string) (local, error) {
	owner, project, ok := s.site.Local(id)
	if !ok {
		return local{}, errHidden
	}
	if project == "" {
		return s.localUser(ctx, owner)
	}
	return s.localProject(ctx, owner, project)
}

// instanceKey names the instance actor's key in the store.
const instanceKey = "instance"

// key returns a local actor's private key, made on first use.
func (s *Service) key(ctx context.Context, actor string) (*rsa.PrivateKey, string, error) {
	priv, pub, err := s.cfg.Store.ActorKey(ctx, actor, func() (string, string, error) {
		k, err := httpsig.NewKey()
		if err != nil {
			return "", "", err
		}
		return httpsig.PrivateKeyPEM(k), httpsig.PublicKeyPEM(&k.PublicKey), nil
	})
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	k := s.keys[actor]
	s.mu.Unlock()
	if k != nil {
		return k, pub, nil
	}
	k, err = httpsig.ParsePrivateKeyPEM(priv)
	if err != nil {
		return nil, "", fmt.Errorf("key of %s: %w", actor, err)
	}
	s.mu.Lock()
	s.keys[actor] = k
	s.mu.Unlock()
	return k, pub, nil
}

// hostOf is a URL's host (with port), lower case.
func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.ToLower(p.Host)
}

// Blocked reports whether a server (by host) is blocked: federated search
// drops its answers.
func (s *Service) Blocked(host string) bool {
	b, err := s.cfg.Store.Blocked(context.Background(), strings.ToLower(host))
	if err != nil {
		s.log.Warn("check blocks", "err", err)
		return true
	}
	return b
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
