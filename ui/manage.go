package ui

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
)

// ProjectAdmin applies a project's settings (internal/lifecycle does);
// the access policy has already said the viewer may.
type ProjectAdmin interface {
	SetVisibility(ctx context.Context, p store.Project, visibility string) error
	SetDescription(ctx context.Context, p store.Project, description string) error
	SetDefaultBranch(ctx context.Context, p store.Project, branch string) error
	Move(ctx context.Context, p store.Project, owner, name string) (store.Project, error)
	Delete(ctx context.Context, p store.Project) error
}

// registerManage adds the owner pages, organisation management and the
// project settings page.
func (u *UI) registerManage(e *echo.Echo) {
	page := func(path string, h echo.HandlerFunc) {
		e.GET(path, h)
		e.HEAD(path, h)
	}
	page("/:owner", u.ownerPage)
	if u.web == nil {
		return
	}
	form := func(path string, h echo.HandlerFunc) { e.POST(path, h, u.web.RequireCSRF) }
	form("/organisations", u.createOrg)
	form("/organisations/:org/members", u.setMember)
	form("/organisations/:org/members/:user/remove", u.removeMember)
	page("/organisations/:org/webhooks", u.orgWebhooksPage)
	form("/organisations/:org/webhooks", u.addOrgWebhook)
	form("/organisations/:org/webhooks/:id/remove", u.removeOrgWebhook)
	if u.admin == nil {
		return
	}
	page("/:owner/:project/settings", u.projectSettings)
	form("/:owner/:project/settings", u.saveGeneral)
	form("/:owner/:project/settings/visibility", u.saveVisibility)
	form("/:owner/:project/settings/collaborators", u.setCollaborator)
	form("/:owner/:project/settings/collaborators/:user/remove", u.removeCollaborator)
	form("/:owner/:project/settings/move", u.moveProject)
	form("/:owner/:project/settings/delete", u.deleteProject)
	form("/:owner/:project/settings/webhooks", u.addProjectWebhook)
	form("/:owner/:project/settings/webhooks/:id/remove", u.removeProjectWebhook)
}

// manageLink is the project page's Settings link, for a viewer who may
// manage the project the request is about.
func (u *UI) manageLink(c echo.Context) []byte {
	p, ok := c.Get(manageKey).(store.Project)
	if !ok || u.admin == nil {
		return nil
	}
	v, err := u.viewer(c)
	if err != nil || v.Anonymous() {
		return nil
	}
	if ok, err := u.access.Can(c.Request().Context(), v, access.Manage, p); err != nil || !ok {
		return nil
	}
	link := `<a class="button" href="/` + template.HTMLEscapeString(p.Owner) + "/" + template.HTMLEscapeString(p.Name) + `/settings">Settings</a>`
	if u.network != nil && u.web != nil {
		if _, err := u.store.MirrorOf(c.Request().Context(), p.ID); err == nil {
			link += `<form class="inline" method="post" action="/` + template.HTMLEscapeString(p.Owner) + "/" + template.HTMLEscapeString(p.Name) + `/mirror/refresh">` +
				`<input type="hidden" name="_csrf" value="` + template.HTMLEscapeString(u.web.CSRFToken(c)) + `"><button type="submit">Refresh mirror</button></form>`
		}
	}
	return []byte(link)
}

type ownerView struct {
	Owner    store.User
	Members  []store.Member
	Projects []projectCard
	Total    int
	Manage   bool
	CSRF     string
}

// ownerPage shows a person's or an organisation's projects (those the
// viewer may see) and, for an organisation, its members.
func (u *UI) ownerPage(c echo.Context) error {
	name := c.Param("owner")
	if repo.ValidName(name) != nil {
		return u.fail(c, notFound("No such user or organisation."))
	}
	ctx := c.Request().Context()
	o, err := u.store.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return u.fail(c, notFound("No user or organisation %s.", name))
	}
	if err != nil {
		return u.fail(c, err)
	}
	if o.Name != name && strings.EqualFold(o.Name, name) {
		return c.Redirect(http.StatusMovedPermanently, "/"+url.PathEscape(o.Name))
	}
	c.Response().Header().Set("Cache-Control", "private, no-cache")
	scope, scopeKey, err := u.scope(c)
	if err != nil {
		return u.fail(c, err)
	}
	v := ownerView{Owner: o}
	if o.IsOrg() {
		if v.Members, err = u.store.OrgMembers(ctx, o.ID); err != nil {
			return u.fail(c, err)
		}
		if u.web != nil {
			viewer, err := u.viewer(c)
			if err != nil {
				return u.fail(c, err)
			}
			d, err := u.access.ManageOrg(ctx, viewer, o)
			if err != nil {
				return u.fail(c, err)
			}
			v.Manage = d == access.Allow && !viewer.ReadOnly
			if v.Manage {
				v.CSRF = u.web.CSRFToken(c)
			}
		}
	}
	// The page is kept for viewers of the same scope, under a key naming
	// everything it shows: the owner's profile and members (read above)
	// and the versions of the project list and catalogue (any push,
	// visibility change, rename, transfer or delete moves them). A page
	// with forms holds a CSRF token and is never kept.
	key := ""
	if !v.Manage {
		projects, err := u.store.ProjectsVersion(ctx)
		if err != nil {
			return u.fail(c, err)
		}
		catalog, err := u.store.CatalogVersion(ctx)
		if err != nil {
			return u.fail(c, err)
		}
		h := sha256.New()
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", o.Name, o.Kind, o.Label(), o.Bio)
		for _, m := range v.Members {
			fmt.Fprintf(h, "\x00%s\x00%s\x00%s", m.User.Name, m.User.Label(), m.Role)
		}
		key = fmt.Sprintf("owner:%x|%s|%s|%s", h.Sum(nil), projects, catalog, scopeKey)
		if hit, err := u.sendCached(c, key); hit {
			return err
		}
	}
	rows, total, err := u.store.ListProjects(ctx, store.ProjectQuery{Visible: scope.Store(), Owner: o.Name, Limit: 100})
	if err != nil {
		return u.fail(c, err)
	}
	v.Total = total
	for _, p := range rows {
		card, err := u.projectCard(ctx, p)
		if err != nil {
			return u.fail(c, err)
		}
		card.Private = p.Private()
		v.Projects = append(v.Projects, card)
	}
	return u.renderCached(c, http.StatusOK, "owner", o.Label()+" · Blueprints", v, key, 30*time.Second)
}

func (u *UI) createOrg(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	name := strings.TrimSpace(c.FormValue("name"))
	if msg := u.checkNewName(c, name); msg != "" {
		return u.renderSettings(c, s, http.StatusBadRequest, settingsView{Tab: "organisations", Error: msg})
	}
	org, err := u.store.CreateOrg(c.Request().Context(), name, s.User.ID)
	if errors.Is(err, store.ErrExists) {
		return u.renderSettings(c, s, http.StatusBadRequest, settingsView{Tab: "organisations", Error: "The name " + name + " is taken (names ignore case); pick another."})
	}
	if err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/"+url.PathEscape(org.Name))
}

// managedOrg finds the organisation of the route and checks that the
// viewer may manage it.
func (u *UI) managedOrg(c echo.Context) (store.User, error) {
	ctx := c.Request().Context()
	o, err := u.store.UserByName(ctx, c.Param("org"))
	if err != nil || !o.IsOrg() {
		return o, notFound("No organisation %s.", c.Param("org"))
	}
	v, err := u.viewer(c)
	if err != nil {
		return o, err
	}
	d, err := u.access.ManageOrg(ctx, v, o)
	if err != nil {
		return o, err
	}
	if d != access.Allow {
		return o, &httpError{http.StatusForbidden, "Only the owners of " + o.Name + " manage its members."}
	}
	return o, nil
}

func (u *UI) setMember(c echo.Context) error {
	o, err := u.managedOrg(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	who, role := strings.TrimSpace(c.FormValue("user")), c.FormValue("role")
	usr, err := u.store.UserByName(ctx, who)
	if err != nil || usr.IsOrg() {
		return u.fail(c, badRequest("No user %s.", who))
	}
	if err := u.store.SetOrgMember(ctx, o.ID, usr.ID, role); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return u.fail(c, badRequest("%s needs an owner: make someone else an owner first.", o.Name))
		}
		return u.fail(c, badRequest("Could not set %s's role: %v.", usr.Name, err))
	}
	return c.Redirect(http.StatusSeeOther, "/"+url.PathEscape(o.Name))
}

func (u *UI) removeMember(c echo.Context) error {
	o, err := u.managedOrg(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	usr, err := u.store.UserByName(ctx, c.Param("user"))
	if err != nil {
		return u.fail(c, notFound("No user %s.", c.Param("user")))
	}
	if err := u.store.RemoveOrgMember(ctx, o.ID, usr.ID); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return u.fail(c, badRequest("%s needs an owner: make someone else an owner first.", o.Name))
		}
		if errors.Is(err, store.ErrNotFound) {
			return u.fail(c, notFound("%s is not a member of %s.", usr.Name, o.Name))
		}
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/"+url.PathEscape(o.Name))
}

type projectSettingsView struct {
	P             *projectRef
	Branches      []string
	Collaborators []store.Collaborator
	Webhooks      webhooksView
	CSRF          string
	Error, Done   string
}

// settingsNotice is what a settings form's answer says: an error, what
// was done, or the secret of a webhook just added (shown once).
type settingsNotice struct {
	Error, Done, Secret string
}

// projectSettings is the settings page: description, default branch,
// visibility, collaborators, webhooks, rename, transfer and delete.
func (u *UI) projectSettings(c echo.Context) error {
	return u.renderProjectSettings(c, http.StatusOK, "", "")
}

func (u *UI) renderProjectSettings(c echo.Context, status int, errMsg, done string) error {
	return u.renderProjectSettingsWith(c, status, settingsNotice{Error: errMsg, Done: done})
}

func (u *UI) renderProjectSettingsWith(c echo.Context, status int, n settingsNotice) error {
	p, err := u.openProjectFor(c, access.Manage)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	v := projectSettingsView{P: p, CSRF: u.web.CSRFToken(c), Error: n.Error, Done: n.Done}
	if v.Webhooks, err = u.projectWebhooks(c, p); err != nil {
		return u.fail(c, err)
	}
	v.Webhooks.Secret = n.Secret
	if v.Branches, err = p.Browse.Branches(); err != nil {
		return u.fail(c, err)
	}
	if v.Collaborators, err = u.store.Collaborators(ctx, p.Row.ID); err != nil {
		return u.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return u.render(c, status, "projectsettings", "Settings · "+p.Full(), v)
}

// managed opens the project of a settings form, for a viewer who may
// manage it.
func (u *UI) managed(c echo.Context) (*projectRef, error) {
	return u.openProjectFor(c, access.Manage)
}

func (u *UI) saveGeneral(c echo.Context) error {
	p, err := u.managed(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	desc := strings.TrimSpace(c.FormValue("description"))
	if len(desc) > 500 {
		return u.renderProjectSettings(c, http.StatusBadRequest, "The description may have 500 characters.", "")
	}
	if desc != p.Row.Description {
		if err := u.admin.SetDescription(ctx, p.Row, desc); err != nil {
			return u.fail(c, err)
		}
	}
	if b := c.FormValue("default_branch"); b != "" && b != p.Row.DefaultBranch {
		if err := u.admin.SetDefaultBranch(ctx, p.Row, b); err != nil {
			return u.renderProjectSettings(c, http.StatusBadRequest, "Could not change the default branch: "+err.Error()+".", "")
		}
	}
	return u.renderProjectSettings(c, http.StatusOK, "", "Saved.")
}

func (u *UI) saveVisibility(c echo.Context) error {
	p, err := u.managed(c)
	if err != nil {
		return u.fail(c, err)
	}
	vis := c.FormValue("visibility")
	if vis != store.Public && vis != store.Private {
		return u.renderProjectSettings(c, http.StatusBadRequest, "Pick public or private.", "")
	}
	if err := u.admin.SetVisibility(c.Request().Context(), p.Row, vis); err != nil {
		return u.fail(c, err)
	}
	return u.renderProjectSettings(c, http.StatusOK, "", "The project is now "+vis+".")
}

func (u *UI) setCollaborator(c echo.Context) error {
	p, err := u.managed(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	who, perm := strings.TrimSpace(c.FormValue("user")), c.FormValue("permission")
	usr, err := u.store.UserByName(ctx, who)
	if err != nil || usr.IsOrg() {
		return u.renderProjectSettings(c, http.StatusBadRequest, "No user "+who+".", "")
	}
	if perm != store.PermRead && perm != store.PermWrite {
		return u.renderProjectSettings(c, http.StatusBadRequest, "Pick read or write.", "")
	}
	if err := u.store.SetCollaborator(ctx, p.Row.ID, usr.ID, perm); err != nil {
		return u.fail(c, err)
	}
	return u.renderProjectSettings(c, http.StatusOK, "", usr.Name+" may now "+perm+".")
}

func (u *UI) removeCollaborator(c echo.Context) error {
	p, err := u.managed(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	usr, err := u.store.UserByName(ctx, c.Param("user"))
	if err == nil {
		err = u.store.RemoveCollaborator(ctx, p.Row.ID, usr.ID)
	}
	if err != nil {
		return u.renderProjectSettings(c, http.StatusBadRequest, c.Param("user")+" is not a collaborator.", "")
	}
	return u.renderProjectSettings(c, http.StatusOK, "", usr.Name+" is no longer a collaborator.")
}

func (u *UI) moveProject(c echo.Context) error {
	p, err := u.managed(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	owner, name := strings.TrimSpace(c.FormValue("owner")), strings.TrimSpace(c.FormValue("name"))
	if owner == "" {
		owner = p.Row.Owner
	}
	if name == "" {
		name = p.Row.Name
	}
	if err := repo.ValidName(name); err != nil {
		return u.renderProjectSettings(c, http.StatusBadRequest, "That name cannot be used: "+strings.TrimPrefix(err.Error(), repo.ErrInvalidName.Error()+": ")+".", "")
	}
	if !strings.EqualFold(owner, p.Row.Owner) {
		// Transfer: the viewer must be able to create projects there.
		v, err := u.viewer(c)
		if err != nil {
			return u.fail(c, err)
		}
		d, err := u.access.CreateIn(ctx, v, owner)
		if err != nil {
			return u.fail(c, err)
		}
		if d != access.Allow {
			return u.renderProjectSettings(c, http.StatusForbidden, "You may transfer projects only to yourself or to an organisation you own.", "")
		}
	}
	moved, err := u.admin.Move(ctx, p.Row, owner, name)
	if err != nil {
		msg := "Could not move the project: " + err.Error() + "."
		if errors.Is(err, store.ErrExists) {
			msg = owner + "/" + name + " already exists."
		}
		return u.renderProjectSettings(c, http.StatusBadRequest, msg, "")
	}
	return c.Redirect(http.StatusSeeOther, "/"+url.PathEscape(moved.Owner)+"/"+url.PathEscape(moved.Name)+"/settings")
}

func (u *UI) deleteProject(c echo.Context) error {
	p, err := u.managed(c)
	if err != nil {
		return u.fail(c, err)
	}
	if c.FormValue("confirm") != p.Row.FullName() {
		return u.renderProjectSettings(c, http.StatusBadRequest, "Type "+p.Row.FullName()+" to confirm the deletion.", "")
	}
	owner := p.Row.Owner
	c.Set(browseKey, nil)
	u.pool.Put(p.Browse)
	if err := u.admin.Delete(c.Request().Context(), p.Row); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/"+url.PathEscape(owner))
}
