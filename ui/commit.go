package ui

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/render"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/scad"
)

// side is one version of a changed part.
type side struct {
	Path    string
	URL     string // part page at that commit
	Part    *render.Part
	Preview string
	Error   string
	Known   bool // the catalog measured it
	// NotBuilt says an OpenSCAD source's version has no build here.
	NotBuilt bool
}

// delta is one measurement before and after.
type delta struct {
	Label         string
	Before, After string
	Change        string // "+1.2 mm", "−3 %", "" when equal or unknown
	Sign          int    // -1, 0, +1: for colour
}

// partChange is what a commit did to one part.
type partChange struct {
	Action        string
	Name          string
	Path          string
	Before, After *side
	Deltas        []delta
}

type fileChange struct {
	Action string
	Path   string
	From   string // old path of a rename
	URL    string
}

type commitView struct {
	P          *projectRef
	Commit     repo.Commit
	Parts      []partChange // this page's part diffs
	PartTotal  int          // parts among the files listed
	From, To   int          // 1-based range of Parts among them
	Page       int
	Prev, Next string
	Files      []fileChange
	Added      int
	Deleted    int
	Changed    int
	MoreFiles  bool // the commit changed more than maxFilesListed files (and maybe more parts)
}

// maxFilesListed caps the file list of one commit page.
const maxFilesListed = 2000

// partChangesPerPage is how many part diffs one commit page shows; the
// others are on the following pages (?page=2…). Parts are counted among
// the files listed (maxFilesListed).
const partChangesPerPage = 200

// commit is the commit page: its files and, for each part it added,
// removed or modified, the previews before and after and the deltas of
// the measurements.
func (u *UI) commit(c echo.Context) error {
	p, err := u.openProject(c)
	if err != nil {
		return u.fail(c, err)
	}
	// A commit id, short or whole, or a branch or tag name (which may hold
	// slashes): each leads to the commit's own, permanent address.
	ref, err := refPath(c)
	if err != nil {
		return u.fail(c, err)
	}
	if ref == "" {
		return u.fail(c, notFound("Commit pages are at commit/{id, branch or tag}."))
	}
	h, err := p.Browse.ResolveRef(ref)
	if err != nil {
		return u.fail(c, notFound("No commit, branch or tag %q in %s.", ref, p.Full()))
	}
	if h.String() != ref {
		return c.Redirect(http.StatusFound, p.URL()+"/commit/"+h.String())
	}
	page := 1
	if s := c.QueryParam("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			return u.fail(c, badRequest("Bad page number %q.", s))
		}
		page = n
	}
	ctx := c.Request().Context()
	// The page changes only when the catalog measures something new.
	key := "commit:" + p.Full() + ":" + h.String() + ":" + strconv.Itoa(page) + ":" + u.catalogVersion(ctx, p.Full())
	if hit, err := u.sendCached(c, key); hit {
		return err
	}
	info, err := p.Browse.CommitInfo(h)
	if err != nil {
		return u.fail(c, err)
	}
	v, err := u.commitChanges(ctx, p, info, page)
	if err != nil {
		return u.fail(c, err)
	}
	if page > 1 && len(v.Parts) == 0 {
		return u.fail(c, notFound("This commit changes %d parts: there is no page %d of them.", v.PartTotal, page))
	}
	return u.renderCached(c, http.StatusOK, "commit", info.Subject+" · "+p.Full(), v, key, time.Minute)
}

// commitChanges works out what the commit info changed: its files and,
// for each part it added, removed or modified, both versions' measurements
// and the deltas (for the commit page and the project's commit feed). Page
// (from 1) picks which partChangesPerPage parts get their diffs.
func (u *UI) commitChanges(ctx context.Context, p *projectRef, info repo.Commit, page int) (commitView, error) {
	h := info.Hash
	// The diff stops at the cap: a commit of a million files costs what
	// the page shows of it.
	changes, more, err := p.Browse.Changes(ctx, h, maxFilesListed)
	if err != nil {
		return commitView{}, err
	}
	v := commitView{P: p, Commit: info, Page: page, MoreFiles: more}
	first := (page - 1) * partChangesPerPage
	parent := ""
	if len(info.Parents) > 0 {
		parent = info.Parents[0].String()
	}
	// Look every part version up in one query.
	type pending struct {
		pc             partChange
		fromKey, toKey string
		fromSCAD       *scadBuild // an OpenSCAD version's build, looked up already
		toSCAD         *scadBuild
	}
	var todo []pending
	var keys []string
	fromSCAD, toSCAD, err := u.commitSCAD(ctx, p, info, changes)
	if err != nil {
		return v, err
	}
	for i, ch := range changes {
		fc := fileChange{Action: ch.Action, Path: ch.Path()}
		if ch.Action == repo.Renamed {
			fc.From = ch.From.Path
		}
		if ch.Action != repo.Deleted && !isGitlink(ch.To) {
			fc.URL = p.URL() + "/blob/" + h.String() + "/" + escapePath(ch.To.Path)
		}
		switch ch.Action {
		case repo.Added:
			v.Added++
		case repo.Deleted:
			v.Deleted++
		default:
			v.Changed++
		}
		v.Files = append(v.Files, fc)
		fromPart := ch.From.Path != "" && isPart(ch.From.Path) && !isLink(ch.From) && !isGitlink(ch.From)
		toPart := ch.To.Path != "" && isPart(ch.To.Path) && !isLink(ch.To) && !isGitlink(ch.To)
		fs, fok := fromSCAD[i]
		ts, tok := toSCAD[i]
		if fs.Part() || ts.Part() {
			// A source built into a part on either side: both versions
			// are shown, built or not.
			fromPart, toPart = fok, tok
		}
		if !fromPart && !toPart {
			continue
		}
		v.PartTotal++
		if v.PartTotal <= first || len(todo) >= partChangesPerPage {
			continue
		}
		pd := pending{pc: partChange{Action: ch.Action, Path: ch.Path(), Name: partName(ch.Path())}}
		if fromPart {
			if fok {
				pd.fromSCAD = &fs
			} else {
				if pd.fromKey, err = catalogKey(p.Browse, ch.From); err != nil {
					return v, err
				}
				keys = append(keys, pd.fromKey)
			}
			pd.pc.Before = &side{Path: ch.From.Path, URL: p.URL() + "/blob/" + parent + "/" + escapePath(ch.From.Path)}
		}
		if toPart {
			if tok {
				pd.toSCAD = &ts
			} else {
				if pd.toKey, err = catalogKey(p.Browse, ch.To); err != nil {
					return v, err
				}
				keys = append(keys, pd.toKey)
			}
			pd.pc.After = &side{Path: ch.To.Path, URL: p.URL() + "/blob/" + h.String() + "/" + escapePath(ch.To.Path)}
		}
		todo = append(todo, pd)
	}
	measured, err := u.store.BlobParts(ctx, keys)
	if err != nil {
		return v, err
	}
	fill := func(s *side, key string, sb *scadBuild) {
		if s == nil {
			return
		}
		if sb != nil {
			switch {
			case sb.Refused != "":
				s.Known, s.Error = true, sb.Refused
			case sb.Record != nil:
				s.Known, s.Part, s.Preview, s.Error = true, sb.Record.Part, previewURL(sb.Record.Preview), sb.Record.Error
			default:
				s.NotBuilt = true
			}
			return
		}
		if bp, ok := measured[key]; ok {
			s.Known, s.Part, s.Preview, s.Error = true, bp.Part, previewURL(bp.Preview), bp.Error
		}
	}
	for _, pd := range todo {
		fill(pd.pc.Before, pd.fromKey, pd.fromSCAD)
		fill(pd.pc.After, pd.toKey, pd.toSCAD)
		pd.pc.Deltas = partDeltas(pd.pc.Before, pd.pc.After)
		v.Parts = append(v.Parts, pd.pc)
	}
	if len(v.Parts) > 0 {
		v.From, v.To = first+1, first+len(v.Parts)
	}
	base := p.URL() + "/commit/" + h.String()
	if page > 1 {
		v.Prev = base
		if page > 2 {
			v.Prev += "?page=" + strconv.Itoa(page-1)
		}
	}
	if v.To < v.PartTotal {
		v.Next = base + "?page=" + strconv.Itoa(page+1)
	}
	return v, nil
}

// commitSCAD finds the builds of the OpenSCAD sources a commit changed,
// by their index in changes: before, from the parent's files, and after,
// from the commit's.
func (u *UI) commitSCAD(ctx context.Context, p *projectRef, info repo.Commit, changes []repo.Change) (from, to map[int]scadBuild, err error) {
	source := func(e repo.Entry) bool {
		return e.Path != "" && scad.IsSource(e.Path) && !isLink(e) && !isGitlink(e) && !e.Dir
	}
	trees := u.scadTrees(ctx, p)
	side := func(commit plumbing.Hash, entry func(repo.Change) repo.Entry) (map[int]scadBuild, error) {
		var idx []int
		var files []string
		for i, ch := range changes {
			if e := entry(ch); source(e) {
				idx, files = append(idx, i), append(files, e.Path)
			}
		}
		builds, err := trees.builds(commit, files)
		if err != nil {
			return nil, err
		}
		out := make(map[int]scadBuild, len(idx))
		for j, b := range builds {
			out[idx[j]] = b
		}
		return out, nil
	}
	if len(info.Parents) > 0 {
		if from, err = side(info.Parents[0], func(ch repo.Change) repo.Entry { return ch.From }); err != nil {
			return nil, nil, err
		}
	}
	if to, err = side(info.Hash, func(ch repo.Change) repo.Entry { return ch.To }); err != nil {
		return nil, nil, err
	}
	return from, to, nil
}

// catalogVersion names the state of the project's catalog: it changes
// whenever the catalog records something for the project.
func (u *UI) catalogVersion(ctx context.Context, project string) string {
	meta, err := u.store.ProjectMeta(ctx, project)
	if err != nil {
		return "none"
	}
	return fmt.Sprintf("%s:%s:%d:%d:%d", meta.CatalogUpdate.Format(time.RFC3339Nano), meta.State, meta.PendingJobs, meta.Parts, meta.Failed)
}

// partDeltas compares the measurements of two versions of a part. Either
// side may be missing (added or removed) or unmeasured.
func partDeltas(before, after *side) []delta {
	var a, b *render.Part
	if before != nil {
		a = before.Part
	}
	if after != nil {
		b = after.Part
	}
	if a == nil && b == nil {
		return nil
	}
	var out []delta
	for i := range 3 {
		out = append(out, lengthDelta([...]string{"Size X", "Size Y", "Size Z"}[i], a, b, func(p *render.Part) float64 { return p.Size[i] }))
	}
	vol := delta{Label: "Volume"}
	if a != nil {
		vol.Before = formatVolume(a.Volume)
	}
	if b != nil {
		vol.After = formatVolume(b.Volume)
	}
	if a != nil && b != nil {
		vol.Change, vol.Sign = relative(a.Volume, b.Volume)
	}
	out = append(out, vol)
	tri := delta{Label: "Triangles"}
	if a != nil {
		tri.Before = formatCount(a.Triangles)
	}
	if b != nil {
		tri.After = formatCount(b.Triangles)
	}
	if a != nil && b != nil && a.Triangles != b.Triangles {
		d := b.Triangles - a.Triangles
		tri.Change, tri.Sign = signed(formatCount(abs64(d)), d > 0), sign(float64(d))
	}
	out = append(out, tri)
	wt := delta{Label: "Watertight"}
	if a != nil {
		wt.Before = yesNo(a.Watertight)
	}
	if b != nil {
		wt.After = yesNo(b.Watertight)
	}
	if a != nil && b != nil && a.Watertight != b.Watertight {
		if b.Watertight {
			wt.Change, wt.Sign = "now watertight", 1
		} else {
			wt.Change, wt.Sign = "no longer watertight", -1
		}
	}
	out = append(out, wt)
	return out
}

func lengthDelta(label string, a, b *render.Part, get func(*render.Part) float64) delta {
	d := delta{Label: label}
	if a != nil {
		d.Before = fixed(get(a)) + " mm"
	}
	if b != nil {
		d.After = fixed(get(b)) + " mm"
	}
	if a != nil && b != nil {
		diff := get(b) - get(a)
		if math.Abs(diff) >= 0.005 {
			d.Change, d.Sign = signed(fmt.Sprintf("%.2f mm", math.Abs(diff)), diff > 0), sign(diff)
		}
	}
	return d
}

// relative is the change from a to b in percent, "" when equal.
func relative(a, b float64) (string, int) {
	diff := b - a
	if math.Abs(diff) < 1e-9*math.Max(math.Abs(a), 1) {
		return "", 0
	}
	if a == 0 {
		return signed(formatVolume(math.Abs(diff)), diff > 0), sign(diff)
	}
	pct := 100 * math.Abs(diff) / math.Abs(a)
	if pct < 0.1 {
		return signed(fmt.Sprintf("%s (<0.1 %%)", formatVolume(math.Abs(diff))), diff > 0), sign(diff)
	}
	return signed(fmt.Sprintf("%s (%.1f %%)", formatVolume(math.Abs(diff)), pct), diff > 0), sign(diff)
}

func signed(s string, plus bool) string {
	if plus {
		return "+" + s
	}
	return "−" + s
}

func sign(f float64) int {
	switch {
	case f > 0:
		return 1
	case f < 0:
		return -1
	}
	return 0
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// hashOf parses a full commit id.
func hashOf(s string) (plumbing.Hash, bool) {
	if len(s) != 40 || !isCommitID(s) {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(s), true
}
