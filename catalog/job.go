package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/blueprints-hq/blueprints/internal/gittree"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/scad"
	"github.com/blueprints-hq/blueprints/storage"
)

// Stats says what one job did.
type Stats struct {
	Parts    int // parts on the branch after the job
	Measured int // file versions measured (not found in blob_parts)
	Failed   int // files of the branch that could not be catalogued
	Deleted  int // parts removed
}

// IsPart reports whether a repository path is a part: a mesh file render
// reads (.stl, .3mf, .obj, in any case).
func IsPart(p string) bool {
	_, ok := render.KindOf(p)
	return ok
}

func isFileMode(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Deprecated
}

// run carries out one queued job.
func (c *Catalog) run(ctx context.Context, job store.CatalogJob) (Stats, error) {
	owner, name, _ := strings.Cut(job.Project, "/")
	proj, err := c.d.Store.ProjectByName(ctx, owner, name)
	if errors.Is(err, store.ErrNotFound) {
		c.log.Info("project no longer exists; nothing to catalogue", "project", job.Project)
		return Stats{}, nil
	}
	if err != nil {
		return Stats{}, err
	}
	branch := strings.TrimPrefix(job.Ref, "refs/heads/")
	if proj.DefaultBranch != "" && branch != proj.DefaultBranch {
		c.log.Info("ref is no longer the default branch; skipped", "project", job.Project, "ref", job.Ref)
		return Stats{}, nil
	}
	base := job.Old
	if meta, err := c.d.Store.ProjectMeta(ctx, proj.FullName()); err == nil && meta.Ref == branch && meta.LatestCommit != "" {
		// What the store holds is the truth to diff against: a failed job
		// in between leaves it behind job.Old.
		base = meta.LatestCommit
	}
	return c.catalogue(ctx, target{project: proj.FullName(), projectID: proj.ID, branch: branch, base: base, head: job.New, pushOld: job.Old})
}

// CatalogueProject catalogues a project's default branch from scratch
// (reindex): every part is looked at again and parts no longer on the
// branch are removed.
func (c *Catalog) CatalogueProject(ctx context.Context, project string) (Stats, error) {
	owner, name, _ := strings.Cut(project, "/")
	proj, err := c.d.Store.ProjectByName(ctx, owner, name)
	if err != nil {
		return Stats{}, fmt.Errorf("catalogue %s: %w", project, err)
	}
	dir, err := c.repoDir(proj.FullName())
	if err != nil {
		return Stats{}, fmt.Errorf("catalogue %s: %w", project, err)
	}
	r, err := git.PlainOpen(dir)
	if err != nil {
		return Stats{}, fmt.Errorf("catalogue %s: open repository %s: %w", project, dir, err)
	}
	branch := proj.DefaultBranch
	if branch == "" {
		if h, err := r.Storer.Reference(plumbing.HEAD); err == nil && h.Type() == plumbing.SymbolicReference {
			branch = h.Target().Short()
		}
	}
	head := ZeroID
	if branch != "" {
		if ref, err := r.Reference(plumbing.NewBranchReferenceName(branch), true); err == nil {
			head = ref.Hash().String()
		}
	}
	return c.catalogue(ctx, target{project: proj.FullName(), projectID: proj.ID, branch: branch, head: head, full: true, pushOld: ZeroID})
}

// target is one catalogue run: bring project's parts from base to head.
type target struct {
	project   string
	projectID int64 // whose LFS objects the parts may read
	branch    string
	base      string // catalogued commit to diff from; ZeroID or "" for none
	head      string // commit to catalogue; ZeroID when the branch is gone
	pushOld   string // where the push started: history back to it is measured
	full      bool   // ignore base; remove stored parts missing from head
}

// fileVersion is one STL file at one commit.
type fileVersion struct {
	path string
	blob plumbing.Hash
	key  string // blob_parts key: git blob id, or LFS oid
	lfs  *lfs.Pointer
	err  string // why it cannot be catalogued
	// An OpenSCAD source: what its build reads, and the tree it reads it
	// from (key is then the closure's key).
	scad *scad.Closure
	tree *object.Tree
}

type dated struct {
	commit string
	when   time.Time
}

func (c *Catalog) catalogue(ctx context.Context, t target) (Stats, error) {
	var st Stats
	dir, err := c.repoDir(t.project)
	if err != nil {
		return st, err
	}
	r, err := openRepo(dir)
	if err != nil {
		return st, err
	}
	defer closeRepo(r)
	var headCommit *object.Commit
	var headTree *object.Tree
	if t.head != "" && t.head != ZeroID {
		if headCommit, err = r.CommitObject(plumbing.NewHash(t.head)); err != nil {
			return st, fmt.Errorf("read commit %s of %s: %w", t.head, t.project, err)
		}
		if headTree, err = headCommit.Tree(); err != nil {
			return st, fmt.Errorf("read tree of %s in %s: %w", t.head, t.project, err)
		}
	}
	var baseTree *object.Tree
	if !t.full && t.base != "" && t.base != ZeroID {
		bc, err := r.CommitObject(plumbing.NewHash(t.base))
		if err == nil {
			baseTree, err = bc.Tree()
		}
		if err != nil {
			c.log.Warn("base commit unreadable; cataloguing the whole branch", "project", t.project, "base", t.base, "err", err)
			t.full = true
		}
	}
	storedList, err := c.d.Store.ProjectParts(ctx, t.project)
	if err != nil {
		return st, err
	}
	stored := make(map[string]store.CataloguedPart, len(storedList))
	for _, p := range storedList {
		stored[p.Path] = p
	}
	oldMeta, err := c.d.Store.ProjectMeta(ctx, t.project)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return st, err
	}

	// What changed, streamed: a diff of a million paths keeps only the
	// parts it finds, at most MaxFiles of them, and the deletions of parts
	// the catalogue holds.
	var changed []fileVersion
	deleted := map[string]bool{}
	inHead := map[string]bool{} // stored parts still on the branch (full runs)
	overflow := 0               // changed parts beyond MaxFiles
	src := gittree.FromStorer(r.Storer)
	if headTree != nil {
		from := plumbing.ZeroHash
		if baseTree != nil && !t.full {
			from = baseTree.Hash
		}
		err := gittree.Diff(ctx, src, from, headTree.Hash, func(ch gittree.Change) error {
			fromPart := !ch.Added() && IsPart(ch.Path) && ch.From.IsFile()
			toPart := !ch.Deleted() && IsPart(ch.Path) && ch.To.IsFile()
			if _, ok := stored[ch.Path]; ok {
				if fromPart && !toPart {
					deleted[ch.Path] = true
				}
				// OpenSCAD sources are looked at below, whatever changed.
				if !ch.Added() && scad.IsSource(ch.Path) && !ch.To.IsFile() {
					deleted[ch.Path] = true
				}
				if toPart {
					inHead[ch.Path] = true
				}
			}
			if !toPart {
				return nil
			}
			if len(changed) == c.d.MaxFiles {
				overflow++
				return nil
			}
			changed = append(changed, fileVersion{path: ch.Path, blob: ch.To.ID})
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("diff trees of %s: %w", t.project, err)
		}
	}
	var sources map[string]bool // the head's OpenSCAD sources
	if headTree != nil {
		var scads []fileVersion
		if scads, sources, err = c.scadVersions(ctx, r, t.projectID, headTree, stored); err != nil {
			return st, err
		}
		for i := range scads {
			scads[i].tree = headTree
		}
		changed = append(changed, scads...)
	}
	if headTree == nil || t.full {
		for p := range stored {
			if !inHead[p] && !sources[p] {
				deleted[p] = true
			}
		}
	}
	for _, f := range changed {
		delete(deleted, f.path)
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].path < changed[j].path })

	// When each changed part last changed, and which file versions the
	// pushed commits hold (for commit pages).
	lastChange := map[string]dated{}
	var history []fileVersion
	if headCommit != nil {
		need := map[string]bool{}
		for _, f := range changed {
			need[f.path] = true
		}
		var sides []scadSide
		lastChange, history, sides, err = c.walkHistory(ctx, src, headCommit, need, t.pushOld)
		if err != nil {
			return st, err
		}
		built, err := c.scadHistory(ctx, r, t.projectID, sides)
		if err != nil {
			return st, err
		}
		history = append(history, built...)
	}

	// Measure what has not been measured.
	if err := c.resolveLFS(r, changed); err != nil {
		return st, err
	}
	measured, n, err := c.measureAll(ctx, r, t, changed)
	if err != nil {
		return st, err
	}
	st.Measured += n

	// Project metadata.
	meta := store.ProjectMeta{Project: t.project, Ref: t.branch, License: "none", Tags: []string{}}
	if headTree != nil {
		meta = readProjectMeta(headTree)
		meta.Project, meta.Ref = t.project, t.branch
		if len(sources) > 0 && c.d.SCAD == nil {
			meta.Problems = append(meta.Problems, fmt.Sprintf("%d OpenSCAD source%s (.scad) listed but not built: this server cannot build them (it has no openscad program)", len(sources), map[bool]string{true: "s", false: ""}[len(sources) != 1]))
		}
		if overflow > 0 {
			meta.Problems = append(meta.Problems, fmt.Sprintf("%d changed parts were not catalogued: one push may change at most %d parts here, and this one changed %d; push in smaller steps", overflow, c.d.MaxFiles, c.d.MaxFiles+overflow))
		}
		meta.LatestCommit = headCommit.Hash.String()
		meta.LatestAt = headCommit.Committer.When.UTC()
	} else if oldMeta.Project != "" {
		meta.Title, meta.Description, meta.License, meta.Category, meta.Tags, meta.Version = oldMeta.Title, oldMeta.Description, oldMeta.License, oldMeta.Category, oldMeta.Tags, oldMeta.Version
	}
	// The new state of the parts.
	final := make(map[string]bool, len(stored)+len(changed))
	for p, sp := range stored {
		if !deleted[p] {
			final[p] = sp.Error == ""
		}
	}
	var rows []store.Part
	for _, f := range changed {
		d, ok := lastChange[f.path]
		if !ok {
			d = dated{headCommit.Hash.String(), headCommit.Committer.When.UTC()}
		}
		row := store.Part{Project: t.project, Path: f.path, Blob: f.key, Ref: t.branch, Commit: d.commit, Updated: d.when, Error: f.err}
		if row.Blob == "" {
			row.Blob = f.blob.String()
		}
		measuredOK := false
		if bp, ok := measured[f.key]; ok && row.Error == "" {
			row.Error = bp.Error
			measuredOK = bp.Error == "" && bp.Part != nil
		}
		if strings.HasPrefix(row.Error, notAPart) {
			// An OpenSCAD source that makes no 3D object: not a part,
			// and no failure either.
			deleted[f.path] = true
			delete(final, f.path)
			continue
		}
		if row.Error == "" && !measuredOK {
			row.Error = "not measured"
		}
		rows = append(rows, row)
		final[f.path] = row.Error == ""
	}
	st.Deleted = len(deleted)
	for _, ok := range final {
		if ok {
			st.Parts++
		} else {
			st.Failed++
		}
	}

	// Which file versions this project holds, before anyone can find
	// them: a preview addressed by content hash is served to those who
	// may read a project holding it.
	if err := c.d.Store.AddProjectBlobs(context.WithoutCancel(ctx), t.project, fileKeys(changed)); err != nil {
		return st, err
	}
	// One transaction records the parts and metadata and logs the search
	// documents they change; every node's index follows the log (package
	// catalog/follow). A crash before it commits leaves the job to run
	// again from the same base.
	if err := c.d.Store.ApplyCatalog(context.WithoutCancel(ctx), meta, rows, sortedKeys(deleted)); err != nil {
		return st, err
	}
	if c.d.Indexed != nil {
		if err := c.d.Indexed(ctx); err != nil {
			c.log.Warn("catalogue recorded, but this node's search index has not caught up yet", "project", t.project, "err", err)
		}
	}

	// Versions from the pushed commits, for commit pages: measured after
	// the head is searchable.
	if len(history) > 0 {
		if err := c.resolveLFS(r, history); err != nil {
			return st, err
		}
		_, n, err := c.measureAll(ctx, r, t, history)
		if err != nil {
			return st, err
		}
		st.Measured += n
		if err := c.d.Store.AddProjectBlobs(context.WithoutCancel(ctx), t.project, fileKeys(history)); err != nil {
			return st, err
		}
	}
	return st, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// walkHistory follows first parents from head. It dates each path in need
// by the newest commit that changed it, and collects the part versions of
// the commits down to stop (the push's old commit; all of the walk when
// stop is ZeroID), and the OpenSCAD sources those commits changed, before
// and after (with a builder only).
func (c *Catalog) walkHistory(ctx context.Context, src gittree.Source, head *object.Commit, need map[string]bool, stop string) (map[string]dated, []fileVersion, []scadSide, error) {
	dates := map[string]dated{}
	seen := map[plumbing.Hash]bool{}
	var versions []fileVersion
	var sides []scadSide
	seenSide := map[scadSide]bool{}
	inPush := stop != ""
	cm := head
	for n := 0; cm != nil && n < c.d.MaxHistory && (len(need) > 0 || inPush); n++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, err
		}
		if cm.Hash.String() == stop {
			inPush = false
			if len(need) == 0 {
				break
			}
		}
		var parent *object.Commit
		var err error
		from := plumbing.ZeroHash
		if cm.NumParents() > 0 {
			if parent, err = cm.Parent(0); err != nil {
				return nil, nil, nil, fmt.Errorf("read parent of %s: %w", cm.Hash, err)
			}
			from = parent.TreeHash
		}
		err = gittree.Diff(ctx, src, from, cm.TreeHash, func(ch gittree.Change) error {
			for _, e := range []gittree.Entry{ch.From, ch.To} {
				if e.ID.IsZero() || !IsPart(ch.Path) || !e.IsFile() {
					continue
				}
				if inPush && !seen[e.ID] && len(versions)+len(sides) < c.d.MaxFiles {
					seen[e.ID] = true
					versions = append(versions, fileVersion{path: ch.Path, blob: e.ID})
				}
			}
			if inPush && c.d.SCAD != nil && scad.IsSource(ch.Path) {
				// Each side is built from its own commit's tree.
				for _, sd := range []struct {
					e    gittree.Entry
					tree plumbing.Hash
				}{{ch.From, from}, {ch.To, cm.TreeHash}} {
					k := scadSide{path: ch.Path, tree: sd.tree}
					if sd.e.ID.IsZero() || !sd.e.IsFile() || seenSide[k] || len(versions)+len(sides) >= c.d.MaxFiles {
						continue
					}
					seenSide[k] = true
					sides = append(sides, k)
				}
			}
			if !ch.Deleted() && need[ch.Path] {
				dates[ch.Path] = dated{cm.Hash.String(), cm.Committer.When.UTC()}
				delete(need, ch.Path)
			}
			return nil
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("diff %s: %w", cm.Hash, err)
		}
		cm = parent
	}
	return dates, versions, sides, nil
}

// resolveLFS fills in each file's blob_parts key, reading small blobs to
// find LFS pointers.
func (c *Catalog) resolveLFS(r *git.Repository, files []fileVersion) error {
	for i := range files {
		f := &files[i]
		if f.scad != nil {
			continue // keyed by its build: what it reads, not one blob
		}
		f.key = f.blob.String()
		if f.err != "" {
			continue
		}
		// Most parts are far larger than a pointer: learn the size without
		// inflating the object (nor leaving its file open).
		if n, err := gittree.ObjectSize(r.Storer, f.blob); err == nil && n > lfs.MaxPointerSize {
			continue
		}
		b, err := r.BlobObject(f.blob)
		if err != nil {
			return fmt.Errorf("read blob %s (%s): %w", f.blob, f.path, err)
		}
		if b.Size > lfs.MaxPointerSize {
			continue
		}
		rd, err := b.Reader()
		if err != nil {
			return fmt.Errorf("read blob %s (%s): %w", f.blob, f.path, err)
		}
		data, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			return fmt.Errorf("read blob %s (%s): %w", f.blob, f.path, err)
		}
		if p, ok := lfs.ParsePointer(data); ok {
			f.key = p.OID
			f.lfs = &p
		}
	}
	return nil
}

// errMissingLFS says a file's LFS object is not in storage.
var errMissingLFS = errors.New("missing LFS object")

// measureAll measures the files whose key is not in blob_parts yet and
// returns what blob_parts holds for every file's key, and how many were
// measured now.
func (c *Catalog) measureAll(ctx context.Context, r *git.Repository, t target, files []fileVersion) (map[string]store.BlobPart, int, error) {
	keys := make([]string, 0, len(files))
	for _, f := range files {
		if f.err == "" {
			keys = append(keys, f.key)
		}
	}
	known, err := c.d.Store.BlobParts(ctx, keys)
	if err != nil {
		return nil, 0, err
	}
	var todo []fileVersion
	queued := map[string]bool{}
	for _, f := range files {
		if f.err != "" || queued[f.key] {
			continue
		}
		if _, ok := known[f.key]; ok {
			continue
		}
		queued[f.key] = true
		todo = append(todo, f)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	// Fairness: the job measures one file at a time in a slot of its own,
	// and more in the slots it wins from the shared ones (c.measures, in
	// turn with other jobs). So however long one project's parts take (up
	// to their budget), every other running job keeps measuring.
	own := make(chan struct{}, 1)
	for _, f := range todo {
		var slot chan struct{}
		select {
		case own <- struct{}{}:
			slot = own
		default:
			select {
			case own <- struct{}{}:
				slot = own
			case c.measures <- struct{}{}:
				slot = c.measures
			case <-ctx.Done():
				wg.Wait()
				return nil, 0, ctx.Err()
			}
		}
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			<-slot
			break
		}
		wg.Add(1)
		go func(f fileVersion) {
			defer wg.Done()
			// Measuring holds a measure slot (the job's own or a shared
			// one); storing the outputs trades it for a store slot
			// (taken first, so outputs waiting to be stored stay
			// bounded).
			measuring, storing := true, false
			handOff := func() {
				c.stores <- struct{}{}
				<-slot
				measuring, storing = false, true
			}
			defer func() {
				if measuring {
					<-slot
				}
				if storing {
					<-c.stores
				}
			}()
			bp, err := c.measureOne(ctx, r, t.projectID, f, handOff)
			if c.d.Measured != nil {
				c.d.Measured(t.project, f.path)
			}
			if errors.Is(err, errMissingLFS) {
				mu.Lock()
				known[bp.Blob] = bp
				mu.Unlock()
				return
			}
			if err == nil {
				err = c.d.Store.PutBlobPart(context.WithoutCancel(ctx), bp)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			known[bp.Blob] = bp
		}(f)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	return known, len(todo), nil
}

// errReader remembers the first error its source gave, to tell a broken
// source from a broken file.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// measureOne measures one file version and stores its preview, calling
// handOff between the two. A file that cannot be measured gives a
// BlobPart with Error set; an error return means the job should be
// retried.
func (c *Catalog) measureOne(ctx context.Context, r *git.Repository, projectID int64, f fileVersion, handOff func()) (store.BlobPart, error) {
	bp := store.BlobPart{Blob: f.key}
	if f.scad != nil {
		return c.buildSCAD(ctx, r, projectID, f, handOff)
	}
	var src io.ReadCloser
	if f.lfs != nil {
		// Only objects the project owns: a pointer never reads another
		// project's object.
		rc, _, err := lfs.OpenObject(ctx, c.d.Store, c.d.Blobs, projectID, *f.lfs)
		if errors.Is(err, storage.ErrNotExist) || errors.Is(err, lfs.ErrNotOwned) {
			// Not the content's fault, and the object may still arrive:
			// reported against the file, not cached.
			bp.Error = fmt.Sprintf("LFS object %s is not on the server; upload it with `git lfs push --all` and push again", f.lfs.OID)
			return bp, errMissingLFS
		}
		if err != nil {
			return store.BlobPart{}, fmt.Errorf("read LFS object %s of %s: %w", f.lfs.OID, f.path, err)
		}
		src = rc
	} else {
		b, err := r.BlobObject(f.blob)
		if err != nil {
			return store.BlobPart{}, fmt.Errorf("read blob %s (%s): %w", f.blob, f.path, err)
		}
		if src, err = b.Reader(); err != nil {
			return store.BlobPart{}, fmt.Errorf("read blob %s (%s): %w", f.blob, f.path, err)
		}
	}
	defer src.Close()
	er := &errReader{r: src}
	var png, mesh bytes.Buffer
	part, err := c.measurePart(ctx, er, path.Base(f.path), &png, &mesh)
	if ctx.Err() != nil {
		return store.BlobPart{}, ctx.Err()
	}
	if er.err != nil {
		return store.BlobPart{}, fmt.Errorf("read %s: %w", f.path, er.err)
	}
	if err != nil {
		bp.Error = err.Error()
		return bp, nil
	}
	handOff()
	return c.storeOutputs(ctx, f, bp, part, &png, &mesh)
}

// measurePart measures one part within its budget: PartTimeout of time
// (a context of its own, under the job's), and the preview's work limit.
// A part over budget gives an error wrapping render.ErrBudget, recorded
// against the file like any bad file, so it is not tried again; the job's
// context ending (the server stopping) leaves the part to the next run.
func (c *Catalog) measurePart(ctx context.Context, r io.Reader, name string, png, mesh io.Writer) (render.Part, error) {
	pctx, cancel := context.WithTimeout(ctx, c.d.PartTimeout)
	defer cancel()
	part, err := c.measureSafely(pctx, r, name, png, mesh)
	if err == nil && pctx.Err() != nil && ctx.Err() == nil {
		// Done, but past the budget: the measurer did not notice.
		err = fmt.Errorf("%s: not measured: it takes longer than this server's time budget for one part (%s): %w", name, c.d.PartTimeout, render.ErrBudget)
	}
	if errors.Is(err, render.ErrBudget) {
		c.log.Warn("part over its budget; recorded as failed", "file", name, "err", err)
	}
	return part, err
}

// storeOutputs stores a measured file's preview and, when there is one,
// the mesh the viewer loads, and completes its BlobPart.
func (c *Catalog) storeOutputs(ctx context.Context, f fileVersion, bp store.BlobPart, part render.Part, png, mesh *bytes.Buffer) (store.BlobPart, error) {
	key := "previews/" + part.SHA256 + fmt.Sprintf("/%d.png", PreviewSize)
	if err := c.d.Blobs.Put(ctx, key, bytes.NewReader(png.Bytes()), int64(png.Len())); err != nil {
		return store.BlobPart{}, fmt.Errorf("store preview of %s: %w", f.path, err)
	}
	if mesh.Len() > 0 {
		if err := c.d.Blobs.Put(ctx, MeshKey(f.key), bytes.NewReader(mesh.Bytes()), int64(mesh.Len())); err != nil {
			return store.BlobPart{}, fmt.Errorf("store mesh of %s: %w", f.path, err)
		}
	}
	bp.Part = &part
	bp.Preview = key
	return bp, nil
}

// fileKeys are the blob_parts keys of files.
func fileKeys(files []fileVersion) []string {
	keys := make([]string, 0, len(files))
	for _, f := range files {
		if f.key != "" {
			keys = append(keys, f.key)
		} else {
			keys = append(keys, f.blob.String())
		}
	}
	return keys
}

// MeshKey is the blob key of the binary STL the viewer loads for a part
// that is not an STL file, by its blob_parts key.
func MeshKey(key string) string { return "meshes/" + key + ".stl" }

// openRepo opens a bare repository for a job: objects over a megabyte
// are streamed rather than read whole into memory (a part may be a
// gigabyte), and a few megabytes of objects are cached. Pack files are
// opened per read, so the job's measuring goroutines may read at once.
func openRepo(dir string) (*git.Repository, error) {
	if st, err := os.Stat(filepath.Join(dir, "objects")); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("open repository %s: %w", dir, git.ErrRepositoryNotExists)
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(4*cache.MiByte), filesystem.Options{LargeObjectThreshold: 1 << 20})
	r, err := git.Open(st, nil)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	return r, nil
}

// closeRepo closes what openRepo's storage holds open.
func closeRepo(r *git.Repository) {
	if st, ok := r.Storer.(*filesystem.Storage); ok {
		st.Close()
	}
}
