package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/repo"
)

var hookCmd = &cli.Command{
	Name:    "hook",
	Args:    "pre-receive|post-receive",
	Summary: "run by git inside a push (internal): hand the push to the server",
	Help: `Git runs this from the hooks the server installs; it reads the ref
updates on stdin and passes them to the running server, which checks or
records the push. Not meant to be run by hand.`,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want pre-receive or post-receive", cli.ErrUsage)
		}
		err := repo.RunHook(context.Background(), args[0], os.Getenv, os.Stdin, os.Stdout)
		if errors.Is(err, repo.ErrRefused) {
			os.Exit(1) // the server's reason is already on stdout
		}
		return err
	},
}
