package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure StartServer.
type Options struct {
	Storage string   // --storage; "" for the default (fs)
	Env     []string // added to the server's environment (e.g. S3.Env())
	Args    []string // more serve flags
	Data    string   // data folder; a new temp folder when ""
	Repos   string   // --repos (shared by a cluster's nodes); "" for DATA/repos
	// NoWait makes Start return as soon as the process runs, without
	// waiting for /healthz to answer 200 (to watch a node catch up).
	NoWait bool
	// Bind, when set, is the host serve listens on ("0.0.0.0" for every
	// interface); URL and Addr still name the port on 127.0.0.1.
	Bind string
}

// Server is a running "blueprints serve" on a loopback port.
type Server struct {
	URL  string // "http://127.0.0.1:PORT", no trailing slash
	Addr string // "127.0.0.1:PORT"
	Data string // the data folder

	bin  string
	opt  Options
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *LockedBuffer
}

// StartServer starts the blueprints binary on a free loopback port and
// waits until /healthz answers. It is stopped at t's cleanup.
func StartServer(t T, opt Options) *Server {
	t.Helper()
	s := &Server{bin: Binary(t), opt: opt, Data: opt.Data, log: &LockedBuffer{}}
	if s.Data == "" {
		s.Data = t.TempDir()
	}
	s.Addr = freeAddr(t)
	s.URL = "http://" + s.Addr
	s.Start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Start starts (or restarts) the server on the same port and data folder
// and waits until it is healthy (unless Options.NoWait).
func (s *Server) Start(t T) {
	t.Helper()
	s.start(t, !s.opt.NoWait)
}

// Launch starts (or restarts) the server like Start, without waiting for
// it to be healthy.
func (s *Server) Launch(t T) {
	t.Helper()
	s.start(t, false)
}

func (s *Server) start(t T, wait bool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Fatalf("start server: already running")
	}
	addr := s.Addr
	if s.opt.Bind != "" {
		_, port, _ := net.SplitHostPort(s.Addr)
		addr = net.JoinHostPort(s.opt.Bind, port)
	}
	args := []string{"serve", "--addr", addr, "--data", s.Data}
	if s.opt.Storage != "" {
		args = append(args, "--storage", s.opt.Storage)
	}
	if s.opt.Repos != "" {
		args = append(args, "--repos", s.opt.Repos)
	}
	args = append(args, s.opt.Args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(os.Environ(), s.opt.Env...)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start blueprints serve: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	if !wait {
		return
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			s.cmd = nil
			t.Fatalf("blueprints serve exited during start-up: %v\n%s", cmd.ProcessState, s.log.String())
		default:
		}
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			s.cmd = nil
			t.Fatalf("blueprints serve not healthy after 60s\n%s", s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server with SIGTERM (graceful shutdown), killing it if it
// has not exited after 20 seconds. Stopping a stopped server does nothing.
func (s *Server) Stop(t T) {
	t.Helper()
	s.stop(t, syscall.SIGTERM, 20*time.Second)
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill(t T) {
	t.Helper()
	s.stop(t, syscall.SIGKILL, 20*time.Second)
}

func (s *Server) stop(t T, sig syscall.Signal, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(wait):
		t.Logf("blueprints serve did not stop within %s after %s; killing it", wait, sig)
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// PID is the server process's id (0 when stopped).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Log returns what the server has written to stdout and stderr so far.
func (s *Server) Log() string { return s.log.String() }

// AddUser runs "blueprints user add NAME" on the server's data folder and
// returns the token it printed.
func (s *Server) AddUser(t T, name string) string {
	t.Helper()
	out, err := s.Run(t, "user", "add", name)
	if err != nil {
		t.Fatalf("blueprints user add %s: %v\n%s", name, err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Run runs the blueprints binary with args and --data set to the server's
// data folder, returning its stdout (stderr is logged) and error.
func (s *Server) Run(t T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(s.bin, append(args, "--data", s.Data)...)
	cmd.Env = append(os.Environ(), s.opt.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if stderr.Len() > 0 {
		t.Logf("blueprints %s: %s", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

// Remote is the git remote URL of owner/project, with user and token in it
// when user is not "".
func (s *Server) Remote(user, token, owner, project string) string {
	u := url.URL{Scheme: "http", Host: s.Addr, Path: "/" + owner + "/" + project + ".git"}
	if user != "" {
		u.User = url.UserPassword(user, token)
	}
	return u.String()
}

// RepoDir is the bare repository of owner/project (in the data folder,
// or in Options.Repos).
func (s *Server) RepoDir(owner, project string) string {
	if s.opt.Repos != "" {
		return filepath.Join(s.opt.Repos, owner, project+".git")
	}
	return filepath.Join(s.Data, "repos", owner, project+".git")
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func freeAddr(t T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// LockedBuffer is a bytes.Buffer safe for a running program to write
// while a test reads it.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// String describes the server for logs.
func (s *Server) String() string { return fmt.Sprintf("blueprints at %s (data %s)", s.URL, s.Data) }
