package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/storage"
)

var reindexCmd = &cli.Command{
	Name:    "reindex",
	Summary: "rebuild the search index and previews from the repositories (server stopped)",
	Help: `Measures every part on every project's default branch again, renders its
preview and writes a new search index, from the repositories alone. The
new index replaces the old one only when it is complete.

Stop the server first: reindex refuses to run while blueprints serve uses
the same data folder (it holds data/catalog.lock). With several nodes on one
database, stop every node; the others rebuild their own index from the
database when they start again. Catalog jobs still queued are covered by
the rebuild.

On a terminal it draws a progress bar; otherwise it logs a line per project.`,
	Setup: func(fs *cli.Flags) {
		dataFlag(fs)
		reposFlag(fs)
		fs.String("storage", "fs", "blob storage, as for serve: fs or s3://BUCKET[/PREFIX]")
		fs.Env("storage", "BLUEPRINTS_STORAGE")
		fs.Bool("keep-measurements", false, "reuse the measurements and previews already recorded instead of measuring every file again")
		scadFlags(fs)
		partBudgetFlags(fs)
	},
	Run: runReindex,
}

// scadFlags declares --openscad and --scad-timeout and their
// environment twins.
func scadFlags(fs *cli.Flags) {
	fs.String("openscad", "openscad", "the OpenSCAD program that builds .scad sources into parts (when it is not installed, .scad files are listed as sources, not built)")
	fs.Env("openscad", "BLUEPRINTS_OPENSCAD")
	fs.Duration("scad-timeout", 60*time.Second, "how long openscad may take to build one .scad source into a part before it is killed")
	fs.Env("scad-timeout", "BLUEPRINTS_SCAD_TIMEOUT")
	fs.Int("scad-nice", 19, "CPU niceness (1-19) of openscad, so that builds never slow pages and pushes")
	fs.Env("scad-nice", "BLUEPRINTS_SCAD_NICE")
}

func scadTimeout(fs *cli.Flags) time.Duration {
	return fs.Lookup("scad-timeout").Value.(interface{ Get() any }).Get().(time.Duration)
}

func runReindex(fs *cli.Flags, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
	}
	data := flagString(fs, "data")
	storageURL := flagString(fs, "storage")
	keep := flagString(fs, "keep-measurements") == "true"
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tty := term.IsTerminal(int(os.Stderr.Fd()))
	level := slog.LevelInfo
	if tty {
		level = slog.LevelWarn // the progress bar says the rest
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	node, err := rebuildNode(log, fs)
	if err != nil {
		return err
	}

	if _, err := os.Stat(filepath.Join(data, "blueprints.db")); err != nil && flagString(fs, "db") == "" {
		return fmt.Errorf("data folder %s has no blueprints.db: nothing to reindex (check --data, or --db for PostgreSQL)", data)
	}
	st, unlock, err := openStoreLocked(ctx, fs, data, "reindex")
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := storage.Open(ctx, storageURL, data)
	if err != nil {
		unlock()
		return err
	}

	return rebuildIndex(ctx, log, st, blobs, data, reposDir(fs), unlock, keep, tty, node)
}

// rebuildIndex measures every project's default branch again (reusing
// recorded measurements when keep is set) into a new search index beside
// the old one, and swaps it in when complete. unlock releases the data
// folder's catalog lock, which the caller holds (reindex, restore). node
// brings the OpenSCAD builder and the parts' budget (rebuildNode).
func rebuildIndex(ctx context.Context, log *slog.Logger, st *store.Store, blobs storage.Blobs, data, repos string, unlock func(), keep, tty bool, node catalogNode) error {
	// Build beside the old index; swap when complete.
	final := filepath.Join(data, "index.bleve")
	building := final + ".rebuild"
	if err := os.RemoveAll(building); err != nil {
		unlock()
		return fmt.Errorf("remove unfinished index %s: %w", building, err)
	}
	projects, skipped, err := reindexProjects(ctx, st, repos)
	if err != nil {
		unlock()
		return err
	}
	bar := newProgress(os.Stderr, tty, len(projects))
	node.Rebuild = true
	svc, err := openCatalogAt(ctx, log, st, blobs, repos, building, unlock, bar.measured, node)
	if err != nil {
		return err
	}
	defer svc.Close()

	for _, s := range skipped {
		log.Warn("repository without a project row skipped", "dir", s)
	}
	if !keep {
		if err := st.ClearBlobParts(ctx); err != nil {
			return err
		}
	}
	if err := st.SupersedeCatalogJobs(ctx, "superseded by reindex"); err != nil {
		return err
	}

	start := time.Now()
	var parts, failed, measured int
	for i, p := range projects {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reindex interrupted; the old index is unchanged: %w", err)
		}
		bar.step(i, p, parts)
		stats, err := svc.Catalog.CatalogueProject(ctx, p)
		if err != nil {
			return fmt.Errorf("reindex %s: %w (the old index is unchanged)", p, err)
		}
		parts += stats.Parts
		failed += stats.Failed
		measured += stats.Measured
		if !tty {
			log.Info("catalogued", "project", p, "parts", stats.Parts, "failed", stats.Failed, "measured", stats.Measured)
		}
	}
	bar.finish(len(projects), parts)

	// The new index is built from the database, as a new node's is.
	if err := svc.Follower.CatchUp(ctx); err != nil {
		return fmt.Errorf("build the search index from the database: %w (the old index is unchanged)", err)
	}
	svc.Index.Close()
	svc.Index = nil
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("remove old index %s: %w", final, err)
	}
	if err := os.Rename(building, final); err != nil {
		return fmt.Errorf("move new index into place (%s → %s): %w", building, final, err)
	}
	fmt.Fprintf(os.Stdout, "reindexed %d projects: %d parts (%d failed, %d files measured) in %s\n",
		len(projects), parts, failed, measured, time.Since(start).Round(time.Millisecond))
	return nil
}

// reindexProjects walks repos/{owner}/{name}.git and returns the projects
// that have both a repository and a row in the store, as "owner/name", and
// the repository folders that have no row.
func reindexProjects(ctx context.Context, st *store.Store, root string) (projects, skipped []string, err error) {
	owners, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list repositories in %s: %w", root, err)
	}
	for _, o := range owners {
		if !o.IsDir() {
			continue
		}
		repos, err := os.ReadDir(filepath.Join(root, o.Name()))
		if err != nil {
			return nil, nil, fmt.Errorf("list repositories in %s: %w", filepath.Join(root, o.Name()), err)
		}
		for _, r := range repos {
			name, ok := strings.CutSuffix(r.Name(), ".git")
			if !r.IsDir() || !ok {
				continue
			}
			p, err := st.ProjectByName(ctx, o.Name(), name)
			if errors.Is(err, store.ErrNotFound) {
				skipped = append(skipped, filepath.Join(root, o.Name(), r.Name()))
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			projects = append(projects, p.FullName())
		}
	}
	return projects, skipped, nil
}

// progress draws a bar on a terminal and nothing otherwise: projects done
// of all, parts so far, and files measured in the current project.
type progress struct {
	w     io.Writer
	tty   bool
	total int

	mu      sync.Mutex
	done    int
	parts   int
	project string
	files   int
	drawn   time.Time
}

func newProgress(w io.Writer, tty bool, total int) *progress {
	return &progress{w: w, tty: tty, total: total}
}

func (p *progress) draw(force bool) {
	if !p.tty || (!force && time.Since(p.drawn) < 100*time.Millisecond) {
		return
	}
	p.drawn = time.Now()
	const width = 30
	filled := width
	if p.total > 0 {
		filled = p.done * width / p.total
	}
	bar := "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
	line := fmt.Sprintf("%s %d/%d projects, %d parts", bar, p.done, p.total, p.parts)
	if p.project != "" {
		line += fmt.Sprintf("  %s (%d files measured)", p.project, p.files)
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
}

// step starts a project, done projects and parts counted so far.
func (p *progress) step(done int, project string, parts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.project, p.parts, p.files = done, project, parts, 0
	p.draw(true)
}

func (p *progress) measured(project, path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files++
	p.draw(false)
}

func (p *progress) finish(n, parts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.parts, p.project = n, parts, ""
	p.draw(true)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
