package main

import (
	"errors"

	"github.com/blueprints-hq/blueprints/internal/cli"
)

// tokenRevokeCmd is a placeholder until its issue lands.
var tokenRevokeCmd = &cli.Command{
	Name:    "token revoke",
	Summary: "not built yet",
	Run: func(fs *cli.Flags, args []string) error {
		return errors.New("not built yet")
	},
}
