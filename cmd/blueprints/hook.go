package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/repo/packcache"
)

var hookCmd = &cli.Command{
	Name:    "hook",
	Args:    "pre-receive|post-receive|pack-objects",
	Summary: "run by git inside a push or a clone (internal): hand the push to the server, or serve a pack",
	Help: `Git runs this from the hooks the server installs. For pre-receive and
post-receive it reads the ref updates on stdin and passes them to the
running server, which checks or records the push. For pack-objects
(uploadpack.packObjectsHook) it serves the pack of a clone or fetch from
the pack cache, or runs the git command given after -- and keeps its pack.
Not meant to be run by hand.`,
	Setup: func(fs *cli.Flags) {
		fs.String("pack-cache", "", "pack-objects: the pack cache folder")
		fs.Int64("pack-cache-bytes", 0, "pack-objects: the pack cache's size limit in bytes (0: pass through)")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) >= 1 && args[0] == "pack-objects" {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			max := fs.Lookup("pack-cache-bytes").Value.(interface{ Get() any }).Get().(int64)
			c := packcache.Cache{Dir: flagString(fs, "pack-cache"), MaxBytes: max}
			_, err := c.Serve(ctx, args[1:], os.Stdin, os.Stdout, os.Stderr)
			return err
		}
		if len(args) != 1 {
			return fmt.Errorf("%w: want pre-receive, post-receive or pack-objects", cli.ErrUsage)
		}
		err := repo.RunHook(context.Background(), args[0], os.Getenv, os.Stdin, os.Stdout)
		if errors.Is(err, repo.ErrRefused) {
			os.Exit(1) // the server's reason is already on stdout
		}
		return err
	},
}
