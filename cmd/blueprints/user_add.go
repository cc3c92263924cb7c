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
stdout. Give it to git as the password when it asks (with a credential
helper, such as 'git config --global credential.helper store', it asks
once), rather than writing it into remote URLs.
Names are letters, digits, '.', '_' and '-', unique without regard to case.
Works while the server runs. The user is created in the data folder --data
names (default ./data), which must be the server's: without --init, a
folder that holds no Blueprints data is refused rather than created.`,
	Setup: adminFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		name := args[0]
		if err := repo.ValidOwner(name); err != nil {
			return fmt.Errorf("user name: %w", err)
		}
		ctx := context.Background()
		st, data, err := openAdminStore(ctx, fs)
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
		fmt.Fprintf(os.Stderr, "created user %s with token %d in %s\n", u.Name, tok.ID, data)
		fmt.Println(secret)
		return nil
	},
}
