package print

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

// Source reads what a plan needs from a project beyond the catalogue: its
// manifests and its parts' bytes.
type Source interface {
	// ReadFile returns the file at p in commit of project, at most limit
	// bytes; nil and no error when there is no such file.
	ReadFile(ctx context.Context, project, commit, p string, limit int64) ([]byte, error)
	// OpenPart opens a catalogued part's mesh, by its catalogue key (git
	// blob id, LFS object id or build key) and path, and returns the name
	// to read it under (its extension tells render its kind).
	OpenPart(ctx context.Context, project, blob, path string) (rc io.ReadCloser, name string, err error)
}

// RepoSource reads projects' bare repositories under Repos
// ({Repos}/{owner}/{name}.git) and LFS objects from Blobs, through
// lfs.OpenObject: only objects the project owns (Store says which).
type RepoSource struct {
	Repos string
	Store *store.Store
	Blobs storage.Blobs
	Pool  *repo.BrowsePool
}

var _ Source = (*RepoSource)(nil)

// NewRepoSource reads the repositories under dir and the LFS objects st
// records for each project from blobs.
func NewRepoSource(dir string, st *store.Store, blobs storage.Blobs) *RepoSource {
	return &RepoSource{Repos: dir, Store: st, Blobs: blobs, Pool: repo.NewBrowsePool(4, 64)}
}

func (s *RepoSource) open(project string) (*repo.Browse, error) {
	owner, name, ok := strings.Cut(project, "/")
	if !ok || repo.ValidName(owner) != nil || repo.ValidName(name) != nil {
		return nil, fmt.Errorf("open project %q: %w", project, repo.ErrNoRepository)
	}
	dir := filepath.Join(s.Repos, owner, name+".git")
	if rel, err := filepath.Rel(s.Repos, dir); err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("open project %q: %w", project, repo.ErrNoRepository)
	}
	return s.Pool.Get(dir)
}

// ReadFile implements Source.
func (s *RepoSource) ReadFile(ctx context.Context, project, commit, p string, limit int64) ([]byte, error) {
	h, ok := commitHash(commit)
	if !ok {
		return nil, nil
	}
	b, err := s.open(project)
	if err != nil {
		return nil, err
	}
	defer s.Pool.Put(b)
	e, err := b.Stat(h, p)
	if errors.Is(err, repo.ErrNoPath) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", p, project, err)
	}
	if e.Dir {
		return nil, nil
	}
	if e.Size > limit {
		return nil, fmt.Errorf("read %s in %s: %d bytes, more than the %d read", p, project, e.Size, limit)
	}
	return b.ReadBlob(e.Hash, limit)
}

// OpenPart implements Source. STL files are read as pushed (from git or
// LFS storage); parts of other kinds (3MF, OBJ, OpenSCAD builds) from the
// binary STL the catalogue kept of their mesh, in the same millimetres.
func (s *RepoSource) OpenPart(ctx context.Context, project, blob, p string) (io.ReadCloser, string, error) {
	base := path.Base(p)
	if k, ok := render.KindOf(p); !ok || k != render.KindSTL {
		rc, _, err := s.Blobs.Get(ctx, catalog.MeshKey(blob))
		if err != nil {
			return nil, "", fmt.Errorf("read the mesh of %s: %w", p, err)
		}
		return rc, base + ".stl", nil
	}
	if lfs.ValidOID(blob) {
		rc, err := s.openLFS(ctx, project, blob)
		if err != nil {
			return nil, "", fmt.Errorf("read LFS object %s of %s in %s: %w", blob, p, project, err)
		}
		return rc, base, nil
	}
	h, ok := commitHash(blob)
	if !ok {
		return nil, "", fmt.Errorf("open part %s: %q is not a blob id", p, blob)
	}
	b, err := s.open(project)
	if err != nil {
		return nil, "", err
	}
	rc, _, err := b.OpenBlob(h)
	if err != nil {
		s.Pool.Put(b)
		return nil, "", fmt.Errorf("read blob %s (%s) in %s: %w", blob, p, project, err)
	}
	return &pooledReader{ReadCloser: rc, done: func() { s.Pool.Put(b) }}, base, nil
}

// openLFS opens an LFS object of project, as every reader of LFS content
// does: through lfs.OpenObject, which refuses objects the project does not
// own.
func (s *RepoSource) openLFS(ctx context.Context, project, oid string) (io.ReadCloser, error) {
	owner, name, _ := strings.Cut(project, "/")
	p, err := s.Store.ProjectByName(ctx, owner, name)
	if err != nil {
		return nil, err
	}
	o, err := s.Store.LFSObject(ctx, p.ID, oid)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", lfs.ErrNotOwned, err)
	}
	rc, _, err := lfs.OpenObject(ctx, s.Store, s.Blobs, p.ID, lfs.Pointer{OID: oid, Size: o.Size})
	return rc, err
}

// pooledReader gives its repository back to the pool once closed.
type pooledReader struct {
	io.ReadCloser
	done func()
}

func (p *pooledReader) Close() error {
	err := p.ReadCloser.Close()
	if p.done != nil {
		p.done()
		p.done = nil
	}
	return err
}

func commitHash(s string) (plumbing.Hash, bool) {
	if len(s) != 40 {
		return plumbing.ZeroHash, false
	}
	for i := range len(s) {
		if !strings.ContainsRune("0123456789abcdef", rune(s[i])) {
			return plumbing.ZeroHash, false
		}
	}
	return plumbing.NewHash(s), true
}
