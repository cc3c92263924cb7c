package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blueprints-hq/blueprints/auth"
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
Names are letters, digits, '.', '_' and '-', unique without regard to case
(people and organisations share them), and not one of the server's own
top-level paths (api, login, settings, ...).

--admin makes an administrator, who may act on every project and account
from the web. --password-stdin reads a password for signing in on the web
from the first line of stdin (or set one later with 'blueprints user
password NAME'). Works while the server runs. The user is created in the
data folder --data names (default ./data), which must be the server's:
without --init, a folder that holds no Blueprints data is refused rather
than created.`,
	Setup: func(fs *cli.Flags) {
		adminFlags(fs)
		fs.Bool("admin", false, "make the user an administrator")
		fs.Bool("password-stdin", false, "read a web sign-in password from the first line of stdin")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		name := args[0]
		if err := repo.ValidOwner(name); err != nil {
			return fmt.Errorf("user name: %w", err)
		}
		var hash string
		if flagString(fs, "password-stdin") == "true" {
			pw, err := readPassword(os.Stdin)
			if err != nil {
				return err
			}
			if err := auth.CheckPassword(pw, name); err != nil {
				return err
			}
			if hash, err = auth.HashPassword(pw); err != nil {
				return err
			}
		}
		ctx := context.Background()
		st, data, err := openAdminStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		u, err := st.CreateAccount(ctx, store.NewAccount{Name: name, Admin: flagString(fs, "admin") == "true", PasswordHash: hash})
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("the name %s is taken by a user or an organisation (names ignore case): pick another name", name)
		}
		if err != nil {
			return err
		}
		tok, secret, err := st.CreateToken(ctx, u.Name)
		if err != nil {
			return err
		}
		role := "user"
		if u.Admin {
			role = "administrator"
		}
		fmt.Fprintf(os.Stderr, "created %s %s with token %d (scope write) in %s\n", role, u.Name, tok.ID, data)
		fmt.Println(secret)
		return nil
	},
}

// readPassword reads one line (without its line ending) from r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, auth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("read password from stdin: got an empty line")
	}
	return line, nil
}

var userPasswordCmd = &cli.Command{
	Name:    "user password",
	Args:    "NAME",
	Summary: "set a user's web sign-in password (read from stdin)",
	Help: `Sets the password NAME signs in with on the web, read from the first
line of stdin, e.g.  printf '%s\n' "$PW" | blueprints user password alice.
It must have at least 10 characters and not be one of the most common
passwords. The user's web sessions stay signed in; tokens are unchanged.`,
	Setup: adminFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		pw, err := readPassword(os.Stdin)
		if err != nil {
			return err
		}
		return withUser(fs, args[0], func(ctx context.Context, st *store.Store, u store.User) error {
			if err := auth.CheckPassword(pw, u.Name); err != nil {
				return err
			}
			hash, err := auth.HashPassword(pw)
			if err != nil {
				return err
			}
			if err := st.SetPasswordHash(ctx, u.ID, hash); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "password of %s set\n", u.Name)
			return nil
		})
	},
}

// withUser opens the store and finds the person NAME (not an
// organisation) for f.
func withUser(fs *cli.Flags, name string, f func(ctx context.Context, st *store.Store, u store.User) error) error {
	ctx := context.Background()
	st, _, err := openAdminStore(ctx, fs)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %s: see 'blueprints user list'", name)
	}
	if err != nil {
		return err
	}
	if u.IsOrg() {
		return fmt.Errorf("%s is an organisation, not a user", u.Name)
	}
	return f(ctx, st, u)
}

var userListCmd = &cli.Command{
	Name:    "user list",
	Summary: "list the users: name, role, state, created",
	Setup:   adminFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 0 {
			return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
		}
		ctx := context.Background()
		st, _, err := openAdminStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		us, err := st.Users(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tROLE\tSTATE\tPASSWORD\tCREATED")
		for _, u := range us {
			role, state, pw := "user", "active", "no"
			if u.Admin {
				role = "admin"
			}
			if u.Disabled != nil {
				state = "disabled " + u.Disabled.UTC().Format(time.RFC3339)
			}
			if u.HasPassword {
				pw = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Name, role, state, pw, u.Created.UTC().Format(time.RFC3339))
		}
		return w.Flush()
	},
}

var userDisableCmd = &cli.Command{
	Name:    "user disable",
	Args:    "NAME",
	Summary: "stop a user at once: sign-in, sessions and tokens",
	Help: `Disables NAME: their web sessions end, their access tokens are refused and
they cannot sign in, at once, also while the server runs. Their projects
stay (and stay visible as before). 'blueprints user enable NAME' undoes it.`,
	Setup: adminFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		return withUser(fs, args[0], func(ctx context.Context, st *store.Store, u store.User) error {
			if err := st.DisableUser(ctx, u.ID); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "disabled %s: sessions ended, tokens refused\n", u.Name)
			return nil
		})
	},
}

var userEnableCmd = &cli.Command{
	Name:    "user enable",
	Args:    "NAME",
	Summary: "let a disabled user sign in and use their tokens again",
	Setup:   adminFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		return withUser(fs, args[0], func(ctx context.Context, st *store.Store, u store.User) error {
			if err := st.EnableUser(ctx, u.ID); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "enabled %s\n", u.Name)
			return nil
		})
	},
}

var userDeleteCmd = &cli.Command{
	Name:    "user delete",
	Args:    "NAME",
	Summary: "delete a user with their tokens, sessions and memberships",
	Help: `Deletes NAME with their tokens, sessions, sign-ins, organisation
memberships, collaborations and LFS locks. A user who still owns projects,
or is the last owner of an organisation, is refused: transfer or delete
those projects on the web first (or disable the user instead).`,
	Setup: adminFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		return withUser(fs, args[0], func(ctx context.Context, st *store.Store, u store.User) error {
			if err := st.DeleteUser(ctx, u.ID); err != nil {
				if errors.Is(err, store.ErrInUse) {
					return fmt.Errorf("%s", strings.TrimSuffix(err.Error(), ": "+store.ErrInUse.Error()))
				}
				return err
			}
			fmt.Fprintf(os.Stderr, "deleted user %s\n", u.Name)
			return nil
		})
	},
}
