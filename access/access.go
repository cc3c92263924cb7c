// Package access is Blueprints' one access policy: it decides whether a
// viewer may read, write or manage a project, or create one under an
// owner, and which projects a viewer may see in lists and search. Every
// route, the git and LFS handlers, the JSON API and the search filter ask
// it; nothing else decides.
//
// Data enters as a Viewer (who is asking: the auth package builds it from
// a session or a token) and a store.Project; it leaves as a Decision (which
// the HTTP edge turns into 200, 401, 403 or 404) and as a Scope (the
// projects a viewer may see, applied by the store to lists and by the
// search index to queries, so totals and facets never count what the
// viewer may not see). The facts it reads (organisation roles,
// collaborator grants) come from the store.
package access

import (
	"context"
	"strings"

	"github.com/blueprints-hq/blueprints/internal/store"
)

// Viewer is who is asking. The zero Viewer is an anonymous visitor.
type Viewer struct {
	ID    int64  // the person's id; 0 when anonymous
	Name  string // canonical case
	Admin bool   // an administrator may do anything to any project
	// ReadOnly is set when the request is authenticated by a token of
	// scope read: it may read what its person may, and change nothing.
	ReadOnly bool
}

// Anonymous reports whether nobody is signed in.
func (v Viewer) Anonymous() bool { return v.ID == 0 }

// ViewerOf is the viewer a signed-in person is.
func ViewerOf(u store.User) Viewer { return Viewer{ID: u.ID, Name: u.Name, Admin: u.Admin} }

// Action is what a viewer wants to do to a project.
type Action int

const (
	// Read: see the project anywhere (pages, files, previews, archives,
	// search, the API), clone and fetch it, download its LFS objects.
	Read Action = iota + 1
	// Write: push, upload LFS objects, take and release locks.
	Write
	// Manage: the settings page (description, default branch,
	// visibility, collaborators, rename, transfer, delete).
	Manage
)

func (a Action) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Manage:
		return "manage"
	}
	return "none"
}

// Decision is the policy's answer. The HTTP edge maps it: Allow serves,
// SignIn is 401 (a challenge), Forbid is 403, Hide is 404 exactly as for
// a project that does not exist, so a private project's name never leaks.
type Decision int

const (
	Allow  Decision = iota + 1
	SignIn          // anonymous, and signing in might help
	Forbid          // the viewer may see the project but not do this
	Hide            // the viewer may not know the project exists
)

func (d Decision) String() string {
	return [...]string{"", "allow", "sign in", "forbid", "hide"}[d]
}

// Facts is what the policy reads from the store; *store.Store satisfies it.
type Facts interface {
	UserByName(ctx context.Context, name string) (store.User, error)
	OrgRoleByName(ctx context.Context, org string, userID int64) (string, error)
	Permission(ctx context.Context, projectID, userID int64) (string, error)
	Memberships(ctx context.Context, userID int64) ([]store.Membership, error)
	PrivateCollaborations(ctx context.Context, userID int64) ([]store.Project, error)
}

// Policy answers access questions from the store's facts.
type Policy struct {
	facts Facts
}

// New returns the policy over facts (the store).
func New(facts Facts) *Policy { return &Policy{facts: facts} }

// Role is the most a viewer may do to a project: 0 (nothing), Read,
// Write or Manage.
func (p *Policy) Role(ctx context.Context, v Viewer, proj store.Project) (Action, error) {
	role, err := p.role(ctx, v, proj)
	if err != nil {
		return 0, err
	}
	if v.ReadOnly && role > Read {
		role = Read
	}
	return role, nil
}

func (p *Policy) role(ctx context.Context, v Viewer, proj store.Project) (Action, error) {
	base := Action(0)
	if !proj.Private() {
		base = Read
	}
	if v.Anonymous() {
		return base, nil
	}
	if v.Admin || strings.EqualFold(v.Name, proj.Owner) {
		return Manage, nil
	}
	role, err := p.facts.OrgRoleByName(ctx, proj.Owner, v.ID)
	if err != nil {
		return 0, err
	}
	switch role {
	case store.RoleOwner:
		return Manage, nil
	case store.RoleMember:
		return Write, nil
	}
	perm, err := p.facts.Permission(ctx, proj.ID, v.ID)
	if err != nil {
		return 0, err
	}
	switch perm {
	case store.PermWrite:
		return Write, nil
	case store.PermRead:
		return Read, nil
	}
	return base, nil
}

// Decide answers whether v may do a to proj.
func (p *Policy) Decide(ctx context.Context, v Viewer, a Action, proj store.Project) (Decision, error) {
	role, err := p.Role(ctx, v, proj)
	if err != nil {
		return 0, err
	}
	return decide(v, a, role), nil
}

func decide(v Viewer, a Action, role Action) Decision {
	switch {
	case role >= a:
		return Allow
	case role < Read:
		return Hide
	case v.Anonymous():
		return SignIn
	}
	return Forbid
}

// Can reports whether v may do a to proj.
func (p *Policy) Can(ctx context.Context, v Viewer, a Action, proj store.Project) (bool, error) {
	d, err := p.Decide(ctx, v, a, proj)
	return d == Allow, err
}

// CreateIn decides whether v may create a project under owner (a push to
// a project that does not exist yet): under their own name, or under an
// organisation they own. Forbid names the case of someone else's
// namespace; it reveals nothing, since the project does not exist.
func (p *Policy) CreateIn(ctx context.Context, v Viewer, owner string) (Decision, error) {
	switch {
	case v.Anonymous():
		return SignIn, nil
	case v.ReadOnly:
		return Forbid, nil
	case strings.EqualFold(v.Name, owner):
		return Allow, nil
	}
	o, err := p.facts.UserByName(ctx, owner)
	if err != nil {
		if isNotFound(err) {
			return Forbid, nil
		}
		return 0, err
	}
	if !o.IsOrg() {
		if v.Admin {
			return Allow, nil
		}
		return Forbid, nil
	}
	if v.Admin {
		return Allow, nil
	}
	role, err := p.facts.OrgRoleByName(ctx, o.Name, v.ID)
	if err != nil {
		return 0, err
	}
	if role == store.RoleOwner {
		return Allow, nil
	}
	return Forbid, nil
}

// ManageOrg decides whether v may change an organisation (its members and
// profile): its owners and administrators may.
func (p *Policy) ManageOrg(ctx context.Context, v Viewer, org store.User) (Decision, error) {
	switch {
	case v.Anonymous():
		return SignIn, nil
	case v.ReadOnly:
		return Forbid, nil
	case v.Admin:
		return Allow, nil
	}
	role, err := p.facts.OrgRoleByName(ctx, org.Name, v.ID)
	if err != nil {
		return 0, err
	}
	if role == store.RoleOwner {
		return Allow, nil
	}
	return Forbid, nil
}

func isNotFound(err error) bool {
	for e := err; e != nil; {
		if e == store.ErrNotFound {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
