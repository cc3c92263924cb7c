// Package scad builds OpenSCAD sources into meshes, as parts.
//
// Data enters as a repository tree (a Tree: paths to file versions and
// their bytes) and the path of one .scad file; Closure finds, from the
// source's literal include/use/import/surface statements, every repository
// file the build may read (refusing absolute paths and paths that climb
// out of the repository) and a Key naming the build by all their
// contents. Data leaves as a binary STL file built by the openscad program,
// run by the outside-program runner (internal/runner) in a work folder that
// holds only the closure's files; or as a Result saying the file is no part
// (it only defines modules, or draws in 2D), or OpenSCAD's own error.
package scad

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/runner"
)

// Tree is the repository at one commit, as a build sees it.
type Tree interface {
	// Version returns an id of the file's content (a git blob id) and
	// whether the path is a file of the tree.
	Version(p string) (string, bool)
	// Open returns the file's content (LFS content, not its pointer).
	Open(p string) (io.ReadCloser, error)
}

// Limits of a closure.
const (
	MaxFiles      = 1000    // files in one build
	MaxSourceSize = 4 << 20 // a .scad file read to find its references
)

// Closure is what one build reads.
type Closure struct {
	File  string   // the source built
	Files []string // every repository file it may read, sorted, itself included
	Key   string   // "scad-" + SHA-256 of the program's version and each file's path and version
}

// IsSource reports whether a repository path is an OpenSCAD source
// (.scad, in any case).
func IsSource(p string) bool { return strings.EqualFold(path.Ext(p), ".scad") }

// FindClosure follows file's references through t. A reference to a path
// the tree lacks is left out (it may be one of OpenSCAD's own libraries,
// such as MCAD; if not, OpenSCAD says so when it runs). A refused
// reference gives a *RefusedError.
func FindClosure(t Tree, file, programVersion string) (Closure, error) {
	seen := map[string]string{}
	queue := []string{file}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if _, ok := seen[f]; ok {
			continue
		}
		v, ok := t.Version(f)
		if !ok {
			continue
		}
		seen[f] = v
		if len(seen) > MaxFiles {
			return Closure{}, fmt.Errorf("%s: reads more than %d files", file, MaxFiles)
		}
		if !IsSource(f) {
			continue
		}
		src, err := readSource(t, f)
		if err != nil {
			return Closure{}, err
		}
		for _, r := range Refs(src) {
			p, err := resolve(f, r)
			if err != nil {
				return Closure{}, err
			}
			queue = append(queue, p)
		}
	}
	if _, ok := seen[file]; !ok {
		return Closure{}, fmt.Errorf("%s: no such file", file)
	}
	c := Closure{File: file}
	h := sha256.New()
	fmt.Fprintf(h, "blueprints scad build 1\n%s\n%s\n", programVersion, file)
	for f := range seen {
		c.Files = append(c.Files, f)
	}
	sort.Strings(c.Files)
	for _, f := range c.Files {
		fmt.Fprintf(h, "%s\x00%s\n", f, seen[f])
	}
	c.Key = "scad-" + hex.EncodeToString(h.Sum(nil))
	return c, nil
}

func readSource(t Tree, f string) ([]byte, error) {
	rc, err := t.Open(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f, err)
	}
	defer rc.Close()
	src, err := io.ReadAll(io.LimitReader(rc, MaxSourceSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f, err)
	}
	if len(src) > MaxSourceSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; not read as an OpenSCAD source", f, MaxSourceSize)
	}
	return src, nil
}

// ErrNotInstalled says the server has no openscad program.
var ErrNotInstalled = errors.New("openscad is not installed")

// Builder runs openscad through a runner.
type Builder struct {
	run     *runner.Runner
	program string
	version string
	timeout time.Duration
	runs    func(result string)
}

// Results of a run, as Builder's runs callback and metrics name them.
const (
	RunBuilt   = "built"   // a 3D mesh
	RunSkipped = "skipped" // no part: modules only, or 2D
	RunFailed  = "failed"  // OpenSCAD reported an error
	RunTimeout = "timeout" // killed at the time limit
)

// BuilderOptions configure NewBuilder.
type BuilderOptions struct {
	Program string        // default "openscad"
	Timeout time.Duration // per build (default 60 s)
	// Runs, when set, hears each run's result (RunBuilt…), for metrics.
	Runs func(result string)
}

// NewBuilder finds the program and its version. It returns
// ErrNotInstalled when there is none.
func NewBuilder(r *runner.Runner, o BuilderOptions) (*Builder, error) {
	if o.Program == "" {
		o.Program = "openscad"
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	p, err := exec.LookPath(o.Program)
	if err != nil {
		return nil, fmt.Errorf("%w (looked for %q on PATH)", ErrNotInstalled, o.Program)
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %v: %s", p, err, out)
	}
	return &Builder{run: r, program: p, version: strings.TrimSpace(string(out)), timeout: o.Timeout, runs: o.Runs}, nil
}

// Version is the program's own version line, part of every build key.
func (b *Builder) Version() string { return b.version }

// Timeout is the time one build may take.
func (b *Builder) Timeout() time.Duration { return b.timeout }

// Result is what a build gave.
type Result struct {
	// STL is the built mesh (binary STL) in a file the caller removes
	// with Close; nil when the source is no part or failed.
	STL *os.File
	// NotAPart says why the source is no part ("it only defines modules",
	// "it draws in 2D"); "" otherwise.
	NotAPart string
	// Error is OpenSCAD's own message for a failed build, one line.
	Error string
}

// Close removes the built mesh, if any.
func (r Result) Close() {
	if r.STL != nil {
		r.STL.Close()
		os.Remove(r.STL.Name())
	}
}

// Build copies the closure's files from t into a fresh work folder and
// runs openscad there. The error return is for what is not the source's
// fault (no work folder, a file of the tree unreadable, ctx cancelled).
func (b *Builder) Build(ctx context.Context, t Tree, c Closure) (Result, error) {
	dir, err := b.run.Workdir()
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	for _, f := range c.Files {
		if err := copyFile(t, f, filepath.Join(src, filepath.FromSlash(f))); err != nil {
			return Result{}, err
		}
	}
	res, err := b.run.Run(ctx, runner.Job{
		Program: b.program,
		Args:    []string{"-o", "out.stl", "--export-format", "binstl", filepath.ToSlash(filepath.Join("src", c.File))},
		Dir:     dir,
		Limits:  runner.Limits{Timeout: b.timeout},
	})
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	out := Result{}
	stderr := string(res.Stderr)
	switch {
	case errors.Is(err, runner.ErrTimeout):
		out.Error = fmt.Sprintf("OpenSCAD did not finish within %s (the server's --scad-timeout)", b.timeout)
		b.count(RunTimeout)
	case errors.Is(err, runner.ErrStart):
		return Result{}, err
	case firstError(stderr) != "":
		out.Error = firstError(stderr)
		b.count(RunFailed)
	case strings.Contains(stderr, "Current top level object is empty"):
		out.NotAPart = "it makes no object (a library of modules and functions)"
		b.count(RunSkipped)
	case strings.Contains(stderr, "Current top level object is not a 3D object"):
		out.NotAPart = "it draws in 2D"
		b.count(RunSkipped)
	case err != nil:
		out.Error = "OpenSCAD failed (" + err.Error() + ")" + lastLine(stderr)
		b.count(RunFailed)
	default:
		f, oerr := os.Open(filepath.Join(dir, "out.stl"))
		if oerr != nil {
			out.Error = "OpenSCAD wrote no mesh" + lastLine(stderr)
			b.count(RunFailed)
			break
		}
		// Keep the mesh past the work folder's removal: an open file.
		tmp, terr := os.CreateTemp("", "blueprints-scad-*.stl")
		if terr == nil {
			_, terr = io.Copy(tmp, f)
		}
		f.Close()
		if terr != nil {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
			return Result{}, fmt.Errorf("keep the mesh of %s: %w", c.File, terr)
		}
		tmp.Seek(0, io.SeekStart)
		out.STL = tmp
		b.count(RunBuilt)
	}
	return out, nil
}

func (b *Builder) count(result string) {
	if b.runs != nil {
		b.runs(result)
	}
}

// firstError is OpenSCAD's first "ERROR:" line, with the work folder's
// paths taken out.
func firstError(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "ERROR:") {
			return tidy(l)
		}
	}
	return ""
}

func lastLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) == 0 || lines[len(lines)-1] == "" {
		return ""
	}
	return ": " + tidy(lines[len(lines)-1])
}

// tidy keeps a message to one line of at most 300 bytes, with the
// sandbox's folder names removed so that paths read as in the repository.
func tidy(s string) string {
	for _, p := range []string{"/work/src/", "src/"} {
		s = strings.ReplaceAll(s, p, "")
	}
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func copyFile(t Tree, from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	rc, err := t.Open(from)
	if err != nil {
		return fmt.Errorf("read %s: %w", from, err)
	}
	defer rc.Close()
	f, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return f.Close()
}

// DirTree is a folder of the file system as a Tree (for the command line):
// paths are relative to Root, and nothing outside it is a file of the tree.
type DirTree struct{ Root string }

// Version implements Tree: the file's size and modification time, enough
// to tell one run's files apart.
func (d DirTree) Version(p string) (string, bool) {
	fi, err := os.Stat(filepath.Join(d.Root, filepath.FromSlash(p)))
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return fmt.Sprintf("%d-%d", fi.Size(), fi.ModTime().UnixNano()), true
}

// Open implements Tree.
func (d DirTree) Open(p string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.Root, filepath.FromSlash(p)))
}
