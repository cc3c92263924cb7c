package guard_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// doesNotHang is how long a test waits for the server to do what it must
// (close a connection, cut a client off). The limits under test are a few
// seconds; this only proves the server does not leave things open forever.
const doesNotHang = 90 * time.Second

func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, local, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reads from c until the server closes it (true) or the
// wait runs out (false), discarding what comes.
func closedByServer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestSlowAndIdleClients runs the real server with short limits and plays
// the clients that held the old one: an idle kept-alive connection, a
// body sent a byte at a time to a JSON endpoint and to a push, a download
// read a trickle at a time, and one address opening connection after
// connection. Each is cut off; everyone else is served.
func TestSlowAndIdleClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: the real binary")
	}
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{Args: []string{
		"--idle-timeout", "2s", "--read-timeout", "3s", "--min-transfer-rate", "64KiB", "--max-conns-per-ip", "20",
	}})
	token := srv.AddUser(t, "alice")

	t.Run("idle connection", func(t *testing.T) {
		c := dialFrom(t, "", srv.Addr)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", srv.Addr)
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", res, err)
		}
		io.Copy(io.Discard, res.Body)
		// Kept alive, then idle: the server must close it.
		if !closedByServer(c, doesNotHang) {
			t.Fatalf("an idle kept-alive connection is still open after %s", doesNotHang)
		}
	})

	// slowBody sends headers, then the body a byte at a time, and reports
	// how many bytes went out before the server answered or hung up.
	slowBody := func(t *testing.T, head, prefix string, size int) (int, string) {
		t.Helper()
		c := dialFrom(t, "", srv.Addr)
		fmt.Fprintf(c, "%sHost: %s\r\nContent-Length: %d\r\n\r\n%s", head, srv.Addr, size, prefix)
		done := make(chan struct{})
		sent := len(prefix)
		go func() {
			defer close(done)
			for sent < size {
				if _, err := c.Write([]byte{'['}); err != nil {
					return
				}
				sent++
				select {
				case <-done:
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(doesNotHang))
		answer, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a body sent a byte at a time is still read after %s (%d bytes sent)", doesNotHang, sent)
		}
		c.Close()
		<-done
		return sent, string(answer)
	}

	t.Run("slow body to a JSON endpoint", func(t *testing.T) {
		sent, answer := slowBody(t, "POST /alice/x.git/info/lfs/objects/batch HTTP/1.1\r\nContent-Type: application/vnd.git-lfs+json\r\nAccept: application/vnd.git-lfs+json\r\n", "", 100_000)
		if sent >= 100_000 {
			t.Fatalf("the whole slow body was read")
		}
		t.Logf("cut after %d bytes: %.200q", sent, answer)
	})

	t.Run("slow push", func(t *testing.T) {
		auth := "Basic " + basicCreds("alice", token)
		// A valid start (a pkt-line of 65,516 bytes to come) keeps git
		// waiting for the rest.
		sent, answer := slowBody(t, "POST /alice/slow.git/git-receive-pack HTTP/1.1\r\nAuthorization: "+auth+"\r\nContent-Type: application/x-git-receive-pack-request\r\n", "fff0", 1_000_000)
		if sent >= 1_000_000 {
			t.Fatalf("the whole slow push was read")
		}
		t.Logf("cut after %d bytes: %.200q", sent, answer)
	})

	t.Run("slow reader", func(t *testing.T) {
		work := t.TempDir()
		testenv.Git(t, work, "init", "-q", "-b", "main")
		big := noise(24<<20, 9)
		os.WriteFile(filepath.Join(work, "scan.bin"), big, 0o644)
		testenv.Git(t, work, "add", ".")
		testenv.Git(t, work, "commit", "-q", "-m", "big")
		testenv.Git(t, work, "push", "-q", srv.Remote("alice", token, "alice", "big"), "main")
		c := dialFrom(t, "", srv.Addr)
		fmt.Fprintf(c, "GET /alice/big/raw/main/scan.bin HTTP/1.1\r\nHost: %s\r\n\r\n", srv.Addr)
		// 10 KiB a second, far below the 64 KiB the server asks for: 24
		// MiB would take 40 minutes.
		got := 0
		buf := make([]byte, 1024)
		deadline := time.Now().Add(doesNotHang)
		for time.Now().Before(deadline) {
			c.SetReadDeadline(deadline)
			n, err := c.Read(buf)
			got += n
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				if got >= len(big) {
					t.Fatalf("the slow reader got the whole file")
				}
				t.Logf("cut off after %d of %d bytes: %v", got, len(big), err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("a reader taking 10 KiB/s is still served after %s (%d bytes)", doesNotHang, got)
	})

	t.Run("connections per address", func(t *testing.T) {
		// Twenty connections from 127.0.0.2 that send nothing.
		var held []net.Conn
		for range 20 {
			held = append(held, dialFrom(t, "127.0.0.2", srv.Addr))
		}
		// Make sure the server accepted them all before the next one.
		probe := func(local string) (int, string) {
			c := dialFrom(t, local, srv.Addr)
			defer c.Close()
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", srv.Addr)
			c.SetReadDeadline(time.Now().Add(doesNotHang))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("from %s: %v", local, err)
			}
			body, _ := io.ReadAll(res.Body)
			return res.StatusCode, res.Header.Get("Retry-After") + " " + string(body)
		}
		code, msg := probe("127.0.0.2")
		if code != http.StatusServiceUnavailable || !strings.Contains(msg, "too many connections") || strings.HasPrefix(msg, " ") {
			t.Fatalf("21st connection from one address: %d %q, want 503 with Retry-After", code, msg)
		}
		if code, _ := probe("127.0.0.1"); code != http.StatusOK {
			t.Fatalf("another address: %d", code)
		}
		// One closed, one more may come.
		held[0].Close()
		var ok bool
		for end := time.Now().Add(doesNotHang); time.Now().Before(end) && !ok; time.Sleep(50 * time.Millisecond) {
			code, _ := probe("127.0.0.2")
			ok = code == http.StatusOK
		}
		if !ok {
			t.Fatalf("a freed slot is never given back")
		}
	})

	t.Run("LFS writes need JSON", func(t *testing.T) {
		// A page elsewhere can post a form with the browser's credentials;
		// it must not create a lock.
		req, _ := http.NewRequest("POST", srv.URL+"/alice/big.git/info/lfs/locks", strings.NewReader(`{"path":"scan.bin"}`))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("alice", token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("lock posted as a form: %d %s, want 415", res.StatusCode, body)
		}
		req, _ = http.NewRequest("GET", srv.URL+"/alice/big.git/info/lfs/locks", nil)
		req.Header.Set("Accept", "application/vnd.git-lfs+json")
		req.SetBasicAuth("alice", token)
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(body), "scan.bin") {
			t.Fatalf("the form made a lock: %s", body)
		}
	})
}

func basicCreds(user, secret string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, secret)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
