// Package doctor checks that a stopped Blueprints data folder agrees with
// itself, and repairs what does not: repositories and project rows that
// lack each other, LFS objects and previews nothing references (collected
// only after a grace period, so an upload still being recorded is never
// taken), parts whose preview is missing, search documents that disagree
// with the store, and stale git locks.
//
// Data enters as the store, the repositories, blob storage and the search
// index (Env); findings leave as a list, each saying whether it was fixed.
// Run applies each check's repairs before the next check looks, so a
// second run after a repair finds nothing.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/search"
	"github.com/blueprints-hq/blueprints/storage"
)

// DefaultGrace is how old an unreferenced blob must be before it is
// collected: an LFS upload is stored before the row naming it is written.
const DefaultGrace = time.Hour

// Index is what doctor needs of the search index.
type Index interface {
	DocIDs(ctx context.Context) ([]string, error)
	Apply(ctx context.Context, upserts []search.Doc, deletes []string) error
}

// Env is the stopped instance to check.
type Env struct {
	Store *store.Store
	Repos *repo.Server
	Blobs storage.Blobs
	Index Index
	// Recatalogue measures a project's default branch again and rewrites
	// its parts and index documents (the catalog's CatalogueProject).
	Recatalogue func(ctx context.Context, project string) error
	Grace       time.Duration // DefaultGrace when zero
	Fix         bool
}

// Finding is one thing found wrong.
type Finding struct {
	Check   string // "repositories", "projects", "lfs", "previews", "index", "locks"
	Subject string // what is wrong: a project, a blob key, a document id, a file
	Problem string
	Fixed   string // what the fix did ("" when not fixed)
	Err     error  // why the fix failed
}

func (f Finding) String() string {
	s := fmt.Sprintf("%-12s %s: %s", f.Check, f.Subject, f.Problem)
	switch {
	case f.Err != nil:
		s += "; fix failed: " + f.Err.Error()
	case f.Fixed != "":
		s += "; fixed: " + f.Fixed
	}
	return s
}

// Healthy reports whether nothing is left wrong.
func Healthy(fs []Finding) bool {
	for _, f := range fs {
		if f.Fixed == "" || f.Err != nil {
			return false
		}
	}
	return true
}

type run struct {
	Env
	ctx      context.Context
	findings []Finding
	// recatalogue collects projects whose catalogue must be redone.
	recatalogue map[string]bool
}

func (r *run) add(check, subject, problem string, fix func() (string, error)) {
	f := Finding{Check: check, Subject: subject, Problem: problem}
	if r.Fix && fix != nil {
		f.Fixed, f.Err = fix()
	}
	r.findings = append(r.findings, f)
}

// Run checks env and, with env.Fix, repairs what it finds.
func Run(ctx context.Context, env Env) ([]Finding, error) {
	if env.Grace <= 0 {
		env.Grace = DefaultGrace
	}
	r := &run{Env: env, ctx: ctx, recatalogue: map[string]bool{}}
	for _, check := range []func() error{r.locks, r.orphanRepositories, r.missingRepositories, r.lfsObjects, r.missingPreviews, r.orphanPreviews, r.index} {
		if err := check(); err != nil {
			return r.findings, err
		}
	}
	return r.findings, nil
}

func (r *run) locks() error {
	locks, err := r.Repos.StaleLocks(r.ctx, repo.StaleLockAge)
	if err != nil {
		return fmt.Errorf("look for stale git locks: %w", err)
	}
	for _, l := range locks {
		r.add("locks", l, "stale git lock left by a git that was killed; pushes to that ref are refused", func() (string, error) {
			if err := os.Remove(l); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", err
			}
			return "removed", nil
		})
	}
	return nil
}

// repoFolders lists repos/{owner}/{name}.git as owner/name.
func (r *run) repoFolders() ([][2]string, error) {
	root := r.Repos.Root()
	owners, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, o := range owners {
		if !o.IsDir() {
			continue
		}
		names, err := os.ReadDir(filepath.Join(root, o.Name()))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if name, ok := strings.CutSuffix(n.Name(), ".git"); ok && n.IsDir() {
				out = append(out, [2]string{o.Name(), name})
			}
		}
	}
	return out, nil
}

func (r *run) orphanRepositories() error {
	folders, err := r.repoFolders()
	if err != nil {
		return fmt.Errorf("list repositories: %w", err)
	}
	for _, f := range folders {
		owner, name := f[0], f[1]
		_, err := r.Store.ProjectByName(r.ctx, owner, name)
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if repo.ValidName(owner) != nil || repo.ValidName(name) != nil {
			r.add("repositories", filepath.Join(r.Repos.Root(), owner, name+".git"), "a folder that is not a valid project name; move it out of the repositories folder", nil)
			continue
		}
		dir := r.Repos.Path(owner, name)
		r.add("repositories", owner+"/"+name, "repository without a project row (its pushes, pages and search are lost)", func() (string, error) {
			p, err := r.Store.CreateProject(r.ctx, owner, name)
			if err != nil {
				return "", err
			}
			branch := headBranch(dir)
			if branch != "" {
				if err := r.Store.SetDefaultBranch(r.ctx, p.ID, branch); err != nil {
					return "", err
				}
			}
			r.recatalogue[p.FullName()] = true
			return "project row made (default branch " + orNone(branch) + "), catalogued again", nil
		})
	}
	return nil
}

// headBranch is the branch a bare repository's HEAD names, "" when none.
func headBranch(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "HEAD"))
	if err != nil {
		return ""
	}
	ref, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "ref: refs/heads/")
	if !ok {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, "refs", "heads", filepath.FromSlash(ref))); err != nil {
		if pr, err := os.ReadFile(filepath.Join(dir, "packed-refs")); err != nil || !strings.Contains(string(pr), " refs/heads/"+ref+"\n") {
			return ""
		}
	}
	return ref
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (r *run) missingRepositories() error {
	projects, err := r.Store.Projects(r.ctx, 0, 0)
	if err != nil {
		return err
	}
	for _, p := range projects {
		if _, err := os.Stat(filepath.Join(r.Repos.Path(p.Owner, p.Name), "HEAD")); err == nil {
			continue
		}
		r.add("projects", p.FullName(), "project row without a repository (its history is gone; its pages fail)", func() (string, error) {
			parts, err := r.Store.ProjectParts(r.ctx, p.FullName())
			if err != nil {
				return "", err
			}
			deletes := []string{search.ProjectID(p.FullName())}
			for _, cp := range parts {
				deletes = append(deletes, search.PartID(p.FullName(), cp.Path))
			}
			if err := r.Index.Apply(r.ctx, nil, deletes); err != nil {
				return "", err
			}
			if err := r.Store.ForgetProject(r.ctx, p); err != nil {
				return "", err
			}
			return "project removed with its catalogue and search documents; pushing again creates it anew", nil
		})
	}
	return nil
}

// unreferenced reports keys under prefix that referenced does not know,
// old enough to collect; younger ones may belong to an upload in flight.
func (r *run) unreferenced(prefix string, referenced func(key string) bool) ([]storage.Info, int, error) {
	var old []storage.Info
	young := 0
	cutoff := time.Now().Add(-r.Grace)
	err := r.Blobs.List(r.ctx, prefix, func(i storage.Info) error {
		if referenced(i.Key) {
			return nil
		}
		if i.ModTime.After(cutoff) {
			young++
			return nil
		}
		old = append(old, i)
		return nil
	})
	return old, young, err
}

func (r *run) lfsObjects() error {
	oids, err := r.Store.LFSObjectIDs(r.ctx)
	if err != nil {
		return err
	}
	old, _, err := r.unreferenced("lfs/", func(key string) bool { _, ok := oids[path.Base(key)]; return ok })
	if err != nil {
		return fmt.Errorf("list LFS objects: %w", err)
	}
	for _, i := range old {
		r.add("lfs", i.Key, fmt.Sprintf("LFS object no project owns (%d bytes, stored %s)", i.Size, i.ModTime.UTC().Format(time.RFC3339)), func() (string, error) {
			return "deleted", r.Blobs.Delete(r.ctx, i.Key)
		})
	}
	return nil
}

func (r *run) missingPreviews() error {
	previews, err := r.Store.PreviewKeys(r.ctx)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(previews))
	for k := range previews {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		_, err := r.Blobs.Stat(r.ctx, key)
		if err == nil {
			continue
		}
		if !errors.Is(err, storage.ErrNotExist) {
			return fmt.Errorf("check preview %s: %w", key, err)
		}
		blob := previews[key]
		uses, err := r.Store.PartsWithBlob(r.ctx, blob, 1000)
		if err != nil {
			return err
		}
		r.add("previews", key, fmt.Sprintf("preview missing for the file version %s (%d parts use it)", blob, len(uses)), func() (string, error) {
			if err := r.Store.DeleteBlobPart(r.ctx, blob); err != nil {
				return "", err
			}
			for _, u := range uses {
				r.recatalogue[u.Project] = true
			}
			return "measured and rendered again", nil
		})
	}
	return r.flushRecatalogue()
}

// flushRecatalogue catalogues again the projects fixes marked.
func (r *run) flushRecatalogue() error {
	var ps []string
	for p := range r.recatalogue {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	for _, p := range ps {
		if err := r.Recatalogue(r.ctx, p); err != nil {
			return fmt.Errorf("catalogue %s again: %w", p, err)
		}
	}
	clear(r.recatalogue)
	return nil
}

func (r *run) orphanPreviews() error {
	previews, err := r.Store.PreviewKeys(r.ctx)
	if err != nil {
		return err
	}
	old, _, err := r.unreferenced("previews/", func(key string) bool { _, ok := previews[key]; return ok })
	if err != nil {
		return fmt.Errorf("list previews: %w", err)
	}
	for _, i := range old {
		r.add("previews", i.Key, "preview no part references", func() (string, error) {
			return "deleted", r.Blobs.Delete(r.ctx, i.Key)
		})
	}
	return nil
}

func (r *run) index() error {
	projects, parts, err := r.Store.IndexedKeys(r.ctx)
	if err != nil {
		return err
	}
	want := map[string]string{} // doc id → project
	for _, p := range projects {
		want[search.ProjectID(p)] = p
	}
	for _, k := range parts {
		want[search.PartID(k[0], k[1])] = k[0]
	}
	ids, err := r.Index.DocIDs(r.ctx)
	if err != nil {
		return fmt.Errorf("list index documents: %w", err)
	}
	have := map[string]bool{}
	for _, id := range ids {
		have[id] = true
		if _, ok := want[id]; ok {
			continue
		}
		r.add("index", id, "search document for nothing in the store (search finds what is gone)", func() (string, error) {
			return "deleted", r.Index.Apply(r.ctx, nil, []string{id})
		})
	}
	missing := map[string]int{}
	for id, p := range want {
		if !have[id] {
			missing[p]++
		}
	}
	var ps []string
	for p := range missing {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	for _, p := range ps {
		r.add("index", p, fmt.Sprintf("%d catalogued documents missing from the search index", missing[p]), func() (string, error) {
			r.recatalogue[p] = true
			return "catalogued again", nil
		})
	}
	return r.flushRecatalogue()
}
