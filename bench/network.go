package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

const (
	networkQueries = 300
	networkGoal    = 100 * time.Millisecond // p95 added by two healthy peers
)

// benchNetwork measures federated search over two healthy peers beside a
// local search on the same server, in the same run (alternating), and the
// bytes of a mirror refresh that finds nothing new beside git ls-remote
// and the mirror's first fetch, all through one counting proxy.
func benchNetwork(b *Bench) error {
	testenv.RequireTool(b, "git")
	allow := []string{"--outbound-allow", "127.0.0.0/8"}
	A := testenv.StartServer(b, testenv.Options{Args: allow})
	B := testenv.StartServer(b, testenv.Options{Args: allow})
	for i, s := range []*testenv.Server{A, B} {
		if err := pushRings(b, s, fmt.Sprintf("maker%d", i), 30); err != nil {
			return err
		}
	}
	C := testenv.StartServer(b, testenv.Options{Args: append(allow, "--peers", A.URL+","+B.URL)})
	if err := pushRings(b, C, "local", 30); err != nil {
		return err
	}

	client := &http.Client{Timeout: 30 * time.Second}
	get := func(u string) (time.Duration, error) {
		start := time.Now()
		resp, err := client.Get(u)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != 200 || err != nil {
			return 0, fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
		}
		if strings.Contains(u, "scope=network") {
			var r struct {
				Partial bool `json:"partial"`
			}
			json.Unmarshal(body, &r)
			if r.Partial {
				return 0, fmt.Errorf("GET %s: a healthy peer left out: %s", u, body)
			}
		}
		return took, nil
	}
	// Warm up, then alternate: every query is new (min_volume differs), so
	// no server answers from its result cache.
	for i := range 20 {
		get(fmt.Sprintf("%s/api/v1/search?q=ring&min_volume=%d&scope=network", C.URL, 100000+i))
	}
	var local, network []time.Duration
	for i := range networkQueries {
		l, err := get(fmt.Sprintf("%s/api/v1/search?q=ring&min_volume=%d", C.URL, i+1))
		if err != nil {
			return err
		}
		n, err := get(fmt.Sprintf("%s/api/v1/search?q=ring&min_volume=%d&scope=network", C.URL, i+1))
		if err != nil {
			return err
		}
		local, network = append(local, l), append(network, n)
	}
	lp50, lp95 := percentile(local, 50), percentile(local, 95)
	np50, np95 := percentile(network, 50), percentile(network, 95)
	added := np95 - lp95
	verdict := "ok"
	if added > networkGoal {
		verdict = "over target"
	}
	fmt.Printf("Search API on C, %d new queries each way, alternating, one client, loopback, %s.\n\n", networkQueries, Machine())
	Table([]string{"search", "p50", "p95", "p95 added", "target", ""}, [][]string{
		{"local (C alone)", ms(lp50), ms(lp95), "", "", "peer"},
		{"network (C + A + B, merged)", ms(np50), ms(np95), ms(added), "≤ " + ms(networkGoal), verdict},
	})

	// Mirror refresh bytes, through a proxy that counts every byte.
	proxy, err := newCountingProxy(A.Addr)
	if err != nil {
		return err
	}
	b.Cleanup(proxy.close)
	origin := "http://" + proxy.addr() + "/maker0/rings.git"
	proxy.reset()
	out, err := B.Run(b, "mirror", "add", origin, "maker1/mirror", "--outbound-allow", "127.0.0.0/8")
	if err != nil {
		return fmt.Errorf("mirror add: %v %s", err, out)
	}
	first := proxy.total()
	proxy.reset()
	out, err = B.Run(b, "mirror", "refresh", "maker1/mirror", "--outbound-allow", "127.0.0.0/8")
	if err != nil || !strings.Contains(out, "up to date") {
		return fmt.Errorf("mirror refresh: %v %s", err, out)
	}
	refresh := proxy.total()
	proxy.reset()
	ls := exec.Command("git", "ls-remote", origin)
	ls.Env = testenv.GitEnv(b)
	if o, err := ls.CombinedOutput(); err != nil {
		return fmt.Errorf("git ls-remote: %v %s", err, o)
	}
	lsBytes := proxy.total()
	proxy.reset()
	clone := exec.Command("git", "clone", "-q", "--mirror", origin, filepath.Join(b.TempDir(), "m.git"))
	clone.Env = testenv.GitEnv(b)
	if o, err := clone.CombinedOutput(); err != nil {
		return fmt.Errorf("git clone --mirror: %v %s", err, o)
	}
	cloneBytes := proxy.total()
	fmt.Printf("\nBytes between B and A (both directions) for a mirror of a %d-part project.\n\n", 30)
	Table([]string{"exchange", "bytes", "vs git ls-remote", "vs the first fetch"}, [][]string{
		{"mirror refresh, nothing new", fmt.Sprint(refresh), Ratio(float64(refresh), float64(lsBytes)), Ratio(float64(refresh), float64(first))},
		{"git ls-remote (peer)", fmt.Sprint(lsBytes), "1.00×", Ratio(float64(lsBytes), float64(first))},
		{"mirror's first fetch", fmt.Sprint(first), Ratio(float64(first), float64(lsBytes)), "1.00×"},
		{"git clone --mirror (peer)", fmt.Sprint(cloneBytes), Ratio(float64(cloneBytes), float64(lsBytes)), Ratio(float64(cloneBytes), float64(first))},
	})
	fmt.Println("\nTarget: a refresh that finds nothing new costs one ls-remote-sized exchange.")
	return nil
}

// pushRings pushes a project of n parts to s as owner/rings and waits for
// its catalogue.
func pushRings(b *Bench, s *testenv.Server, owner string, n int) error {
	token := s.AddUser(b, owner)
	work := b.TempDir()
	testenv.Git(b, work, "init", "-q", "-b", "main")
	for i := range n {
		var buf bytes.Buffer
		t := stlgen.Torus{Major: 10 + float64(i), Minor: 2 + float64(i%5), Center: [3]float64{0, 0, 2 + float64(i%5)}, Triangles: 800 + 20*i}
		if err := t.Write(&buf); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, fmt.Sprintf("ring_%02d.stl", i)), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	os.WriteFile(filepath.Join(work, "README.md"), []byte("# Rings\n"), 0o644)
	testenv.Git(b, work, "add", "-A")
	testenv.Git(b, work, "commit", "-q", "-m", "rings")
	testenv.Git(b, work, "push", "-q", s.Remote(owner, token, owner, "rings"), "main")
	return waitCatalog(s.URL+"/"+owner+"/rings", 5*time.Minute)
}

// countingProxy forwards TCP connections to one address, counting bytes.
type countingProxy struct {
	l     net.Listener
	to    string
	bytes atomic.Int64
	wg    sync.WaitGroup
}

func newCountingProxy(to string) (*countingProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{l: l, to: to}
	go p.serve()
	return p, nil
}

func (p *countingProxy) addr() string { return p.l.Addr().String() }
func (p *countingProxy) reset()       { p.bytes.Store(0) }
func (p *countingProxy) total() int64 { return p.bytes.Load() }
func (p *countingProxy) close()       { p.l.Close(); p.wg.Wait() }

func (p *countingProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			up, err := net.Dial("tcp", p.to)
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			pump := func(dst, src net.Conn) {
				// Counted as they pass, not when the connection ends
				// (kept-alive connections end after the command).
				io.Copy(countingWriter{dst, &p.bytes}, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go pump(up, c)
			go pump(c, up)
			<-done
			<-done
		}()
	}
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}
