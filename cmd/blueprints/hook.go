package main

import (
	"errors"

	"github.com/blueprints-hq/blueprints/internal/cli"
)

// hookCmd is a placeholder until its issue lands.
var hookCmd = &cli.Command{
	Name:    "hook",
	Summary: "not built yet",
	Run: func(fs *cli.Flags, args []string) error {
		return errors.New("not built yet")
	},
}
