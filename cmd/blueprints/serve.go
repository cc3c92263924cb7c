package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/auth"
	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/gittree"
	"github.com/blueprints-hq/blueprints/internal/guard"
	"github.com/blueprints-hq/blueprints/internal/lifecycle"
	"github.com/blueprints-hq/blueprints/internal/metrics"
	"github.com/blueprints-hq/blueprints/internal/outbound"
	"github.com/blueprints-hq/blueprints/internal/publicurl"
	"github.com/blueprints-hq/blueprints/internal/runner"
	"github.com/blueprints-hq/blueprints/internal/server"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/version"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/print"
	"github.com/blueprints-hq/blueprints/print/slicer"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/repo/blobcache"
	"github.com/blueprints-hq/blueprints/scad"
	"github.com/blueprints-hq/blueprints/storage"
	"github.com/blueprints-hq/blueprints/ui"
	"github.com/blueprints-hq/blueprints/ui/api"
	"github.com/blueprints-hq/blueprints/webhook"
)

var serveCmd = &cli.Command{
	Name:    "serve",
	Summary: "serve the git remotes, pages and API over HTTP",
	Help: `Serves git over smart HTTP (clone, fetch, push, push-to-create), the web
pages and the JSON API. Data (metadata, repositories, search index, blobs)
lives in the --data folder. SIGINT or SIGTERM stops it gracefully: requests
in flight, pushes included, get --shutdown-timeout to finish.

Limits: pushes are checked before any ref changes. A new commit over
--max-push-paths files and folders, --max-tree-depth nested folders or
--max-tree-entries entries in one folder, or a file over --max-blob-size
stored outside Git LFS, refuses the push with the limit and the path.

Parts: each part is read, measured and previewed within --part-timeout
and its preview within --preview-budget of work; a part over either fails
alone, with the reason on the project page, and is not tried again until
it changes (or a reindex). Each push's job measures in a slot of its own
beside the shared ones, so one project's many or slow parts never hold
back another's. SIGTERM cancels the parts being measured.

Slow and idle clients: a connection idle for --idle-timeout is closed; a
request body outside pushes and LFS uploads must arrive within
--read-timeout; pushes, LFS uploads and every response must move at least
--min-transfer-rate per second (over --read-timeout); one address holds at
most --max-conns-per-ip connections. LFS and API writes must be sent as
JSON (Content-Type application/json or application/vnd.git-lfs+json).

Several nodes: give each its own --data and --node, and all of them the
same --db postgres://…, --repos (a shared filesystem) and --storage s3://…;
put a load balancer in front that checks /healthz, and set --drain so that
a stopping node leaves the balancer before it closes (see deploy/).

Monitoring: GET /healthz answers 200 "ok" when the server can serve, or 503
with one line per failing check (data folder, metadata store, search index,
including "catching up" while the index is built from the database, blob
storage), or "draining" while it stops; what is wrong with each (paths,
buckets) is shown only with the --metrics-token bearer token, and always
logged.

GET /metrics serves Prometheus metrics (blueprints_* series, Go and process
metrics); it is open to anyone unless --metrics-token is set, and then needs
"Authorization: Bearer TOKEN".`,
	Setup: func(fs *cli.Flags) {
		fs.String("addr", "127.0.0.1:8080", "address to listen on")
		fs.Env("addr", "BLUEPRINTS_ADDR")
		dataFlag(fs)
		reposFlag(fs)
		fs.String("storage", "fs", "blob storage: fs (under the data folder) or s3://BUCKET[/PREFIX] (endpoint and keys from the AWS_* variables)")
		fs.Env("storage", "BLUEPRINTS_STORAGE")
		fs.Bool("lfs-presign", false, "answer LFS downloads with presigned S3 URLs (clients fetch from S3 directly) instead of streaming through the server")
		fs.Env("lfs-presign", "BLUEPRINTS_LFS_PRESIGN")
		fs.Duration("shutdown-timeout", 30*time.Second, "how long in-flight requests may run after a stop signal")
		fs.Env("shutdown-timeout", "BLUEPRINTS_SHUTDOWN_TIMEOUT")
		fs.Int("git-nice", 10, "CPU niceness (0-19) of the git processes serving clones and pushes, so pages stay quick while packs are built; 0 keeps them at the server's priority")
		fs.Env("git-nice", "BLUEPRINTS_GIT_NICE")
		packCache := cli.Bytes(1 << 30)
		fs.Var(&packCache, "pack-cache-size", "`SIZE` of disk for packs and answers kept to serve repeated clones and fetches of the same objects (data/git/pack-cache), e.g. 512MiB or 2GiB; 0 turns the cache off")
		fs.Env("pack-cache-size", "BLUEPRINTS_PACK_CACHE_SIZE")
		blobCache := cli.Bytes(1 << 30)
		fs.Var(&blobCache, "blob-cache-size", "`SIZE` of disk for inflated copies of big files stored in git (data/git/blob-cache), so that a ranged download of one (the end of a 256 MiB file, a resumed download) seeks instead of inflating the file from its start; e.g. 512MiB or 4GiB; 0 turns the cache off")
		fs.Env("blob-cache-size", "BLUEPRINTS_BLOB_CACHE_SIZE")
		fs.String("trusted-proxies", "", "comma-separated CIDR ranges of reverse proxies whose X-Forwarded-For names the client (default: trust none, use the TCP peer)")
		fs.Env("trusted-proxies", "BLUEPRINTS_TRUSTED_PROXIES")
		fs.String("metrics-token", "", "bearer token GET /metrics requires (empty: /metrics is open to anyone)")
		fs.Env("metrics-token", "BLUEPRINTS_METRICS_TOKEN")
		fs.Duration("idle-timeout", server.DefaultIdleTimeout, "how long a kept-alive connection may wait for its next request before it is closed")
		fs.Env("idle-timeout", "BLUEPRINTS_IDLE_TIMEOUT")
		fs.Duration("read-timeout", guard.DefaultReadTimeout, "how long a request body may take to arrive (pages, API, LFS JSON); on pushes, LFS uploads and every response, the window over which --min-transfer-rate is measured")
		fs.Env("read-timeout", "BLUEPRINTS_READ_TIMEOUT")
		fs.Bytes("min-transfer-rate", guard.DefaultMinTransferRate, "slowest a push, an LFS upload or any response may move: a `size` per second, such as 1KiB; slower clients are cut off")
		fs.Env("min-transfer-rate", "BLUEPRINTS_MIN_TRANSFER_RATE")
		fs.Int("max-conns-per-ip", guard.DefaultMaxConnsPerClient, "most connections one client address may hold open (behind --trusted-proxies: requests in flight per forwarded client)")
		fs.Env("max-conns-per-ip", "BLUEPRINTS_MAX_CONNS_PER_IP")
		fs.Int64("archive-max-files", ui.DefaultArchiveMaxFiles, "most files a project's zip download (archive/REF.zip) may hold; bigger ones are refused, pointing at git clone")
		fs.Env("archive-max-files", "BLUEPRINTS_ARCHIVE_MAX_FILES")
		fs.Bytes("archive-max-size", ui.DefaultArchiveMaxBytes, "most bytes (before compression, LFS content included) a zip download may hold: a `size` such as 4GiB")
		fs.Env("archive-max-size", "BLUEPRINTS_ARCHIVE_MAX_SIZE")
		fs.Int("max-archives", 0, "zip downloads built at once; more get 503 with Retry-After (0: one per CPU)")
		fs.Env("max-archives", "BLUEPRINTS_MAX_ARCHIVES")
		partBudgetFlags(fs)
		fs.Int64("max-push-paths", gittree.DefaultMaxPaths, "most files and folders one pushed commit may hold; pushes over it are refused, naming the path past the limit")
		fs.Env("max-push-paths", "BLUEPRINTS_MAX_PUSH_PATHS")
		fs.Int("max-tree-depth", gittree.DefaultMaxDepth, "deepest folder nesting a push may bring")
		fs.Env("max-tree-depth", "BLUEPRINTS_MAX_TREE_DEPTH")
		fs.Int("max-tree-entries", gittree.DefaultMaxEntries, "most entries one folder of a push may hold")
		fs.Env("max-tree-entries", "BLUEPRINTS_MAX_TREE_ENTRIES")
		fs.Bytes("max-blob-size", repo.DefaultMaxBlobSize, "largest file a push may store in git itself, outside Git LFS: a `size` such as 100MiB or 2GiB")
		fs.Env("max-blob-size", "BLUEPRINTS_MAX_BLOB_SIZE")
		scadFlags(fs)
		fs.String("slicer", "", "slice every part in the background for print time and filament estimates: prusa-slicer (off when empty)")
		fs.Env("slicer", "BLUEPRINTS_SLICER")
		fs.String("registration", "closed", "who may sign up on the web: closed (administrators create accounts), invite (with an administrator's invitation link) or open")
		fs.Env("registration", "BLUEPRINTS_REGISTRATION")
		fs.String("oidc-issuer", "", "sign in with this OpenID Connect provider too (its issuer URL, e.g. https://accounts.example.org); register PUBLIC-ADDRESS"+auth.OIDCCallbackPath+" as the client's redirect URI")
		fs.Env("oidc-issuer", "BLUEPRINTS_OIDC_ISSUER")
		fs.String("oidc-client-id", "", "this server's client id at the OpenID Connect provider")
		fs.Env("oidc-client-id", "BLUEPRINTS_OIDC_CLIENT_ID")
		fs.String("oidc-client-secret", "", "the client's secret at the OpenID Connect provider (prefer the environment variable: flags show in ps)")
		fs.Env("oidc-client-secret", "BLUEPRINTS_OIDC_CLIENT_SECRET")
		fs.String("oidc-name", "", "the provider's name on the sign-in button (\"Sign in with NAME\"); default: the issuer's host")
		fs.Env("oidc-name", "BLUEPRINTS_OIDC_NAME")
		fs.String("log-level", "info", "log level: debug, info, warn or error")
		fs.Env("log-level", "BLUEPRINTS_LOG_LEVEL")
		fs.String("log-format", "text", "log format: text (key=value lines) or json (one object a line)")
		fs.Env("log-format", "BLUEPRINTS_LOG_FORMAT")
		fs.String("public-url", "", "the address clients use, e.g. https://blueprints.example.org behind a proxy; every absolute link (push output, LFS, feeds, sitemap, OpenGraph, API) names it. Empty: the address each request reached")
		fs.Env("public-url", "BLUEPRINTS_PUBLIC_URL")
		fs.String("webhook-allow", "", "comma-separated CIDR ranges webhooks may reach although loopback, private or link-local (e.g. 10.0.0.0/8 for a receiver on your network); others are refused")
		fs.Env("webhook-allow", "BLUEPRINTS_WEBHOOK_ALLOW")
		fs.Duration("webhook-retry", 10*time.Second, "wait before retrying a failed webhook delivery, doubling for each of up to 5 attempts")
		fs.Env("webhook-retry", "BLUEPRINTS_WEBHOOK_RETRY")
		fs.Int("sitemap-size", 50000, "most URLs in one sitemap file; beyond it /sitemap.xml becomes an index of /sitemap-N.xml files")
		fs.Env("sitemap-size", "BLUEPRINTS_SITEMAP_SIZE")
		fs.String("node", "", "this node's name in catalog job leases: the same across restarts, different for each node sharing --db (default: host name and a digest of the data folder)")
		fs.Env("node", "BLUEPRINTS_NODE")
		fs.Duration("job-lease", catalog.DefaultLease, "how long a node's claim on a catalog job lasts unless renewed: another node takes over the jobs of a node that died this long after")
		fs.Env("job-lease", "BLUEPRINTS_JOB_LEASE")
		networkFlags(fs, true)
		fs.Duration("drain", 0, "on SIGTERM, keep serving this long while /healthz answers 503, so a load balancer takes the node out before it closes (a little over the balancer's check interval times its fall count)")
		fs.Env("drain", "BLUEPRINTS_DRAIN")
	},
	Run: runServe,
}

// newLogger builds the server's logger from --log-level and --log-format.
func newLogger(levelName, format string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", cli.ErrUsage, levelName)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", cli.ErrUsage, format)
}

func runServe(fs *cli.Flags, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
	}
	log, err := newLogger(flagString(fs, "log-level"), flagString(fs, "log-format"))
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	public, err := publicurl.Parse(flagString(fs, "public-url"))
	if err != nil {
		return fmt.Errorf("%w: --public-url: %w", cli.ErrUsage, err)
	}

	data := flagString(fs, "data")
	storageURL := flagString(fs, "storage")
	if storageURL != "fs" && !strings.HasPrefix(storageURL, "s3://") {
		return fmt.Errorf("%w: --storage %q: want fs or s3://BUCKET[/PREFIX]", cli.ErrUsage, storageURL)
	}
	timeout := flagGet[time.Duration](fs, "shutdown-timeout")
	drain := flagGet[time.Duration](fs, "drain")
	lease := flagGet[time.Duration](fs, "job-lease")
	if lease < time.Second {
		return fmt.Errorf("%w: --job-lease %s: want at least 1s", cli.ErrUsage, lease)
	}
	node := flagString(fs, "node")
	if node == "" {
		node = defaultNode(data)
	}
	gitNice := flagGet[int](fs, "git-nice")
	if gitNice < 0 || gitNice > 19 {
		return fmt.Errorf("%w: --git-nice %d: want 0 to 19", cli.ErrUsage, gitNice)
	}
	limits := repo.PushLimits{
		Tree: gittree.Limits{
			MaxPaths:   flagGet[int64](fs, "max-push-paths"),
			MaxDepth:   flagGet[int](fs, "max-tree-depth"),
			MaxEntries: flagGet[int](fs, "max-tree-entries"),
		},
		MaxBlobSize: flagGet[int64](fs, "max-blob-size"),
	}
	for name, v := range map[string]int64{"max-push-paths": limits.Tree.MaxPaths, "max-tree-depth": int64(limits.Tree.MaxDepth), "max-tree-entries": int64(limits.Tree.MaxEntries), "max-blob-size": limits.MaxBlobSize} {
		if v < 1 {
			return fmt.Errorf("%w: --%s %d: want a positive number", cli.ErrUsage, name, v)
		}
	}
	idle, readTimeout := flagGet[time.Duration](fs, "idle-timeout"), flagGet[time.Duration](fs, "read-timeout")
	minRate, maxConns := flagGet[int64](fs, "min-transfer-rate"), flagGet[int](fs, "max-conns-per-ip")
	if idle < time.Second || readTimeout < time.Second {
		return fmt.Errorf("%w: --idle-timeout and --read-timeout must be at least 1s", cli.ErrUsage)
	}
	if minRate < 1 || maxConns < 1 {
		return fmt.Errorf("%w: --min-transfer-rate and --max-conns-per-ip must be positive", cli.ErrUsage)
	}
	archives := ui.ArchiveLimits{MaxFiles: flagGet[int64](fs, "archive-max-files"), MaxBytes: flagGet[int64](fs, "archive-max-size"), Concurrent: flagGet[int](fs, "max-archives")}
	if archives.MaxFiles < 1 || archives.MaxBytes < 1 || archives.Concurrent < 0 {
		return fmt.Errorf("%w: --archive-max-files and --archive-max-size must be positive, --max-archives at least 0", cli.ErrUsage)
	}
	var budget catalogNode
	if err := partBudget(fs, &budget); err != nil {
		return err
	}
	packCache := flagGet[int64](fs, "pack-cache-size")
	blobCache := flagGet[int64](fs, "blob-cache-size")
	build := version.Read()
	log.Info("starting", "version", build.Version, "commit", build.ShortCommit(), "go", build.GoVersion, "public_url", public.String())
	webhookAllow, err := outbound.ParseAllow(flagString(fs, "webhook-allow"))
	if err != nil {
		return fmt.Errorf("%w: --webhook-allow: %w", cli.ErrUsage, err)
	}
	sitemapSize := flagGet[int](fs, "sitemap-size")
	if sitemapSize < 1 || sitemapSize > 50000 {
		return fmt.Errorf("%w: --sitemap-size %d: want 1 to 50000 (the sitemap protocol's limit)", cli.ErrUsage, sitemapSize)
	}
	proxies, err := guard.ParseProxies(flagString(fs, "trusted-proxies"))
	if err != nil {
		return fmt.Errorf("%w: --trusted-proxies: %w", cli.ErrUsage, err)
	}

	registration := flagString(fs, "registration")
	switch registration {
	case ui.RegistrationClosed, ui.RegistrationInvite, ui.RegistrationOpen:
	default:
		return fmt.Errorf("%w: --registration %q: want closed, invite or open", cli.ErrUsage, registration)
	}
	network, err := readNetworkFlags(fs)
	if err != nil {
		return err
	}
	oidcCfg := oidcConfig{Issuer: flagString(fs, "oidc-issuer"), ClientID: flagString(fs, "oidc-client-id"), ClientSecret: flagString(fs, "oidc-client-secret"), Name: flagString(fs, "oidc-name")}
	if oidcCfg.Issuer == "" && (oidcCfg.ClientID != "" || oidcCfg.ClientSecret != "") {
		return fmt.Errorf("%w: --oidc-client-id and --oidc-client-secret need --oidc-issuer", cli.ErrUsage)
	}
	if oidcCfg.Issuer != "" && oidcCfg.ClientID == "" {
		return fmt.Errorf("%w: --oidc-issuer needs --oidc-client-id (and usually --oidc-client-secret)", cli.ErrUsage)
	}
	if scadTimeout(fs) <= 0 {
		return fmt.Errorf("%w: --scad-timeout %s: want a positive duration", cli.ErrUsage, scadTimeout(fs))
	}
	if n := fs.Lookup("scad-nice").Value.(interface{ Get() any }).Get().(int); n < 1 || n > 19 {
		return fmt.Errorf("%w: --scad-nice %d: want 1 to 19", cli.ErrUsage, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := openStore(ctx, fs)
	if err != nil {
		return err
	}
	defer st.Close()
	if st.Shared() && storageURL == "fs" {
		return fmt.Errorf("%w: --db is a shared PostgreSQL database but --storage is fs: every node must see every LFS object and preview, so with a shared database blob storage must be S3 (--storage s3://BUCKET[/PREFIX])", cli.ErrUsage)
	}
	log.Info("metadata store", "db", store.Redact(dbTarget(fs)), "node", node)
	w, err := wire(ctx, st, serveConfig{
		Data: data, Repos: reposDir(fs), Storage: storageURL, Addr: flagString(fs, "addr"), ShutdownTimeout: timeout, Drain: drain,
		Node: node, Lease: lease, GitNice: gitNice, PackCache: packCache, BlobCache: blobCache, TrustedProxies: proxies, Registration: registration,
		LFSPresign: flagString(fs, "lfs-presign") == "true", MetricsToken: flagString(fs, "metrics-token"), Log: log, OIDC: oidcCfg,
		SCAD:   func(runs func(string)) *scad.Builder { return scadBuilder(log, fs, runs) },
		Limits: limits, Archives: archives, IdleTimeout: idle, PartTimeout: budget.PartTimeout, MaxOverdraw: budget.MaxOverdraw,
		Timeouts: guard.Timeouts{ReadTimeout: readTimeout, MinRate: minRate}, MaxConnsPerClient: maxConns,
		Network:   &network,
		Slicer:    flagString(fs, "slicer"),
		PublicURL: public, Build: build, WebhookAllow: webhookAllow, SitemapSize: sitemapSize,
		WebhookRetry: flagGet[time.Duration](fs, "webhook-retry"),
	})
	if err != nil {
		return err
	}
	defer w.Close()
	srv := w.srv
	if err := srv.Start(ctx); err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-srv.Done():
		log.Error("server failed", "err", serveErr)
	}
	stop()
	if err := srv.Shutdown(context.Background()); err != nil && serveErr == nil {
		serveErr = err
	}
	log.Info("stopped")
	return serveErr
}

// scadVersion is the builder's program version, "" without a builder.
func scadVersion(b *scad.Builder) string {
	if b == nil {
		return ""
	}
	return b.Version()
}

// serveConfig is what serve's flags decide.
type serveConfig struct {
	Data, Repos, Storage, Addr string
	ShutdownTimeout, Drain     time.Duration
	Node                       string
	Lease                      time.Duration
	GitNice                    int
	PackCache                  int64
	BlobCache                  int64 // bytes of data/git/blob-cache; 0: none
	TrustedProxies             []*net.IPNet
	Registration               string
	LFSPresign                 bool
	MetricsToken               string
	OIDC                       oidcConfig
	// Executable is the binary git's hooks run; this one when empty
	// (tests set the built binary).
	Executable string
	// SCAD makes the builder of OpenSCAD sources (runs counts their
	// runs); nil builds none.
	SCAD func(runs func(result string)) *scad.Builder
	Log  *slog.Logger
	// Limits bound what one push may bring; Archives the zip downloads.
	Limits   repo.PushLimits
	Archives ui.ArchiveLimits
	// PartTimeout and MaxOverdraw are one part's budget (catalogNode).
	PartTimeout time.Duration
	MaxOverdraw int
	// IdleTimeout, Timeouts and MaxConnsPerClient bound idle, slow and
	// too many connections.
	IdleTimeout       time.Duration
	Timeouts          guard.Timeouts
	MaxConnsPerClient int
	// Network configures federation, mirrors and federated search; nil
	// leaves them out.
	Network *networkConfig
	// Slicer slices parts for the print page's estimates: "prusa-slicer",
	// or "" for none.
	Slicer string
	// PublicURL names the server in every absolute link (--public-url).
	PublicURL publicurl.Base
	// Build is this binary's version, for the build_info metric and
	// the webhooks' User-Agent.
	Build version.Info
	// WebhookAllow are the private ranges webhooks may reach anyway;
	// WebhookRetry the first wait before a failed delivery is retried.
	WebhookAllow []netip.Prefix
	WebhookRetry time.Duration
	// SitemapSize is the most URLs in one sitemap file.
	SitemapSize int
}

// webhookAllow is what webhooks may reach although private: --webhook-allow
// and --outbound-allow (which covers every outgoing request).
func (cfg serveConfig) webhookAllow() []netip.Prefix {
	allow := append([]netip.Prefix(nil), cfg.WebhookAllow...)
	if cfg.Network != nil {
		allow = append(allow, cfg.Network.Allow...)
	}
	return allow
}

// pushLimits is l, or nil (the defaults) when l was not set.
func pushLimits(l repo.PushLimits) *repo.PushLimits {
	if l == (repo.PushLimits{}) {
		return nil
	}
	return &l
}

// oidcConfig is the OpenID Connect provider people may sign in with;
// none when Issuer is "".
type oidcConfig struct {
	Issuer, ClientID, ClientSecret, Name string
}

// wired is the server with every part wired in, not yet started.
type wired struct {
	srv *server.Server
	cat *catalogService
}

// Close releases the index and its lock.
func (w *wired) Close() {
	if w.cat != nil {
		w.cat.Close()
	}
}

// wire opens the repositories, blob storage, LFS, the catalog and its
// index, and the pages over the store st, and builds the server over them:
// everything serve runs.
func wire(ctx context.Context, st *store.Store, cfg serveConfig) (*wired, error) {
	log, data, storageURL := cfg.Log, cfg.Data, cfg.Storage
	w := &wired{}
	ok := false
	defer func() {
		if !ok {
			w.Close()
		}
	}()
	// Metrics: one registry for this server, fed by every package below.
	met := metrics.New(metrics.Options{Store: st, Logger: log, Build: cfg.Build})
	// The one access policy every route asks, and who is asking.
	policy := access.New(st)
	tokens := auth.NewTokens(st)
	// One throttle for failed tokens (git, LFS, API) and failed passwords,
	// its records in the store: every node counts and refuses alike.
	throttle := guard.NewThrottle(guard.ThrottleConfig{Logger: log, Store: st})
	// Session cookies are Secure when the public URL is https (or, without
	// one, when the request came over TLS).
	web, err := auth.NewWeb(ctx, auth.WebOptions{Store: st, Tokens: tokens, Throttle: throttle, Secure: cfg.PublicURL.Secure})
	if err != nil {
		return nil, err
	}
	var oidc *auth.OIDC
	if cfg.OIDC.Issuer != "" {
		// The provider sends people back to the public address.
		callback := func(r *http.Request) string { return cfg.PublicURL.URL(r, auth.OIDCCallbackPath) }
		oidc, err = web.NewOIDC(auth.OIDCOptions{Issuer: cfg.OIDC.Issuer, ClientID: cfg.OIDC.ClientID, ClientSecret: cfg.OIDC.ClientSecret, Name: cfg.OIDC.Name, CallbackURL: callback, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", cli.ErrUsage, err)
		}
		log.Info("sign-in with OpenID Connect", "issuer", cfg.OIDC.Issuer, "client_id", cfg.OIDC.ClientID, "callback", auth.OIDCCallbackPath)
	}
	repos, err := repo.New(repo.Config{Data: data, Repos: cfg.Repos, Store: st, Policy: policy, Logger: log, Pushes: met, GitNice: cfg.GitNice, PackCacheBytes: cfg.PackCache, Executable: cfg.Executable, PublicURL: cfg.PublicURL, Limits: pushLimits(cfg.Limits)})
	if err != nil {
		return nil, err
	}
	// A git killed while taking a ref (a crash of the whole process group)
	// leaves a lock that refuses every later push to that ref. None of this
	// server's gits runs yet, and a repository another node is pushing to
	// is skipped: every lock left is stale (see repo.StaleLockAge).
	if _, err := repos.ClearStaleLocks(ctx, 0); err != nil {
		log.Warn("look for stale git locks", "err", err)
	}
	// Blob storage (LFS objects, previews), shared by LFS and the catalog.
	blobs, err := storage.Open(ctx, storageURL, data)
	if err != nil {
		return nil, err
	}
	if sw, ok := blobs.(storage.Sweeper); ok {
		// Uploads cut off by a crash or an S3 outage leave leftovers no
		// reader sees; clear those over an hour old.
		go func() {
			if n, err := sw.Sweep(ctx, time.Hour); err != nil {
				log.Warn("clear leftovers of unfinished uploads", "storage", storageURL, "err", err)
			} else if n > 0 {
				log.Info("cleared leftovers of unfinished uploads", "storage", storageURL, "count", n)
			}
		}()
	}
	blobs = met.Blobs(blobs)
	if c, ok := blobs.(storage.Checker); ok {
		// Not fatal: S3 may be down for a while; requests fail with 503 until it is back.
		if err := c.Check(ctx); err != nil {
			log.Warn("blob storage does not answer", "storage", storageURL, "err", err)
		}
	}
	// Git LFS API; its pre-receive check refuses pushes whose pointers name
	// objects the project does not have.
	lfsServer, err := lfs.New(lfs.Config{Store: st, Blobs: blobs, Repos: repos, Presign: cfg.LFSPresign, Logger: log, Meter: met, PublicURL: cfg.PublicURL})
	if err != nil {
		return nil, err
	}
	repos.OnPreReceive(lfsServer.CheckPush)
	// The network of servers: ActivityPub, mirrors, federated search.
	var network *networkParts
	if cfg.Network != nil {
		network, err = wireNetwork(ctx, log, st, policy, repos, blobs, *cfg.Network, cfg.Addr, cfg.Node, cfg.Registration == ui.RegistrationOpen)
		if err != nil {
			return nil, err
		}
		repos.OnPreReceive(network.Mirrors.RefusePush)
	}
	apiDeps := api.Deps{Policy: policy, Viewer: web.Viewer, PublicURL: cfg.PublicURL}
	if network != nil {
		apiDeps.Network, apiDeps.Self = network.Search, network.Origin
	}
	// Print plans, from the repositories and blob storage, prepared in
	// the background after each catalogue job; with a slicer, parts are
	// sliced in the background for estimates, through the runner for
	// outside programs, each written as the planner lays it.
	printers, err := print.LoadPrinters()
	if err != nil {
		return nil, err
	}
	var planner *print.Planner
	var estimates print.Estimator
	var workers []func(context.Context) error
	if cfg.Slicer != "" {
		run := runner.New(runner.Options{Limits: runner.Limits{Timeout: 10 * time.Minute, Memory: 4 << 30}, Logger: log})
		if iso := run.Isolation(); iso.Missing != "" {
			log.Warn("the slicer runs with less isolation than it could", "isolation", iso.How, "missing", iso.Missing)
		}
		sl, err := slicer.New(slicer.Options{Program: cfg.Slicer, Store: st, Runner: run, Logger: log,
			Write: func(ctx context.Context, ref print.PartRef, pr print.Printer, w io.Writer) error {
				return planner.WritePiece(ctx, ref, pr, w)
			}})
		if err != nil {
			return nil, fmt.Errorf("%w: --slicer: %w", cli.ErrUsage, err)
		}
		estimates = sl
		workers = append(workers, sl.Run)
	}
	planner, err = print.NewPlanner(print.Options{Store: st, Source: print.NewRepoSource(repos.Root(), st, blobs), Printers: printers, Estimates: estimates, Limits: render.DefaultLimits(), Logger: log})
	if err != nil {
		return nil, err
	}
	workers = append(workers, planner.Run)
	// Catalog: job queue, post-receive hook, search index and its
	// follower of the store's change log, JSON API. OpenSCAD sources are
	// built by openscad, sandboxed by the runner, when it is installed.
	var builder *scad.Builder
	if cfg.SCAD != nil {
		builder = cfg.SCAD(met.SCADRun)
	}
	apiDeps.Planner = planner
	cat, err := openCatalog(ctx, log, st, blobs, data, repos.Root(), catalogNode{Node: cfg.Node, Lease: cfg.Lease, SCAD: builder,
		API: apiDeps, Catalogued: planner.Prepare,
		PartTimeout: cfg.PartTimeout, MaxOverdraw: cfg.MaxOverdraw})
	if err != nil {
		return nil, err
	}
	w.cat = cat
	// Compile the licence scanner while the server starts, not in the
	// first catalogue job.
	go catalog.WarmLicenses()
	repos.OnPostReceive(cat.Catalog.PostReceive)
	// Webhooks: push and catalog.done events, delivered through the
	// guarded client.
	hooks := webhook.New(webhook.Config{
		Store:     st,
		Client:    outbound.New(outbound.Config{Allow: cfg.webhookAllow(), UserAgent: "Blueprints-Webhook/" + cfg.Build.Version}),
		PublicURL: cfg.PublicURL,
		Logger:    log,
		Backoff:   cfg.WebhookRetry,
		UserAgent: "Blueprints-Webhook/" + cfg.Build.Version,
	})
	repos.OnPostReceive(hooks.Push)
	cat.Catalog.OnDone(hooks.CatalogDone)
	cat.Catalog.SetMeter(met)
	workers = append([]func(context.Context) error{cat.Follower.Run, cat.Catalog.Run, repos.SweepLocks, hooks.Run}, workers...)
	met.WatchIndex(cat.Follower)
	var routes []server.Registrar
	if network != nil {
		// New versions are announced once catalogued; a mirror's new
		// refs are catalogued as a push's.
		cat.Catalog.OnDone(network.Fed.OnCatalogDone)
		network.Mirrors.OnUpdated(cat.Catalog.PostReceive)
		workers = append(workers, network.Fed.Run, network.Mirrors.Run)
		routes = append(routes, network.Fed)
	}
	var pagesNet ui.Network
	if network != nil {
		pagesNet = &pagesNetwork{parts: network, st: st, index: cat.Searcher, log: log, peers: cfg.Network.Peers}
	}
	projects := &lifecycle.Projects{Store: st, Repos: repos, Catalog: cat.Catalog, Blobs: blobs, Log: log, Indexed: cat.Follower.Sync}
	// Inflated copies of big git blobs, for ranged reads of raw/.
	var blobCache *blobcache.Cache
	if cfg.BlobCache > 0 {
		if blobCache, err = blobcache.New(blobcache.Options{Dir: filepath.Join(data, "git", "blob-cache"), MaxBytes: cfg.BlobCache, Logger: log, Observe: met.BlobCacheRead}); err != nil {
			return nil, err
		}
	}
	pages, err := ui.New(ui.Options{Data: data, BlobCache: blobCache, Repos: repos.Root(), Store: st, Blobs: blobs, Index: cat.Searcher, Logger: log,
		Policy: policy, Viewer: web.Viewer, Web: web, Registration: cfg.Registration, Projects: projects, Archives: cfg.Archives, OIDC: oidc,
		PublicURL: cfg.PublicURL, SitemapPageSize: cfg.SitemapSize, Planner: planner, Network: pagesNet, SCADVersion: scadVersion(builder)})
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{
		Addr:            cfg.Addr,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          log,
		MetricsToken:    cfg.MetricsToken,
		Drain:           cfg.Drain,
		IdleTimeout:     cfg.IdleTimeout,
		Guard: guard.Config{
			TrustedProxies:    cfg.TrustedProxies,
			Shared:            throttle,
			Timeouts:          cfg.Timeouts,
			MaxConnsPerClient: cfg.MaxConnsPerClient,
		},
	}, server.Deps{
		Store:     st,
		Repos:     repos,
		Storage:   storageURL,
		API:       cat.API,
		UI:        pages,
		LFS:       lfsServer,
		Workers:   workers,
		Network:   routes,
		Metrics:   met,
		Data:      data,
		Index:     cat.Index,
		IndexPath: filepath.Join(data, "index.bleve"),
		Follower:  cat.Follower,
		Blobs:     blobs,
	})
	if err != nil {
		return nil, err
	}
	w.srv = srv
	ok = true
	return w, nil
}
