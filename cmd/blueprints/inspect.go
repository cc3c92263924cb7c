package main

import (
	"errors"

	"github.com/blueprints-hq/blueprints/internal/cli"
)

// inspectCmd is a placeholder until its issue lands.
var inspectCmd = &cli.Command{
	Name:    "inspect",
	Summary: "not built yet",
	Run: func(fs *cli.Flags, args []string) error {
		return errors.New("not built yet")
	},
}
