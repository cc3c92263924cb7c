package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// storeFile is the metadata store's file in the data folder.
const storeFile = "blueprints.db"

// adminFlags declares the flags of the commands that work on a server's
// data folder (user, token and later admin commands): --data with its
// environment twin, and --init. --init has no environment twin on
// purpose: a variable left set would let every command create folders
// again, which is what --init exists to prevent.
func adminFlags(fs *cli.Flags) {
	dataFlag(fs)
	fs.Bool("init", false, "create the data folder and an empty metadata store when there is none (otherwise an admin command refuses to)")
}

// openAdminStore opens the metadata store an admin command names (--db,
// or the SQLite database of the --data folder), and returns where it is:
// the data folder's absolute path, or the database's address without its
// password. It never creates a data folder unless --init was given: an
// admin command run in the wrong directory (or without --data) would
// otherwise make a new, empty data folder there, and the user it created
// would exist nowhere the server looks. The error names the folder it
// looked in and what to do.
func openAdminStore(ctx context.Context, fs *cli.Flags) (*store.Store, string, error) {
	if db := flagString(fs, "db"); db != "" {
		// A shared database: no data folder holds the metadata.
		st, err := openStore(ctx, fs)
		return st, "database " + redactURL(db), err
	}
	data := flagString(fs, "data")
	abs, err := filepath.Abs(data)
	if err != nil {
		return nil, "", fmt.Errorf("data folder %s: %w", data, err)
	}
	init := flagString(fs, "init") == "true"
	_, err = os.Stat(filepath.Join(abs, storeFile))
	switch {
	case err == nil:
	case !errors.Is(err, os.ErrNotExist):
		return nil, abs, fmt.Errorf("data folder %s: %w", abs, err)
	case !init:
		return nil, abs, fmt.Errorf("no Blueprints data folder at %s (it has no %s): point --data (or BLUEPRINTS_DATA) at the folder 'blueprints serve' uses, or add --init to create a new one there", abs, storeFile)
	default:
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, abs, fmt.Errorf("create data folder %s: %w", abs, err)
		}
		fmt.Fprintf(os.Stderr, "created data folder %s\n", abs)
	}
	st, err := store.Open(ctx, filepath.Join(abs, storeFile))
	if err != nil {
		return nil, abs, err
	}
	return st, "data folder " + abs, nil
}

// redactURL is a database address without its password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an address that does not parse)"
	}
	return u.Redacted()
}
