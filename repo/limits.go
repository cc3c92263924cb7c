package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/blueprints-hq/blueprints/internal/gittree"
)

// PushLimits bound what one push may bring, checked in pre-receive before
// any ref changes or anything is catalogued. A zero field is no limit.
type PushLimits struct {
	// Tree bounds each new commit's tree: files and folders, nesting,
	// entries per folder.
	Tree gittree.Limits
	// MaxBlobSize is the largest file stored in git itself (outside Git
	// LFS), in bytes.
	MaxBlobSize int64
}

// DefaultMaxBlobSize is the default PushLimits.MaxBlobSize: GitHub's
// limit, and far above an STL file a maker would keep out of LFS.
const DefaultMaxBlobSize = 100 << 20

// DefaultPushLimits are the limits used when Config.Limits is nil.
func DefaultPushLimits() PushLimits {
	return PushLimits{Tree: gittree.DefaultLimits(), MaxBlobSize: DefaultMaxBlobSize}
}

// Gitlink is a submodule entry found in a push's trees: a path and the
// object id it names. Git's own walks never follow it, so whatever it
// names is not a file of the project; the LFS check still reads it, in
// case a hand-built pack put a pointer there.
type Gitlink struct {
	Path string
	ID   string
}

// limitFlags name the serve flags behind each limit, for messages.
var limitFlags = map[string]string{
	"paths":   "--max-push-paths",
	"depth":   "--max-tree-depth",
	"entries": "--max-tree-entries",
	"blob":    "--max-blob-size",
}

// checkPush checks the commits and trees a push brings against the
// limits, and returns the gitlinks their trees hold. It runs git in
// push.Dir with gitEnv (the quarantine), reading each distinct tree once.
func (s *Server) checkPush(ctx context.Context, push Push, gitEnv []string) ([]Gitlink, error) {
	var tips []string
	for _, u := range push.Updates {
		if u.New != ZeroID && u.New != "" {
			tips = append(tips, u.New)
		}
	}
	if len(tips) == 0 {
		return nil, nil
	}
	env := append(append(os.Environ(), "GIT_DIR="+push.Dir), gitEnv...)
	cf, err := gittree.StartCatFile(ctx, s.git, push.Dir, env)
	if err != nil {
		return nil, fmt.Errorf("check push: %w", err)
	}
	defer cf.Close()

	// Roots: the tree of every new commit, and any tree a ref names
	// directly (through tags).
	var roots []root
	commits, err := s.gitLines(ctx, push.Dir, env, strings.Join(tips, "\n")+"\n", nil, "rev-list", "--stdin", "--not", "--all")
	if err != nil {
		return nil, fmt.Errorf("check push: %w", err)
	}
	for _, c := range commits {
		t, err := cf.CommitTree(plumbing.NewHash(c))
		if err != nil {
			return nil, fmt.Errorf("check push: %w", err)
		}
		roots = append(roots, root{commit: c, tree: t})
	}
	for _, tip := range tips {
		id, typ, err := peel(cf, plumbing.NewHash(tip))
		if err != nil {
			return nil, fmt.Errorf("check push: %w", err)
		}
		if typ == "tree" {
			roots = append(roots, root{tree: id})
		}
	}

	var gitlinks []Gitlink
	ck := gittree.NewChecker(cf, s.limits.Tree)
	ck.Gitlink = func(p string, e gittree.Entry) { gitlinks = append(gitlinks, Gitlink{Path: p, ID: e.ID.String()}) }
	for _, r := range roots {
		if _, err := ck.Check(ctx, r.tree); err != nil {
			var le *gittree.LimitError
			if errors.As(err, &le) {
				return nil, refusal(r, le.Msg, limitFlags[le.Limit])
			}
			return nil, fmt.Errorf("check push: %w", err)
		}
	}
	if err := s.checkBlobSizes(ctx, push, env, tips, roots, cf, gitlinks); err != nil {
		return nil, err
	}
	return gitlinks, nil
}

// root is a tree to check and the commit it belongs to ("" for a tree a
// ref names directly).
type root struct {
	commit string
	tree   plumbing.Hash
}

// ErrLimit is wrapped by the errors that refuse a push over a limit.
var ErrLimit = errors.New("push over a limit")

func refusal(r root, msg, flag string) error {
	where := "a tree it adds"
	if r.commit != "" {
		where = "commit " + r.commit[:12]
	}
	return fmt.Errorf("%w: push refused: %s: %s.\nThis server's limit (%s) keeps one push from exhausting it; split the project, move generated files out of it, or ask the administrator to raise the limit", ErrLimit, where, msg, flag)
}

// peel follows tags to the object they name.
func peel(cf *gittree.CatFile, id plumbing.Hash) (plumbing.Hash, string, error) {
	for range 10 {
		typ, data, err := cf.Read(id, 1<<20)
		if err != nil {
			if typ != "" {
				return id, typ, nil // too big to be a tag
			}
			return id, "", err
		}
		if typ != "tag" {
			return id, typ, nil
		}
		line, _, _ := strings.Cut(string(data), "\n")
		hex, ok := strings.CutPrefix(line, "object ")
		if !ok || !plumbing.IsHash(hex) {
			return id, "", fmt.Errorf("tag %s names no object", id)
		}
		id = plumbing.NewHash(hex)
	}
	return id, "", fmt.Errorf("tag chain too long at %s", id)
}

// checkBlobSizes refuses a push that brings a file over MaxBlobSize
// outside LFS: git itself lists the new blobs over the size, and a walk
// of the new trees names the first path holding one.
func (s *Server) checkBlobSizes(ctx context.Context, push Push, env, tips []string, roots []root, cf *gittree.CatFile, gitlinks []Gitlink) error {
	max := s.limits.MaxBlobSize
	if max <= 0 {
		return nil
	}
	big := map[plumbing.Hash]int64{}
	// rev-list --objects lists every new object, which may be many: only
	// the omitted ones are kept.
	omitted := func(l string) bool { return strings.HasPrefix(l, "~") }
	lines, err := s.gitLines(ctx, push.Dir, env, strings.Join(tips, "\n")+"\n", omitted, "rev-list", "--objects", "--no-object-names",
		"--filter=blob:limit="+strconv.FormatInt(max+1, 10), "--filter-print-omitted", "--stdin", "--not", "--all")
	if err != nil {
		return fmt.Errorf("check push: %w", err)
	}
	for _, l := range lines {
		if hex, ok := strings.CutPrefix(l, "~"); ok && plumbing.IsHash(hex) {
			big[plumbing.NewHash(hex)] = 0
		}
	}
	// Objects behind gitlinks are not in git's walk.
	for _, g := range gitlinks {
		if typ, size, err := cf.Info(plumbing.NewHash(g.ID)); err == nil && typ == "blob" && size > max {
			return refusal(root{}, fmt.Sprintf("%q names an object of %d bytes, over the limit of %d for files outside Git LFS", g.Path, size, max), limitFlags["blob"])
		}
	}
	if len(big) == 0 {
		return nil
	}
	for id := range big {
		if _, size, err := cf.Info(id); err == nil {
			big[id] = size
		}
	}
	for _, r := range roots {
		var msg string
		err := gittree.Walk(ctx, cf, r.tree, func(p string, e gittree.Entry) error {
			if size, ok := big[e.ID]; ok && !e.IsDir() {
				msg = fmt.Sprintf("%q has %d bytes, over the limit of %d for files outside Git LFS; store it with Git LFS (git lfs track, git lfs migrate import for files already committed)", p, size, max)
				return gittree.Stop
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("check push: %w", err)
		}
		if msg != "" {
			return refusal(r, msg, limitFlags["blob"])
		}
	}
	return refusal(root{}, fmt.Sprintf("it adds %d object(s) over the limit of %d bytes for files outside Git LFS", len(big), max), limitFlags["blob"])
}

// gitLines runs git and returns the lines of its output that keep
// accepts (all when keep is nil), reading the output as it comes.
func (s *Server) gitLines(ctx context.Context, dir string, env []string, stdin string, keep func(string) bool, args ...string) ([]string, error) {
	cmd := exec.CommandContext(ctx, s.git, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if l := sc.Text(); keep == nil || keep(l) {
			lines = append(lines, l)
		}
	}
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return lines, sc.Err()
}
