package ui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/scad"
)

// scadBuild is what the catalogue built from an OpenSCAD source at one
// commit. Pages never run openscad: they work out the build's key from
// that commit's files (the key the catalogue builds under) and show what
// is recorded under it, so a page at any version shows that version's
// build or says there is none; never another version's.
type scadBuild struct {
	Key     string          // the build's key; "" when refused, or when this server builds no OpenSCAD
	Refused string          // why the source cannot be built (a reference out of the repository…)
	Record  *store.BlobPart // the catalogue's record of the build; nil when not built
}

// Part reports whether the source is a part at that version: built into
// a 3D object (or failed trying), or refused, as the catalogue counts
// failures.
func (b scadBuild) Part() bool {
	return b.Refused != "" || b.Record != nil && !catalog.NotAPart(*b.Record)
}

// NotBuilt reports whether the server builds OpenSCAD sources but has no
// record of this version's build (not catalogued yet, or a version the
// catalogue never built: another branch's, or older than the pushes it
// saw).
func (b scadBuild) NotBuilt() bool { return b.Key != "" && b.Record == nil }

// scadTrees opens commits' trees as the OpenSCAD builder reads them,
// keeping the sources it has read (by git blob id, within a byte budget)
// so that a commit page comparing two trees reads a shared library once.
type scadTrees struct {
	u      *UI
	p      *projectRef
	ctx    context.Context
	texts  map[string][]byte
	budget int
}

// maxSCADMemo bounds the sources one page keeps in memory while it works
// out build keys.
const maxSCADMemo = 16 << 20

func (u *UI) scadTrees(ctx context.Context, p *projectRef) *scadTrees {
	return &scadTrees{u: u, p: p, ctx: ctx, texts: map[string][]byte{}, budget: maxSCADMemo}
}

// builds finds the build key of each source at commit, in one read of the
// tree, and looks their records up in one query.
func (s *scadTrees) builds(commit plumbing.Hash, files []string) ([]scadBuild, error) {
	out := make([]scadBuild, len(files))
	if s.u.scadVersion == "" || len(files) == 0 {
		return out, nil
	}
	c, err := s.p.Browse.Repository().CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", commit, err)
	}
	t := memoTree{Tree: catalog.SourceTree(s.ctx, s.p.Browse.Repository(), tree, s.u.store, s.u.blobs, s.p.Row.ID), s: s}
	var keys []string
	for i, f := range files {
		cl, err := scad.FindClosure(t, f, s.u.scadVersion)
		if err != nil {
			// As the catalogue records it: the page names the file.
			out[i].Refused = trimFile(err.Error(), f)
			continue
		}
		out[i].Key = cl.Key
		keys = append(keys, cl.Key)
	}
	recs, err := s.u.store.BlobParts(s.ctx, keys)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if bp, ok := recs[out[i].Key]; ok {
			out[i].Record = &bp
		}
	}
	return out, nil
}

// scadBuildAt is the build of one source at commit.
func (u *UI) scadBuildAt(ctx context.Context, p *projectRef, commit plumbing.Hash, file string) (scadBuild, error) {
	b, err := u.scadTrees(ctx, p).builds(commit, []string{file})
	if err != nil {
		return scadBuild{}, err
	}
	return b[0], nil
}

func trimFile(msg, file string) string {
	if len(msg) > len(file)+2 && msg[:len(file)+2] == file+": " {
		return msg[len(file)+2:]
	}
	return msg
}

// memoTree is a scad.Tree whose sources are read once per page.
type memoTree struct {
	scad.Tree
	s *scadTrees
}

func (m memoTree) Open(p string) (io.ReadCloser, error) {
	v, ok := m.Version(p)
	if !ok {
		return nil, fmt.Errorf("%s: no such file", p)
	}
	if text, ok := m.s.texts[v]; ok {
		return io.NopCloser(bytes.NewReader(text)), nil
	}
	rc, err := m.Tree.Open(p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// One byte past the limit, so that FindClosure still sees an
	// oversized source as one.
	text, err := io.ReadAll(io.LimitReader(rc, scad.MaxSourceSize+1))
	if err != nil {
		return nil, err
	}
	if len(text) <= m.s.budget {
		m.s.budget -= len(text)
		m.s.texts[v] = text
	}
	return io.NopCloser(bytes.NewReader(text)), nil
}

// scadNotBuilt is the answer of the mesh and preview routes for a
// version of a source with no build of a part: refused, not built, or
// no part.
func scadNotBuilt(b scadBuild, file string) error {
	switch {
	case b.Refused != "":
		return notFound("%s is not built: %s", path.Base(file), b.Refused)
	case b.Key == "":
		return notFound("%s is not built: this server builds no OpenSCAD sources.", path.Base(file))
	case b.Record == nil:
		return notFound("This version of %s has not been built: the catalogue builds the OpenSCAD sources of the default branch's pushes.", path.Base(file))
	}
	return notFound("%s makes no 3D part.", path.Base(file))
}
