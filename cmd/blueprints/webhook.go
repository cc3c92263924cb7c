package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blueprints-hq/blueprints/internal/cli"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/webhook"
)

// splitProject reads OWNER/PROJECT.
func splitProject(s string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(strings.TrimSuffix(s, ".git"), "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%w: %q: want OWNER/PROJECT", cli.ErrUsage, s)
	}
	return owner, name, nil
}

var webhookAddCmd = &cli.Command{
	Name:    "webhook add",
	Args:    "OWNER/PROJECT URL",
	Summary: "post a project's events (push, catalog.done) to URL, signed with a secret",
	Help: `Adds a webhook: each event is POSTed to URL as JSON, signed with
HMAC-SHA256 of the secret in X-Blueprints-Signature-256 ("sha256=<hex>",
as GitHub's X-Hub-Signature-256), with X-Blueprints-Event and
X-Blueprints-Delivery. Failed deliveries are retried with doubling waits.
Without --secret a random one is made and printed (last line); it is not
shown again. The server refuses to deliver to loopback, private and
link-local addresses unless serve --webhook-allow names them.
Works while the server runs.`,
	Setup: func(fs *cli.Flags) {
		dataFlag(fs)
		fs.String("events", "", "comma-separated events: push, catalog.done (default: all)")
		fs.String("secret", "", "secret to sign bodies with (default: a new random one, printed)")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 2 {
			return fmt.Errorf("%w: want OWNER/PROJECT and URL", cli.ErrUsage)
		}
		owner, name, err := splitProject(args[0])
		if err != nil {
			return err
		}
		if err := webhook.CheckURL(args[1]); err != nil {
			return fmt.Errorf("%w: %w", cli.ErrUsage, err)
		}
		events, err := webhook.ParseEvents(flagString(fs, "events"))
		if err != nil {
			return fmt.Errorf("%w: --events: %w", cli.ErrUsage, err)
		}
		secret, printed := flagString(fs, "secret"), false
		if secret == "" {
			secret, printed = webhook.NewSecret(), true
		}
		ctx := context.Background()
		st, err := openStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		h, err := st.CreateWebhook(ctx, owner, name, args[1], secret, events)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no project %s/%s: push to it first", owner, name)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "webhook %d on %s: %s for %s\n", h.ID, h.Project, h.URL, strings.Join(h.Events, ", "))
		if printed {
			fmt.Println(secret)
		}
		return nil
	},
}

var webhookListCmd = &cli.Command{
	Name:    "webhook list",
	Args:    "OWNER/PROJECT",
	Summary: "list a project's webhooks and their latest deliveries",
	Setup: func(fs *cli.Flags) {
		dataFlag(fs)
		fs.Int("deliveries", 10, "deliveries shown per webhook, newest first")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want OWNER/PROJECT", cli.ErrUsage)
		}
		owner, name, err := splitProject(args[0])
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(flagString(fs, "deliveries"))
		ctx := context.Background()
		st, err := openStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		hooks, err := st.Webhooks(ctx, owner, name)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		for _, h := range hooks {
			fmt.Fprintf(w, "webhook %d\t%s\t%s\n", h.ID, h.URL, strings.Join(h.Events, ","))
			ds, err := st.RecentDeliveries(ctx, h.ID, n)
			if err != nil {
				return err
			}
			for _, d := range ds {
				status := "-"
				if d.StatusCode != 0 {
					status = strconv.Itoa(d.StatusCode)
				}
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\tattempts %d\t%s\t%s\n", d.Created.UTC().Format(time.RFC3339), d.Event, d.State, status, d.Attempts, d.GUID, d.Error)
			}
		}
		return w.Flush()
	},
}

var webhookRemoveCmd = &cli.Command{
	Name:    "webhook remove",
	Args:    "ID",
	Summary: "remove a webhook and its delivery records",
	Setup:   dataFlag,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want a webhook ID", cli.ErrUsage)
		}
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return fmt.Errorf("%w: webhook ID %q: want a number (see webhook list)", cli.ErrUsage, args[0])
		}
		ctx := context.Background()
		st, err := openStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.DeleteWebhook(ctx, id); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no webhook %d", id)
		} else if err != nil {
			return err
		}
		return nil
	},
}
