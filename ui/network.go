package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/netsearch"
	"github.com/blueprints-hq/blueprints/search"
)

// Network is the network of servers as the pages use it: follows of
// remote actors, mirrors, federated search and moderation. The access
// policy has been asked before each call.
type Network interface {
	Follow(ctx context.Context, u store.User, handle, mirror string) (store.Following, store.RemoteActor, error)
	Unfollow(ctx context.Context, u store.User, f store.Following) error
	// AddMirror creates the mirror and starts its first refresh in the
	// background.
	AddMirror(ctx context.Context, gitURL, owner, name string, by store.User) (store.Project, error)
	RefreshMirror(projectID int64)
	// Search is a federated search of q (its viewer scope set).
	Search(ctx context.Context, params url.Values, q search.Query) (NetworkResult, error)
	SetPeers(ctx context.Context, add, remove string) error
	Peers() []string
	// Acct is the WebFinger address of a local actor (project "" for a
	// user): what people elsewhere follow.
	Acct(owner, project string) string
}

// NetworkResult is a federated search's answer.
type NetworkResult struct {
	Total   uint64
	Hits    []netsearch.Hit
	Servers []netsearch.Status
	Partial bool
}

// registerNetwork adds the pages of the network of servers.
func (u *UI) registerNetwork(e *echo.Echo) {
	if u.network == nil || u.web == nil {
		return
	}
	form := func(path string, h echo.HandlerFunc) { e.POST(path, h, u.web.RequireCSRF) }
	e.GET("/settings/following", u.followingPage)
	form("/settings/following", u.follow)
	form("/settings/following/:id/unfollow", u.unfollow)
	e.GET("/new/mirror", u.newMirrorPage)
	form("/new/mirror", u.createMirror)
	form("/:owner/:project/mirror/refresh", u.refreshMirror)
	e.GET("/admin/network", u.adminNetwork)
	form("/admin/network/blocks", u.setBlock)
	form("/admin/network/peers", u.setPeer)
}

type followRow struct {
	store.Following
	Actor  store.RemoteActor
	Mirror string // "owner/name" of the mirror kept, if any
}

type networkView struct {
	Tab       string // "following", "mirror", "admin"
	User      store.User
	CSRF      string
	Error     string
	Done      string
	Following []followRow
	// The new mirror form's values.
	URL, Owner, Name string
	Owners           []string
	// Admin.
	Blocks []store.Block
	Peers  []string
	Acct   string
}

func (u *UI) followingPage(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	return u.renderFollowing(c, s.User, http.StatusOK, networkView{Done: c.QueryParam("done")})
}

func (u *UI) renderFollowing(c echo.Context, user store.User, status int, v networkView) error {
	ctx := c.Request().Context()
	fs, err := u.store.FollowingOf(ctx, user.ID)
	if err != nil {
		return u.fail(c, err)
	}
	for _, f := range fs {
		row := followRow{Following: f}
		row.Actor, _ = u.store.RemoteActorByURI(ctx, f.Target)
		if f.MirrorProjectID != 0 {
			if p, err := u.store.ProjectByID(ctx, f.MirrorProjectID); err == nil {
				row.Mirror = p.FullName()
			}
		}
		v.Following = append(v.Following, row)
	}
	v.Tab, v.User, v.CSRF = "following", user, u.web.CSRFToken(c)
	v.Acct = u.network.Acct(user.Name, "")
	return u.render(c, status, "network", "Following · Settings", v)
}

func (u *UI) follow(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	handle := strings.TrimSpace(c.FormValue("address"))
	mirror := strings.TrimSpace(c.FormValue("mirror"))
	if c.FormValue("keep_mirror") == "" {
		mirror = ""
	}
	if handle == "" {
		return u.renderFollowing(c, s.User, http.StatusBadRequest, networkView{Error: "Give the address of what to follow, like alice..tractor@blueprints.example.org."})
	}
	_, target, err := u.network.Follow(c.Request().Context(), s.User, handle, mirror)
	if err != nil {
		return u.renderFollowing(c, s.User, http.StatusBadRequest, networkView{Error: "Could not follow " + handle + ": " + err.Error()})
	}
	done := "Following " + target.URI + "; its server confirms shortly."
	if mirror != "" {
		done += " A mirror is kept as " + s.User.Name + "/" + mirror + "."
	}
	return c.Redirect(http.StatusSeeOther, "/settings/following?done="+url.QueryEscape(done))
}

func (u *UI) unfollow(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
	f, err := u.store.FollowingByID(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.UserID != s.User.ID) {
		return u.fail(c, notFound("No such follow."))
	}
	if err != nil {
		return u.fail(c, err)
	}
	if err := u.network.Unfollow(c.Request().Context(), s.User, f); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/settings/following?done="+url.QueryEscape("Unfollowed "+f.Target+"."))
}

// owners are the names a person may create projects under.
func (u *UI) owners(ctx context.Context, user store.User) []string {
	out := []string{user.Name}
	if ms, err := u.store.Memberships(ctx, user.ID); err == nil {
		for _, m := range ms {
			if d, err := u.access.CreateIn(ctx, access.ViewerOf(user), m.Org.Name); err == nil && d == access.Allow {
				out = append(out, m.Org.Name)
			}
		}
	}
	return out
}

func (u *UI) newMirrorPage(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	v := networkView{Tab: "mirror", User: s.User, CSRF: u.web.CSRFToken(c), Owner: s.User.Name, Owners: u.owners(c.Request().Context(), s.User), URL: c.QueryParam("url")}
	return u.render(c, http.StatusOK, "network", "New mirror", v)
}

func (u *UI) createMirror(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	ctx := c.Request().Context()
	v := networkView{Tab: "mirror", User: s.User, CSRF: u.web.CSRFToken(c), Owners: u.owners(ctx, s.User),
		URL: strings.TrimSpace(c.FormValue("url")), Owner: c.FormValue("owner"), Name: strings.TrimSpace(c.FormValue("name"))}
	if v.Name == "" && v.URL != "" {
		base := strings.TrimSuffix(strings.TrimRight(v.URL, "/"), ".git")
		v.Name = base[strings.LastIndexByte(base, '/')+1:]
	}
	p, err := u.network.AddMirror(ctx, v.URL, v.Owner, v.Name, s.User)
	if err != nil {
		v.Error = "Could not make the mirror: " + err.Error()
		return u.render(c, http.StatusBadRequest, "network", "New mirror", v)
	}
	return c.Redirect(http.StatusSeeOther, "/"+p.Owner+"/"+p.Name)
}

func (u *UI) refreshMirror(c echo.Context) error {
	p, err := u.openProjectFor(c, access.Write)
	if err != nil {
		return u.fail(c, err)
	}
	m, err := u.store.MirrorOf(c.Request().Context(), p.Row.ID)
	if errors.Is(err, store.ErrNotFound) {
		return u.fail(c, notFound("%s is not a mirror.", p.Full()))
	}
	if err != nil {
		return u.fail(c, err)
	}
	u.network.RefreshMirror(m.ProjectID)
	return c.Redirect(http.StatusSeeOther, p.URL())
}

// admin returns the signed-in administrator, or answers for others.
func (u *UI) adminUser(c echo.Context) (*store.User, error) {
	s, err := u.signedIn(c)
	if s == nil {
		return nil, err
	}
	if !s.User.Admin {
		return nil, u.fail(c, &httpError{status: http.StatusForbidden, msg: "Only administrators may change the network settings."})
	}
	return &s.User, nil
}

func (u *UI) adminNetwork(c echo.Context) error {
	a, err := u.adminUser(c)
	if a == nil {
		return err
	}
	return u.renderAdmin(c, *a, http.StatusOK, networkView{Done: c.QueryParam("done")})
}

func (u *UI) renderAdmin(c echo.Context, a store.User, status int, v networkView) error {
	blocks, err := u.store.Blocks(c.Request().Context())
	if err != nil {
		return u.fail(c, err)
	}
	v.Tab, v.User, v.CSRF, v.Blocks, v.Peers = "admin", a, u.web.CSRFToken(c), blocks, u.network.Peers()
	return u.render(c, status, "network", "Network · Administration", v)
}

func (u *UI) setBlock(c echo.Context) error {
	a, err := u.adminUser(c)
	if a == nil {
		return err
	}
	ctx := c.Request().Context()
	target := BlockTarget(c.FormValue("target"))
	if target == "" {
		return u.renderAdmin(c, *a, http.StatusBadRequest, networkView{Error: "Give a server (host) or an actor URL to block."})
	}
	if c.FormValue("action") == "unblock" {
		err = u.store.RemoveBlock(ctx, target)
	} else {
		err = u.store.AddBlock(ctx, target, strings.TrimSpace(c.FormValue("reason")))
	}
	if err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/admin/network?done="+url.QueryEscape("Blocks saved."))
}

func (u *UI) setPeer(c echo.Context) error {
	a, err := u.adminUser(c)
	if a == nil {
		return err
	}
	add, remove := strings.TrimSpace(c.FormValue("add")), strings.TrimSpace(c.FormValue("remove"))
	if err := u.network.SetPeers(c.Request().Context(), add, remove); err != nil {
		return u.renderAdmin(c, *a, http.StatusBadRequest, networkView{Error: err.Error()})
	}
	return c.Redirect(http.StatusSeeOther, "/admin/network?done="+url.QueryEscape("Peers saved."))
}

// BlockTarget is what a block names: an actor URL as given, a server as
// its lower-case host[:port] ("https://b.example/" → "b.example").
func BlockTarget(s string) string {
	s = strings.TrimSpace(s)
	for _, scheme := range []string{"https://", "http://"} {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			rest = strings.TrimRight(rest, "/")
			if !strings.Contains(rest, "/") {
				return strings.ToLower(rest)
			}
			return s
		}
	}
	return strings.ToLower(s)
}

type networkSearchView struct {
	Query   search.Query
	Values  url.Values
	Result  NetworkResult
	Local   string
	Servers []serverState
	// LocalQuery is the same search on this server only.
	LocalQuery string
}

type serverState struct {
	Name, State, Error string
	Hits               int
	Local              bool
}

// networkSearchPage is /search?scope=network: this server's hits and its
// peers', each labelled with its server. Peers' previews are not shown:
// an image from another server would tell it who looks.
func (u *UI) networkSearchPage(c echo.Context, q search.Query) error {
	scope, _, err := u.scope(c)
	if err != nil {
		return u.fail(c, err)
	}
	q.Scope = scope.Search()
	res, err := u.network.Search(c.Request().Context(), c.QueryParams(), q)
	if err != nil {
		var qe *search.QueryError
		if errors.As(err, &qe) {
			return u.fail(c, badRequest("Bad search: %s.", qe.Error()))
		}
		return u.fail(c, err)
	}
	v := networkSearchView{Query: q, Values: c.QueryParams(), Result: res}
	local := cloneValues(c.QueryParams())
	local.Del("scope")
	v.LocalQuery = local.Encode()
	for i, s := range res.Servers {
		v.Servers = append(v.Servers, serverState{Name: hostOf(s.Server), State: s.State, Error: s.Error, Hits: s.Hits, Local: i == 0})
	}
	if len(res.Servers) > 0 {
		v.Local = res.Servers[0].Server
	}
	title := "Network search"
	if q.Text != "" {
		title = q.Text + " · Network search"
	}
	return u.render(c, http.StatusOK, "netsearch", title, v)
}

func hostOf(origin string) string {
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		return u.Host
	}
	return origin
}
