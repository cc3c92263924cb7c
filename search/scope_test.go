package search

import (
	"context"
	"testing"
)

// TestScope checks that a private project's documents are found only by
// scopes that name it or its owner, and that totals and facets count only
// what the scope may read, on every page.
func TestScope(t *testing.T) {
	ctx := context.Background()
	b := openIndex(t, t.TempDir())
	docs := []Doc{
		{ID: PartID("pat/bench", "vise_jaw.stl"), Kind: KindPart, Project: "pat/bench", Owner: "pat", Name: "vise_jaw", Path: "vise_jaw.stl", License: "MIT"},
		{ID: PartID("Acme/rover", "gearbox_mount.stl"), Kind: KindPart, Project: "Acme/rover", Owner: "Acme", Name: "gearbox_mount", Path: "gearbox_mount.stl", License: "CERN-OHL-S-2.0", Private: true},
		{ID: PartID("Acme/rover", "gearbox_cover.stl"), Kind: KindPart, Project: "Acme/rover", Owner: "Acme", Name: "gearbox_cover", Path: "gearbox_cover.stl", License: "CERN-OHL-S-2.0", Private: true},
		{ID: PartID("rita/sketch", "gearbox_lid.stl"), Kind: KindPart, Project: "rita/sketch", Owner: "rita", Name: "gearbox_lid", Path: "gearbox_lid.stl", License: "MIT", Private: true},
		{ID: ProjectID("Acme/rover"), Kind: KindProject, Project: "Acme/rover", Owner: "Acme", Name: "Rover", License: "CERN-OHL-S-2.0", Private: true},
	}
	if err := b.Apply(ctx, docs, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		scope Scope
		q     string
		total uint64
	}{
		{"anonymous", Scope{}, "gearbox", 0},
		{"anonymous, all", Scope{}, "", 1},
		{"org member (owner named in another case)", NewScope(false, []string{"acme"}, nil), "gearbox", 2},
		{"collaborator", NewScope(false, nil, []string{"rita/sketch"}), "gearbox", 1},
		{"both", NewScope(false, []string{"ACME"}, []string{"rita/sketch"}), "gearbox", 3},
		{"admin", NewScope(true, nil, nil), "", 5},
		{"project filter outside the scope", Scope{}, "", 0},
	}
	for _, c := range cases {
		q := Query{Text: c.q, Scope: c.scope, PerPage: 1}
		if c.name == "project filter outside the scope" {
			q.Project = "Acme/rover"
		}
		res, err := b.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != c.total {
			t.Errorf("%s: total %d, want %d", c.name, res.Total, c.total)
		}
		var licences, projects int
		for _, f := range res.Facets[fieldLicense] {
			licences += f.Count
		}
		for _, f := range res.Facets[fieldProject] {
			projects += f.Count
			if c.total == 0 || (c.scope == Scope{}) {
				if f.Term != "pat/bench" {
					t.Errorf("%s: facet names %s", c.name, f.Term)
				}
			}
		}
		if uint64(licences) != c.total && q.Project == "" {
			t.Errorf("%s: licence facets count %d, total %d", c.name, licences, c.total)
		}
		// Every page holds only readable hits.
		for page := 1; page <= int(c.total); page++ {
			q.Page = page
			res, _ := b.Search(ctx, q)
			for _, h := range res.Hits {
				if h.Private && c.scope == (Scope{}) {
					t.Errorf("%s: page %d shows %s", c.name, page, h.ID)
				}
			}
		}
	}
}
