package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/federation"
	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/outbound"
	"github.com/blueprints-hq/blueprints/internal/publicurl"
	"github.com/blueprints-hq/blueprints/internal/runner"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/version"
	"github.com/blueprints-hq/blueprints/mirror"
	"github.com/blueprints-hq/blueprints/netsearch"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/search"
	"github.com/blueprints-hq/blueprints/storage"
	"github.com/blueprints-hq/blueprints/ui"
	"github.com/blueprints-hq/blueprints/ui/api"
)

// networkFlags are the flags of the network of servers: outgoing requests,
// mirrors, federated search. serve has them all; mirror commands the
// outgoing ones.
func networkFlags(fs *cli.Flags, serve bool) {
	if fs.Lookup("public-url") == nil {
		fs.String("public-url", "", "the address people and other servers reach this server at (e.g. https://blueprints.example.org): every absolute URL, ActivityPub actor id and WebFinger answer is under it (default: http:// and --addr)")
		fs.Env("public-url", "BLUEPRINTS_PUBLIC_URL")
	}
	fs.String("outbound-allow", "", "comma-separated CIDR ranges (or addresses) outgoing requests may reach although private, loopback or link-local (mirrors, federation, federated search, webhooks); everything else of those is refused, also through redirects and DNS")
	fs.Env("outbound-allow", "BLUEPRINTS_OUTBOUND_ALLOW")
	if !serve {
		return
	}
	fs.String("peers", "", "comma-separated addresses of peer Blueprints servers asked by federated search (/search?scope=network); more can be added on the admin page")
	fs.Env("peers", "BLUEPRINTS_PEERS")
	fs.Duration("search-deadline", netsearch.DefaultDeadline, "how long federated search waits for peers before answering without the late ones")
	fs.Env("search-deadline", "BLUEPRINTS_SEARCH_DEADLINE")
	fs.Bool("authorized-fetch", false, "answer ActivityPub actor documents, collections and Notes only to GETs signed by another server (as Mastodon's secure mode): blocked servers then see nothing")
	fs.Env("authorized-fetch", "BLUEPRINTS_AUTHORIZED_FETCH")
	fs.Duration("mirror-interval", mirror.DefaultInterval, "how often each mirror asks its origin for new commits (also refreshed on demand and when a Blueprints origin announces a push)")
	fs.Env("mirror-interval", "BLUEPRINTS_MIRROR_INTERVAL")
}

// networkConfig is what the network flags decide.
type networkConfig struct {
	PublicURL      publicurl.Base
	Allow          []netip.Prefix
	Peers          []string
	SearchDeadline time.Duration
	MirrorInterval time.Duration
	// AuthorizedFetch: documents only for signed fetches (serve only).
	AuthorizedFetch bool
}

func readNetworkFlags(fs *cli.Flags) (networkConfig, error) {
	var nc networkConfig
	var err error
	if nc.PublicURL, err = publicurl.Parse(flagString(fs, "public-url")); err != nil {
		return nc, fmt.Errorf("%w: --public-url: %w", cli.ErrUsage, err)
	}
	if nc.Allow, err = outbound.ParseAllow(flagString(fs, "outbound-allow")); err != nil {
		return nc, fmt.Errorf("%w: --outbound-allow: %w", cli.ErrUsage, err)
	}
	if fs.Lookup("peers") != nil {
		if nc.Peers, err = netsearch.ParsePeers(flagString(fs, "peers")); err != nil {
			return nc, fmt.Errorf("%w: --peers: %w", cli.ErrUsage, err)
		}
		nc.AuthorizedFetch = flagString(fs, "authorized-fetch") == "true"
		nc.SearchDeadline = fs.Lookup("search-deadline").Value.(interface{ Get() any }).Get().(time.Duration)
		nc.MirrorInterval = fs.Lookup("mirror-interval").Value.(interface{ Get() any }).Get().(time.Duration)
		if nc.MirrorInterval < time.Second {
			return nc, fmt.Errorf("%w: --mirror-interval %s: want at least 1s", cli.ErrUsage, nc.MirrorInterval)
		}
	}
	return nc, nil
}

// origin is the server's public origin: --public-url, or http:// and the
// listening address when that names a host. A wildcard address (0.0.0.0,
// [::]) names none: then the origin is http://localhost:PORT, which no
// other server can reach, and reachable is false (federation needs
// --public-url; the server still serves everything else).
func (nc networkConfig) origin(addr string) (origin string, reachable bool, err error) {
	if nc.PublicURL.Fixed() {
		return nc.PublicURL.String(), true, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "http://" + net.JoinHostPort("localhost", port), false, nil
	}
	return "http://" + addr, true, nil
}

// clients are the guarded outgoing clients: small requests (documents,
// refs, search answers) and transfers (LFS objects).
type clients struct {
	small, transfer *outbound.Client
}

func newClients(nc networkConfig) clients {
	ua := "Blueprints (+https://github.com/blueprints-hq/blueprints)"
	return clients{
		small:    outbound.New(outbound.Config{Allow: nc.Allow, Timeout: 30 * time.Second, MaxBody: 16 << 20, UserAgent: ua}),
		transfer: outbound.New(outbound.Config{Allow: nc.Allow, Timeout: 6 * time.Hour, MaxBody: 1 << 40, UserAgent: ua}),
	}
}

// networkParts are the network's services, wired into serve.
type networkParts struct {
	Fed     *federation.Service
	Mirrors *mirror.Service
	Search  *netsearch.Network
	Origin  string
}

// wireNetwork builds federation, mirrors and federated search.
func wireNetwork(ctx context.Context, log *slog.Logger, st *store.Store, policy *access.Policy, repos *repo.Server, blobs storage.Blobs, nc networkConfig, addr, node string, openSignup bool) (*networkParts, error) {
	origin, reachable, err := nc.origin(addr)
	if err != nil {
		return nil, err
	}
	switch {
	case !reachable:
		log.Warn("no --public-url and --addr names no host: ActivityPub ids use an origin no other server can reach, so following across servers will not work until --public-url is given", "addr", addr, "origin", origin)
	case !nc.PublicURL.Fixed():
		log.Warn("no --public-url: ActivityPub ids and WebFinger answers use the listening address; other servers must reach it there", "origin", origin)
	}
	c := newClients(nc)
	ms, err := newMirrors(log, st, policy, repos, blobs, c, nc.MirrorInterval)
	if err != nil {
		return nil, err
	}
	fed, err := federation.New(federation.Config{Store: st, Policy: policy, Client: c.small, Origin: origin, RepoPath: repos.Path,
		Mirrors: ms, Logger: log, Node: node, Version: buildVersion(), OpenSignup: openSignup, AuthorizedFetch: nc.AuthorizedFetch})
	if err != nil {
		return nil, err
	}
	peers := append([]string(nil), nc.Peers...)
	if more, err := st.Peers(ctx); err == nil {
		peers = append(peers, more...)
	}
	ns, err := netsearch.New(netsearch.Config{Peers: peers, Client: c.small, Deadline: nc.SearchDeadline, Self: origin,
		Blocked: fed.Blocked, Logger: log})
	if err != nil {
		return nil, err
	}
	return &networkParts{Fed: fed, Mirrors: ms, Search: ns, Origin: origin}, nil
}

func newMirrors(log *slog.Logger, st *store.Store, policy *access.Policy, repos *repo.Server, blobs storage.Blobs, c clients, interval time.Duration) (*mirror.Service, error) {
	r := runner.New(runner.Options{Logger: log, Limits: runner.Limits{Nice: 10}})
	return mirror.New(mirror.Config{Store: st, Repos: repos, Blobs: blobs, Policy: policy, Client: c.small, Transfer: c.transfer,
		Guard: c.small, Runner: r, Interval: interval, Logger: log})
}

// buildVersion is the version NodeInfo names: the binary's (package
// version), "dev" for an unstamped build.
func buildVersion() string {
	if v := version.Read().Version; v != "" && v != "(devel)" {
		return v
	}
	return "dev"
}

// pagesNetwork is the network as the pages use it (ui.Network).
type pagesNetwork struct {
	parts *networkParts
	st    *store.Store
	index search.Index
	log   *slog.Logger
	peers []string // from --peers
}

func (n *pagesNetwork) Follow(ctx context.Context, u store.User, handle, mirror string) (store.Following, store.RemoteActor, error) {
	return n.parts.Fed.Follow(ctx, u, handle, mirror)
}

func (n *pagesNetwork) Unfollow(ctx context.Context, u store.User, f store.Following) error {
	return n.parts.Fed.Unfollow(ctx, u, f)
}

// AddMirror creates the mirror; its first fetch runs in the background
// (the page shows the mirror, then its parts as they come).
func (n *pagesNetwork) AddMirror(ctx context.Context, gitURL, owner, name string, by store.User) (store.Project, error) {
	return n.parts.Mirrors.Create(ctx, gitURL, owner, name, by, "", "")
}

func (n *pagesNetwork) RefreshMirror(id int64) { n.parts.Mirrors.Poke(id) }

func (n *pagesNetwork) Search(ctx context.Context, params url.Values, q search.Query) (ui.NetworkResult, error) {
	res, err := api.NetworkSearch(ctx, n.parts.Search, n.index, n.parts.Origin, params, q)
	if err != nil {
		return ui.NetworkResult{}, err
	}
	return ui.NetworkResult{Total: res.Total, Hits: res.Hits, Servers: res.Servers, Partial: res.Partial}, nil
}

func (n *pagesNetwork) SetPeers(ctx context.Context, add, remove string) error {
	if add != "" {
		p, err := netsearch.ParsePeer(add)
		if err != nil {
			return err
		}
		if err := n.st.AddPeer(ctx, p); err != nil {
			return err
		}
	}
	if remove != "" {
		if err := n.st.RemovePeer(ctx, remove); err != nil {
			return err
		}
	}
	more, err := n.st.Peers(ctx)
	if err != nil {
		return err
	}
	return n.parts.Search.SetPeers(append(append([]string(nil), n.peers...), more...))
}

func (n *pagesNetwork) Peers() []string { return n.parts.Search.Peers() }

func (n *pagesNetwork) Acct(owner, project string) string {
	return strings.TrimPrefix(n.parts.Fed.Site().Acct(owner, project), "acct:")
}
