package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// What a hostile client sends, built with the real git's plumbing (the way
// an attacker would): trees that expand far beyond their objects, gitlinks
// that name objects of their choice, and packs holding exactly the objects
// they choose, pushed without git's own walk.

// GitIn runs git with GIT_DIR=gitDir (a bare or ordinary .git folder) and
// stdin, returning its trimmed output; failure fails t.
func GitIn(t T, gitDir, stdin string, args ...string) string {
	t.Helper()
	return gitEnvIn(t, gitDir, nil, stdin, args...)
}

// gitEnvIn is GitIn with more environment variables.
func gitEnvIn(t T, gitDir string, env []string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Env = append(append(GitEnv(t), "GIT_DIR="+gitDir), env...)
	cmd.Dir = gitDir
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// InitBare makes a new bare repository in a temporary folder.
func InitBare(t T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hostile.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	return dir
}

// TreeBomb writes into gitDir a tree of fan entries nested levels deep, one
// blob at the bottom: fan^levels files (and the folders above them) in
// levels tree objects and one blob. It returns a commit of that tree.
func TreeBomb(t T, gitDir string, fan, levels int) string {
	t.Helper()
	blob := GitIn(t, gitDir, "x\n", "hash-object", "-w", "--stdin")
	var b strings.Builder
	for i := range fan {
		fmt.Fprintf(&b, "100644 blob %s\tf%d\n", blob, i)
	}
	tree := GitIn(t, gitDir, b.String(), "mktree")
	for range levels - 1 {
		b.Reset()
		for i := range fan {
			fmt.Fprintf(&b, "040000 tree %s\td%d\n", tree, i)
		}
		tree = GitIn(t, gitDir, b.String(), "mktree")
	}
	return CommitTree(t, gitDir, tree, "a tree bomb")
}

// CommitTree writes a commit of tree (with parents) and returns its id.
func CommitTree(t T, gitDir, tree, msg string, parents ...string) string {
	t.Helper()
	args := []string{"-c", "user.name=Hostile", "-c", "user.email=hostile@blueprints.invalid", "commit-tree", tree}
	for _, p := range parents {
		args = append(args, "-p", p)
	}
	return GitIn(t, gitDir, msg+"\n", args...)
}

// TreeEntry is one entry of a tree built with WriteTree: mode "100644",
// "160000" (a gitlink) and so on, the object id and the path (folders are
// made as needed).
type TreeEntry struct {
	Mode, ID, Path string
}

// WriteTree writes a tree holding entries with git update-index
// --cacheinfo (which takes a gitlink naming any object) and write-tree,
// and returns its id.
func WriteTree(t T, gitDir string, entries ...TreeEntry) string {
	t.Helper()
	index := filepath.Join(t.TempDir(), "index")
	args := []string{"update-index", "--add"}
	for _, e := range entries {
		args = append(args, "--cacheinfo", e.Mode+","+e.ID+","+e.Path)
	}
	env := []string{"GIT_INDEX_FILE=" + index}
	gitEnvIn(t, gitDir, env, "", args...)
	return gitEnvIn(t, gitDir, env, "", "write-tree")
}

// RefUpdate is one ref a hand-built push changes.
type RefUpdate struct {
	Old, New, Ref string // Old is 40 zeros to create the ref
}

// PushPack sends a push to remote (the project's .git URL, with user and
// token) the way git's smart HTTP protocol does, but with a pack holding
// exactly objects (ids in gitDir, packed with git pack-objects) rather
// than what git's walk would choose. It returns what the server reported
// (the status lines and the hooks' messages) and an error unless every
// ref was updated.
func PushPack(t T, remote, gitDir string, objects []string, updates ...RefUpdate) (string, error) {
	t.Helper()
	cmd := exec.Command("git", "pack-objects", "--stdout", "-q")
	cmd.Env = append(GitEnv(t), "GIT_DIR="+gitDir)
	cmd.Stdin = strings.NewReader(strings.Join(objects, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pack, err := cmd.Output()
	if err != nil {
		t.Fatalf("git pack-objects: %v\n%s", err, stderr.String())
	}
	var body bytes.Buffer
	for i, u := range updates {
		line := u.Old + " " + u.New + " " + u.Ref
		if i == 0 {
			line += "\x00report-status side-band-64k agent=blueprints-test"
		}
		fmt.Fprintf(&body, "%04x%s\n", len(line)+5, line)
	}
	body.WriteString("0000")
	body.Write(pack)
	req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(remote, "/")+"/git-receive-pack", &body)
	if err != nil {
		t.Fatalf("push request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-git-receive-pack-request")
	req.Header.Set("Accept", "application/x-git-receive-pack-result")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		return string(msg), fmt.Errorf("push: %s", res.Status)
	}
	report, messages, err := readSideband(res.Body)
	out := messages + report
	if err != nil {
		return out, err
	}
	if !strings.Contains(report, "unpack ok") || strings.Contains(report, "\nng ") || strings.HasPrefix(report, "ng ") {
		return out, errors.New("push refused")
	}
	return out, nil
}

// readSideband splits a receive-pack answer into its report (band 1, its
// pkt-lines joined) and its messages (band 2, the hooks' output).
func readSideband(r io.Reader) (report, messages string, err error) {
	br := bufio.NewReader(r)
	var rep, msg bytes.Buffer
	for {
		n, err := readPktLen(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep.String(), msg.String(), err
		}
		if n == 0 {
			continue
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(br, data); err != nil {
			return rep.String(), msg.String(), err
		}
		switch data[0] {
		case 1:
			rep.Write(data[1:])
		case 2, 3:
			msg.Write(data[1:])
		}
	}
	// The report is itself pkt-lines.
	var lines strings.Builder
	rb := bufio.NewReader(bytes.NewReader(rep.Bytes()))
	for {
		n, err := readPktLen(rb)
		if err != nil {
			break
		}
		data := make([]byte, n)
		io.ReadFull(rb, data)
		lines.Write(data)
	}
	return lines.String(), msg.String(), nil
}

func readPktLen(r *bufio.Reader) (int, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
	if err != nil || n != 0 && n < 4 {
		return 0, fmt.Errorf("bad pkt-line length %q", hdr)
	}
	if n == 0 {
		return 0, nil
	}
	return int(n) - 4, nil
}

// WriteBlob writes data as a blob into gitDir and returns its id.
func WriteBlob(t T, gitDir string, data []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatalf("write blob: %v", err)
	}
	return GitIn(t, gitDir, "", "hash-object", "-w", f)
}

// Reachable lists the objects git's own walk reaches from commit (which
// does not follow gitlinks), for PushPack.
func Reachable(t T, gitDir, commit string) []string {
	t.Helper()
	return strings.Fields(GitIn(t, gitDir, "", "rev-list", "--objects", "--no-object-names", commit))
}
