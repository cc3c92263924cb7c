package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// dataFlag declares --data and --db with their environment twins: where
// the node's files are, and which metadata database it uses. Every command
// that opens the store declares them.
func dataFlag(fs *cli.Flags) {
	fs.String("data", "./data", "data folder (metadata when --db is not set, repositories unless --repos is set, search index, blobs with fs storage)")
	fs.Env("data", "BLUEPRINTS_DATA")
	fs.String("db", "", "metadata database: empty for SQLite in the data folder (DATA/blueprints.db), or postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=MODE for several nodes sharing one")
	fs.Env("db", "BLUEPRINTS_DB")
}

// reposFlag declares --repos, the folder of bare repositories.
func reposFlag(fs *cli.Flags) {
	fs.String("repos", "", "folder of the bare repositories (default DATA/repos); nodes of a cluster share one (NFS, CephFS, EFS: atomic rename and POSIX locks needed)")
	fs.Env("repos", "BLUEPRINTS_REPOS")
}

func flagString(fs *cli.Flags, name string) string { return fs.Lookup(name).Value.String() }

// flagGet is the typed value of a flag.
func flagGet[T any](fs *cli.Flags, name string) T {
	return fs.Lookup(name).Value.(interface{ Get() any }).Get().(T)
}

// dbTarget is what --db names: the PostgreSQL URL, or the SQLite file in
// the data folder.
func dbTarget(fs *cli.Flags) string {
	if db := flagString(fs, "db"); db != "" {
		return db
	}
	return filepath.Join(flagString(fs, "data"), "blueprints.db")
}

// reposDir is the folder of repositories --repos and --data name.
func reposDir(fs *cli.Flags) string {
	if r := fs.Lookup("repos"); r != nil && r.Value.String() != "" {
		return r.Value.String()
	}
	return filepath.Join(flagString(fs, "data"), "repos")
}

// openStore opens the metadata store --db names (creating the data folder
// and, for SQLite, the database in it).
func openStore(ctx context.Context, fs *cli.Flags) (*store.Store, error) {
	db := flagString(fs, "db")
	if db != "" && !store.IsPostgres(db) {
		return nil, fmt.Errorf("%w: --db %q: want postgres://… (leave it empty for SQLite in the data folder)", cli.ErrUsage, db)
	}
	data := flagString(fs, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, fmt.Errorf("create data folder %s: %w", data, err)
	}
	return store.Open(ctx, dbTarget(fs))
}

// lockData takes the data folder's lock for a command that must run with
// no server on the folder; verb names the command in the refusal.
func lockData(data, verb string) (unlock func(), err error) {
	unlock, err = catalog.LockData(data)
	if errors.Is(err, catalog.ErrLocked) {
		return nil, fmt.Errorf("blueprints serve is running on data folder %s (it holds %s); stop it first, then run %s", data, filepath.Join(data, catalog.LockFile), verb)
	}
	return unlock, err
}

// openStoreLocked takes the data folder's lock (lockData) and opens the
// store; the caller releases unlock once it is done with the folder.
func openStoreLocked(ctx context.Context, fs *cli.Flags, data, verb string) (*store.Store, func(), error) {
	unlock, err := lockData(data, verb)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, fs)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return st, unlock, nil
}

// defaultNode names a node in job leases when --node is not set: the host
// name and a digest of the data folder's absolute path, so that it stays
// the same across restarts and differs between nodes on one host.
func defaultNode(data string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	abs, err := filepath.Abs(data)
	if err != nil {
		abs = data
	}
	sum := sha256.Sum256([]byte(abs))
	return host + "-" + hex.EncodeToString(sum[:3])
}
