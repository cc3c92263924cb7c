package ui

// Webhook settings on the web: a project's on its settings page, an
// organisation's on /organisations/{org}/webhooks. Forms carry CSRF tokens;
// the access policy says who may manage (project managers, organisation
// owners). Deliveries themselves are package webhook's work; this shows
// the latest of each webhook with their status.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/webhook"
)

// recentDeliveries is how many deliveries each webhook shows.
const recentDeliveries = 10

// maxWebhooks is the most webhooks one project or organisation may have.
const maxWebhooks = 20

// webhooksView is the webhooks section of a settings page.
type webhooksView struct {
	About       string // what the webhooks are sent for
	Action      string // the add form's URL; "/{id}/remove" after it removes one
	CSRF        string
	Hooks       []webhookRow
	Secret      string // of a webhook just added, shown once
	ShowProject bool   // deliveries name their project (an organisation's webhooks)
}

type webhookRow struct {
	store.Webhook
	Deliveries []deliveryRow
}

type deliveryRow struct {
	store.Delivery
	Project string // from the payload
}

// Took is how long the last attempt took, as people say it.
func (d deliveryRow) Took() string {
	if d.Duration < time.Second {
		return strconv.FormatInt(d.Duration.Milliseconds(), 10) + " ms"
	}
	return d.Duration.Round(100 * time.Millisecond).String()
}

// Next is when a pending delivery is tried again.
func (d deliveryRow) Next() string {
	if w := time.Until(d.NextAt); w > 0 {
		return "in " + w.Round(time.Second).String()
	}
	return "now"
}

// webhookRows adds each webhook's latest deliveries.
func (u *UI) webhookRows(c echo.Context, hooks []store.Webhook) ([]webhookRow, error) {
	out := make([]webhookRow, 0, len(hooks))
	for _, h := range hooks {
		ds, err := u.store.RecentDeliveries(c.Request().Context(), h.ID, recentDeliveries)
		if err != nil {
			return nil, err
		}
		row := webhookRow{Webhook: h}
		for _, d := range ds {
			var p struct{ Project string }
			json.Unmarshal(d.Payload, &p)
			row.Deliveries = append(row.Deliveries, deliveryRow{Delivery: d, Project: p.Project})
		}
		out = append(out, row)
	}
	return out, nil
}

// newWebhook reads the add form: a URL that can be delivered to, at least
// one known event and a secret (made when left empty). The message of an
// error is for the page.
func newWebhook(c echo.Context) (hookURL, secret string, events []string, msg string) {
	hookURL = strings.TrimSpace(c.FormValue("url"))
	if len(hookURL) > 2000 {
		return "", "", nil, "The URL is too long (2,000 characters at most)."
	}
	if err := webhook.CheckURL(hookURL); err != nil {
		return "", "", nil, "That URL cannot take webhooks: " + strings.TrimPrefix(err.Error(), fmt.Sprintf("webhook URL %q: ", hookURL)) + "."
	}
	form, _ := c.FormParams()
	events, err := webhook.ParseEvents(strings.Join(form["events"], ","))
	if err != nil || len(form["events"]) == 0 {
		return "", "", nil, "Pick at least one event: push or catalog.done."
	}
	secret = c.FormValue("secret")
	if len(secret) > 200 {
		return "", "", nil, "The secret is too long (200 characters at most)."
	}
	if secret == "" {
		secret = webhook.NewSecret()
	}
	return hookURL, secret, events, ""
}

// hookID reads the :id of a remove form.
func hookID(c echo.Context) int64 {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// A project's webhooks, on its settings page.

func (u *UI) projectWebhooks(c echo.Context, p *projectRef) (webhooksView, error) {
	v := webhooksView{About: "Events of this project are posted to these URLs.", Action: p.URL() + "/settings/webhooks", CSRF: u.web.CSRFToken(c)}
	hooks, err := u.store.Webhooks(c.Request().Context(), p.Owner, p.Name)
	if err != nil {
		return v, err
	}
	v.Hooks, err = u.webhookRows(c, hooks)
	return v, err
}

func (u *UI) addProjectWebhook(c echo.Context) error {
	p, err := u.managed(c)
	if err != nil {
		return u.fail(c, err)
	}
	hookURL, secret, events, msg := newWebhook(c)
	if msg != "" {
		return u.renderProjectSettingsWith(c, http.StatusBadRequest, settingsNotice{Error: msg})
	}
	ctx := c.Request().Context()
	if hooks, err := u.store.Webhooks(ctx, p.Owner, p.Name); err != nil {
		return u.fail(c, err)
	} else if len(hooks) >= maxWebhooks {
		return u.renderProjectSettingsWith(c, http.StatusBadRequest, settingsNotice{Error: fmt.Sprintf("A project has at most %d webhooks; remove one first.", maxWebhooks)})
	}
	if _, err := u.store.CreateWebhook(ctx, p.Owner, p.Name, hookURL, secret, events); err != nil {
		return u.fail(c, err)
	}
	return u.renderProjectSettingsWith(c, http.StatusOK, settingsNotice{Secret: secret})
}

func (u *UI) removeProjectWebhook(c echo.Context) error {
	p, err := u.managed(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	h, err := u.store.WebhookByID(ctx, hookID(c))
	if errors.Is(err, store.ErrNotFound) || err == nil && h.Project != p.Row.FullName() {
		return u.renderProjectSettingsWith(c, http.StatusBadRequest, settingsNotice{Error: "No such webhook on " + p.Full() + "."})
	}
	if err == nil {
		err = u.store.DeleteWebhook(ctx, h.ID)
	}
	if err != nil {
		return u.fail(c, err)
	}
	return u.renderProjectSettingsWith(c, http.StatusOK, settingsNotice{Done: "Webhook removed."})
}

// An organisation's webhooks, on their own page.

type orgWebhooksView struct {
	Org         store.User
	Webhooks    webhooksView
	Error, Done string
}

func (u *UI) orgWebhooksPage(c echo.Context) error {
	return u.renderOrgWebhooks(c, http.StatusOK, settingsNotice{})
}

func (u *UI) renderOrgWebhooks(c echo.Context, status int, n settingsNotice) error {
	o, err := u.managedOrg(c)
	if err != nil {
		return u.fail(c, err)
	}
	hooks, err := u.store.OrgWebhooks(c.Request().Context(), o.Name)
	if err != nil {
		return u.fail(c, err)
	}
	v := orgWebhooksView{Org: o, Error: n.Error, Done: n.Done, Webhooks: webhooksView{
		About:  "Events of every project of " + o.Name + ", now or later, are posted to these URLs (each project may have its own too).",
		Action: "/organisations/" + url.PathEscape(o.Name) + "/webhooks", CSRF: u.web.CSRFToken(c), Secret: n.Secret, ShowProject: true,
	}}
	if v.Webhooks.Hooks, err = u.webhookRows(c, hooks); err != nil {
		return u.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return u.render(c, status, "orgwebhooks", "Webhooks · "+o.Label(), v)
}

func (u *UI) addOrgWebhook(c echo.Context) error {
	o, err := u.managedOrg(c)
	if err != nil {
		return u.fail(c, err)
	}
	hookURL, secret, events, msg := newWebhook(c)
	if msg != "" {
		return u.renderOrgWebhooks(c, http.StatusBadRequest, settingsNotice{Error: msg})
	}
	ctx := c.Request().Context()
	if hooks, err := u.store.OrgWebhooks(ctx, o.Name); err != nil {
		return u.fail(c, err)
	} else if len(hooks) >= maxWebhooks {
		return u.renderOrgWebhooks(c, http.StatusBadRequest, settingsNotice{Error: fmt.Sprintf("An organisation has at most %d webhooks; remove one first.", maxWebhooks)})
	}
	if _, err := u.store.CreateOrgWebhook(ctx, o.Name, hookURL, secret, events); err != nil {
		return u.fail(c, err)
	}
	return u.renderOrgWebhooks(c, http.StatusOK, settingsNotice{Secret: secret})
}

func (u *UI) removeOrgWebhook(c echo.Context) error {
	o, err := u.managedOrg(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	h, err := u.store.WebhookByID(ctx, hookID(c))
	if errors.Is(err, store.ErrNotFound) || err == nil && !strings.EqualFold(h.Org, o.Name) {
		return u.renderOrgWebhooks(c, http.StatusBadRequest, settingsNotice{Error: "No such webhook on " + o.Name + "."})
	}
	if err == nil {
		err = u.store.DeleteWebhook(ctx, h.ID)
	}
	if err != nil {
		return u.fail(c, err)
	}
	return u.renderOrgWebhooks(c, http.StatusOK, settingsNotice{Done: "Webhook removed."})
}
