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

var orgAddCmd = &cli.Command{
	Name:    "org add",
	Args:    "NAME",
	Summary: "create an organisation owned by a user",
	Help: `Creates the organisation NAME with --owner USER as its first owner.
Owners manage its members and projects and may push-to-create under it
(git push http://USER:TOKEN@HOST/NAME/PROJECT.git); members push to its
projects. Names share one namespace with users. Works while the server runs.`,
	Setup: func(fs *cli.Flags) {
		adminFlags(fs)
		fs.String("owner", "", "the user who owns the organisation (required)")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		name, owner := args[0], flagString(fs, "owner")
		if owner == "" {
			return fmt.Errorf("%w: --owner USER is required", cli.ErrUsage)
		}
		if err := repo.ValidOwner(name); err != nil {
			return fmt.Errorf("organisation name: %w", err)
		}
		return withUser(fs, owner, func(ctx context.Context, st *store.Store, u store.User) error {
			org, err := st.CreateOrg(ctx, name, u.ID)
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("the name %s is taken by a user or an organisation (names ignore case): pick another name", name)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "created organisation %s owned by %s\n", org.Name, u.Name)
			return nil
		})
	},
}

var orgMemberCmd = &cli.Command{
	Name:    "org member",
	Args:    "ORG USER",
	Summary: "add a user to an organisation, change their role, or remove them",
	Help: `Adds USER to the organisation ORG with --role member (pushes to its
projects) or owner (also manages members and creates projects under it),
or changes their role; --remove takes them out. An organisation always
keeps an owner. Organisation owners can do the same on the web.`,
	Setup: func(fs *cli.Flags) {
		adminFlags(fs)
		fs.String("role", store.RoleMember, "member or owner")
		fs.Bool("remove", false, "remove USER from ORG")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 2 {
			return fmt.Errorf("%w: want ORG and USER", cli.ErrUsage)
		}
		role := flagString(fs, "role")
		if role != store.RoleMember && role != store.RoleOwner {
			return fmt.Errorf("%w: --role %q: want member or owner", cli.ErrUsage, role)
		}
		return withUser(fs, args[1], func(ctx context.Context, st *store.Store, u store.User) error {
			org, err := st.UserByName(ctx, args[0])
			if err != nil || !org.IsOrg() {
				return fmt.Errorf("no organisation %s: create one with 'blueprints org add NAME --owner USER'", args[0])
			}
			if flagString(fs, "remove") == "true" {
				if err := st.RemoveOrgMember(ctx, org.ID, u.ID); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("%s is not a member of %s", u.Name, org.Name)
					}
					return err
				}
				fmt.Fprintf(os.Stderr, "removed %s from %s\n", u.Name, org.Name)
				return nil
			}
			if err := st.SetOrgMember(ctx, org.ID, u.ID, role); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s is now %s of %s\n", u.Name, map[string]string{store.RoleOwner: "an owner", store.RoleMember: "a member"}[role], org.Name)
			return nil
		})
	},
}
