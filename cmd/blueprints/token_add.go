package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
)

var tokenAddCmd = &cli.Command{
	Name:    "token add",
	Args:    "NAME",
	Summary: "make a new access token for a user and print it",
	Help: `Makes an access token for the user NAME and prints it on the last line
of stdout (it is shown once). --scope read lets it clone, fetch and read
the API only; write (the default) also pushes and uploads LFS objects.
--expires takes a duration (90d, 12h, 2w) or a date (2026-12-31); without
it the token never expires. Works while the server runs.`,
	Setup: func(fs *cli.Flags) {
		adminFlags(fs)
		fs.String("scope", store.ScopeWrite, "what the token may do: read or write")
		fs.String("expires", "", "when it stops working: a duration (90d, 12h, 2w) or a date (2026-12-31); empty: never")
		fs.String("name", "", "what the token is for (shown in lists)")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want exactly one NAME", cli.ErrUsage)
		}
		scope := flagString(fs, "scope")
		if !store.ValidScope(scope) {
			return fmt.Errorf("%w: --scope %q: want read or write", cli.ErrUsage, scope)
		}
		expires, err := ParseExpiry(flagString(fs, "expires"), time.Now())
		if err != nil {
			return fmt.Errorf("%w: --expires: %v", cli.ErrUsage, err)
		}
		return withUser(fs, args[0], func(ctx context.Context, st *store.Store, u store.User) error {
			tok, secret, err := st.NewToken(ctx, u.Name, store.TokenOptions{Name: flagString(fs, "name"), Scope: scope, Expires: expires})
			if err != nil {
				return err
			}
			exp := "never expires"
			if tok.Expires != nil {
				exp = "expires " + tok.Expires.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(os.Stderr, "made token %d for %s (scope %s, %s)\n", tok.ID, u.Name, tok.Scope, exp)
			fmt.Println(secret)
			return nil
		})
	},
}

// ParseExpiry reads an expiry: "" (never: the zero time), a duration
// from now ("90d", "2w", "12h", "1h30m") or a date ("2026-12-31", the
// end of that day in UTC) or an RFC 3339 time. It must lie in the future.
func ParseExpiry(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	var t time.Time
	if n, unit := strings.TrimRight(s, "dw"), s[len(s)-1]; (unit == 'd' || unit == 'w') && n != "" {
		k, err := strconv.Atoi(n)
		if err != nil || k <= 0 || k > 36500 {
			return time.Time{}, fmt.Errorf("%q: want a whole number of days or weeks, e.g. 90d", s)
		}
		days := k
		if unit == 'w' {
			days *= 7
		}
		t = now.AddDate(0, 0, days)
	} else if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(d)
	} else if day, err := time.Parse("2006-01-02", s); err == nil {
		t = day.Add(24*time.Hour - time.Second)
	} else if at, err := time.Parse(time.RFC3339, s); err == nil {
		t = at
	} else {
		return time.Time{}, fmt.Errorf("%q: want a duration (90d, 2w, 12h) or a date (2026-12-31)", s)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("%q is not in the future", s)
	}
	return t, nil
}
