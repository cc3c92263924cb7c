package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/blueprints-hq/blueprints/backup"
	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/version"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

var backupCmd = &cli.Command{
	Name:    "backup",
	Args:    "DIR",
	Summary: "copy the metadata, repositories and LFS objects into DIR, while the server runs",
	Help: `Writes a consistent backup into DIR (new or empty): every repository as a
git bundle (each as of one moment, whatever pushes arrive meanwhile, taken
holding the project's push lock), then the metadata (SQLite's VACUUM INTO;
with --db postgres://…, pg_dump of one snapshot), then the LFS objects that
metadata references, and MANIFEST.json with each file's size and SHA-256. Taking
the repositories first means every LFS object a backed-up commit names is
in the backup. The search index and previews are not copied: restore
rebuilds them.

With S3 storage the LFS objects stay in the bucket and lfs-objects.txt
lists them, unless --blobs copies them too. Safe while blueprints serve
runs and takes pushes.`,
	Setup: func(fs *cli.Flags) {
		dataFlag(fs)
		reposFlag(fs)
		fs.String("storage", "fs", "blob storage, as for serve: fs or s3://BUCKET[/PREFIX]")
		fs.Env("storage", "BLUEPRINTS_STORAGE")
		fs.Bool("blobs", false, "with S3 storage, copy the LFS objects into the backup too (with fs storage they always are)")
		fs.String("pg-dump", "pg_dump", "the pg_dump program, for a PostgreSQL --db (its major version at least the server's)")
		fs.Env("pg-dump", "BLUEPRINTS_PG_DUMP")
	},
	Run: runBackup,
}

func runBackup(fs *cli.Flags, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: want the backup folder DIR", cli.ErrUsage)
	}
	data, storageURL := flagString(fs, "data"), flagString(fs, "storage")
	if _, err := os.Stat(filepath.Join(data, "blueprints.db")); err != nil && flagString(fs, "db") == "" {
		return fmt.Errorf("data folder %s has no blueprints.db: nothing to back up (check --data, or --db for PostgreSQL)", data)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	st, err := openStore(ctx, fs)
	if err != nil {
		return err
	}
	defer st.Close()
	repos, err := repo.New(repo.Config{Data: data, Repos: reposDir(fs), Store: st, Logger: log})
	if err != nil {
		return err
	}
	blobs, err := storage.Open(ctx, storageURL, data)
	if err != nil {
		return err
	}
	m, err := backup.Take(ctx, backup.Source{
		Store: st, Repos: repos, Blobs: blobs, Storage: storageURL,
		CopyBlobs: storageURL == "fs" || flagString(fs, "blobs") == "true",
		Version:   version.Read().String(), Schema: store.SchemaVersion(),
		Programs: store.BackupOptions{PgDump: flagString(fs, "pg-dump")},
		Progress: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "backup: "+f+"\n", a...) },
	}, args[0])
	if err != nil {
		return fmt.Errorf("backup into %s: %w (the folder holds an incomplete backup; remove it)", args[0], err)
	}
	fmt.Printf("backed up %d projects, %d LFS objects, %d files into %s\n", len(m.Projects), len(m.Blobs), len(m.Files), args[0])
	return nil
}

var restoreCmd = &cli.Command{
	Name:    "restore",
	Args:    "DIR",
	Summary: "build a working instance in --data (new or empty) from the backup in DIR",
	Help: `Verifies the backup first (the manifest's checksum, then each file's size
and SHA-256; anything changed is refused before a byte is written), then
lays the metadata, repositories and LFS objects into the --data folder and
rebuilds the search index and previews from the repositories. Webhook
deliveries still waiting in the backup are not sent again.

--data must be new or empty: restore never writes over a live instance.
A backup of a PostgreSQL instance (its metadata is a pg_dump) is restored
into the empty database --db postgres://… names, with pg_restore; a
SQLite one into --data (move it to PostgreSQL afterwards with
blueprints migrate-db).`,
	Setup: func(fs *cli.Flags) {
		dataFlag(fs)
		fs.String("storage", "fs", "blob storage of the new instance: fs or s3://BUCKET[/PREFIX]")
		fs.Env("storage", "BLUEPRINTS_STORAGE")
		scadFlags(fs)
		partBudgetFlags(fs)
		fs.String("pg-restore", "pg_restore", "the pg_restore program, for a PostgreSQL backup")
		fs.Env("pg-restore", "BLUEPRINTS_PG_RESTORE")
	},
	Run: runRestore,
}

func runRestore(fs *cli.Flags, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: want the backup folder DIR", cli.ErrUsage)
	}
	data, storageURL := flagString(fs, "data"), flagString(fs, "storage")
	db := flagString(fs, "db")
	if db != "" && !store.IsPostgres(db) {
		return fmt.Errorf("%w: --db %q: want postgres://… (leave it empty for SQLite in the data folder)", cli.ErrUsage, db)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, err := rebuildNode(log, fs)
	if err != nil {
		return err
	}
	// Verify before anything is made.
	m, err := backup.Read(args[0])
	if err != nil {
		return err
	}
	switch pg := m.MetadataFormat == store.CopyPgDump; {
	case pg && db == "":
		return fmt.Errorf("%w: backup %s holds a PostgreSQL dump: give --db postgres://… naming an empty database", cli.ErrUsage, args[0])
	case !pg && db != "":
		return fmt.Errorf("%w: backup %s holds a SQLite database: restore it without --db, then move it with blueprints migrate-db --to postgres://…", cli.ErrUsage, args[0])
	}
	if entries, err := os.ReadDir(data); err == nil && len(entries) > 0 {
		return fmt.Errorf("--data %s is not empty: restore into a new folder", data)
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	blobs, err := storage.Open(ctx, storageURL, data)
	if err != nil {
		return err
	}
	say := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "restore: "+f+"\n", a...) }
	dropped, err := backup.Restore(ctx, args[0], backup.Target{
		Data: data, DB: db, Blobs: blobs, Progress: say,
		Programs: store.BackupOptions{PgRestore: flagString(fs, "pg-restore")},
		Repos: func(st *store.Store) (*repo.Server, error) {
			return repo.New(repo.Config{Data: data, Store: st, Logger: log})
		},
	})
	if err != nil {
		return err
	}
	if len(dropped) > 0 {
		say("left out %s: created after the repositories were backed up", strings.Join(dropped, ", "))
	}
	st, unlock, err := openStoreLocked(ctx, fs, data, "restore")
	if err != nil {
		return err
	}
	defer st.Close()
	say("rebuilding the search index and previews")
	return rebuildIndex(ctx, log, st, blobs, data, filepath.Join(data, "repos"), unlock, false, false, node)
}
