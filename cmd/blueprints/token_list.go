package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
)

var tokenListCmd = &cli.Command{
	Name:    "token list",
	Args:    "NAME",
	Summary: "list a user's access tokens (ids, dates, scopes, never secrets)",
	Setup:   adminFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		ctx := context.Background()
		st, _, err := openAdminStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		ts, err := st.Tokens(ctx, args[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %s: create one with 'blueprints user add NAME'", args[0])
		} else if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tCREATED\tLAST USED\tSTATUS\tSCOPE\tEXPIRES\tNAME")
		now := time.Now()
		for _, t := range ts {
			status := "active"
			switch {
			case t.Revoked != nil:
				status = "revoked " + t.Revoked.UTC().Format(time.RFC3339)
			case !t.Active(now):
				status = "expired"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Created.UTC().Format(time.RFC3339), formatTime(t.LastUsed), status, t.Scope, formatTime(t.Expires), t.Name)
		}
		return w.Flush()
	},
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
