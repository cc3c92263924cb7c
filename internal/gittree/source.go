package gittree

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ErrNotFound is wrapped when an object is missing.
var ErrNotFound = errors.New("object not found")

// maxTreeSize bounds the tree objects read: a tree of 50,000 entries with
// long names takes a few megabytes.
const maxTreeSize = 64 << 20

// FromStorer reads trees from a go-git object storer (the read side's
// repositories).
func FromStorer(s storer.EncodedObjectStorer) Source { return storerSource{s} }

type storerSource struct{ s storer.EncodedObjectStorer }

func (s storerSource) Tree(id plumbing.Hash) ([]Entry, error) {
	obj, err := s.s.EncodedObject(plumbing.TreeObject, id)
	if err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, fmt.Errorf("tree %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("read tree %s: %w", id, err)
	}
	if obj.Size() > maxTreeSize {
		return nil, fmt.Errorf("read tree %s: %w: %d bytes", id, ErrMalformed, obj.Size())
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", id, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", id, err)
	}
	entries, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id, err)
	}
	return entries, nil
}

// CatFile is one running `git cat-file --batch-command`: objects read one
// at a time, without a process per object. Its environment decides what
// it sees (GIT_DIR, and in pre-receive the quarantine variables). Safe for
// use by one goroutine at a time; Close it when done.
type CatFile struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	err error // sticky: the process is unusable after a broken exchange
}

// StartCatFile starts git cat-file in dir with env (the whole
// environment of the process).
func StartCatFile(ctx context.Context, git, dir string, env []string) (*CatFile, error) {
	cmd := exec.CommandContext(ctx, git, "cat-file", "--batch-command")
	cmd.Dir = dir
	cmd.Env = env
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start git cat-file: %w", err)
	}
	return &CatFile{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 64<<10)}, nil
}

// Close stops the process.
func (c *CatFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in.Close()
	io.Copy(io.Discard, c.out)
	return c.cmd.Wait()
}

// Info returns an object's type ("blob", "tree", "commit", "tag") and
// size; a missing object gives an error wrapping ErrNotFound.
func (c *CatFile) Info(id plumbing.Hash) (string, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.header("info", id)
}

// Read returns an object's type and content, refusing objects larger
// than max bytes (the content is then skipped, not held).
func (c *CatFile) Read(id plumbing.Hash, max int64) (string, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	typ, size, err := c.header("contents", id)
	if err != nil {
		return "", nil, err
	}
	if size > max {
		if _, err := c.out.Discard(int(size) + 1); err != nil {
			c.err = fmt.Errorf("git cat-file: %w", err)
			return "", nil, c.err
		}
		return typ, nil, fmt.Errorf("object %s has %d bytes, more than %d", id, size, max)
	}
	data := make([]byte, size+1)
	if _, err := io.ReadFull(c.out, data); err != nil || data[size] != '\n' {
		c.err = fmt.Errorf("git cat-file: content of %s cut short: %v", id, err)
		return "", nil, c.err
	}
	return typ, data[:size], nil
}

func (c *CatFile) header(cmd string, id plumbing.Hash) (string, int64, error) {
	if c.err != nil {
		return "", 0, c.err
	}
	if _, err := fmt.Fprintf(c.in, "%s %s\n", cmd, id); err != nil {
		c.err = fmt.Errorf("git cat-file: %w", err)
		return "", 0, c.err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		c.err = fmt.Errorf("git cat-file: %w", err)
		return "", 0, c.err
	}
	f := strings.Fields(line)
	if len(f) == 2 && f[1] == "missing" {
		return "", 0, fmt.Errorf("object %s: %w", id, ErrNotFound)
	}
	if len(f) != 3 || f[0] != id.String() {
		c.err = fmt.Errorf("git cat-file: unexpected answer %q", strings.TrimSpace(line))
		return "", 0, c.err
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 {
		c.err = fmt.Errorf("git cat-file: unexpected answer %q", strings.TrimSpace(line))
		return "", 0, c.err
	}
	return f[1], size, nil
}

// Tree implements Source.
func (c *CatFile) Tree(id plumbing.Hash) ([]Entry, error) {
	typ, data, err := c.Read(id, maxTreeSize)
	if err != nil {
		return nil, err
	}
	if typ != "tree" {
		return nil, fmt.Errorf("object %s is a %s, not a tree", id, typ)
	}
	entries, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id, err)
	}
	return entries, nil
}

// CommitTree returns the tree a commit object names.
func (c *CatFile) CommitTree(id plumbing.Hash) (plumbing.Hash, error) {
	typ, data, err := c.Read(id, 64<<20)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if typ != "commit" {
		return plumbing.ZeroHash, fmt.Errorf("object %s is a %s, not a commit", id, typ)
	}
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	hex, ok := bytes.CutPrefix(line, []byte("tree "))
	if !ok || len(hex) != 40 || !plumbing.IsHash(string(hex)) {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: no tree line", id)
	}
	return plumbing.NewHash(string(hex)), nil
}
