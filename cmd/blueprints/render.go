package main

import (
	"errors"

	"github.com/blueprints-hq/blueprints/internal/cli"
)

// renderCmd is a placeholder until its issue lands.
var renderCmd = &cli.Command{
	Name:    "render",
	Summary: "not built yet",
	Run: func(fs *cli.Flags, args []string) error {
		return errors.New("not built yet")
	},
}
