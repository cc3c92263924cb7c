package main

import (
	"errors"

	"github.com/blueprints-hq/blueprints/internal/cli"
)

// reindexCmd is a placeholder until its issue lands.
var reindexCmd = &cli.Command{
	Name:    "reindex",
	Summary: "not built yet",
	Run: func(fs *cli.Flags, args []string) error {
		return errors.New("not built yet")
	},
}
