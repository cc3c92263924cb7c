package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
)

var migrateDBCmd = &cli.Command{
	Name:    "migrate-db",
	Summary: "move the metadata of a SQLite instance into PostgreSQL, verified (server stopped)",
	Help: `Copies everything the data folder's SQLite database (DATA/blueprints.db)
holds into the PostgreSQL database --to names, which must be empty (create
it first, owned by the role the URL names: CREATE DATABASE blueprints OWNER
blueprints). The copy runs in one PostgreSQL transaction; before it commits,
every table is read back and its row count and a checksum of all its values
are compared with the SQLite database's. Any difference, and nothing is
committed. The SQLite database is left as it was.

Stop the server first: migrate-db refuses to run while blueprints serve
uses the data folder. Then start the server (or several nodes) with
--db set to the same URL. The search index follows the database: a node
keeps its index (it belongs to the same change log), a new node builds its
own from the database.

Blob storage is not moved. Nodes sharing a database must use S3
(--storage s3://BUCKET[/PREFIX]); with fs storage so far, copy DATA/blobs
into the bucket first, keys unchanged (e.g. aws s3 sync DATA/blobs
s3://BUCKET/PREFIX).`,
	Setup: func(fs *cli.Flags) {
		fs.String("data", "./data", "data folder of the instance to move (its blueprints.db is read)")
		fs.Env("data", "BLUEPRINTS_DATA")
		fs.String("to", "", "PostgreSQL database to fill: postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=MODE")
		fs.Env("to", "BLUEPRINTS_MIGRATE_TO")
	},
	Run: runMigrateDB,
}

func runMigrateDB(fs *cli.Flags, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
	}
	data, to := flagString(fs, "data"), flagString(fs, "to")
	if !store.IsPostgres(to) {
		return fmt.Errorf("%w: --to %q: want postgres://USER:PASSWORD@HOST:PORT/DB", cli.ErrUsage, store.Redact(to))
	}
	path := filepath.Join(data, "blueprints.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("data folder %s has no blueprints.db: nothing to migrate (check --data)", data)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	unlock, err := lockData(data, "migrate-db")
	if err != nil {
		return err
	}
	defer unlock()
	src, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := store.Open(ctx, to)
	if err != nil {
		return err
	}
	defer dst.Close()

	start := time.Now()
	last := ""
	tables, err := store.CopyTo(ctx, src, dst, func(table string, rows, total int64) {
		if table != last {
			fmt.Fprintf(os.Stderr, "copying %s (%d rows)\n", table, total)
			last = table
		}
	})
	if err != nil {
		return fmt.Errorf("%w\nthe PostgreSQL database is unchanged; the SQLite database too", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TABLE\tROWS\tCHECKSUM (source = target)")
	var rows int64
	for _, t := range tables {
		fmt.Fprintf(w, "%s\t%d\t%s\n", t.Table, t.Rows, t.Checksum[:16])
		rows += t.Rows
	}
	w.Flush()
	fmt.Printf("migrated %d rows in %d tables to %s in %s; row counts and checksums verified\n", rows, len(tables), store.Redact(to), time.Since(start).Round(time.Millisecond))
	fmt.Printf("next: blueprints serve --db '%s' --storage s3://BUCKET[/PREFIX] (see --help)\n", store.Redact(to))
	return nil
}
