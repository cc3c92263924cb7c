package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/version"
)

var versionCmd = &cli.Command{
	Name:    "version",
	Summary: "print the version, commit and Go version of this binary",
	Help: `Prints the module version (a release tag or a pseudo-version), the commit
the binary was built from ("+dirty" when the checkout had uncommitted
changes), the Go version, and the newest metadata schema version this
binary knows. A database written by a newer schema is refused at start.`,
	Setup: func(fs *cli.Flags) {
		fs.Bool("json", false, "print JSON instead of text")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
		}
		v := version.Read()
		if flagString(fs, "json") == "true" {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{
				"version": v.Version, "commit": v.Commit, "commit_time": v.Time, "modified": v.Modified,
				"go": v.GoVersion, "schema": store.SchemaVersion(),
			})
		}
		fmt.Printf("blueprints %s\ncommit %s\n%s\nschema %d\n", v.Version, v.ShortCommit(), v.GoVersion, store.SchemaVersion())
		return nil
	},
}
