package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/blueprints-hq/blueprints/doctor"
	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

// errUnhealthy makes doctor exit 1 after it has printed its findings.
var errUnhealthy = errors.New("problems found")

var doctorCmd = &cli.Command{
	Name:    "doctor",
	Summary: "check that the data folder agrees with itself; --fix repairs (server stopped)",
	Help: `Checks, and with --fix repairs:
  - repositories without a project row (fix: the row is made, the project
    catalogued) and project rows without a repository (fix: the row, its
    catalogue and search documents are removed; pushing again recreates it);
  - LFS objects and previews nothing references, older than --grace
    (fix: deleted; younger ones may belong to an upload in flight and are
    left alone);
  - parts whose preview is missing (fix: measured and rendered again);
  - search documents that disagree with the store (fix: stray ones
    deleted, missing ones written by cataloguing their project again);
  - stale git locks (fix: removed).
Exit status: 0 when nothing is wrong (or everything found was fixed), 1
otherwise. Stop the server first: doctor needs the search index to itself.`,
	Setup: func(fs *cli.Flags) {
		dataFlag(fs)
		reposFlag(fs)
		fs.String("storage", "fs", "blob storage, as for serve: fs or s3://BUCKET[/PREFIX]")
		fs.Env("storage", "BLUEPRINTS_STORAGE")
		fs.Bool("fix", false, "repair what is found")
		scadFlags(fs)
		fs.Duration("grace", doctor.DefaultGrace, "how old an unreferenced LFS object or preview must be before it counts as garbage")
	},
	Run: runDoctor,
}

func runDoctor(fs *cli.Flags, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
	}
	data, storageURL := flagString(fs, "data"), flagString(fs, "storage")
	fix := flagString(fs, "fix") == "true"
	grace := fs.Lookup("grace").Value.(interface{ Get() any }).Get().(time.Duration)
	if _, err := os.Stat(filepath.Join(data, "blueprints.db")); err != nil && flagString(fs, "db") == "" {
		return fmt.Errorf("data folder %s has no blueprints.db: nothing to check (check --data, or --db for PostgreSQL)", data)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, unlock, err := openStoreLocked(ctx, fs, data, "doctor")
	if err != nil {
		return err
	}
	defer st.Close()
	repos, err := repo.New(repo.Config{Data: data, Repos: reposDir(fs), Store: st, Logger: log})
	if err != nil {
		unlock()
		return err
	}
	blobs, err := storage.Open(ctx, storageURL, data)
	if err != nil {
		unlock()
		return err
	}
	svc, err := openCatalogAt(ctx, log, st, blobs, repos.Root(), filepath.Join(data, "index.bleve"), unlock, nil, catalogNode{Node: "doctor", SCAD: scadBuilder(log, fs, nil)})
	if err != nil {
		return err
	}
	defer svc.Close()
	findings, err := doctor.Run(ctx, doctor.Env{
		Store: st, Repos: repos, Blobs: blobs, Index: svc.Index, Grace: grace, Fix: fix,
		Recatalogue: func(ctx context.Context, project string) error {
			if _, err := svc.Catalog.CatalogueProject(ctx, project); err != nil {
				return err
			}
			// The index follows the store's change log: apply what the
			// catalogue just wrote before the next check reads the index.
			return svc.Follower.CatchUp(ctx)
		},
	})
	for _, f := range findings {
		fmt.Println(f)
	}
	if err != nil {
		return err
	}
	switch {
	case len(findings) == 0:
		fmt.Println("no problems found")
	case doctor.Healthy(findings):
		fmt.Printf("%d problems found and fixed\n", len(findings))
	case fix:
		return fmt.Errorf("%w: %d, not all fixed (see above)", errUnhealthy, len(findings))
	default:
		return fmt.Errorf("%w: %d (run with --fix to repair)", errUnhealthy, len(findings))
	}
	return nil
}
