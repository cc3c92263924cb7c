package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Webhook is a URL a project's events are posted to, or an
// organisation's: then the events of every project it owns.
type Webhook struct {
	ID      int64
	Project string // "owner/name" of a project's webhook; "" for an organisation's
	Org     string // the organisation of an organisation's webhook; "" for a project's
	URL     string
	Secret  string // signs the bodies; never shown after creation
	Events  []string
	Created time.Time
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one event sent (or to be sent) to one webhook.
type Delivery struct {
	ID         int64
	WebhookID  int64
	GUID       string
	Event      string
	Payload    []byte
	State      string
	Attempts   int
	StatusCode int
	Error      string
	Duration   time.Duration
	NextAt     time.Time
	Created    time.Time
	Updated    time.Time
}

// Target is what the webhook is on: "owner/name", or the organisation.
func (w Webhook) Target() string {
	if w.Org != "" {
		return w.Org
	}
	return w.Project
}

// CreateWebhook adds a webhook to project (owner/name).
func (s *Store) CreateWebhook(ctx context.Context, owner, name, url, secret string, events []string) (Webhook, error) {
	p, err := s.ProjectByName(ctx, owner, name)
	if err != nil {
		return Webhook{}, err
	}
	now := time.Now().UTC()
	var id int64
	err = s.DB.QueryRowContext(ctx, `INSERT INTO webhooks (project_id, url, secret, events, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`, p.ID, url, secret, strings.Join(events, ","), now).Scan(&id)
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook for %s: %w", p.FullName(), err)
	}
	return Webhook{ID: id, Project: p.FullName(), URL: url, Secret: secret, Events: events, Created: now}, nil
}

// ErrNotOrg is returned for an organisation's webhook on a user who is a
// person.
var ErrNotOrg = errors.New("not an organisation")

// CreateOrgWebhook adds a webhook to organisation org: it gets the events
// of every project org owns, now or later.
func (s *Store) CreateOrgWebhook(ctx context.Context, org, url, secret string, events []string) (Webhook, error) {
	o, err := s.UserByName(ctx, org)
	if err != nil {
		return Webhook{}, err
	}
	if !o.IsOrg() {
		return Webhook{}, fmt.Errorf("create webhook for %s: %w", o.Name, ErrNotOrg)
	}
	now := time.Now().UTC()
	var id int64
	err = s.DB.QueryRowContext(ctx, `INSERT INTO webhooks (owner_id, url, secret, events, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`, o.ID, url, secret, strings.Join(events, ","), now).Scan(&id)
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook for %s: %w", o.Name, err)
	}
	return Webhook{ID: id, Org: o.Name, URL: url, Secret: secret, Events: events, Created: now}, nil
}

const webhookColumns = `w.id, COALESCE(p.owner || '/' || p.name, ''), COALESCE(o.name, ''), w.url, w.secret, w.events, w.created_at
	FROM webhooks w LEFT JOIN projects p ON p.id = w.project_id LEFT JOIN users o ON o.id = w.owner_id`

func scanWebhooks(rows *sql.Rows) ([]Webhook, error) {
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		var w Webhook
		var events string
		if err := rows.Scan(&w.ID, &w.Project, &w.Org, &w.URL, &w.Secret, &events, &w.Created); err != nil {
			return nil, err
		}
		w.Events = strings.Split(events, ",")
		out = append(out, w)
	}
	return out, rows.Err()
}

// Webhooks lists project's webhooks, oldest first.
func (s *Store) Webhooks(ctx context.Context, owner, name string) ([]Webhook, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+webhookColumns+` WHERE p.owner = ? AND p.name = ? ORDER BY w.id`, owner, name)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s/%s: %w", owner, name, err)
	}
	hooks, err := scanWebhooks(rows)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s/%s: %w", owner, name, err)
	}
	return hooks, nil
}

// OrgWebhooks lists organisation org's own webhooks, oldest first.
func (s *Store) OrgWebhooks(ctx context.Context, org string) ([]Webhook, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+webhookColumns+` WHERE o.name = ? ORDER BY w.id`, org)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s: %w", org, err)
	}
	hooks, err := scanWebhooks(rows)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s: %w", org, err)
	}
	return hooks, nil
}

// WebhooksFor lists the webhooks that want event of project (owner/name):
// the project's own, then those of the organisation that owns it.
func (s *Store) WebhooksFor(ctx context.Context, owner, name, event string) ([]Webhook, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+webhookColumns+` WHERE (p.owner = ? AND p.name = ?) OR o.name = ? ORDER BY w.owner_id IS NOT NULL, w.id`, owner, name, owner)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s/%s: %w", owner, name, err)
	}
	all, err := scanWebhooks(rows)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s/%s: %w", owner, name, err)
	}
	var out []Webhook
	for _, w := range all {
		for _, e := range w.Events {
			if e == event {
				out = append(out, w)
				break
			}
		}
	}
	return out, nil
}

// WebhookByID finds a webhook.
func (s *Store) WebhookByID(ctx context.Context, id int64) (Webhook, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+webhookColumns+` WHERE w.id = ?`, id)
	if err != nil {
		return Webhook{}, fmt.Errorf("find webhook %d: %w", id, err)
	}
	hooks, err := scanWebhooks(rows)
	if err != nil {
		return Webhook{}, fmt.Errorf("find webhook %d: %w", id, err)
	}
	if len(hooks) == 0 {
		return Webhook{}, fmt.Errorf("find webhook %d: %w", id, ErrNotFound)
	}
	return hooks[0], nil
}

// DeleteWebhook removes a webhook and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, id int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete webhook %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete webhook %d: %w", id, ErrNotFound)
	}
	return nil
}

// EnqueueDelivery records an event for a webhook, due now.
func (s *Store) EnqueueDelivery(ctx context.Context, hookID int64, guid, event string, payload []byte) error {
	now := time.Now().UTC()
	_, err := s.DB.ExecContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, guid, event, payload, state, next_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		hookID, guid, event, string(payload), DeliveryPending, now, now, now)
	if err != nil {
		return fmt.Errorf("queue %s delivery for webhook %d: %w", event, hookID, err)
	}
	return nil
}

const deliveryColumns = `id, webhook_id, guid, event, payload, state, attempts, status_code, error, duration_ms, next_at, created_at, updated_at FROM webhook_deliveries`

func scanDeliveries(rows *sql.Rows) ([]Delivery, error) {
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var payload string
		var ms int64
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.GUID, &d.Event, &payload, &d.State, &d.Attempts, &d.StatusCode, &d.Error, &ms, &d.NextAt, &d.Created, &d.Updated); err != nil {
			return nil, err
		}
		d.Payload, d.Duration = []byte(payload), time.Duration(ms)*time.Millisecond
		out = append(out, d)
	}
	return out, rows.Err()
}

// DueDeliveries lists pending deliveries due by now, oldest first.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+deliveryColumns+` WHERE state = ? AND next_at <= ? ORDER BY next_at, id LIMIT ?`, DeliveryPending, now.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("due webhook deliveries: %w", err)
	}
	ds, err := scanDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("due webhook deliveries: %w", err)
	}
	return ds, nil
}

// RecordAttempt records how an attempt at a delivery went and what is
// next: state pending with nextAt for a retry, or delivered or failed.
func (s *Store) RecordAttempt(ctx context.Context, d Delivery) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = ?, status_code = ?, error = ?, duration_ms = ?, next_at = ?, updated_at = ? WHERE id = ?`,
		d.State, d.Attempts, d.StatusCode, d.Error, d.Duration.Milliseconds(), d.NextAt.UTC(), time.Now().UTC(), d.ID)
	if err != nil {
		return fmt.Errorf("record webhook delivery %d: %w", d.ID, err)
	}
	return nil
}

// RecentDeliveries lists a webhook's newest deliveries first.
func (s *Store) RecentDeliveries(ctx context.Context, hookID int64, limit int) ([]Delivery, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+deliveryColumns+` WHERE webhook_id = ? ORDER BY id DESC LIMIT ?`, hookID, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries of webhook %d: %w", hookID, err)
	}
	ds, err := scanDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("deliveries of webhook %d: %w", hookID, err)
	}
	return ds, nil
}
