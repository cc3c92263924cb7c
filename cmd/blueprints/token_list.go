package main

import (
	"errors"

	"github.com/blueprints-hq/blueprints/internal/cli"
)

// tokenListCmd is a placeholder until its issue lands.
var tokenListCmd = &cli.Command{
	Name:    "token list",
	Summary: "not built yet",
	Run: func(fs *cli.Flags, args []string) error {
		return errors.New("not built yet")
	},
}
