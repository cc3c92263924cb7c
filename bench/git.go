package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/benchkit"
	"github.com/blueprints-hq/blueprints/internal/gitpeer"
	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// benchGit times git push and clone through Blueprints beside the same
// through git's own http-backend (internal/gitpeer, CGI), in the same run,
// for the test corpus and for a large generated project (100 parts, about
// 200 MB), and reports the server's peak RSS while it serves the large
// clone.
func benchGit(b *Bench) error {
	testenv.RequireTool(b, "git")
	srv := testenv.StartServer(b, testenv.Options{})
	token := srv.AddUser(b, "bench")

	peerRoot := b.TempDir()
	peer, err := gitpeer.New(peerRoot, b.TempDir())
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: peer}
	go hs.Serve(l)
	b.Cleanup(func() { hs.Shutdown(context.Background()) })
	peerURL := "http://" + l.Addr().String()

	corpus := b.TempDir()
	testenv.CopyTree(b, filepath.Join(testenv.ModuleRoot(b), "testdata", "corpus"), corpus)
	commitAll(b, corpus, "corpus")
	large := b.TempDir()
	size, err := writeLargeProject(large, 100, 40000)
	if err != nil {
		return err
	}
	commitAll(b, large, "large")

	projects := []struct {
		name, dir string
		runs      int
	}{
		{"corpus (34 STL, " + mib(dirSize(corpus)) + ")", corpus, 3},
		{fmt.Sprintf("large (100 STL, %s)", mib(size)), large, 2},
	}
	var rows [][]string
	n := 0
	last := ""          // the last project pushed: a large one
	var pushed []string // the last project pushed of each kind
	for _, p := range projects {
		var ourPush, peerPush, ourClone, peerClone []time.Duration
		for i := range p.runs {
			n++
			name := fmt.Sprintf("p%d", n)
			last = name
			testenv.Git(b, "", "init", "-q", "--bare", filepath.Join(peerRoot, name+".git"))
			ours := srv.Remote("bench", token, "bench", name)
			theirs := peerURL + "/" + name + ".git"
			// Alternate which goes first so neither always gets the warm cache.
			order := []bool{i%2 == 0, i%2 != 0}
			// Blueprints catalogues each push in the background; let it
			// finish so it does not take the CPU from the next measurement
			// (on either side).
			waitIdle(b, srv.PID())
			for _, first := range order {
				if first {
					ourPush = append(ourPush, timed(b, p.dir, "push", "-q", ours, "main"))
				} else {
					peerPush = append(peerPush, timed(b, p.dir, "push", "-q", theirs, "main"))
				}
			}
			waitIdle(b, srv.PID())
			for _, first := range order {
				dst := filepath.Join(b.TempDir(), "clone")
				if first {
					ourClone = append(ourClone, timed(b, "", "clone", "-q", ours, dst))
				} else {
					peerClone = append(peerClone, timed(b, "", "clone", "-q", theirs, dst))
				}
				os.RemoveAll(dst)
			}
		}
		pushed = append(pushed, last)
		rows = append(rows,
			timeRow(p.name+" push", p.runs, ourPush, peerPush),
			timeRow(p.name+" clone", p.runs, ourClone, peerClone))
	}
	Table([]string{"git over HTTP", "runs", "Blueprints (median)", "http-backend (median)", "ratio"}, rows)

	// Popular designs: the same ref cloned again and again.
	fmt.Println()
	var again [][]string
	for i, p := range projects {
		again = append(again, repeatClones(b, srv, peerURL, p.name, pushed[i])...)
	}
	Table([]string{"clone again (pack cache)", "runs", "Blueprints (median)", "http-backend (median)", "ratio", "target"}, again)

	// Peak RSS of a freshly started server while it serves the large clone.
	srv.Stop(b)
	srv.Start(b)
	dst := filepath.Join(b.TempDir(), "clone")
	timed(b, "", "clone", "-q", srv.Remote("", "", "bench", last), dst)
	hwm, err := benchkit.PeakRSS(srv.PID())
	if err != nil {
		return err
	}
	fmt.Println()
	Table([]string{"server memory", "Blueprints", "target"},
		[][]string{{"peak RSS (VmHWM) of the server process, fresh start + " + mib(size) + " clone", mib(hwm), "< 100 MiB"}})
	fmt.Printf("\n%s; git %s\n", Machine(), strings.TrimPrefix(strings.TrimSpace(testenv.Git(b, "", "version")), "git version "))
	return nil
}

func commitAll(b *Bench, dir, msg string) {
	testenv.Git(b, dir, "init", "-q", "-b", "main")
	testenv.Git(b, dir, "add", "-A")
	testenv.Git(b, dir, "commit", "-q", "-m", msg)
}

func timed(b *Bench, dir string, args ...string) time.Duration {
	start := time.Now()
	testenv.Git(b, dir, args...)
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func timeRow(name string, runs int, ours, peer []time.Duration) []string {
	o, p := median(ours), median(peer)
	return []string{name, strconv.Itoa(runs), o.Round(time.Millisecond).String(), p.Round(time.Millisecond).String(), Ratio(o.Seconds(), p.Seconds())}
}

// writeLargeProject writes n binary STL tori of about triangles facets each,
// every one a different shape so that git stores n distinct blobs.
func writeLargeProject(dir string, n, triangles int) (int64, error) {
	var total int64
	for i := range n {
		path := filepath.Join(dir, "parts", fmt.Sprintf("ring_%03d.stl", i))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return 0, err
		}
		f, err := os.Create(path)
		if err != nil {
			return 0, err
		}
		t := stlgen.Torus{Major: 40 + 0.37*float64(i), Minor: 8 + 0.05*float64(i), Center: [3]float64{0, 0, 20}, Triangles: triangles}
		err = t.Write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, fmt.Errorf("write %s: %w", path, err)
		}
		st, _ := os.Stat(path)
		total += st.Size()
	}
	return total, os.WriteFile(filepath.Join(dir, "README.md"), []byte("# Large\n\nGenerated rings for the git benchmark.\n"), 0o644)
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != ".git" {
			if i, err := d.Info(); err == nil {
				n += i.Size()
			}
		}
		if d != nil && d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		return nil
	})
	return n
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// waitIdle waits (up to two minutes) until the process has used less than
// 5% of a CPU for a second.
func waitIdle(b *Bench, pid int) {
	start := time.Now()
	prev, quiet := cpuTicks(pid), 0
	for quiet < 2 && time.Since(start) < 2*time.Minute {
		time.Sleep(500 * time.Millisecond)
		now := cpuTicks(pid)
		if now-prev <= 2 { // clock ticks are 10 ms
			quiet++
		} else {
			quiet = 0
		}
		prev = now
	}
	if d := time.Since(start); d > 2*time.Second {
		b.Logf("waited %s for the server to finish background work", d.Round(100*time.Millisecond))
	}
}

// cpuTicks is the user+system CPU time of a process, in clock ticks.
func cpuTicks(pid int) int64 { return statTicks(pid, 11, 12) }

// treeTicks is cpuTicks with that of the children the process has waited
// for (git and its hooks, for a server).
func treeTicks(pid int) int64 { return statTicks(pid, 11, 12, 13, 14) }

// statTicks sums fields of /proc/pid/stat, counted after the command name.
func statTicks(pid int, fields ...int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(f) < 15 {
		return 0
	}
	var sum int64
	for _, i := range fields {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		sum += n
	}
	return sum
}

// repeatClones clones project name again and again from both servers, and
// fetches its pack alone (the server's part of a clone: its answer to the
// fetch, to the last byte). The first clone of ours packs and fills the
// pack cache; the later ones are served from it.
func repeatClones(b *Bench, srv *testenv.Server, peerURL, label, name string) [][]string {
	const runs = 5
	ours, theirs := srv.URL+"/bench/"+name+".git", peerURL+"/"+name+".git"
	os.RemoveAll(filepath.Join(srv.Data, "git", "pack-cache"))
	waitIdle(b, srv.PID())
	clone := func(url string) time.Duration {
		dst := filepath.Join(b.TempDir(), "clone")
		defer os.RemoveAll(dst)
		return timed(b, "", "clone", "-q", url, dst)
	}
	ourFirst, peerFirst := clone(ours), clone(theirs)
	var ourClone, peerClone, ourFetch, peerFetch []time.Duration
	for i := range runs {
		for _, first := range []bool{i%2 == 0, i%2 != 0} {
			if first {
				ourClone = append(ourClone, clone(ours))
			} else {
				peerClone = append(peerClone, clone(theirs))
			}
		}
	}
	wants := refTips(b, ours)
	for i := range runs {
		for _, first := range []bool{i%2 == 0, i%2 != 0} {
			if first {
				ourFetch = append(ourFetch, fetchPack(b, ours, wants))
			} else {
				peerFetch = append(peerFetch, fetchPack(b, theirs, wants))
			}
		}
	}
	return [][]string{
		append(timeRow(label+": first clone (packs, fills the cache)", 1, []time.Duration{ourFirst}, []time.Duration{peerFirst}), ""),
		append(timeRow(label+": later clones, git clone wall time", runs, ourClone, peerClone), ""),
		append(timeRow(label+": later clones, the server's answer (fetch to last byte)", runs, ourFetch, peerFetch), "≤ 0.3×"),
	}
}

// refTips lists the ids a clone of url wants: its branches and tags.
func refTips(b *Bench, url string) []string {
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(testenv.Git(b, "", "ls-remote", "--heads", "--tags", url)), "\n") {
		if f := strings.Fields(l); len(f) == 2 && !slices.Contains(ids, f[0]) {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// fetchPack asks url for the pack of wants as git clone does (protocol
// v2, thin pack, offset deltas, no progress), reads the answer to its end
// and returns how long that took.
func fetchPack(b *Bench, url string, wants []string) time.Duration {
	var body bytes.Buffer
	pkt := func(s string) { fmt.Fprintf(&body, "%04x%s", len(s)+4, s) }
	pkt("command=fetch\n")
	pkt("object-format=sha1\n")
	body.WriteString("0001")
	for _, c := range []string{"thin-pack\n", "no-progress\n", "ofs-delta\n"} {
		pkt(c)
	}
	for _, w := range wants {
		pkt("want " + w + "\n")
	}
	pkt("done\n")
	body.WriteString("0000")
	req, err := http.NewRequest("POST", url+"/git-upload-pack", bytes.NewReader(body.Bytes()))
	if err != nil {
		b.Fatalf("fetch %s: %v", url, err)
	}
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	req.Header.Set("Git-Protocol", "version=2")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("fetch %s: %v", url, err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil || resp.StatusCode != 200 || n < 1024 {
		b.Fatalf("fetch %s: status %d, %d bytes, %v", url, resp.StatusCode, n, err)
	}
	return took
}
