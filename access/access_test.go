package access

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/store"
)

// TestPolicy checks every role against every action on a private project
// owned by an organisation and on a public one owned by a person, and
// that the list scope agrees with Read.
func TestPolicy(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users := map[string]store.User{}
	for _, n := range []string{"olivia", "mia", "rita", "walt", "sam", "ada", "pat"} {
		u, err := st.CreateAccount(ctx, store.NewAccount{Name: n, Admin: n == "ada"})
		if err != nil {
			t.Fatal(err)
		}
		users[n] = u
	}
	org, err := st.CreateOrg(ctx, "acme", users["olivia"].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetOrgMember(ctx, org.ID, users["mia"].ID, store.RoleMember); err != nil {
		t.Fatal(err)
	}
	secret, err := st.CreateProjectWith(ctx, "acme", "rover", store.Private)
	if err != nil {
		t.Fatal(err)
	}
	public, err := st.CreateProject(ctx, "pat", "bench")
	if err != nil {
		t.Fatal(err)
	}
	st.SetCollaborator(ctx, secret.ID, users["rita"].ID, store.PermRead)
	st.SetCollaborator(ctx, secret.ID, users["walt"].ID, store.PermWrite)

	p := New(st)
	viewer := func(n string) Viewer {
		if n == "" {
			return Viewer{}
		}
		return ViewerOf(users[n])
	}
	type want [3]Decision // Read, Write, Manage
	cases := []struct {
		who  string
		proj store.Project
		want want
	}{
		{"", secret, want{Hide, Hide, Hide}},
		{"sam", secret, want{Hide, Hide, Hide}},
		{"rita", secret, want{Allow, Forbid, Forbid}},
		{"walt", secret, want{Allow, Allow, Forbid}},
		{"mia", secret, want{Allow, Allow, Forbid}},
		{"olivia", secret, want{Allow, Allow, Allow}},
		{"ada", secret, want{Allow, Allow, Allow}},
		{"", public, want{Allow, SignIn, SignIn}},
		{"sam", public, want{Allow, Forbid, Forbid}},
		{"pat", public, want{Allow, Allow, Allow}},
	}
	for _, c := range cases {
		v := viewer(c.who)
		scope, err := p.Scope(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range []Action{Read, Write, Manage} {
			got, err := p.Decide(ctx, v, a, c.proj)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want[i] {
				t.Errorf("%q %s %s: %s, want %s", c.who, a, c.proj.FullName(), got, c.want[i])
			}
			if a == Read && scope.Sees(c.proj) != (got == Allow) {
				t.Errorf("%q: scope sees %s = %v, but Read is %s", c.who, c.proj.FullName(), scope.Sees(c.proj), got)
			}
		}
		// The store applies the same scope to lists.
		list, _, err := st.ListProjects(ctx, store.ProjectQuery{Visible: scope.Store()})
		if err != nil {
			t.Fatal(err)
		}
		listed := false
		for _, lp := range list {
			listed = listed || lp.ID == c.proj.ID
		}
		if listed != scope.Sees(c.proj) {
			t.Errorf("%q: the store lists %s = %v, the scope sees it = %v", c.who, c.proj.FullName(), listed, scope.Sees(c.proj))
		}
	}
	// A read-only token caps everyone at Read.
	ro := viewer("olivia")
	ro.ReadOnly = true
	if d, _ := p.Decide(ctx, ro, Write, secret); d != Forbid {
		t.Errorf("read-only olivia may write: %s", d)
	}
	if d, _ := p.Decide(ctx, ro, Read, secret); d != Allow {
		t.Errorf("read-only olivia may not read: %s", d)
	}
	// Creating projects: own name, an organisation one owns; not a member's.
	for _, c := range []struct {
		who, owner string
		want       Decision
	}{
		{"", "acme", SignIn}, {"olivia", "acme", Allow}, {"mia", "acme", Forbid}, {"sam", "sam", Allow},
		{"sam", "pat", Forbid}, {"sam", "nobody", Forbid}, {"ada", "acme", Allow},
	} {
		if d, err := p.CreateIn(ctx, viewer(c.who), c.owner); err != nil || d != c.want {
			t.Errorf("%q creates under %s: %s, %v; want %s", c.who, c.owner, d, err, c.want)
		}
	}
	if d, _ := p.CreateIn(ctx, ro, "olivia"); d != Forbid {
		t.Errorf("a read-only token creates projects: %s", d)
	}
}
