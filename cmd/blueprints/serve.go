package main

import (
	"errors"

	"github.com/blueprints-hq/blueprints/internal/cli"
)

// serveCmd is a placeholder until its issue lands.
var serveCmd = &cli.Command{
	Name:    "serve",
	Summary: "not built yet",
	Run: func(fs *cli.Flags, args []string) error {
		return errors.New("not built yet")
	},
}
