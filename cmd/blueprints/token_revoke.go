package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
)

var tokenRevokeCmd = &cli.Command{
	Name:    "token revoke",
	Args:    "ID",
	Summary: "revoke an access token (ids from 'token list')",
	Setup:   adminFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one token ID", cli.ErrUsage)
		}
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("%w: token ID %q is not a positive number", cli.ErrUsage, args[0])
		}
		ctx := context.Background()
		st, _, err := openAdminStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.RevokeToken(ctx, id); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no token %d: see a user's tokens with 'blueprints token list NAME'", id)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "revoked token %d\n", id)
		return nil
	},
}
