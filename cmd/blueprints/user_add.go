package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
)

var userAddCmd = &cli.Command{
	Name:    "user add",
	Args:    "NAME",
	Summary: "create a user and print a new access token",
	Help: `Creates the user NAME and prints an access token on the last line of
stdout. Push with it: git push http://NAME:TOKEN@HOST/NAME/PROJECT.git.
Names are letters, digits, '.', '_' and '-', unique without regard to case.
Works while the server runs.`,
	Setup: dataFlag,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		name := args[0]
		if err := repo.ValidOwner(name); err != nil {
			return fmt.Errorf("user name: %w", err)
		}
		ctx := context.Background()
		st, err := openStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		u, err := st.CreateUser(ctx, name)
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("user %s already exists (names ignore case): pick another name", name)
		}
		if err != nil {
			return err
		}
		tok, secret, err := st.CreateToken(ctx, u.Name)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created user %s with token %d\n", u.Name, tok.ID)
		fmt.Println(secret)
		return nil
	},
}
