// Package runner runs outside programs (openscad, prusa-slicer) on
// untrusted input, as DESIGN decision 11 asks: each run gets its own
// process group, a timeout, a memory limit, a file size limit, a low CPU
// priority, no network where the platform allows, and a work folder that
// is the only writable place it sees; its output is size-limited. What a
// run was refused (killed at its timeout, output cut, memory refused) is
// reported in Result.Refused, and what isolation the platform gave in
// Runner.Isolation.
//
// Data enters as a Job (program, arguments, a work folder the caller
// filled, optional standard input) and leaves as a Result (exit status,
// standard output and error up to a limit, the refusals) plus the files
// the program left in the work folder.
//
// Isolation, best first: with bubblewrap (bwrap) installed the program
// sees only the system's read-only /usr and a few files of /etc, its work
// folder, an empty /tmp, its own /proc and /dev, and new user, PID, IPC,
// network and hostname namespaces. Without bubblewrap, when the server may
// create namespaces (root, or unprivileged user namespaces), the program
// gets its own network namespace (no network) but sees the server's files;
// otherwise neither. Limits always hold: they are set by the shell
// (ulimit) that starts the program, so they bind it from its first
// instruction.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits bound one run. A zero field takes its default.
type Limits struct {
	Timeout time.Duration // wall-clock time, then the process group is killed
	Memory  int64         // bytes of address space (RLIMIT_AS)
	// FileSize is the largest file the program may write, in bytes
	// (RLIMIT_FSIZE): a write beyond it fails.
	FileSize int64
	// Output is how many bytes of standard output and of standard error
	// are kept each; the rest is read and dropped, and reported.
	Output int64
	// Nice is added to the server's own CPU niceness (nice -n), 1 to 19;
	// the result is capped at 19.
	Nice int
}

// Defaults for Limits' zero fields.
const (
	DefaultTimeout  = 60 * time.Second
	DefaultMemory   = 2 << 30
	DefaultFileSize = 1 << 30
	DefaultOutput   = 1 << 20
	DefaultNice     = 19
)

func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.Memory <= 0 {
		l.Memory = DefaultMemory
	}
	if l.FileSize <= 0 {
		l.FileSize = DefaultFileSize
	}
	if l.Output <= 0 {
		l.Output = DefaultOutput
	}
	if l.Nice <= 0 || l.Nice > 19 {
		l.Nice = DefaultNice
	}
	return l
}

// Options configure a Runner.
type Options struct {
	Limits Limits // defaults for every Job
	// TempDir is where work folders are made (os.TempDir() when empty).
	// It must not be inside the server's data folder's secrets: only the
	// work folder itself is shown to the program.
	TempDir string
	// NoBwrap turns bubblewrap off even when installed (tests of the
	// fallback, benchmarks of its cost).
	NoBwrap bool
	Logger  *slog.Logger
}

// Isolation says what the platform allowed the runner to do.
type Isolation struct {
	Files   bool   // the program sees only its work folder and the system's programs
	Network bool   // the program has no network
	How     string // "bubblewrap", "network namespace" or "none"
	Missing string // what is not isolated and why, for logs and --help; "" when all is
}

// Runner runs programs under Limits. It is safe for concurrent use.
type Runner struct {
	lim     Limits
	tempDir string
	bwrap   string // path of bwrap, or ""
	netns   bool   // CLONE_NEWNET works (without bwrap)
	sh      string
	log     *slog.Logger
}

// New returns a Runner, probing once what isolation the platform gives.
func New(o Options) *Runner {
	r := &Runner{lim: o.Limits.withDefaults(), tempDir: o.TempDir, log: o.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.sh, _ = exec.LookPath("sh")
	if r.sh == "" {
		r.sh = "/bin/sh"
	}
	if !o.NoBwrap {
		if p, err := exec.LookPath("bwrap"); err == nil && probe(exec.Command(p, bwrapArgs(os.TempDir(), nil, []string{"true"})...)) {
			r.bwrap = p
		}
	}
	if r.bwrap == "" {
		c := exec.Command(r.sh, "-c", "true")
		c.SysProcAttr = procAttr(true)
		r.netns = probe(c)
	}
	return r
}

// probe reports whether c runs and exits 0.
func probe(c *exec.Cmd) bool {
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	return c.Run() == nil
}

// Isolation reports what the platform allowed.
func (r *Runner) Isolation() Isolation {
	switch {
	case r.bwrap != "":
		return Isolation{Files: true, Network: true, How: "bubblewrap"}
	case r.netns:
		return Isolation{Network: true, How: "network namespace", Missing: "files: bubblewrap (bwrap) is not installed, so programs can read what the server can"}
	default:
		return Isolation{How: "none", Missing: "files and network: bubblewrap is not installed and this process may not create namespaces"}
	}
}

// Limits returns the runner's default limits.
func (r *Runner) Limits() Limits { return r.lim }

// Workdir makes a new, empty work folder for one job; remove it with
// os.RemoveAll when done.
func (r *Runner) Workdir() (string, error) {
	d, err := os.MkdirTemp(r.tempDir, "blueprints-run-")
	if err != nil {
		return "", fmt.Errorf("make work folder: %w", err)
	}
	return d, nil
}

// Job is one run of a program.
type Job struct {
	Program string   // name on PATH or absolute path
	Args    []string // arguments; paths in them are relative to Dir
	// Dir is the work folder (from Workdir), filled by the caller with what
	// the program needs: it is the program's working directory, HOME and
	// TMPDIR, and the only folder it may write.
	Dir   string
	Stdin io.Reader // nil: empty
	Env   []string  // added to a minimal environment (PATH, HOME, TMPDIR, LANG)
	// Limits override the runner's defaults field by field (zero: keep).
	Limits Limits
	// Network keeps the host's network for this run. Only for programs
	// whose every destination the caller has checked (git fetching a
	// mirror through an address it resolved, checked and pinned).
	Network bool
	// Writable are folders outside Dir the program may write, seen at
	// their own paths (the bare repository a mirror fetches into).
	Writable []string
}

// Result is what a run did.
type Result struct {
	ExitCode int           // -1 when killed by a signal
	Stdout   []byte        // up to Limits.Output bytes
	Stderr   []byte        // up to Limits.Output bytes
	Elapsed  time.Duration // wall-clock time
	Refused  []string      // what the runner refused the program, one line each
}

// Errors that Run's *Error wraps, for errors.Is.
var (
	ErrStart   = errors.New("could not start")
	ErrTimeout = errors.New("timed out")
	ErrExit    = errors.New("failed")
)

// Error is a run that did not exit 0.
type Error struct {
	Program string
	Reason  string // "exit status 1", "killed after 60s", ...
	Err     error  // ErrStart, ErrTimeout or ErrExit
}

func (e *Error) Error() string { return e.Program + ": " + e.Reason }

// Unwrap returns ErrStart, ErrTimeout or ErrExit.
func (e *Error) Unwrap() error { return e.Err }

// Run runs j and waits for it. It returns a *Error unless the program
// exited 0; the Result is filled in either case. Cancelling ctx kills the
// program's whole process group, as the timeout does.
func (r *Runner) Run(ctx context.Context, j Job) (Result, error) {
	lim := merge(r.lim, j.Limits)
	var res Result
	if j.Dir == "" {
		return res, &Error{Program: j.Program, Reason: "no work folder given", Err: ErrStart}
	}
	dir, err := filepath.Abs(j.Dir)
	if err != nil {
		return res, &Error{Program: j.Program, Reason: err.Error(), Err: ErrStart}
	}
	prog := j.Program
	if !filepath.IsAbs(prog) {
		p, err := exec.LookPath(prog)
		if err != nil {
			return res, &Error{Program: j.Program, Reason: "not installed (not found on PATH)", Err: ErrStart}
		}
		prog = p
	}
	// The shell sets the limits and becomes nice, then the program (inside
	// bwrap when there is one) replaces it: limits bind from the start.
	script := fmt.Sprintf("ulimit -v %d && ulimit -f %d && ulimit -c 0 && exec nice -n %d \"$@\"",
		lim.Memory/1024, lim.FileSize/512, lim.Nice)
	inner := append([]string{prog}, j.Args...)
	workDir := dir
	if r.bwrap != "" {
		extra, err := bwrapExtra(j)
		if err != nil {
			return res, &Error{Program: j.Program, Reason: err.Error(), Err: ErrStart}
		}
		args := bwrapArgs(dir, j.Env, inner)
		// Before "--" and after --unshare-all, which --share-net undoes.
		sep := len(args) - len(inner) - 1
		args = append(args[:sep], append(extra, args[sep:]...)...)
		inner = append([]string{r.bwrap}, args...)
		workDir = "/"
	}
	cmd := exec.Command(r.sh, append([]string{"-c", script, "sh"}, inner...)...)
	cmd.Dir = workDir
	home := dir
	if r.bwrap != "" {
		home = sandboxDir
	}
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8"}, j.Env...)
	cmd.SysProcAttr = procAttr(r.bwrap == "" && r.netns && !j.Network)
	cmd.Stdin = j.Stdin
	stdout := &capped{max: lim.Output}
	stderr := &capped{max: lim.Output}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Pipes stay open in grandchildren; do not wait for them past a kill.
	cmd.WaitDelay = time.Second

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, &Error{Program: j.Program, Reason: "start: " + err.Error(), Err: ErrStart}
	}
	pgid := cmd.Process.Pid
	var killed struct {
		sync.Mutex
		why string
	}
	kill := func(why string) {
		killed.Lock()
		if killed.why == "" {
			killed.why = why
		}
		killed.Unlock()
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	timer := time.AfterFunc(lim.Timeout, func() { kill(fmt.Sprintf("killed after its time limit of %s", lim.Timeout)) })
	stopWatch := context.AfterFunc(ctx, func() { kill("killed: " + context.Cause(ctx).Error()) })
	werr := cmd.Wait()
	timer.Stop()
	stopWatch()
	// Anything the program left running in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	res.Elapsed = time.Since(start)
	res.Stdout, res.Stderr = stdout.buf.Bytes(), stderr.buf.Bytes()
	if stdout.dropped > 0 {
		res.Refused = append(res.Refused, fmt.Sprintf("standard output cut at %d bytes (%d more dropped)", lim.Output, stdout.dropped))
	}
	if stderr.dropped > 0 {
		res.Refused = append(res.Refused, fmt.Sprintf("standard error cut at %d bytes (%d more dropped)", lim.Output, stderr.dropped))
	}
	res.ExitCode = cmd.ProcessState.ExitCode()
	killed.Lock()
	why := killed.why
	killed.Unlock()
	if why != "" {
		res.Refused = append(res.Refused, why)
		r.log.Warn("outside program killed", "program", j.Program, "reason", why)
		if ctx.Err() != nil {
			return res, &Error{Program: j.Program, Reason: why, Err: ctx.Err()}
		}
		return res, &Error{Program: j.Program, Reason: why, Err: ErrTimeout}
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		reason := "killed by signal " + ws.Signal().String()
		if ws.Signal() == syscall.SIGXFSZ {
			reason = fmt.Sprintf("refused a file over %d bytes", lim.FileSize)
		}
		res.Refused = append(res.Refused, reason)
		return res, &Error{Program: j.Program, Reason: reason, Err: ErrExit}
	}
	if werr != nil && !errors.As(werr, new(*exec.ExitError)) {
		return res, &Error{Program: j.Program, Reason: werr.Error(), Err: ErrExit}
	}
	if res.ExitCode != 0 {
		if memoryRefused(res.Stderr) {
			res.Refused = append(res.Refused, fmt.Sprintf("memory over its limit of %d MiB refused", lim.Memory>>20))
		}
		return res, &Error{Program: j.Program, Reason: "exit status " + strconv.Itoa(res.ExitCode), Err: ErrExit}
	}
	return res, nil
}

// memoryRefused guesses from a program's last words whether an allocation
// failed (RLIMIT_AS makes malloc return NULL; C++ throws bad_alloc).
func memoryRefused(stderr []byte) bool {
	s := string(stderr)
	return strings.Contains(s, "bad_alloc") || strings.Contains(s, "Cannot allocate memory") || strings.Contains(s, "out of memory") || strings.Contains(s, "memory exhausted")
}

func merge(base, over Limits) Limits {
	if over.Timeout > 0 {
		base.Timeout = over.Timeout
	}
	if over.Memory > 0 {
		base.Memory = over.Memory
	}
	if over.FileSize > 0 {
		base.FileSize = over.FileSize
	}
	if over.Output > 0 {
		base.Output = over.Output
	}
	if over.Nice > 0 && over.Nice <= 19 {
		base.Nice = over.Nice
	}
	return base
}

// sandboxDir is where the work folder appears inside bubblewrap.
const sandboxDir = "/work"

// bwrapArgs are bubblewrap's arguments to run argv with dir as /work: the
// system's programs and libraries read-only, the few files of /etc that
// dynamic linking and fonts need, fresh /proc, /dev and /tmp, and every
// namespace new (so no network).
func bwrapArgs(dir string, env, argv []string) []string {
	a := []string{"--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if t, err := os.Readlink(d); err == nil {
				a = append(a, "--symlink", t, d)
			}
		case fi.IsDir():
			a = append(a, "--ro-bind", d, d)
		}
	}
	for _, f := range []string{"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts", "/etc/alternatives", "/etc/localtime", "/var/cache/fontconfig"} {
		if _, err := os.Stat(f); err == nil {
			a = append(a, "--ro-bind", f, f)
		}
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
		"--bind", dir, sandboxDir, "--chdir", sandboxDir,
		"--setenv", "HOME", sandboxDir, "--setenv", "TMPDIR", sandboxDir)
	for _, e := range env {
		if k, v, ok := strings.Cut(e, "="); ok {
			a = append(a, "--setenv", k, v)
		}
	}
	return append(append(a, "--"), argv...)
}

// bwrapExtra are bubblewrap's options for a job's network and writable
// folders, given before the common ones.
func bwrapExtra(j Job) ([]string, error) {
	var a []string
	if j.Network {
		a = append(a, "--share-net")
		// Name resolution and certificates, read-only.
		for _, f := range []string{"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/pki"} {
			if _, err := os.Stat(f); err == nil {
				a = append(a, "--ro-bind", f, f)
			}
		}
	}
	for _, w := range j.Writable {
		abs, err := filepath.Abs(w)
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("writable folder %s: not a folder", w)
		}
		a = append(a, "--bind", abs, abs)
	}
	return a, nil
}

// capped keeps the first max bytes written to it and counts the rest.
type capped struct {
	buf     bytes.Buffer
	max     int64
	dropped int64
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - int64(c.buf.Len())
	if room >= int64(len(p)) {
		return c.buf.Write(p)
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	c.dropped += int64(len(p)) - max(room, 0)
	return len(p), nil
}
