package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the misbehaving program: run with
// RUNNER_HELPER set, it does what its arguments say instead of testing.
func TestMain(m *testing.M) {
	if os.Getenv("RUNNER_HELPER") == "1" {
		os.Exit(helper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helper(args []string) int {
	switch args[0] {
	case "echo":
		fmt.Print(strings.Join(args[1:], " "))
		return 0
	case "exit":
		n, _ := strconv.Atoi(args[1])
		fmt.Fprint(os.Stderr, "bad thing happened")
		return n
	case "spew":
		n, _ := strconv.Atoi(args[1])
		io.CopyN(os.Stdout, zeros{}, int64(n))
		return 0
	case "alloc":
		n, _ := strconv.Atoi(args[1])
		b := make([]byte, n<<20)
		for i := range b {
			b[i] = 1
		}
		fmt.Print(len(b))
		return 0
	case "write":
		n, _ := strconv.Atoi(args[1])
		f, err := os.Create("big.out")
		if err != nil {
			fmt.Fprint(os.Stderr, err)
			return 3
		}
		if _, err := io.CopyN(f, zeros{}, int64(n)); err != nil {
			fmt.Fprint(os.Stderr, err)
			return 4
		}
		return 0
	case "dial":
		c, err := net.DialTimeout("tcp", args[1], 2*time.Second)
		if err != nil {
			fmt.Fprint(os.Stderr, err)
			return 5
		}
		c.Close()
		fmt.Print("connected")
		return 0
	case "touch":
		if err := os.WriteFile(args[1], []byte("x"), 0o644); err != nil {
			fmt.Fprint(os.Stderr, err)
			return 7
		}
		return 0
	case "read":
		b, err := os.ReadFile(args[1])
		if err != nil {
			fmt.Fprint(os.Stderr, err)
			return 6
		}
		fmt.Printf("%d bytes", len(b))
		return 0
	case "spawn":
		// A grandchild that outlives us unless the group is killed.
		p, err := os.StartProcess(os.Args[0], []string{os.Args[0], "sleep"}, &os.ProcAttr{Env: os.Environ(), Files: []*os.File{nil, nil, nil}})
		if err != nil {
			fmt.Fprint(os.Stderr, err)
			return 7
		}
		os.WriteFile("child.pid", []byte(strconv.Itoa(p.Pid)), 0o644)
		time.Sleep(time.Hour)
		return 0
	case "sleep":
		time.Sleep(time.Hour)
		return 0
	case "nice":
		n, _ := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
		fmt.Print(20 - n) // the raw syscall answers 20 - nice
		return 0
	}
	return 2
}

// ownNiceness is the niceness this test process runs at.
func ownNiceness(t *testing.T) int {
	t.Helper()
	n, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	return 20 - n // the raw syscall answers 20 - nice
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// setup returns a runner (with or without bubblewrap) and a work folder
// holding a copy of the test binary as ./helper.
func setup(t *testing.T, noBwrap bool, lim Limits) (*Runner, string) {
	t.Helper()
	// Nice 19 starves the helpers behind the rest of a busy test run;
	// TestRunOutputAndExit checks the default.
	if lim.Nice == 0 {
		lim.Nice = 5
	}
	r := New(Options{Limits: lim, NoBwrap: noBwrap, TempDir: t.TempDir()})
	dir, err := r.Workdir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "helper"), self, 0o755); err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func run(t *testing.T, r *Runner, dir string, args ...string) (Result, error) {
	t.Helper()
	prog := filepath.Join(dir, "helper")
	if r.bwrap != "" {
		prog = sandboxDir + "/helper"
	}
	return r.Run(context.Background(), Job{Program: prog, Args: args, Dir: dir, Env: []string{"RUNNER_HELPER=1"}})
}

// modes runs f with bubblewrap (when installed; CI installs it) and
// without.
func modes(t *testing.T, f func(t *testing.T, noBwrap bool)) {
	t.Run("bwrap", func(t *testing.T) {
		if os.Getenv("CI") != "true" {
			if New(Options{}).bwrap == "" {
				t.Skip("bubblewrap is not installed (make deps installs it)")
			}
		}
		f(t, false)
	})
	t.Run("plain", func(t *testing.T) { f(t, true) })
}

func TestRunOutputAndExit(t *testing.T) {
	modes(t, func(t *testing.T, noBwrap bool) {
		r, dir := setup(t, noBwrap, Limits{})
		if noBwrap == false && !r.Isolation().Files {
			t.Fatalf("bubblewrap run without file isolation: %+v", r.Isolation())
		}
		res, err := run(t, r, dir, "echo", "hello", "world")
		if err != nil || string(res.Stdout) != "hello world" || res.ExitCode != 0 {
			t.Fatalf("echo: %v %q %d", err, res.Stdout, res.ExitCode)
		}
		res, err = run(t, r, dir, "exit", "3")
		if !errors.Is(err, ErrExit) || res.ExitCode != 3 || string(res.Stderr) != "bad thing happened" {
			t.Fatalf("exit 3: %v %d %q", err, res.ExitCode, res.Stderr)
		}
		if !strings.Contains(err.Error(), "exit status 3") {
			t.Fatalf("error %q does not say the status", err)
		}
		// nice -n adds to the niceness the server (here the test) runs
		// at, up to 19: "nice make test" runs the test at 10.
		own := ownNiceness(t)
		res, err = run(t, r, dir, "nice")
		if want := strconv.Itoa(min(own+5, 19)); err != nil || string(res.Stdout) != want {
			t.Fatalf("niceness: %v %q, want %s (5 above the test's %d)", err, res.Stdout, want, own)
		}
		def := New(Options{NoBwrap: noBwrap})
		prog := filepath.Join(dir, "helper")
		if def.bwrap != "" {
			prog = sandboxDir + "/helper"
		}
		res, err = def.Run(context.Background(), Job{Program: prog, Args: []string{"nice"}, Dir: dir, Env: []string{"RUNNER_HELPER=1"}})
		if err != nil || string(res.Stdout) != "19" {
			t.Fatalf("default niceness: %v %q, want 19 (the test runs at %d)", err, res.Stdout, own)
		}
		_, err = r.Run(context.Background(), Job{Program: "no-such-program-here", Dir: dir})
		if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), "not installed") {
			t.Fatalf("missing program: %v", err)
		}
	})
}

func TestTimeoutKillsTheGroup(t *testing.T) {
	modes(t, func(t *testing.T, noBwrap bool) {
		r, dir := setup(t, noBwrap, Limits{Timeout: 2 * time.Second})
		res, err := run(t, r, dir, "spawn")
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("spawn: want a timeout, got %v", err)
		}
		if len(res.Refused) == 0 || !strings.Contains(res.Refused[len(res.Refused)-1], "time limit of 2s") {
			t.Fatalf("refusals %q do not name the time limit", res.Refused)
		}
		pidText, err := os.ReadFile(filepath.Join(dir, "child.pid"))
		if err != nil {
			t.Fatalf("the helper did not start its grandchild: %v", err)
		}
		if noBwrap {
			// Outside a PID namespace the pid is ours to check.
			pid, _ := strconv.Atoi(string(pidText))
			deadline := time.Now().Add(10 * time.Second)
			for syscall.Kill(pid, 0) == nil {
				if time.Now().After(deadline) {
					t.Fatalf("grandchild %d still alive after the group was killed", pid)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	})
}

func TestCancelKills(t *testing.T) {
	r, dir := setup(t, true, Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err := r.Run(ctx, Job{Program: filepath.Join(dir, "helper"), Args: []string{"sleep"}, Dir: dir, Env: []string{"RUNNER_HELPER=1"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
}

func TestOutputCap(t *testing.T) {
	modes(t, func(t *testing.T, noBwrap bool) {
		r, dir := setup(t, noBwrap, Limits{Output: 1000})
		res, err := run(t, r, dir, "spew", "5000")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Stdout) != 1000 || len(res.Refused) != 1 || !strings.Contains(res.Refused[0], "standard output cut at 1000 bytes (4000 more dropped)") {
			t.Fatalf("kept %d bytes, refusals %q", len(res.Stdout), res.Refused)
		}
	})
}

func TestMemoryLimit(t *testing.T) {
	// sort holds a line without newlines whole: a C program that asks
	// for memory as it goes (Go's runtime reserves too much at start).
	sortBytes := func(r *Runner, dir string, n int) (Result, error) {
		return r.Run(context.Background(), Job{Program: "sh", Args: []string{"-c", fmt.Sprintf("head -c %d /dev/zero | sort | wc -c; exit $(( $? ))", n)}, Dir: dir})
	}
	modes(t, func(t *testing.T, noBwrap bool) {
		r, dir := setup(t, noBwrap, Limits{Memory: 200 << 20})
		if res, err := sortBytes(r, dir, 20<<20); err != nil || strings.TrimSpace(string(res.Stdout)) != strconv.Itoa(20<<20+1) {
			t.Fatalf("20 MiB under a 200 MiB limit: %v %q %s", err, res.Stdout, res.Stderr)
		}
		res, _ := sortBytes(r, dir, 300<<20)
		if !strings.Contains(string(res.Stderr), "memory exhausted") {
			t.Fatalf("300 MiB under a 200 MiB limit: sort did not run out of memory: %q %q", res.Stdout, res.Stderr)
		}
		if strings.TrimSpace(string(res.Stdout)) == strconv.Itoa(300<<20+1) {
			t.Fatalf("sort held 300 MiB under a 200 MiB limit")
		}
		res, err := r.Run(context.Background(), Job{Program: "sh", Args: []string{"-c", "head -c 314572800 /dev/zero | sort >/dev/null"}, Dir: dir})
		if !errors.Is(err, ErrExit) || len(res.Refused) != 1 || !strings.Contains(res.Refused[0], "memory over its limit of 200 MiB refused") {
			t.Fatalf("refusals %q (%v) do not name the memory limit", res.Refused, err)
		}
	})
}

func TestFileSizeLimit(t *testing.T) {
	modes(t, func(t *testing.T, noBwrap bool) {
		r, dir := setup(t, noBwrap, Limits{FileSize: 1 << 20})
		res, err := run(t, r, dir, "write", strconv.Itoa(4<<20))
		if err == nil {
			t.Fatalf("a 4 MiB file under a 1 MiB limit was written")
		}
		if fi, serr := os.Stat(filepath.Join(dir, "big.out")); serr == nil && fi.Size() > 1<<20 {
			t.Fatalf("the file grew to %d bytes", fi.Size())
		}
		if len(res.Refused) == 0 || !strings.Contains(strings.Join(res.Refused, ";"), "file over 1048576 bytes") {
			// Go ignores SIGXFSZ and sees EFBIG instead; either is a refusal.
			if !strings.Contains(string(res.Stderr), "file too large") {
				t.Fatalf("refusals %q, stderr %q", res.Refused, res.Stderr)
			}
		}
	})
}

func TestNoNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	modes(t, func(t *testing.T, noBwrap bool) {
		r, dir := setup(t, noBwrap, Limits{})
		if !r.Isolation().Network {
			t.Skipf("this platform gives no network isolation: %s", r.Isolation().Missing)
		}
		res, err := run(t, r, dir, "dial", ln.Addr().String())
		if err == nil {
			t.Fatalf("the program reached %s: %s", ln.Addr(), res.Stdout)
		}
	})
}

// TestNetworkAndWritable: a job that asks for the network (a mirror's git
// fetch) reaches it, and writes the folders it names, and no others.
func TestNetworkAndWritable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	modes(t, func(t *testing.T, noBwrap bool) {
		r, dir := setup(t, noBwrap, Limits{})
		repo, other := t.TempDir(), t.TempDir()
		prog := filepath.Join(dir, "helper")
		if r.bwrap != "" {
			prog = sandboxDir + "/helper"
		}
		job := func(args ...string) (Result, error) {
			return r.Run(context.Background(), Job{Program: prog, Args: args, Dir: dir, Env: []string{"RUNNER_HELPER=1"}, Network: true, Writable: []string{repo}})
		}
		if res, err := job("dial", ln.Addr().String()); err != nil {
			t.Fatalf("with Network the program cannot dial: %v %s", err, res.Stderr)
		}
		if res, err := job("touch", filepath.Join(repo, "FETCH_HEAD")); err != nil {
			t.Fatalf("writing a Writable folder: %v %s", err, res.Stderr)
		}
		if _, err := os.Stat(filepath.Join(repo, "FETCH_HEAD")); err != nil {
			t.Fatal("the file written in the Writable folder is not there")
		}
		_, err := job("touch", filepath.Join(other, "x"))
		if !noBwrap && err == nil {
			t.Fatal("the sandboxed program wrote a folder it was not given")
		}
	})
}

func TestFilesOutsideAreHidden(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(secret, []byte("private"), 0o600)
	modes(t, func(t *testing.T, noBwrap bool) {
		r, dir := setup(t, noBwrap, Limits{})
		os.WriteFile(filepath.Join(dir, "mine.txt"), []byte("12345"), 0o644)
		res, err := run(t, r, dir, "read", "mine.txt")
		if err != nil || string(res.Stdout) != "5 bytes" {
			t.Fatalf("reading its own file: %v %q", err, res.Stdout)
		}
		res, err = run(t, r, dir, "read", secret)
		if noBwrap {
			if err != nil {
				t.Fatalf("without bubblewrap the file is readable (documented): %v", err)
			}
			if r.Isolation().Files || r.Isolation().Missing == "" {
				t.Fatalf("isolation without bubblewrap claims files: %+v", r.Isolation())
			}
			return
		}
		if err == nil {
			t.Fatalf("the sandboxed program read %s: %s", secret, res.Stdout)
		}
		for _, p := range []string{"/etc/passwd", "/root", "/work/main"} {
			if _, err := run(t, r, dir, "read", p); err == nil {
				t.Fatalf("the sandboxed program read %s", p)
			}
		}
	})
}
