package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/federation"
	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/mirror"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

func mirrorFlags(fs *cli.Flags) {
	dataFlag(fs)
	reposFlag(fs)
	fs.String("storage", "fs", "blob storage of the server (where LFS objects go): fs or s3://BUCKET[/PREFIX]")
	fs.Env("storage", "BLUEPRINTS_STORAGE")
	networkFlags(fs, false)
}

var mirrorAddCmd = &cli.Command{
	Name:    "mirror add",
	Args:    "URL OWNER/NAME",
	Summary: "make a project that mirrors a git repository over HTTP(S), LFS objects included",
	Help: `Creates OWNER/NAME as a public pull mirror of the git repository at URL
and fetches it now: every branch and tag, and the Git LFS objects they
point to. The running server catalogues it like any project, refreshes it
every --mirror-interval (and when the origin is a Blueprints server that
announces a push), and refuses pushes to it. Works while the server runs.

Outgoing requests never reach private, loopback or link-local addresses
unless --outbound-allow lists them (as for the server).`,
	Setup: func(fs *cli.Flags) {
		mirrorFlags(fs)
		fs.String("user", "", "the person creating the mirror (default: OWNER, or an administrator of the organisation OWNER)")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 2 {
			return fmt.Errorf("%w: want URL and OWNER/NAME", cli.ErrUsage)
		}
		owner, name, ok := strings.Cut(args[1], "/")
		if !ok {
			return fmt.Errorf("%w: %q is not OWNER/NAME", cli.ErrUsage, args[1])
		}
		ctx := context.Background()
		m, st, closeAll, err := openMirrors(ctx, fs)
		if err != nil {
			return err
		}
		defer closeAll()
		by := flagString(fs, "user")
		if by == "" {
			by = owner
		}
		u, err := st.UserByName(ctx, by)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q: give the creator with --user (an organisation's mirror needs one of its owners)", by)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "mirroring %s into %s/%s…\n", args[0], owner, name)
		p, res, err := m.Add(ctx, args[0], owner, name, u, "", "")
		if err != nil {
			if p.ID != 0 {
				return fmt.Errorf("created %s, but its first fetch failed (the server tries again on its schedule): %w", p.FullName(), err)
			}
			return err
		}
		fmt.Printf("%s: %d refs updated, %d LFS objects fetched\n", p.FullName(), len(res.Updates), res.LFSObjects)
		return nil
	},
}

var mirrorRefreshCmd = &cli.Command{
	Name:    "mirror refresh",
	Args:    "OWNER/NAME",
	Summary: "bring a mirror up to date with its origin now",
	Setup:   mirrorFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want OWNER/NAME", cli.ErrUsage)
		}
		owner, name, _ := strings.Cut(args[0], "/")
		ctx := context.Background()
		m, st, closeAll, err := openMirrors(ctx, fs)
		if err != nil {
			return err
		}
		defer closeAll()
		mm, ok, err := st.IsMirror(ctx, owner, name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s is not a mirror (see 'blueprints mirror list')", args[0])
		}
		res, err := m.Refresh(ctx, mm.ProjectID)
		if err != nil {
			return err
		}
		if !res.Changed {
			fmt.Printf("%s is up to date (%d bytes asked of the origin)\n", mm.Project, res.Bytes)
			return nil
		}
		fmt.Printf("%s: %s; %d LFS objects fetched\n", mm.Project, strings.Join(res.Updates, ", "), res.LFSObjects)
		return nil
	},
}

var mirrorListCmd = &cli.Command{
	Name:    "mirror list",
	Summary: "list mirrors, their origins and last refresh",
	Setup:   dataFlag,
	Run: func(fs *cli.Flags, args []string) error {
		ctx := context.Background()
		st, err := openStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		ms, err := st.Mirrors(ctx, false, "")
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROJECT\tORIGIN\tCHECKED\tCHANGED\tERROR")
		for _, m := range ms {
			checked, changed := "never", "never"
			if m.Checked != nil {
				checked = m.Checked.Local().Format("2006-01-02 15:04")
			}
			if m.Changed != nil {
				changed = m.Changed.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Project, m.URL, checked, changed, m.LastError)
		}
		return tw.Flush()
	},
}

// openMirrors opens what a mirror command needs: the store, repositories,
// blob storage and the guarded outgoing clients.
func openMirrors(ctx context.Context, fs *cli.Flags) (*mirror.Service, *store.Store, func(), error) {
	nc, err := readNetworkFlags(fs)
	if err != nil {
		return nil, nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := openStore(ctx, fs)
	if err != nil {
		return nil, nil, nil, err
	}
	policy := access.New(st)
	repos, err := repo.New(repo.Config{Data: flagString(fs, "data"), Repos: reposDir(fs), Store: st, Policy: policy, Logger: log})
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	blobs, err := storage.Open(ctx, flagString(fs, "storage"), flagString(fs, "data"))
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	m, err := newMirrors(log, st, policy, repos, blobs, newClients(nc), mirror.DefaultInterval)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	// The server catalogues what the command fetched: its workers claim
	// queued jobs from the store.
	m.OnUpdated(func(ctx context.Context, p repo.Push) []string {
		for _, u := range p.Updates {
			if u.Ref == "refs/heads/"+p.DefaultBranch {
				if _, err := st.EnqueueCatalogJob(ctx, p.Owner+"/"+p.Project, u.Ref, u.Old, u.New, 0); err != nil {
					log.Error("queue the mirror's catalogue", "err", err)
				}
			}
		}
		return nil
	})
	return m, st, func() { st.Close() }, nil
}

var blockCmd = &cli.Command{
	Name:    "block",
	Args:    "SERVER|ACTOR",
	Summary: "block a remote server (host[:port]) or actor (URL): its activities and search answers are dropped",
	Setup: func(fs *cli.Flags) {
		dataFlag(fs)
		fs.String("reason", "", "why, for the admin page")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want a server or an actor URL", cli.ErrUsage)
		}
		ctx := context.Background()
		st, err := openStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		return st.AddBlock(ctx, blockTarget(args[0]), flagString(fs, "reason"))
	},
}

var unblockCmd = &cli.Command{
	Name:    "unblock",
	Args:    "SERVER|ACTOR",
	Summary: "lift a block",
	Setup:   dataFlag,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want a server or an actor URL", cli.ErrUsage)
		}
		ctx := context.Background()
		st, err := openStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		return st.RemoveBlock(ctx, blockTarget(args[0]))
	},
}

// blockTarget is what a block names: an actor URL as it is, a server as
// its lower-case host[:port] ("https://b.example/" → "b.example").
func blockTarget(s string) string {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "https://"); ok && !strings.Contains(strings.TrimRight(rest, "/"), "/") {
		return strings.ToLower(strings.TrimRight(rest, "/"))
	}
	if rest, ok := strings.CutPrefix(s, "http://"); ok && !strings.Contains(strings.TrimRight(rest, "/"), "/") {
		return strings.ToLower(strings.TrimRight(rest, "/"))
	}
	if strings.Contains(s, "://") {
		return s
	}
	return strings.ToLower(s)
}

var followCmd = &cli.Command{
	Name:    "follow",
	Args:    "USER ADDRESS",
	Summary: "make a user follow a remote actor (alice..tractor@server or an actor URL), optionally keeping a mirror",
	Help: `Sends a Follow, signed by USER's actor, to the actor ADDRESS names: a
WebFinger address (alice@server, alice..tractor@server for a project, or
alice/tractor@server) or an actor URL. The running server delivers it and
hears the Accept. With --mirror NAME, a full mirror of the followed
project is kept as USER/NAME, refreshed whenever the project announces a
new version. --public-url must be the server's (as serve has it).`,
	Setup: func(fs *cli.Flags) {
		mirrorFlags(fs)
		fs.String("mirror", "", "keep a mirror of the followed project under this name")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 2 {
			return fmt.Errorf("%w: want USER and ADDRESS", cli.ErrUsage)
		}
		nc, err := readNetworkFlags(fs)
		if err != nil {
			return err
		}
		if !nc.PublicURL.Fixed() {
			return fmt.Errorf("%w: --public-url (BLUEPRINTS_PUBLIC_URL) must name the server, as serve has it", cli.ErrUsage)
		}
		ctx := context.Background()
		m, st, closeAll, err := openMirrors(ctx, fs)
		if err != nil {
			return err
		}
		defer closeAll()
		u, err := st.UserByName(ctx, args[0])
		if err != nil {
			return fmt.Errorf("user %q: %w", args[0], err)
		}
		fed, err := federation.New(federation.Config{Store: st, Policy: access.New(st), Client: newClients(nc).small, Origin: nc.PublicURL.String(), Mirrors: m})
		if err != nil {
			return err
		}
		f, target, err := fed.Follow(ctx, u, args[1], flagString(fs, "mirror"))
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s follows %s (%s); the server delivers the Follow\n", u.Name, target.URI, f.State)
		return nil
	},
}
