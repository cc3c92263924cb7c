package lfs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
)

// maxListedMissing bounds the files a refusal names.
const maxListedMissing = 20

// PointerFile is an LFS pointer found in a push, with the path it was
// found at (one of them, if the same pointer sits at several).
type PointerFile struct {
	Pointer
	Path string
}

// CheckPush is a repo.PreReceiveFunc: it refuses a push that introduces
// LFS pointers to objects the project does not own, naming the files and
// saying how to upload them. Objects uploaded before a push-to-create made
// the project are adopted by it here.
//
// It also refuses a push that changes a file someone else has locked
// (git-lfs checks that on the client; this holds for every client).
func (s *Server) CheckPush(ctx context.Context, push repo.Push, gitEnv []string) error {
	p, err := s.store.ProjectByName(ctx, push.Owner, push.Project)
	if err != nil {
		return fmt.Errorf("check lfs objects: %w", err)
	}
	if err := s.checkLocks(ctx, p, push, gitEnv); err != nil {
		return err
	}
	pointers, err := NewPointers(ctx, push, gitEnv)
	if err != nil {
		return fmt.Errorf("check lfs objects: %w", err)
	}
	if len(pointers) == 0 {
		return nil
	}
	oids := make([]string, 0, len(pointers))
	for _, pf := range pointers {
		oids = append(oids, pf.OID)
	}
	owned, err := s.store.LFSObjects(ctx, p.ID, oids)
	if err != nil {
		return fmt.Errorf("check lfs objects: %w", err)
	}
	pending, err := s.store.PendingLFSObjects(ctx, p.Owner, p.Name, oids)
	if err != nil {
		return fmt.Errorf("check lfs objects: %w", err)
	}
	var missing []string
	for _, pf := range pointers {
		o, ok := owned[pf.OID]
		if !ok {
			o, ok = pending[pf.OID]
		}
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("  %s (sha256 %s, %d bytes)", pf.Path, pf.OID[:12], pf.Size))
		case o.Size != pf.Size:
			missing = append(missing, fmt.Sprintf("  %s (sha256 %s: the pointer says %d bytes, the object has %d)", pf.Path, pf.OID[:12], pf.Size, o.Size))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		n := len(missing)
		if n > maxListedMissing {
			missing = append(missing[:maxListedMissing], fmt.Sprintf("  ... and %d more", n-maxListedMissing))
		}
		return fmt.Errorf("push refused: %d Git LFS file(s) point at objects this server does not have for %s:\n%s\nupload them with `git lfs push --all origin` (with git-lfs installed and `git lfs install` run), then push again",
			n, p.FullName(), strings.Join(missing, "\n"))
	}
	if len(pending) > 0 {
		if _, err := s.store.AdoptPendingLFSObjects(ctx, p); err != nil {
			return fmt.Errorf("check lfs objects: %w", err)
		}
	}
	return nil
}

// checkLocks refuses the push if its new commits touch a path locked by
// another user than the pusher.
func (s *Server) checkLocks(ctx context.Context, p store.Project, push repo.Push, gitEnv []string) error {
	locks, err := s.store.LFSLocks(ctx, p.ID, store.LFSLockFilter{})
	if err != nil {
		return fmt.Errorf("check lfs locks: %w", err)
	}
	theirs := map[string]store.LFSLock{}
	for _, l := range locks {
		if !strings.EqualFold(l.Owner, push.Pusher) {
			theirs[l.Path] = l
		}
	}
	tips := newTips(push)
	if len(theirs) == 0 || len(tips) == 0 {
		return nil
	}
	env := append(append(os.Environ(), "GIT_DIR="+push.Dir), gitEnv...)
	out, err := runGit(ctx, push.Dir, env, strings.NewReader(strings.Join(tips, "\n")+"\n"),
		"log", "--format=", "--name-only", "--no-renames", "-z", "--stdin", "--not", "--all")
	if err != nil {
		return fmt.Errorf("check lfs locks: %w", err)
	}
	var refused []string
	seen := map[string]bool{}
	for path := range strings.SplitSeq(string(out), "\x00") {
		path = strings.TrimLeft(path, "\n")
		if l, ok := theirs[path]; ok && !seen[path] {
			seen[path] = true
			refused = append(refused, fmt.Sprintf("  %s (locked by %s since %s)", path, l.Owner, l.Created.UTC().Format("2006-01-02 15:04")))
		}
	}
	if len(refused) == 0 {
		return nil
	}
	sort.Strings(refused)
	return fmt.Errorf("push refused: it changes %d file(s) locked by someone else in %s:\n%s\nask them to unlock (`git lfs unlock PATH`), break the lock with `git lfs unlock --force PATH`, or drop your changes to those files",
		len(refused), p.FullName(), strings.Join(refused, "\n"))
}

// newTips are the commits a push sets refs to.
func newTips(push repo.Push) []string {
	var tips []string
	for _, u := range push.Updates {
		if u.New != repo.ZeroID && u.New != "" {
			tips = append(tips, u.New)
		}
	}
	return tips
}

// NewPointers finds the LFS pointers among the blobs a push introduces:
// those reachable from its new ref tips but not from any existing ref, and
// those its trees' gitlinks name (push.Gitlinks). It
// runs git in push.Dir with gitEnv, which makes quarantined objects
// visible. Only blobs of at most MaxPointerSize bytes are read.
func NewPointers(ctx context.Context, push repo.Push, gitEnv []string) ([]PointerFile, error) {
	tips := newTips(push)
	if len(tips) == 0 {
		return nil, nil
	}
	env := append(append(os.Environ(), "GIT_DIR="+push.Dir), gitEnv...)

	// Objects of the push, with the path each was first seen at. Blobs
	// larger than a pointer are filtered out by git itself.
	args := []string{"rev-list", "--objects", "--filter=blob:limit=" + strconv.Itoa(MaxPointerSize+1), "--stdin", "--not", "--all"}
	out, err := runGit(ctx, push.Dir, env, strings.NewReader(strings.Join(tips, "\n")+"\n"), args...)
	if err != nil {
		return nil, err
	}
	paths := map[string]string{}
	var ids []string
	for line := range strings.SplitSeq(string(out), "\n") {
		id, path, _ := strings.Cut(line, " ")
		if len(id) < 40 {
			continue
		}
		if _, seen := paths[id]; !seen {
			ids = append(ids, id)
			paths[id] = path
		}
	}
	// Gitlinks name objects git's walk does not follow; a hand-built pack
	// can put a pointer there.
	for _, g := range push.Gitlinks {
		if _, seen := paths[g.ID]; !seen {
			ids = append(ids, g.ID)
			paths[g.ID] = g.Path
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}

	// Types and sizes: keep small blobs.
	out, err = runGit(ctx, push.Dir, env, strings.NewReader(strings.Join(ids, "\n")+"\n"),
		"cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)")
	if err != nil {
		return nil, err
	}
	var small []string
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[1] != "blob" {
			continue
		}
		if n, err := strconv.Atoi(f[2]); err == nil && n <= MaxPointerSize {
			small = append(small, f[0])
		}
	}
	if len(small) == 0 {
		return nil, nil
	}

	out, err = runGit(ctx, push.Dir, env, strings.NewReader(strings.Join(small, "\n")+"\n"), "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	var found []PointerFile
	r := bufio.NewReader(bytes.NewReader(out))
	for {
		header, err := r.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read git cat-file output: %w", err)
		}
		f := strings.Fields(header)
		if len(f) != 3 {
			return nil, fmt.Errorf("read git cat-file output: unexpected line %q", strings.TrimSpace(header))
		}
		n, err := strconv.Atoi(f[2])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("read git cat-file output: unexpected line %q", strings.TrimSpace(header))
		}
		data := make([]byte, n+1) // content and its trailing LF
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("read git cat-file output: %w", err)
		}
		if p, ok := ParsePointer(data[:n]); ok {
			path := paths[f[0]]
			if path == "" {
				path = "(blob " + f[0] + ")"
			}
			found = append(found, PointerFile{Pointer: p, Path: path})
		}
	}
	return found, nil
}

func runGit(ctx context.Context, dir string, env []string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s in %s: %w: %s", args[0], dir, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
