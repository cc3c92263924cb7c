package ui

import (
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/scad"
)

// partName is a part's file name without folders and extension.
func partName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	if i := strings.LastIndexByte(p, '.'); i > 0 {
		p = p[:i]
	}
	return p
}

// isPart reports whether the path names a part (an .stl, .3mf or .obj
// file, any case).
func isPart(p string) bool {
	_, ok := render.KindOf(p)
	return ok
}

// kindName is how pages name a part's kind of file.
func kindName(p string) string {
	if scad.IsSource(p) {
		return "OpenSCAD source"
	}
	k, _ := render.KindOf(p)
	return strings.ToUpper(string(k))
}

// formatName is how pages name a Part.Format.
func formatName(f string) string {
	switch f {
	case render.FormatASCII:
		return "ASCII STL"
	case render.FormatBinary:
		return "binary STL"
	case render.Format3MF:
		return "3MF"
	case render.FormatOBJ:
		return "OBJ"
	case render.FormatSCAD:
		return "OpenSCAD source, built to a mesh"
	}
	return f
}

// isLink reports whether the entry is a symbolic link. Its blob is the
// link's target as text; the server serves and shows that text and never
// the file it names, nor treats it as a part or an LFS pointer.
func isLink(e repo.Entry) bool { return e.Mode == filemode.Symlink }

// isGitlink reports whether the entry is a submodule: a gitlink naming a
// commit of another repository. Its id is never read as a file here
// (raw, blob and preview answer 404), since in a hand-built pack it may
// name any object, an LFS pointer included.
func isGitlink(e repo.Entry) bool { return e.Mode == filemode.Submodule }
