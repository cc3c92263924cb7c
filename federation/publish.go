package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/blueprints-hq/blueprints/catalog"
	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
)

// Announce tells a public project's followers about commit, the new head
// of its default branch (after the catalog measured it): a Create for the
// project's first publication, an Update after that, with a Note saying
// what changed in its parts. It is kept in the project's outbox whether or
// not anyone follows. Private projects announce nothing.
func (s *Service) Announce(ctx context.Context, project, commit string) error {
	owner, name, ok := strings.Cut(project, "/")
	if !ok {
		return fmt.Errorf("announce %q: not owner/name", project)
	}
	l, err := s.localProject(ctx, owner, name)
	if err == errHidden {
		return nil
	}
	if err != nil {
		return err
	}
	info := s.projectInfo(ctx, l)
	v, err := s.version(ctx, l.Project, commit)
	if err != nil {
		return fmt.Errorf("announce %s at %s: %w", project, commit, err)
	}
	_, n, err := s.cfg.Store.Outbox(ctx, l.Key, 1)
	if err != nil {
		return err
	}
	v.First = n == 0
	act := s.site.Announce(info, v)
	body, err := json.Marshal(act)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.Publish(ctx, store.Published{Actor: l.Key, ActivityID: act.ID, ObjectID: s.site.VersionNote(owner, name, v.Commit), Body: string(body), Published: v.Date}); err != nil {
		return err
	}
	fs, err := s.cfg.Store.Followers(ctx, l.Key)
	if err != nil {
		return err
	}
	inboxes := make([]string, 0, len(fs))
	for _, f := range fs {
		inboxes = append(inboxes, f.Inbox)
	}
	s.log.Info("announcing a new version", "project", project, "commit", commit, "type", act.Type, "followers", len(fs))
	return s.enqueue(ctx, l.Key, inboxes, act)
}

// OnCatalogDone is the catalog's OnDone listener: every job catalogued
// for good is announced, in the background (the catalog's worker must not
// wait for git or the store).
func (s *Service) OnCatalogDone(ctx context.Context, d catalog.Done) {
	if d.Failed || d.Commit == "" || d.Commit == catalog.ZeroID {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.Announce(ctx, d.Project, d.Commit); err != nil {
			s.log.Warn("announce a new version", "project", d.Project, "err", err)
		}
	}()
}

// maxChanges bounds the parts a Note looks at.
const maxChanges = 200

// version reads what commit changed in the project's parts.
func (s *Service) version(ctx context.Context, p store.Project, commit string) (ap.Version, error) {
	v := ap.Version{Commit: commit, Date: s.cfg.Now()}
	if s.cfg.RepoPath == nil {
		return v, nil
	}
	b, err := repo.OpenBrowse(s.cfg.RepoPath(p.Owner, p.Name))
	if err != nil {
		return v, err
	}
	defer b.Close()
	h := plumbing.NewHash(commit)
	info, err := b.CommitInfo(h)
	if err != nil {
		return v, err
	}
	v.Message, v.Date = info.Subject, info.When
	changes, _, err := b.Changes(ctx, h, 5000)
	if err != nil {
		return v, err
	}
	type pending struct {
		change   ap.PartChange
		from, to string
	}
	var todo []pending
	var keys []string
	key := func(e repo.Entry) string {
		if e.Size > 0 && e.Size < 1024 {
			if data, err := b.ReadBlob(e.Hash, 1024); err == nil {
				if ptr, ok := lfs.ParsePointer(data); ok {
					return ptr.OID
				}
			}
		}
		return e.Hash.String()
	}
	for _, ch := range changes {
		if len(todo) == maxChanges {
			break
		}
		from := ch.From.Path != "" && catalog.IsPart(ch.From.Path)
		to := ch.To.Path != "" && catalog.IsPart(ch.To.Path)
		if !from && !to {
			continue
		}
		pd := pending{change: ap.PartChange{Path: ch.Path()}}
		switch ch.Action {
		case repo.Added:
			pd.change.Change = "added"
		case repo.Deleted:
			pd.change.Change = "removed"
		case repo.Renamed:
			pd.change.Change = "renamed"
		default:
			pd.change.Change = "changed"
		}
		if from {
			pd.from = key(ch.From)
			keys = append(keys, pd.from)
		}
		if to {
			pd.to = key(ch.To)
			keys = append(keys, pd.to)
			if v.CoverURL == "" {
				v.CoverURL = s.site.ProjectPage(p.Owner, p.Name) + "/preview/" + commit + "/" + escapePath(ch.To.Path) + ".png"
			}
		}
		todo = append(todo, pd)
	}
	measured, err := s.cfg.Store.BlobParts(ctx, keys)
	if err != nil {
		return v, err
	}
	for _, pd := range todo {
		before, after := measured[pd.from].Part, measured[pd.to].Part
		pd.change.Detail = detail(before, after)
		v.Changes = append(v.Changes, pd.change)
	}
	if meta, err := s.cfg.Store.ProjectMeta(ctx, p.FullName()); err == nil {
		v.Parts = meta.Parts
	}
	return v, nil
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func size(p *render.Part) string {
	return fmt.Sprintf("%.1f × %.1f × %.1f mm", p.Size[0], p.Size[1], p.Size[2])
}

// detail says in a few words how a part's measurements changed.
func detail(before, after *render.Part) string {
	switch {
	case before == nil && after == nil:
		return ""
	case before == nil:
		return size(after)
	case after == nil:
		return "was " + size(before)
	case before.Size != after.Size:
		return size(before) + " → " + size(after)
	case before.Volume != after.Volume && before.Volume != 0:
		return fmt.Sprintf("volume %+.1f %%", 100*(after.Volume-before.Volume)/before.Volume)
	case before.Triangles != after.Triangles:
		return fmt.Sprintf("%d → %d triangles", before.Triangles, after.Triangles)
	}
	return "same shape"
}
