package main

import (
	"errors"

	"github.com/blueprints-hq/blueprints/internal/cli"
)

// userAddCmd is a placeholder until its issue lands.
var userAddCmd = &cli.Command{
	Name:    "user add",
	Summary: "not built yet",
	Run: func(fs *cli.Flags, args []string) error {
		return errors.New("not built yet")
	},
}
