package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/auth"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
)

// Sign-in with an OpenID Connect provider (serve --oidc-issuer): the
// sign-in and sign-up pages' button (GET /login/oidc), the provider's way
// back (GET /login/oidc/callback), and linking a provider's sign-in to
// the signed-in account from the settings (GET /settings/sign-ins/link).
// A first sign-in with an identity no account has leads to the sign-up
// page, which then asks only for a user name.
//
// The buttons are links, not forms: the pages' Content-Security-Policy
// (form-action 'self') rightly stops a form from being redirected to
// another site, and starting a sign-in changes nothing here but a
// short-lived flow (whatever the provider answers must come back to the
// browser that started it).

func (u *UI) registerOIDC(e *echo.Echo) {
	if u.oidc == nil {
		return
	}
	e.GET("/login/oidc", u.oidcBegin)
	e.GET(auth.OIDCCallbackPath, u.oidcCallback)
	e.GET("/settings/sign-ins/link", u.oidcLink)
}

// oidcBegin sends the browser to the provider to sign in (or to sign up,
// with an invitation).
func (u *UI) oidcBegin(c echo.Context) error {
	f := store.OIDCFlow{Next: auth.SafeNext(c.QueryParam("next")), Invite: c.QueryParam("invite")}
	if len(f.Invite) > 200 {
		f.Invite = ""
	}
	return u.oidcRedirect(c, f)
}

// oidcLink sends the signed-in person to the provider to link its
// sign-in to their account.
func (u *UI) oidcLink(c echo.Context) error {
	s, err := u.signedIn(c)
	if s == nil {
		return err
	}
	return u.oidcRedirect(c, store.OIDCFlow{Next: "/settings/sign-ins", LinkUser: s.User.ID})
}

func (u *UI) oidcRedirect(c echo.Context, f store.OIDCFlow) error {
	to, err := u.oidc.Begin(c, f)
	if err != nil {
		return u.oidcFailed(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, to)
}

// oidcFailed answers a refused or failed sign-in with the sign-in page
// and a message saying what to do; the reason goes to the log only.
func (u *UI) oidcFailed(c echo.Context, err error) error {
	var oe *auth.OIDCError
	if !errors.As(err, &oe) {
		return u.fail(c, err)
	}
	status, msg := http.StatusBadRequest, ""
	switch {
	case errors.Is(err, auth.ErrOIDCUnavailable):
		status, msg = http.StatusBadGateway, "Signing in with "+u.oidc.Name()+" is not possible right now: it does not answer. Try again in a moment, or sign in with your password."
	case errors.Is(err, auth.ErrOIDCState):
		msg = "That sign-in with " + u.oidc.Name() + " was already used, has expired or was started in another browser. Start again."
	case errors.Is(err, auth.ErrOIDCDenied):
		status, msg = http.StatusUnauthorized, u.oidc.Name()+" did not sign you in. Start again, or sign in with your password."
	default:
		status, msg = http.StatusUnauthorized, "The answer from "+u.oidc.Name()+" could not be verified, so you are not signed in. Start again; if it keeps failing, tell an administrator."
	}
	u.log.Warn("OpenID Connect sign-in refused", "issuer", u.oidc.Issuer(), "reason", oe.Reason, "ip", c.RealIP())
	return u.renderLogin(c, status, loginView{Error: msg, Next: "/"})
}

// oidcCallback is where the provider sends the browser back: it signs
// the person in, links the sign-in to their account, or (a first sign-in)
// leads to the sign-up page when registration allows.
func (u *UI) oidcCallback(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	id, f, err := u.oidc.Finish(c)
	if err != nil {
		return u.oidcFailed(c, err)
	}
	ctx := c.Request().Context()
	if f.LinkUser != 0 {
		return u.oidcLinked(c, id, f)
	}
	usr, err := u.store.UserByIdentity(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
		if usr.Disabled != nil {
			u.log.Warn("OpenID Connect sign-in of a disabled account", "user", usr.Name, "ip", c.RealIP())
			return u.renderLogin(c, http.StatusForbidden, loginView{Error: "This account is disabled. Ask an administrator.", Next: f.Next})
		}
		if err := u.web.SignIn(c, usr, "oidc"); err != nil {
			return u.fail(c, err)
		}
		u.log.Info("signed in with OpenID Connect", "user", usr.Name)
		return c.Redirect(http.StatusSeeOther, auth.SafeNext(f.Next))
	case !errors.Is(err, store.ErrNotFound):
		return u.fail(c, err)
	}
	// No account has this identity yet.
	if !u.oidcMaySignUp(c, f.Invite) {
		msg := "No account on this server is linked to that " + u.oidc.Name() + " sign-in. Sign in with your password and link it under Settings → Linked sign-ins"
		if u.registration == RegistrationInvite {
			msg += ", or sign up with an administrator's invitation link"
		}
		return u.renderLogin(c, http.StatusForbidden, loginView{Error: msg + ".", Next: f.Next})
	}
	if err := u.oidc.HoldSignup(c, id, f); err != nil {
		return u.fail(c, err)
	}
	return c.Redirect(http.StatusSeeOther, "/signup")
}

// oidcMaySignUp says whether a new account may be made now: registration
// is open, or it is by invitation and invite is a live one.
func (u *UI) oidcMaySignUp(c echo.Context, invite string) bool {
	switch u.registration {
	case RegistrationOpen:
		return true
	case RegistrationInvite:
		return invite != "" && u.store.CheckInvite(c.Request().Context(), invite) == nil
	}
	return false
}

// oidcLinked links a verified identity to the account that asked, still
// signed in in this browser.
func (u *UI) oidcLinked(c echo.Context, id auth.Identity, f store.OIDCFlow) error {
	s, err := u.web.Session(c)
	if err != nil {
		return u.fail(c, err)
	}
	if s == nil || s.User.ID != f.LinkUser {
		return u.renderLogin(c, http.StatusBadRequest, loginView{Error: "You signed out (or in as someone else) while linking; nothing was linked. Sign in and start again from Settings.", Next: "/settings/sign-ins"})
	}
	v := settingsView{Tab: "sign-ins"}
	err = u.store.LinkIdentity(c.Request().Context(), id.Issuer, id.Subject, s.User.ID, id.Email)
	switch {
	case errors.Is(err, store.ErrExists):
		v.Error = "That " + u.oidc.Name() + " sign-in is already linked to an account on this server (this one or another); nothing changed."
		return u.renderSettings(c, s, http.StatusConflict, v)
	case err != nil:
		return u.fail(c, err)
	}
	u.log.Info("OpenID Connect sign-in linked", "user", s.User.Name)
	return c.Redirect(http.StatusSeeOther, "/settings/sign-ins?linked=1")
}

// pendingSignup fills a sign-up form for the identity a first sign-in
// left waiting in this browser, if any.
func (u *UI) pendingSignup(c echo.Context, v *signupView) (store.OIDCFlow, bool, error) {
	if u.oidc == nil {
		return store.OIDCFlow{}, false, nil
	}
	p, ok, err := u.oidc.PendingSignup(c)
	if err != nil || !ok {
		return p, false, err
	}
	v.Identity = p.Email
	if v.Identity == "" {
		v.Identity = p.Subject
	}
	v.Identity = u.oidc.Name() + " (" + v.Identity + ")"
	v.Invite = p.Invite
	if v.Name == "" && p.Name != "" && repo.ValidOwner(p.Name) == nil {
		if _, err := u.store.UserByName(c.Request().Context(), p.Name); errors.Is(err, store.ErrNotFound) {
			v.Name = p.Name
		}
	}
	return p, true, nil
}

// signupWithIdentity creates the account of a pending first sign-in with
// the user name the form gives, and signs it in.
func (u *UI) signupWithIdentity(c echo.Context) error {
	v := signupView{Name: strings.TrimSpace(c.FormValue("username"))}
	p, ok, err := u.pendingSignup(c, &v)
	if err != nil {
		return u.fail(c, err)
	}
	if !ok {
		v.Identity = ""
		v.Error = "Your sign-in with the provider has expired. Start again from the sign-in page."
		return u.renderSignup(c, http.StatusGone, v)
	}
	v.Name = strings.TrimSpace(c.FormValue("username"))
	if !u.oidcMaySignUp(c, p.Invite) {
		v.Closed = true
		v.Error = "Sign-up is closed, or the invitation was used meanwhile."
		return u.renderSignup(c, http.StatusForbidden, v)
	}
	if msg := u.checkNewName(c, v.Name); msg != "" {
		v.Error = msg
		return u.renderSignup(c, http.StatusBadRequest, v)
	}
	usr, err := u.store.CreateAccountWithIdentity(c.Request().Context(), store.NewAccount{Name: v.Name}, p.Issuer, p.Subject, p.Email, p.Invite)
	switch {
	case errors.Is(err, store.ErrInviteUsed):
		v.Error, v.Closed = "This invitation link was used, has expired or is not valid.", true
		return u.renderSignup(c, http.StatusGone, v)
	case errors.Is(err, store.ErrExists):
		if _, err := u.store.UserByIdentity(c.Request().Context(), p.Issuer, p.Subject); err == nil {
			u.oidc.EndSignup(c)
			v.Identity, v.Closed, v.Error = "", true, "That sign-in already has an account here: sign in instead."
			return u.renderSignup(c, http.StatusConflict, v)
		}
		v.Error = "The name " + v.Name + " is taken (names ignore case); pick another."
		return u.renderSignup(c, http.StatusBadRequest, v)
	case err != nil:
		return u.fail(c, err)
	}
	if err := u.oidc.EndSignup(c); err != nil {
		return u.fail(c, err)
	}
	u.log.Info("account created on the web", "user", usr.Name, "with", "oidc", "invited", p.Invite != "")
	if err := u.web.SignIn(c, usr, "oidc"); err != nil {
		return u.fail(c, err)
	}
	next := auth.SafeNext(p.Next)
	if next == "/" {
		next = "/" + url.PathEscape(usr.Name)
	}
	return c.Redirect(http.StatusSeeOther, next)
}
