package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/render"
)

// TestTokenScopeExpiryAndDisable checks that a token carries its scope,
// that an expired token and a disabled account's token are refused like
// any bad credentials, and that a bearer token (no user name) works.
func TestTokenScopeExpiryAndDisable(t *testing.T) { eachStore(t, testTokenScopeExpiryAndDisable) }

func testTokenScopeExpiryAndDisable(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	u, err := s.CreateUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, old, _ := s.CreateToken(ctx, "alice")
	_, ro, err := s.NewToken(ctx, "alice", TokenOptions{Name: "ci", Scope: ScopeRead, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_, expired, _ := s.NewToken(ctx, "alice", TokenOptions{Name: "old", Expires: time.Now().Add(-time.Second)})
	if _, _, err := s.NewToken(ctx, "alice", TokenOptions{Scope: "admin"}); err == nil {
		t.Error("a token of scope admin was made")
	}
	if a, err := s.AuthenticateToken(ctx, "alice", old); err != nil || a.Scope != ScopeWrite {
		t.Errorf("a token made without options: %+v, %v; want scope write", a, err)
	}
	if a, err := s.AuthenticateToken(ctx, "", ro); err != nil || a.Scope != ScopeRead || a.User.Name != "alice" {
		t.Errorf("bearer read token: %+v, %v", a, err)
	}
	if _, err := s.AuthenticateToken(ctx, "alice", expired); err != ErrBadCredentials {
		t.Errorf("expired token: %v, want ErrBadCredentials", err)
	}
	ts, _ := s.Tokens(ctx, "alice")
	if len(ts) != 3 || ts[1].Name != "ci" || ts[1].Scope != ScopeRead || ts[1].Expires == nil || ts[2].Active(time.Now()) {
		t.Errorf("token list: %+v", ts)
	}
	ses, secret, err := s.CreateSession(ctx, NewSession{UserID: u.ID, Method: "password", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, gu, err := s.SessionBySecret(ctx, secret); err != nil || got.ID != ses.ID || gu.Name != "alice" {
		t.Errorf("session: %+v %+v %v", got, gu, err)
	}
	if err := s.DisableUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, "alice", old); err != ErrBadCredentials {
		t.Errorf("disabled account's token: %v", err)
	}
	if _, _, err := s.SessionBySecret(ctx, secret); err != ErrBadCredentials {
		t.Errorf("disabled account's session: %v", err)
	}
	if ss, _ := s.Sessions(ctx, u.ID); len(ss) != 0 {
		t.Errorf("disabling left %d sessions", len(ss))
	}
	s.EnableUser(ctx, u.ID)
	if _, err := s.AuthenticateToken(ctx, "alice", old); err != nil {
		t.Errorf("re-enabled account's token: %v", err)
	}
	// An expired session is refused.
	_, short, _ := s.CreateSession(ctx, NewSession{UserID: u.ID, TTL: -time.Second})
	if _, _, err := s.SessionBySecret(ctx, short); err != ErrBadCredentials {
		t.Errorf("expired session: %v", err)
	}
}

// TestOrgsAndNames checks that people and organisations share one
// case-insensitive namespace and that an organisation keeps an owner.
func TestOrgsAndNames(t *testing.T) { eachStore(t, testOrgsAndNames) }

func testOrgsAndNames(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	olivia, _ := s.CreateUser(ctx, "olivia")
	mia, _ := s.CreateUser(ctx, "mia")
	org, err := s.CreateOrg(ctx, "Acme", olivia.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "ACME"); !errors.Is(err, ErrExists) {
		t.Errorf("a person named like an organisation: %v", err)
	}
	if _, err := s.CreateOrg(ctx, "OLIVIA", mia.ID); !errors.Is(err, ErrExists) {
		t.Errorf("an organisation named like a person: %v", err)
	}
	if err := s.RemoveOrgMember(ctx, org.ID, olivia.ID); !errors.Is(err, ErrInUse) {
		t.Errorf("removing the last owner: %v", err)
	}
	if err := s.SetOrgMember(ctx, org.ID, olivia.ID, RoleMember); !errors.Is(err, ErrInUse) {
		t.Errorf("demoting the last owner: %v", err)
	}
	if err := s.DeleteUser(ctx, olivia.ID); !errors.Is(err, ErrInUse) {
		t.Errorf("deleting the last owner: %v", err)
	}
	if err := s.SetOrgMember(ctx, org.ID, mia.ID, RoleOwner); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOrgMember(ctx, org.ID, olivia.ID, RoleMember); err != nil {
		t.Errorf("demoting one of two owners: %v", err)
	}
	if role, _ := s.OrgRoleByName(ctx, "acme", olivia.ID); role != RoleMember {
		t.Errorf("olivia's role: %q", role)
	}
	if _, err := s.CreateProject(ctx, "mia", "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, mia.ID); !errors.Is(err, ErrInUse) {
		t.Errorf("deleting a person who owns projects: %v", err)
	}
	if err := s.DeleteUser(ctx, olivia.ID); err != nil {
		t.Errorf("deleting a plain member: %v", err)
	}
}

// TestInviteOnce checks that an invitation signs up one person only.
func TestInviteOnce(t *testing.T) { eachStore(t, testInviteOnce) }

func testInviteOnce(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	_, secret, err := s.CreateInvite(ctx, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckInvite(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccountWithInvite(ctx, NewAccount{Name: "zoe"}, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccountWithInvite(ctx, NewAccount{Name: "zed"}, secret); !errors.Is(err, ErrInviteUsed) {
		t.Errorf("second use: %v", err)
	}
	if err := s.CheckInvite(ctx, "bp_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown invite: %v", err)
	}
	// A failed sign-up (name taken) leaves the invitation unspent.
	_, again, _ := s.CreateInvite(ctx, 0, time.Hour)
	if _, err := s.CreateAccountWithInvite(ctx, NewAccount{Name: "ZOE"}, again); !errors.Is(err, ErrExists) {
		t.Errorf("taken name: %v", err)
	}
	if err := s.CheckInvite(ctx, again); err != nil {
		t.Errorf("invite spent by a failed sign-up: %v", err)
	}
}

// TestRenameAndDelete checks that a rename moves the catalogue rows and
// leaves a redirect, and that deleting a project returns exactly what no
// other project uses.
func TestRenameAndDelete(t *testing.T) { eachStore(t, testRenameAndDelete) }

func testRenameAndDelete(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	s.CreateUser(ctx, "alice")
	p, _ := s.CreateProject(ctx, "alice", "rover")
	other, _ := s.CreateProject(ctx, "alice", "other")
	now := time.Now().UTC()
	part := &render.Part{Triangles: 12}
	for _, b := range []BlobPart{{Blob: "b-shared", Part: part, Preview: "previews/shared/512.png"}, {Blob: "b-own", Part: part, Preview: "previews/own/512.png"}} {
		if err := s.PutBlobPart(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	meta := ProjectMeta{Project: "alice/rover", Ref: "main", License: "none"}
	if err := s.ApplyCatalog(ctx, meta, []Part{{Project: "alice/rover", Path: "a.stl", Blob: "b-own", Ref: "main", Commit: "c", Updated: now},
		{Project: "alice/rover", Path: "s.stl", Blob: "b-shared", Ref: "main", Commit: "c", Updated: now}}, nil); err != nil {
		t.Fatal(err)
	}
	s.AddProjectBlobs(ctx, "alice/rover", []string{"b-own", "b-shared"})
	s.AddProjectBlobs(ctx, "alice/other", []string{"b-shared"})
	s.AddLFSObject(ctx, p.ID, "oid-own", 1)
	s.AddLFSObject(ctx, p.ID, "oid-shared", 1)
	s.AddLFSObject(ctx, other.ID, "oid-shared", 1)

	if _, err := s.RenameProject(ctx, p.ID, "alice", "other"); !errors.Is(err, ErrExists) {
		t.Errorf("rename onto another project: %v", err)
	}
	if _, err := s.RenameProject(ctx, p.ID, "alice", "lander"); err != nil {
		t.Fatal(err)
	}
	if parts, _ := s.ProjectParts(ctx, "alice/lander"); len(parts) != 2 {
		t.Errorf("parts after rename: %d", len(parts))
	}
	if r, err := s.ProjectByRedirect(ctx, "ALICE", "Rover"); err != nil || r.ID != p.ID {
		t.Errorf("redirect: %+v %v", r, err)
	}
	// A new project under the old name takes the name back.
	if _, err := s.CreateProject(ctx, "alice", "rover"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectByRedirect(ctx, "alice", "rover"); !errors.Is(err, ErrNotFound) {
		t.Errorf("redirect outlived a new project of that name: %v", err)
	}
	if ps, _ := s.PreviewProjects(ctx, "previews/shared/512.png", 10); len(ps) != 2 {
		t.Errorf("projects of the shared preview: %+v", ps)
	}
	left, err := s.DeleteProjectAll(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(left.LFSObjects) != 1 || left.LFSObjects[0] != "oid-own" || len(left.Previews) != 1 || left.Previews[0] != "previews/own/512.png" {
		t.Errorf("leftovers: %+v", left)
	}
	if _, err := s.BlobPart(ctx, "b-shared"); err != nil {
		t.Errorf("the shared measurement went: %v", err)
	}
	if _, err := s.BlobPart(ctx, "b-own"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the project's own measurement stayed: %v", err)
	}
	if parts, _ := s.ProjectParts(ctx, "alice/lander"); len(parts) != 0 {
		t.Errorf("parts after delete: %d", len(parts))
	}
}
