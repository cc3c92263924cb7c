package testenv

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// HAProxy is a running haproxy (Debian's package) in front of Blueprints
// nodes, started with the configuration in deploy/haproxy.cfg, the one
// operators use, with the addresses in its environment.
type HAProxy struct {
	URL  string // "http://127.0.0.1:PORT"
	Addr string

	run  string // folder of the admin socket
	log  *LockedBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

// StartHAProxy runs haproxy -f cfg in the foreground on a free loopback
// port, balancing over nodes (BLUEPRINTS_NODE1… in cfg), and waits until
// it listens. It is stopped at t's cleanup.
func StartHAProxy(t T, cfg string, nodes []string) *HAProxy {
	t.Helper()
	RequireTool(t, "haproxy")
	run, err := os.MkdirTemp("", "blueprints-haproxy-")
	if err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	h := &HAProxy{run: run, log: &LockedBuffer{}}
	for range 3 {
		h.Addr = freeAddr(t)
		h.URL = "http://" + h.Addr
		env := append(os.Environ(), "BLUEPRINTS_LISTEN="+h.Addr, "HAPROXY_RUN="+run, "HAPROXY_LOG=stdout")
		for i, n := range nodes {
			env = append(env, fmt.Sprintf("BLUEPRINTS_NODE%d=%s", i+1, n))
		}
		cmd := exec.Command("haproxy", "-db", "-f", cfg)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = h.log, h.log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start haproxy: %v", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		h.cmd, h.done = cmd, done
		if h.waitListening() {
			t.Cleanup(h.stop)
			return h
		}
		h.stop()
	}
	t.Fatalf("haproxy did not start:\n%s", h.log.String())
	return nil
}

func (h *HAProxy) waitListening() bool {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-h.done:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", h.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (h *HAProxy) stop() {
	if h.cmd == nil {
		return
	}
	syscall.Kill(-h.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		<-h.done
	}
	h.cmd = nil
}

// Log is what haproxy logged (one line per request, and server state
// changes).
func (h *HAProxy) Log() string { return h.log.String() }

// Servers returns each backend server's state ("UP", "DOWN", "MAINT",
// "NOLB" while draining…), from the admin socket.
func (h *HAProxy) Servers() (map[string]string, error) {
	c, err := net.DialTimeout("unix", filepath.Join(h.run, "admin.sock"), time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(c, "show stat"); err != nil {
		return nil, err
	}
	r := csv.NewReader(bufio.NewReader(c))
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	col := map[string]int{}
	for _, rec := range records {
		if len(rec) == 0 {
			continue
		}
		if strings.HasPrefix(rec[0], "# ") {
			rec[0] = strings.TrimPrefix(rec[0], "# ")
			for i, name := range rec {
				col[name] = i
			}
			continue
		}
		if len(col) == 0 || len(rec) <= col["status"] {
			continue
		}
		if sv := rec[col["svname"]]; sv != "FRONTEND" && sv != "BACKEND" {
			out[sv] = rec[col["status"]]
		}
	}
	return out, nil
}

// WaitServers waits until every named server is in state (say "UP"), as
// haproxy's health checks see it.
func (h *HAProxy) WaitServers(t T, state string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := h.Servers()
		ok := err == nil
		for _, n := range names {
			if got[n] != state {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy servers %v not %s after 60s: %v %v\n%s", names, state, got, err, tail(h.log.String(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Get fetches path through the balancer, for a quick check.
func (h *HAProxy) Get(path string) (*http.Response, error) { return http.Get(h.URL + path) }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
