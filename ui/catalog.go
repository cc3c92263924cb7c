package ui

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
)

// blobUses lists where the blob is a part on a default branch, in any
// project, at most limit entries, by project and path. It answers from the
// catalog's parts table; the catalog's store API has no such look-up yet.
func (u *UI) blobUses(ctx context.Context, blob string, limit int) ([]store.Part, error) {
	rows, err := u.store.DB.QueryContext(ctx, `SELECT project, path, ref FROM parts WHERE blob = ? AND error = '' ORDER BY project, path LIMIT ?`, blob, limit)
	if err != nil {
		return nil, fmt.Errorf("find uses of blob %s: %w", blob, err)
	}
	defer rows.Close()
	var out []store.Part
	for rows.Next() {
		var p store.Part
		if err := rows.Scan(&p.Project, &p.Path, &p.Ref); err != nil {
			return nil, fmt.Errorf("find uses of blob %s: %w", blob, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

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

// isPart reports whether the path names a part (an .stl file, any case).
func isPart(p string) bool {
	return strings.HasSuffix(strings.ToLower(p), ".stl")
}

// isLink reports whether the entry is a symbolic link. Its blob is the
// link's target as text; the server serves and shows that text and never
// the file it names, nor treats it as a part or an LFS pointer.
func isLink(e repo.Entry) bool { return e.Mode == filemode.Symlink }
