// Command blueprints is the Blueprints server and its admin tools: a git
// server for open hardware that turns every STL file into a measured,
// previewed and searchable part.
//
// main stays thin: each command lives in its own file, parses its flags and
// wires the packages together.
package main

import (
	"os"

	"github.com/blueprints-hq/blueprints/internal/cli"
)

func main() {
	app := &cli.App{
		Name:    "blueprints",
		Summary: "a self-hosted git server for open hardware that understands STL parts",
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Commands: []*cli.Command{
			serveCmd,
			userAddCmd,
			userListCmd,
			userPasswordCmd,
			userDisableCmd,
			userEnableCmd,
			userDeleteCmd,
			orgAddCmd,
			orgMemberCmd,
			tokenAddCmd,
			tokenListCmd,
			tokenRevokeCmd,
			inspectCmd,
			renderCmd,
			reindexCmd,
			migrateDBCmd,
			hookCmd,
			mirrorAddCmd,
			mirrorRefreshCmd,
			mirrorListCmd,
			followCmd,
			blockCmd,
			unblockCmd,
			versionCmd,
			backupCmd,
			restoreCmd,
			doctorCmd,
			webhookAddCmd,
			webhookListCmd,
			webhookRemoveCmd,
		},
	}
	os.Exit(app.Main(os.Args[1:]))
}
