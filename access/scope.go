package access

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/search"
)

// Scope is the set of projects a viewer may see: every public project,
// every project of the owners listed (the viewer and the organisations
// they belong to), and the private projects they collaborate on. All is
// set for administrators. The same Scope filters lists (Store) and search
// queries (see the search package), so that what a list or a search
// counts is exactly what the viewer may read.
type Scope struct {
	All      bool
	Owners   []string        // canonical names, sorted
	Projects []store.Project // private collaborations, by id
}

// Scope returns what v may see.
func (p *Policy) Scope(ctx context.Context, v Viewer) (Scope, error) {
	if v.Admin {
		return Scope{All: true}, nil
	}
	if v.Anonymous() {
		return Scope{}, nil
	}
	s := Scope{Owners: []string{v.Name}}
	ms, err := p.facts.Memberships(ctx, v.ID)
	if err != nil {
		return Scope{}, err
	}
	for _, m := range ms {
		s.Owners = append(s.Owners, m.Org.Name)
	}
	slices.Sort(s.Owners)
	if s.Projects, err = p.facts.PrivateCollaborations(ctx, v.ID); err != nil {
		return Scope{}, err
	}
	return s, nil
}

// Key names the scope, for caches of pages and results that depend on it.
// Scopes that see the same projects may still differ in key (the owners
// listed may own only public projects); that costs cache hits, never
// correctness.
func (s Scope) Key() string {
	if s.All {
		return "all"
	}
	if len(s.Owners) == 0 && len(s.Projects) == 0 {
		return "public"
	}
	var b strings.Builder
	b.WriteString("o:")
	b.WriteString(strings.ToLower(strings.Join(s.Owners, ",")))
	b.WriteString(";p:")
	for i, p := range s.Projects {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, p.ID)
	}
	return b.String()
}

// Store is the scope as the store applies it to lists of projects.
func (s Scope) Store() store.Visible {
	v := store.Visible{All: s.All, Owners: s.Owners}
	for _, p := range s.Projects {
		v.ProjectIDs = append(v.ProjectIDs, p.ID)
	}
	return v
}

// Search is the scope as the search index applies it to queries.
func (s Scope) Search() search.Scope {
	names := make([]string, len(s.Projects))
	for i, p := range s.Projects {
		names[i] = p.FullName()
	}
	return search.NewScope(s.All, s.Owners, names)
}

// Sees reports whether a project is in the scope (for lists built
// elsewhere, such as "same file used in").
func (s Scope) Sees(p store.Project) bool {
	if s.All || !p.Private() {
		return true
	}
	for _, o := range s.Owners {
		if strings.EqualFold(o, p.Owner) {
			return true
		}
	}
	for _, c := range s.Projects {
		if c.ID == p.ID {
			return true
		}
	}
	return false
}
