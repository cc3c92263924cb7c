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

// webhookTarget reads the first argument of the webhook commands: a
// project (OWNER/PROJECT) or an organisation (ORG).
func webhookTarget(s string) (owner, name string, err error) {
	if !strings.Contains(s, "/") {
		if s == "" {
			return "", "", fmt.Errorf("%w: want OWNER/PROJECT or ORGANISATION", cli.ErrUsage)
		}
		return s, "", nil
	}
	return splitProject(s)
}

var webhookAddCmd = &cli.Command{
	Name:    "webhook add",
	Args:    "OWNER/PROJECT|ORGANISATION URL",
	Summary: "post a project's (or every project of an organisation's) events (push, catalog.done) to URL, signed with a secret",
	Help: `Adds a webhook to a project, or to an organisation: then it gets the
events of every project the organisation owns. Each event is POSTed to URL as JSON, signed with
HMAC-SHA256 of the secret in X-Blueprints-Signature-256 ("sha256=<hex>",
as GitHub's X-Hub-Signature-256), with X-Blueprints-Event and
X-Blueprints-Delivery. Failed deliveries are retried with doubling waits.
Without --secret a random one is made and printed (last line); it is not
shown again. The server refuses to deliver to loopback, private and
link-local addresses unless serve --webhook-allow names them.
Project and organisation owners can do the same on the web (the project's
Settings page, the organisation's page). Works while the server runs.`,
	Setup: func(fs *cli.Flags) {
		adminFlags(fs)
		fs.String("events", "", "comma-separated events: push, catalog.done (default: all)")
		fs.String("secret", "", "secret to sign bodies with (default: a new random one, printed)")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 2 {
			return fmt.Errorf("%w: want OWNER/PROJECT (or ORGANISATION) and URL", cli.ErrUsage)
		}
		owner, name, err := webhookTarget(args[0])
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
		st, _, err := openAdminStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		var h store.Webhook
		if name == "" {
			h, err = st.CreateOrgWebhook(ctx, owner, args[1], secret, events)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("no organisation %s", owner)
			case errors.Is(err, store.ErrNotOrg):
				return fmt.Errorf("%s is a person, not an organisation: add webhooks to their projects (%s/PROJECT)", owner, owner)
			}
		} else {
			h, err = st.CreateWebhook(ctx, owner, name, args[1], secret, events)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no project %s/%s: push to it first", owner, name)
			}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "webhook %d on %s: %s for %s\n", h.ID, h.Target(), h.URL, strings.Join(h.Events, ", "))
		if printed {
			fmt.Println(secret)
		}
		return nil
	},
}

var webhookListCmd = &cli.Command{
	Name:    "webhook list",
	Args:    "OWNER/PROJECT|ORGANISATION",
	Summary: "list a project's (or an organisation's) webhooks and their latest deliveries",
	Setup: func(fs *cli.Flags) {
		adminFlags(fs)
		fs.Int("deliveries", 10, "deliveries shown per webhook, newest first")
	},
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want OWNER/PROJECT or ORGANISATION", cli.ErrUsage)
		}
		owner, name, err := webhookTarget(args[0])
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(flagString(fs, "deliveries"))
		ctx := context.Background()
		st, _, err := openAdminStore(ctx, fs)
		if err != nil {
			return err
		}
		defer st.Close()
		var hooks []store.Webhook
		if name == "" {
			hooks, err = st.OrgWebhooks(ctx, owner)
		} else {
			hooks, err = st.Webhooks(ctx, owner, name)
		}
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
	Setup:   adminFlags,
	Run: func(fs *cli.Flags, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: want a webhook ID", cli.ErrUsage)
		}
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return fmt.Errorf("%w: webhook ID %q: want a number (see webhook list)", cli.ErrUsage, args[0])
		}
		ctx := context.Background()
		st, _, err := openAdminStore(ctx, fs)
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
