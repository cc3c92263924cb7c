package ui

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/auth"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
)

// Registration policies (serve --registration).
const (
	RegistrationClosed = "closed" // administrators create accounts
	RegistrationInvite = "invite" // an administrator's invitation link signs one person up
	RegistrationOpen   = "open"   // anyone may sign up
)

// registerAccount adds the sign-in, sign-up and settings routes. Every
// form goes through the CSRF check.
func (u *UI) registerAccount(e *echo.Echo) {
	if u.web == nil {
		return
	}
	form := func(path string, h echo.HandlerFunc) { e.POST(path, h, u.web.RequireCSRF) }
	page := func(path string, h echo.HandlerFunc) {
		e.GET(path, h)
		e.HEAD(path, h)
	}
	page("/login", u.loginPage)
	form("/login", u.login)
	form("/logout", u.logout)
	page("/signup", u.signupPage)
	form("/signup", u.signup)
	page("/settings", u.settings("profile"))
	form("/settings", u.saveProfile)
	page("/settings/password", u.settings("password"))
	form("/settings/password", u.changePassword)
	page("/settings/tokens", u.settings("tokens"))
	form("/settings/tokens", u.createToken)
	form("/settings/tokens/:id/revoke", u.revokeToken)
	page("/settings/sessions", u.settings("sessions"))
	form("/settings/sessions/:id/revoke", u.revokeSession)
	page("/settings/sign-ins", u.settings("sign-ins"))
	form("/settings/sign-ins/:id/unlink", u.unlinkIdentity)
	page("/settings/organisations", u.settings("organisations"))
	page("/settings/invites", u.settings("invites"))
	form("/settings/invites", u.createInvite)
	u.registerOIDC(e)
}

// viewerBar is the account part of the page header for this request:
// sign-in links, or the signed-in person's name, settings and sign-out.
// Pages are cached without it (a marker stands in its place), so no
// cached page ever holds one person's name or CSRF token.
func (u *UI) viewerBar(c echo.Context) []byte {
	if u.web == nil {
		return nil
	}
	s, err := u.web.Session(c)
	if err != nil || s == nil {
		next := c.Request().URL.RequestURI()
		if strings.HasPrefix(c.Path(), "/login") || strings.HasPrefix(c.Path(), "/signup") {
			next = "/"
		}
		out := `<a href="/login?next=` + template.URLQueryEscaper(next) + `">Sign in</a>`
		if u.registration == RegistrationOpen {
			out += ` <a href="/signup">Sign up</a>`
		}
		return []byte(out)
	}
	name := template.HTMLEscapeString(s.User.Name)
	return []byte(`<a href="/` + name + `">` + name + `</a> <a href="/settings">Settings</a>` +
		`<form method="post" action="/logout"><input type="hidden" name="_csrf" value="` + u.web.CSRFToken(c) + `"><button type="submit">Sign out</button></form>`)
}

type loginView struct {
	Error, Name, Next, CSRF string
	SignUp                  bool
	OIDC                    string
}

func (u *UI) loginPage(c echo.Context) error {
	next := auth.SafeNext(c.QueryParam("next"))
	if s, err := u.web.Session(c); err == nil && s != nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return u.renderLogin(c, http.StatusOK, loginView{Next: next})
}

func (u *UI) renderLogin(c echo.Context, status int, v loginView) error {
	v.CSRF = u.web.CSRFToken(c)
	v.SignUp = u.registration != RegistrationClosed
	v.OIDC = u.oidcLabel
	c.Response().Header().Set("Cache-Control", "no-store")
	return u.render(c, status, "login", "Sign in · Blueprints", v)
}

func (u *UI) login(c echo.Context) error {
	name, password := strings.TrimSpace(c.FormValue("username")), c.FormValue("password")
	next := auth.SafeNext(c.FormValue("next"))
	usr, err := u.web.Password(c, name, password)
	var thr *auth.ErrThrottled
	switch {
	case errors.As(err, &thr):
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(thr.Wait/time.Second)+1))
		return u.renderLogin(c, http.StatusTooManyRequests, loginView{Error: "Too many failed sign-ins. Try again in " + thr.Wait.Round(time.Second).String() + ".", Name: name, Next: next})
	case errors.Is(err, auth.ErrBadCredentials):
		return u.renderLogin(c, http.StatusUnauthorized, loginView{Error: "Wrong user name or password.", Name: name, Next: next})
	case err != nil:
		return u.fail(c, err)
	}
	if err := u.web.SignIn(c, usr, "password"); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, next)
}

func (u *UI) logout(c echo.Context) error {
	if err := u.web.SignOut(c); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

type signupView struct {
	Error, Name, CSRF, Invite, Identity string
	Closed                              bool
	MinPassword                         int
	OIDC                                string
}

func (u *UI) signupPage(c echo.Context) error {
	v := signupView{Invite: c.QueryParam("invite"), MinPassword: auth.MinPasswordLen}
	status := http.StatusOK
	if _, ok, err := u.pendingSignup(c, &v); err != nil {
		return u.fail(c, err)
	} else if ok {
		// A first sign-in with the provider: only a user name is missing.
		return u.renderSignup(c, status, v)
	}
	switch u.registration {
	case RegistrationOpen:
	case RegistrationInvite:
		if v.Invite == "" {
			v.Closed = true
		} else if err := u.store.CheckInvite(c.Request().Context(), v.Invite); err != nil {
			v.Closed, v.Error, status = true, "This invitation link was used, has expired or is not valid.", http.StatusGone
		}
	default:
		v.Closed = true
	}
	return u.renderSignup(c, status, v)
}

func (u *UI) renderSignup(c echo.Context, status int, v signupView) error {
	v.CSRF = u.web.CSRFToken(c)
	v.MinPassword = auth.MinPasswordLen
	v.OIDC = u.oidcLabel
	c.Response().Header().Set("Cache-Control", "no-store")
	return u.render(c, status, "signup", "Sign up · Blueprints", v)
}

// checkNewName refuses user or organisation names that are invalid,
// reserved, or taken (ignoring case), with a message for the form.
func (u *UI) checkNewName(c echo.Context, name string) string {
	if err := repo.ValidOwner(name); err != nil {
		msg := strings.TrimPrefix(err.Error(), repo.ErrInvalidName.Error()+": ")
		if strings.Contains(msg, "reserved") {
			return "The name " + name + " is reserved by this server; pick another."
		}
		return "That name cannot be used: " + msg + "."
	}
	if _, err := u.store.UserByName(c.Request().Context(), name); err == nil {
		return "The name " + name + " is taken (names ignore case); pick another."
	}
	return ""
}

func (u *UI) signup(c echo.Context) error {
	if c.FormValue("oidc") == "1" && u.oidc != nil {
		return u.signupWithIdentity(c)
	}
	name, password, invite := strings.TrimSpace(c.FormValue("username")), c.FormValue("password"), c.FormValue("invite")
	v := signupView{Name: name, Invite: invite}
	switch {
	case u.registration == RegistrationOpen:
		invite = ""
	case u.registration == RegistrationInvite && invite != "":
	default:
		v.Closed = true
		return u.renderSignup(c, http.StatusForbidden, v)
	}
	if msg := u.checkNewName(c, name); msg != "" {
		v.Error = msg
		return u.renderSignup(c, http.StatusBadRequest, v)
	}
	if err := auth.CheckPassword(password, name); err != nil {
		v.Error = "That password cannot be used: " + strings.TrimPrefix(err.Error(), auth.ErrWeakPassword.Error()+": ") + "."
		return u.renderSignup(c, http.StatusBadRequest, v)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	a := store.NewAccount{Name: name, PasswordHash: hash}
	var usr store.User
	if invite != "" {
		usr, err = u.store.CreateAccountWithInvite(ctx, a, invite)
	} else {
		usr, err = u.store.CreateAccount(ctx, a)
	}
	switch {
	case errors.Is(err, store.ErrInviteUsed):
		v.Error, v.Closed = "This invitation link was used, has expired or is not valid.", true
		return u.renderSignup(c, http.StatusGone, v)
	case errors.Is(err, store.ErrExists):
		v.Error = "The name " + name + " is taken (names ignore case); pick another."
		return u.renderSignup(c, http.StatusBadRequest, v)
	case err != nil:
		return u.fail(c, err)
	}
	u.log.Info("account created on the web", "user", usr.Name, "invited", invite != "")
	if err := u.web.SignIn(c, usr, "password"); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/"+url.PathEscape(usr.Name))
}

// settingsView is the settings page; Tab picks the section shown.
type settingsView struct {
	Tab         string
	User        store.User
	CSRF        string
	Error, Done string
	MinPassword int
	Tokens      []store.Token
	NewToken    string
	Sessions    []store.Session
	Current     int64
	Identities  []store.Identity
	Memberships []store.Membership
	OIDC        string
	OIDCIssuer  string // the configured provider's issuer: its identities show its name
	InviteURL   string
}

// signedIn returns the session's person, or sends the visitor to sign
// in (and returns nil).
func (u *UI) signedIn(c echo.Context) (*auth.Signed, error) {
	s, err := u.web.Session(c)
	if err != nil {
		return nil, u.fail(c, err)
	}
	if s == nil {
		return nil, c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
	return s, nil
}

func (u *UI) settings(tab string) echo.HandlerFunc {
	return func(c echo.Context) error {
		s, err := u.signedIn(c)
		if s == nil {
			return err
		}
		v := settingsView{Tab: tab}
		if tab == "sign-ins" && c.QueryParam("linked") == "1" {
			v.Done = "Sign-in linked: you can now sign in with " + u.oidcLabel + "."
		}
		return u.renderSettings(c, s, http.StatusOK, v)
	}
}

func (u *UI) renderSettings(c echo.Context, s *auth.Signed, status int, v settingsView) error {
	ctx := c.Request().Context()
	usr, err := u.store.UserByID(ctx, s.User.ID)
	if err != nil {
		return u.fail(c, err)
	}
	v.User, v.CSRF, v.MinPassword, v.OIDC, v.Current = usr, u.web.CSRFToken(c), auth.MinPasswordLen, u.oidcLabel, s.Session.ID
	if u.oidc != nil {
		v.OIDCIssuer = u.oidc.Issuer()
	}
	switch v.Tab {
	case "tokens":
		v.Tokens, err = u.store.Tokens(ctx, usr.Name)
	case "sessions":
		v.Sessions, err = u.store.Sessions(ctx, usr.ID)
	case "sign-ins":
		v.Identities, err = u.store.Identities(ctx, usr.ID)
	case "organisations":
		v.Memberships, err = u.store.Memberships(ctx, usr.ID)
	case "invites":
		if !usr.Admin {
			return u.fail(c, &httpError{http.StatusForbidden, "Only administrators make invitations."})
		}
	}
	if err != nil {
		return u.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return u.render(c, status, "settings", "Settings · Blueprints", v)
}

func (u *UI) saveProfile(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	display, bio := strings.TrimSpace(c.FormValue("display_name")), strings.TrimSpace(c.FormValue("bio"))
	if len(display) > 100 || len(bio) > 500 {
		return u.renderSettings(c, s, http.StatusBadRequest, settingsView{Tab: "profile", Error: "The display name may have 100 characters, the bio 500."})
	}
	if err := u.store.SetProfile(c.Request().Context(), s.User.ID, display, bio); err != nil {
		return u.fail(c, err)
	}
	return u.renderSettings(c, s, http.StatusOK, settingsView{Tab: "profile", Done: "Profile saved."})
}

func (u *UI) changePassword(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	v := settingsView{Tab: "password"}
	if s.User.HasPassword {
		if _, err := u.web.Password(c, s.User.Name, c.FormValue("current")); err != nil {
			v.Error = "The current password is wrong."
			var thr *auth.ErrThrottled
			if errors.As(err, &thr) {
				v.Error = thr.Error()
			}
			return u.renderSettings(c, s, http.StatusBadRequest, v)
		}
	}
	pw := c.FormValue("new")
	if pw != c.FormValue("confirm") {
		v.Error = "The two new passwords differ."
		return u.renderSettings(c, s, http.StatusBadRequest, v)
	}
	if err := auth.CheckPassword(pw, s.User.Name); err != nil {
		v.Error = "That password cannot be used: " + strings.TrimPrefix(err.Error(), auth.ErrWeakPassword.Error()+": ") + "."
		return u.renderSettings(c, s, http.StatusBadRequest, v)
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return u.fail(c, err)
	}
	if err := u.store.SetPasswordHash(c.Request().Context(), s.User.ID, hash); err != nil {
		return u.fail(c, err)
	}
	v.Done = "Password changed."
	return u.renderSettings(c, s, http.StatusOK, v)
}

func (u *UI) createToken(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	v := settingsView{Tab: "tokens"}
	name, scope, expires := strings.TrimSpace(c.FormValue("name")), c.FormValue("scope"), c.FormValue("expires")
	var at time.Time
	switch expires {
	case "":
	case "30d", "90d", "365d":
		days, _ := strconv.Atoi(strings.TrimSuffix(expires, "d"))
		at = time.Now().AddDate(0, 0, days)
	default:
		if t, err := time.Parse("2006-01-02", expires); err == nil && t.After(time.Now()) {
			at = t.Add(24*time.Hour - time.Second)
		} else {
			v.Error = "Pick when the token expires."
			return u.renderSettings(c, s, http.StatusBadRequest, v)
		}
	}
	if name == "" || len(name) > 100 || !store.ValidScope(scope) {
		v.Error = "A token needs a name (up to 100 characters) and a scope, read or write."
		return u.renderSettings(c, s, http.StatusBadRequest, v)
	}
	_, secret, err := u.store.NewToken(c.Request().Context(), s.User.Name, store.TokenOptions{Name: name, Scope: scope, Expires: at})
	if err != nil {
		return u.fail(c, err)
	}
	v.NewToken = secret
	return u.renderSettings(c, s, http.StatusOK, v)
}

// idParam reads a positive id from the route.
func idParam(c echo.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	return id, err == nil && id > 0
}

func (u *UI) revokeToken(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	id, ok := idParam(c)
	if !ok {
		return u.fail(c, notFound("No such token."))
	}
	if err := u.store.RevokeUserToken(c.Request().Context(), s.User.ID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return u.fail(c, notFound("No such token."))
		}
		return u.fail(c, err)
	}
	return u.renderSettings(c, s, http.StatusOK, settingsView{Tab: "tokens", Done: "Token revoked: it no longer works."})
}

func (u *UI) revokeSession(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	id, ok := idParam(c)
	if !ok {
		return u.fail(c, notFound("No such session."))
	}
	if err := u.store.DeleteSession(c.Request().Context(), s.User.ID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return u.fail(c, notFound("No such session."))
		}
		return u.fail(c, err)
	}
	return u.renderSettings(c, s, http.StatusOK, settingsView{Tab: "sessions", Done: "That session is signed out."})
}

func (u *UI) unlinkIdentity(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	id, ok := idParam(c)
	if !ok {
		return u.fail(c, notFound("No such sign-in."))
	}
	if !s.User.HasPassword {
		ids, err := u.store.Identities(c.Request().Context(), s.User.ID)
		if err != nil {
			return u.fail(c, err)
		}
		if len(ids) <= 1 {
			return u.renderSettings(c, s, http.StatusBadRequest, settingsView{Tab: "sign-ins", Error: "Set a password first: without it or this sign-in you could not sign in."})
		}
	}
	if err := u.store.UnlinkIdentity(c.Request().Context(), s.User.ID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return u.fail(c, notFound("No such sign-in."))
		}
		return u.fail(c, err)
	}
	return u.renderSettings(c, s, http.StatusOK, settingsView{Tab: "sign-ins", Done: "Sign-in unlinked."})
}

func (u *UI) createInvite(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	if !s.User.Admin {
		return u.fail(c, &httpError{http.StatusForbidden, "Only administrators make invitations."})
	}
	_, secret, err := u.store.CreateInvite(c.Request().Context(), s.User.ID, 7*24*time.Hour)
	if err != nil {
		return u.fail(c, err)
	}
	link := c.Scheme() + "://" + c.Request().Host + "/signup?invite=" + url.QueryEscape(secret)
	return u.renderSettings(c, s, http.StatusOK, settingsView{Tab: "invites", InviteURL: link})
}
