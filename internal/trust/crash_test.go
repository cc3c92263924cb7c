package trust_test

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/ui/api"
)

var (
	crashRounds = flag.Int("crash.rounds", 0, "kills of the server in TestCrash (default 20, or $BLUEPRINTS_CRASH_ROUNDS)")
	crashSeed   = flag.Uint64("crash.seed", 0, "seed of TestCrash's random choices (default: from the clock, or $BLUEPRINTS_CRASH_SEED)")
)

// crashSettings reads the number of rounds and the seed from the flags,
// then the environment, then the defaults.
func crashSettings(t *testing.T) (rounds int, seed uint64) {
	rounds = *crashRounds
	if rounds == 0 {
		if v := os.Getenv("BLUEPRINTS_CRASH_ROUNDS"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.Fatalf("BLUEPRINTS_CRASH_ROUNDS=%q: want a positive number", v)
			}
			rounds = n
		}
	}
	if rounds == 0 {
		rounds = 20
	}
	seed = *crashSeed
	if seed == 0 {
		if v := os.Getenv("BLUEPRINTS_CRASH_SEED"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("BLUEPRINTS_CRASH_SEED=%q: want a number", v)
			}
			seed = n
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return rounds, seed
}

// The kinds of client operation the crash test runs beside the kills.
const (
	opPush    = "push"    // plain git push
	opLFS     = "lfs"     // git lfs push of fresh objects
	opCatalog = "catalog" // push of STL files (queues catalog jobs)
	opJob     = "job"     // a catalog job seen running just before a kill
	owner     = "alice"   // the one user
)

// lfsObject is an object a client saw uploaded.
type lfsObject struct {
	project string
	size    int64
}

// ledger is what the clients saw the server accept, and what was in flight
// at each kill.
type ledger struct {
	mu       sync.Mutex
	pushed   map[string]string    // project -> last commit whose push exited 0
	objects  map[string]lfsObject // oid -> where it was uploaded
	fresh    []string             // oids not checked since they were uploaded
	inFlight map[string]int
	killedIn map[string]int  // kind -> kills that landed while one was in flight
	kills    int             // kills begun plus kills ended: odd while one is under way
	events   []string        // when each kill began and ended, for failure reports
	ok, bad  map[string]int  // finished operations by kind
	hashed   map[string]bool // blob files found complete
	temps    int             // temporary blob files seen after the last kill
}

func newLedger() *ledger {
	return &ledger{pushed: map[string]string{}, objects: map[string]lfsObject{}, inFlight: map[string]int{},
		killedIn: map[string]int{}, ok: map[string]int{}, bad: map[string]int{}, hashed: map[string]bool{}}
}

// begin records the start of an operation and returns the number of
// kills so far, for end.
func (l *ledger) begin(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight[kind]++
	return l.kills
}

// end records the end of an operation begun when kills were killsBefore,
// and reports whether the server was killed while it ran.
func (l *ledger) end(kind string, err error, killsBefore int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight[kind]--
	if err == nil {
		l.ok[kind]++
	} else {
		l.bad[kind]++
	}
	// kills is odd while a kill is under way (noteKill to killed).
	return l.kills != killsBefore || l.kills%2 == 1 || killsBefore%2 == 1
}

func (l *ledger) busy(kind string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight[kind] > 0
}

func (l *ledger) recordPush(project, commit string) {
	l.mu.Lock()
	l.pushed[project] = commit
	l.mu.Unlock()
}

func (l *ledger) recordObjects(project string, objs map[string]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for oid, size := range objs {
		if _, ok := l.objects[oid]; !ok {
			l.objects[oid] = lfsObject{project: project, size: size}
			l.fresh = append(l.fresh, oid)
		}
	}
}

// killed records that the server is dead: an operation that began
// between noteKill and now may have met the dying process.
func (l *ledger) killed() {
	l.mu.Lock()
	l.kills++
	l.events = append(l.events, "killed "+time.Now().Format("15:04:05.000"))
	l.mu.Unlock()
}

// restarted records that the server answers again.
func (l *ledger) restarted() {
	l.mu.Lock()
	l.events = append(l.events, "restarted "+time.Now().Format("15:04:05.000"))
	l.mu.Unlock()
}

// recent describes the last kills and restarts.
func (l *ledger) recent() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events[max(0, len(l.events)-6):], ", ")
}

// noteKill records a kill about to happen and which kinds of operation
// are in flight.
func (l *ledger) noteKill(jobRunning bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kills++
	l.events = append(l.events, "killing "+time.Now().Format("15:04:05.000"))
	var kinds []string
	for _, k := range []string{opPush, opLFS, opCatalog} {
		if l.inFlight[k] > 0 {
			l.killedIn[k]++
			kinds = append(kinds, k)
		}
	}
	if jobRunning {
		l.killedIn[opJob]++
		kinds = append(kinds, opJob)
	}
	return kinds
}

// crashClient is one maker pushing to one project in a loop.
type crashClient struct {
	kind    string
	project string
	dir     string
	rng     *mrand.Rand
	// change makes the next commit; it returns the LFS objects (oid ->
	// size) the commit adds.
	change func(c *crashClient) map[string]int64
	// pending are LFS objects committed but not yet seen uploaded.
	pending map[string]int64
	n       int
}

// TestCrash kills the real server with SIGKILL at random moments while
// makers push with plain git, upload fresh LFS objects and push STL files
// that queue catalog jobs. After each kill: every push a client saw
// succeed is on its branch and `git fsck --strict` is clean; after each
// restart every LFS object a client saw uploaded downloads with the right
// hash; every 10 rounds, with the clients paused and the jobs drained,
// the catalogue is at every branch's head; at the end the catalog answers
// exactly what it answers after `blueprints reindex`. The seed is printed; replay a
// failure with -crash.seed (or BLUEPRINTS_CRASH_SEED); the interleaving
// of the clients with the kills still varies from run to run.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: kills the real binary many times")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "git-lfs")
	rounds, seed := crashSettings(t)
	t.Logf("crash test: %d rounds, seed %d (replay with -crash.seed=%d or BLUEPRINTS_CRASH_SEED=%d)", rounds, seed, seed, seed)
	rng := mrand.New(mrand.NewPCG(seed, 1))

	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, owner)
	led := newLedger()
	clients, projects := newCrashClients(t, seed, led, func(project string) string { return srv.Remote(owner, token, owner, project) })

	// The clients push until stopped; gate lets the test pause them.
	var gate sync.RWMutex
	stop := runClients(t, clients, led, &gate)
	defer stop()

	start := time.Now()
	for round := 1; round <= rounds; round++ {
		if t.Failed() {
			break
		}
		mode, jobRunning := waitForKillMoment(t, rng, srv, led, round)
		kinds := led.noteKill(jobRunning)
		srv.Kill(t)
		led.killed()
		t.Logf("round %d: killed (%s) with %v in flight", round, mode, kinds)
		waitOrphans(t, srv.Data)
		checkRepos(t, srv, led)
		srv.Start(t)
		led.restarted()
		checkObjects(t, srv, led, rng, false)
		if round%10 == 0 && round < rounds {
			// Now and then, once the clients pause and the jobs drain, the
			// catalogue must have caught up with every branch.
			func() {
				gate.Lock()
				defer gate.Unlock()
				waitDrained(t, srv, projects)
				t.Logf("round %d: clients paused; the catalog caught up with every branch", round)
			}()
		}
	}
	killTime := time.Since(start)
	stop()
	t.Logf("%d kills in %v; client operations ok %v, failed %v; kills during: %v; %d blob files verified, %d temporary files left by cut-off uploads",
		rounds, killTime.Round(time.Millisecond), led.ok, led.bad, led.killedIn, len(led.hashed), led.temps)
	if t.Failed() {
		keepLog(t, srv, seed)
		return
	}
	for _, k := range []string{opPush, opLFS, opCatalog} {
		if led.ok[k] == 0 {
			t.Errorf("no %s operation ever succeeded", k)
		}
	}
	if rounds >= 20 {
		for _, k := range []string{opPush, opLFS, opCatalog, opJob} {
			if led.killedIn[k] == 0 {
				t.Errorf("no kill landed during a %s; the kill moments do not cover it", k)
			}
		}
	}

	// Quiet now: the last pushes must be catalogued, and the catalog must
	// be what reindex builds from the repositories.
	srv.Kill(t)
	checkRepos(t, srv, led)
	srv.Start(t)
	checkObjects(t, srv, led, rng, true)
	waitDrained(t, srv, projects)
	before := catalogView(t, srv)
	srv.Stop(t)
	if out, err := srv.Run(t, "reindex"); err != nil {
		t.Fatalf("blueprints reindex: %v\n%s", err, out)
	}
	srv.Start(t)
	waitDrained(t, srv, projects)
	after := catalogView(t, srv)
	if diff := diffViews(before, after); diff != "" {
		t.Errorf("the catalog after the crashes differs from what reindex builds:\n%s", diff)
	}
	if len(after.parts) == 0 {
		t.Errorf("no parts catalogued at all")
	}
	t.Logf("catalog converged: %d projects, %d parts, %d search hits compared", len(after.projects), len(after.parts), len(after.hits))
	if t.Failed() {
		keepLog(t, srv, seed)
	}
}

// runClients starts the clients pushing in a loop, holding gate for
// reading while they work, and returns the function that stops them and
// waits (calling it again does nothing).
func runClients(t *testing.T, clients []*crashClient, led *ledger, gate *sync.RWMutex) (stop func()) {
	ctx, stopClients := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop(ctx, t, led, gate)
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			stopClients()
			wg.Wait()
		})
	}
}

// newCrashClients makes the three clients (plain git, LFS, STL parts),
// each with its project created by a first push to remote(project), and
// returns them with their projects' full names.
func newCrashClients(t *testing.T, seed uint64, led *ledger, remote func(project string) string) ([]*crashClient, []string) {
	t.Helper()
	work := t.TempDir()
	mustGit(t, work, "lfs", "install", "--skip-repo")
	corpus := corpusParts(t)
	clients := []*crashClient{
		{kind: opPush, project: "plain", change: plainChange},
		{kind: opLFS, project: "bulk", change: lfsChange},
		{kind: opCatalog, project: "parts", change: func(c *crashClient) map[string]int64 { return partsChange(t, c, corpus) }},
	}
	var projects []string
	for i, c := range clients {
		projects = append(projects, owner+"/"+c.project)
		c.rng = mrand.New(mrand.NewPCG(seed, uint64(i+2)))
		c.pending = map[string]int64{}
		c.dir = filepath.Join(work, c.project)
		mustGit(t, work, "init", "-q", "-b", "main", c.dir)
		mustGit(t, c.dir, "config", "lfs.transfer.maxretries", "2")
		mustGit(t, c.dir, "config", "lfs.transfer.maxretrydelay", "1")
		mustGit(t, c.dir, "config", "lfs.dialtimeout", "5")
		mustGit(t, c.dir, "config", "lfs.activitytimeout", "20")
		if c.kind != opPush {
			mustGit(t, c.dir, "lfs", "track", "*.bin", "lfs/*.stl")
		}
		os.WriteFile(filepath.Join(c.dir, "README.md"), []byte("# "+c.project+"\n\nCrash-test project.\n"), 0o644)
		if err := c.commit(t); err != nil {
			t.Fatal(err)
		}
		mustGit(t, c.dir, "remote", "add", "origin", remote(c.project))
		head := mustGit(t, c.dir, "rev-parse", "HEAD")
		mustGit(t, c.dir, "push", "-q", "-u", "origin", "main")
		led.recordPush(c.project, head)
		led.recordObjects(c.project, c.pending)
		clear(c.pending)
	}
	return clients, projects
}

// keepLog writes the server's log next to the test's temporary folders,
// where it outlives the test, and says where.
func keepLog(t *testing.T, srv *testenv.Server, seed uint64) {
	name := filepath.Join(os.TempDir(), fmt.Sprintf("blueprints-crash-%d.log", seed))
	if err := os.WriteFile(name, []byte(srv.Log()), 0o644); err != nil {
		t.Logf("keep server log: %v", err)
		return
	}
	t.Logf("server log: %s", name)
}

// waitForKillMoment waits for the moment of this round's kill: in turn, a
// random time, or a random little while after a plain push, an LFS upload
// or a catalog job has been seen under way (taking the kinds in turn makes
// every kind come up in any run of 20 rounds, whatever the seed). It says
// which, and whether a catalog job was running just before.
func waitForKillMoment(t *testing.T, rng *mrand.Rand, srv *testenv.Server, led *ledger, round int) (string, bool) {
	// Some uptime first, so that operations also get through.
	time.Sleep(time.Duration(300+rng.IntN(2000)) * time.Millisecond)
	mode := round % 4
	delay := time.Duration(rng.IntN(400)) * time.Millisecond
	deadline := time.Now().Add(8 * time.Second)
	var what string
	switch mode {
	case 0:
		delay = time.Duration(50+rng.IntN(1500)) * time.Millisecond
		what = "at random"
	case 1:
		what = "during a push"
		for !led.busy(opPush) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		delay /= 4
	case 2:
		what = "during an LFS upload"
		for !led.busy(opLFS) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	case 3:
		what = "during a catalog job"
		for !jobRunning(srv) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		delay /= 10 // jobs of small parts take tens of milliseconds
	}
	time.Sleep(delay)
	return fmt.Sprintf("%s, +%v", what, delay), jobRunning(srv)
}

// jobRunning reports whether the server says a catalog job is running.
func jobRunning(srv *testenv.Server) bool {
	var list api.ProjectList
	if code, err := getJSON(srv.URL+"/api/v1/projects?per_page=100", &list); err != nil || code != http.StatusOK {
		return false
	}
	for _, p := range list.Projects {
		if p.Catalog.State == "running" {
			return true
		}
	}
	return false
}

// loop makes commits and pushes them until ctx ends. A commit is made
// when the last push went through (otherwise, mostly, the same commits
// are pushed again).
func (c *crashClient) loop(ctx context.Context, t *testing.T, led *ledger, gate *sync.RWMutex) {
	last := true
	for ctx.Err() == nil {
		var ok bool
		if last, ok = c.step(ctx, t, led, gate, last); !ok {
			return
		}
		if !last {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(50+c.rng.IntN(200)) * time.Millisecond):
			}
		}
	}
}

// step makes a commit (when due) and tries to push, holding gate for
// reading, so that the test can pause the clients. It returns whether the
// push went through, and false for ok when the client must stop.
func (c *crashClient) step(ctx context.Context, t *testing.T, led *ledger, gate *sync.RWMutex, last bool) (pushed, ok bool) {
	gate.RLock()
	defer gate.RUnlock()
	if last || c.rng.IntN(4) == 0 {
		for oid, size := range c.change(c) {
			c.pending[oid] = size
		}
		if err := c.commit(t); err != nil {
			t.Errorf("%s: %v", c.project, err)
			return false, false
		}
	}
	return c.push(ctx, t, led), true
}

// commit commits everything in the work tree (from any goroutine: it
// does not end the test).
func (c *crashClient) commit(t *testing.T) error {
	c.n++
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "--allow-empty", "-m", fmt.Sprintf("%s change %d", c.kind, c.n)}} {
		if out, err := git(context.Background(), t, c.dir, args...); err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// push pushes main (for the LFS client: first the objects alone, with
// git lfs push) and records in led what exited 0.
func (c *crashClient) push(ctx context.Context, t *testing.T, led *ledger) bool {
	out, err := git(ctx, t, c.dir, "rev-parse", "HEAD")
	if err != nil {
		if ctx.Err() != nil {
			return false // stopping
		}
		t.Errorf("%s: git rev-parse HEAD: %v\n%s", c.project, err, out)
		return false
	}
	head := strings.TrimSpace(out)
	if c.kind == opLFS && len(c.pending) > 0 {
		k, began := led.begin(opLFS), time.Now()
		out, err := git(ctx, t, c.dir, "lfs", "push", "origin", "main")
		if killed := led.end(opLFS, err, k); err != nil {
			if ctx.Err() == nil && !killed && !serverDown(out) {
				t.Errorf("%s: git lfs push (%s to %s) failed with no crash during it (%s):\n%s", c.project, began.Format("15:04:05.000"), time.Now().Format("15:04:05.000"), led.recent(), out)
			}
			return false
		}
		led.recordObjects(c.project, c.pending)
		clear(c.pending)
	}
	k, began := led.begin(c.kind), time.Now()
	out, err = git(ctx, t, c.dir, "push", "-q", "origin", "main")
	if killed := led.end(c.kind, err, k); err != nil {
		if ctx.Err() == nil && !killed && !serverDown(out) {
			t.Errorf("%s: push (%s to %s) failed with no crash during it (%s):\n%s", c.project, began.Format("15:04:05.000"), time.Now().Format("15:04:05.000"), led.recent(), out)
		}
		return false
	}
	led.recordPush(c.project, head)
	led.recordObjects(c.project, c.pending)
	clear(c.pending)
	return true
}

// serverDown tells whether git's output says the server was not there
// (the operation began while it was down).
func serverDown(out string) bool {
	return strings.Contains(out, "Failed to connect") || strings.Contains(out, "Connection refused") || strings.Contains(out, "connection refused")
}

// plainChange edits a text file and writes a small random binary file.
func plainChange(c *crashClient) map[string]int64 {
	f, _ := os.OpenFile(filepath.Join(c.dir, "notes.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	fmt.Fprintf(f, "note %d\n", c.n)
	f.Close()
	data := make([]byte, 1024+c.rng.IntN(128<<10))
	rand.Read(data)
	os.MkdirAll(filepath.Join(c.dir, "data"), 0o755)
	os.WriteFile(filepath.Join(c.dir, "data", fmt.Sprintf("d%d.dat", c.rng.IntN(40))), data, 0o644)
	return nil
}

// lfsChange writes one fresh random LFS object of up to 3 MB.
func lfsChange(c *crashClient) map[string]int64 {
	data := make([]byte, 16<<10+c.rng.IntN(3<<20))
	rand.Read(data)
	os.WriteFile(filepath.Join(c.dir, fmt.Sprintf("blob%d.bin", c.n)), data, 0o644)
	return map[string]int64{oidOf(data): int64(len(data))}
}

// corpusParts reads the corpus STL files under 1.3 MB (bigger ones make
// every job slow on a shared machine without testing anything more).
func corpusParts(t *testing.T) map[string][]byte {
	t.Helper()
	root := filepath.Join(testenv.ModuleRoot(t), "testdata", "corpus")
	out := map[string][]byte{}
	for _, p := range testenv.Corpus(t) {
		for _, part := range p.Parts {
			data, err := os.ReadFile(filepath.Join(root, p.Dir, part))
			if err != nil {
				t.Fatalf("read corpus part: %v", err)
			}
			if len(data) < 1300<<10 {
				out[p.Dir+"/"+part] = data
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("corpus has only %d small parts", len(out))
	}
	return out
}

// partsChange adds, replaces, renames or deletes corpus STL files, some
// in plain git and some (under lfs/) in Git LFS.
func partsChange(t *testing.T, c *crashClient, corpus map[string][]byte) map[string]int64 {
	names := make([]string, 0, len(corpus))
	for k := range corpus {
		names = append(names, k)
	}
	sort.Strings(names)
	var existing []string
	filepath.WalkDir(c.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".stl") {
			existing = append(existing, p)
		}
		if d != nil && d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		return nil
	})
	sort.Strings(existing)
	objs := map[string]int64{}
	write := func(dst string) {
		src := names[c.rng.IntN(len(names))]
		data := corpus[src]
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Errorf("write %s: %v", dst, err)
		}
		if rel, _ := filepath.Rel(c.dir, dst); strings.HasPrefix(rel, "lfs"+string(filepath.Separator)) {
			objs[oidOf(data)] = int64(len(data))
		}
	}
	newPath := func() string {
		folder := []string{"parts", "lfs", "parts/sub"}[c.rng.IntN(3)]
		return filepath.Join(c.dir, folder, fmt.Sprintf("part_%d_%d.stl", c.n, c.rng.IntN(1000)))
	}
	switch op := c.rng.IntN(10); {
	case len(existing) < 4 || op < 4:
		write(newPath())
	case op < 7:
		write(existing[c.rng.IntN(len(existing))])
	case op < 8:
		from := existing[c.rng.IntN(len(existing))]
		to := filepath.Join(filepath.Dir(from), "moved_"+filepath.Base(from))
		if data, err := os.ReadFile(from); err == nil && !strings.Contains(from, string(filepath.Separator)+"lfs"+string(filepath.Separator)) {
			os.WriteFile(to, data, 0o644)
			os.Remove(from)
		} else {
			write(newPath())
		}
	default:
		os.Remove(existing[c.rng.IntN(len(existing))])
	}
	if c.rng.IntN(5) == 0 {
		lic := []string{"MIT\n", "CERN-OHL-S-2.0\n", "GPL-3.0-or-later\n"}[c.rng.IntN(3)]
		os.WriteFile(filepath.Join(c.dir, "LICENSE"), []byte("SPDX-License-Identifier: "+lic), 0o644)
	}
	return objs
}

// checkRepos checks, with the server down, every bare repository with
// git fsck --strict and that each branch holds the last commit whose push
// a client saw succeed.
func checkRepos(t *testing.T, srv *testenv.Server, led *ledger) {
	t.Helper()
	led.mu.Lock()
	pushed := make(map[string]string, len(led.pushed))
	for k, v := range led.pushed {
		pushed[k] = v
	}
	led.mu.Unlock()
	checkBlobFiles(t, srv, led)
	for project, commit := range pushed {
		bare := srv.RepoDir(owner, project)
		if out, err := git(context.Background(), t, bare, "fsck", "--strict", "--no-progress"); err != nil {
			t.Errorf("%s: git fsck --strict: %v\n%s", project, err, out)
		}
		if out, err := git(context.Background(), t, bare, "merge-base", "--is-ancestor", commit, "refs/heads/main"); err != nil {
			head, _ := git(context.Background(), t, bare, "rev-parse", "refs/heads/main")
			t.Errorf("%s: push of %s was accepted but main is at %s: %v %s", project, commit, strings.TrimSpace(head), err, out)
		}
	}
}

// checkBlobFiles checks, with the server down, that every LFS object file
// in the fs blob store (not yet checked) hashes to its name: an upload cut
// off by the kill must not leave a partial object under a real key. It
// counts the temporary files such uploads leave beside them.
func checkBlobFiles(t *testing.T, srv *testenv.Server, led *ledger) {
	t.Helper()
	temps := 0
	root := filepath.Join(srv.Data, "blobs", "lfs")
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			temps++
			return nil
		}
		if led.hashed[p] {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read blob file: %v", err)
			return nil
		}
		if oidOf(data) != d.Name() {
			t.Errorf("blob file %s holds %d bytes that hash to %s: a partial object is visible", p, len(data), oidOf(data))
			return nil
		}
		led.hashed[p] = true
		return nil
	})
	led.temps = temps
}

// checkObjects downloads, through the restarted server's LFS batch API,
// every LFS object uploaded since the last check and a few older ones
// (all of them when all is set) and checks their bytes hash to their ids.
func checkObjects(t *testing.T, srv *testenv.Server, led *ledger, rng *mrand.Rand, all bool) {
	t.Helper()
	led.mu.Lock()
	check := led.fresh
	led.fresh = nil
	var older []string
	for oid := range led.objects {
		older = append(older, oid)
	}
	objects := make(map[string]lfsObject, len(led.objects))
	for k, v := range led.objects {
		objects[k] = v
	}
	led.mu.Unlock()
	sort.Strings(older)
	if all {
		check = older
	} else {
		for range min(3, len(older)) {
			check = append(check, older[rng.IntN(len(older))])
		}
	}
	byProject := map[string][]batchObject{}
	for _, oid := range check {
		o := objects[oid]
		byProject[o.project] = append(byProject[o.project], batchObject{OID: oid, Size: o.size})
	}
	for project, objs := range byProject {
		answer, _, err := lfsBatch(srv.Remote("", "", owner, project), "download", objs)
		if err != nil {
			t.Errorf("%s: %v", project, err)
			continue
		}
		for _, o := range answer {
			if o.Error != nil {
				t.Errorf("%s: uploaded LFS object %s is not downloadable: %d %s", project, o.OID, o.Error.Code, o.Error.Message)
				continue
			}
			sum, n, status, err := fetchObject(o)
			if err != nil || status != http.StatusOK || sum != o.OID || n != objects[o.OID].size {
				t.Errorf("%s: LFS object %s: status %d, %d bytes (want %d) hashing to %s: %v", project, o.OID, status, n, objects[o.OID].size, sum, err)
			}
		}
	}
}

// waitDrained waits until every project's catalog jobs are done and it is
// catalogued at its branch's head (the server may find a push that was
// never catalogued only some moments after it starts).
func waitDrained(t *testing.T, srv *testenv.Server, projects []string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for _, p := range projects {
		own, name, _ := strings.Cut(p, "/")
		head := mustGit(t, srv.RepoDir(own, name), "rev-parse", "refs/heads/main")
		var idleSince time.Time
		for {
			var d api.ProjectDetail
			code, err := getJSON(srv.URL+"/api/v1/projects/"+p, &d)
			idle := err == nil && code == http.StatusOK && d.Catalog.Pending == 0 && d.Catalog.State != "queued" && d.Catalog.State != "running"
			if idle && d.LatestCommit == head {
				if d.Catalog.State == "failed" {
					t.Errorf("%s: catalog job failed: %s", p, d.Catalog.Error)
				}
				break
			}
			if !idle {
				idleSince = time.Time{}
			} else if idleSince.IsZero() {
				idleSince = time.Now()
			}
			if !idleSince.IsZero() && time.Since(idleSince) > 10*time.Second {
				t.Errorf("%s: catalog idle at %s (state %s: %s) for 10 s, but main is at %s: a push was never catalogued", p, d.LatestCommit, d.Catalog.State, d.Catalog.Error, head)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: catalog jobs did not drain in 2 minutes: %d %v %+v", p, code, err, d.Catalog)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// view is the catalog as the API shows it, normalised for comparison:
// each entry a line of sorted fields, float values rounded.
type view struct {
	projects map[string]string // project -> its metadata
	parts    map[string]string // project path -> the part's metadata
	hits     map[string]string // query -> sorted hit keys
}

func catalogView(t *testing.T, srv *testenv.Server) view {
	t.Helper()
	v := view{projects: map[string]string{}, parts: map[string]string{}, hits: map[string]string{}}
	var list api.ProjectList
	if code, err := getJSON(srv.URL+"/api/v1/projects?per_page=100", &list); err != nil || code != http.StatusOK {
		t.Fatalf("list projects: %d %v", code, err)
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', 9, 64) }
	for _, s := range list.Projects {
		var d api.ProjectDetail
		if code, err := getJSON(srv.URL+"/api/v1/projects/"+s.Project, &d); err != nil || code != http.StatusOK {
			t.Fatalf("project %s: %d %v", s.Project, code, err)
		}
		var failures []string
		for _, f := range d.Catalog.Failures {
			failures = append(failures, f.Path+"="+f.Error)
		}
		sort.Strings(failures)
		v.projects[d.Project] = fmt.Sprintf("branch=%s latest=%s license=%s category=%s tags=%v parts=%d failed=%d failures=%v title=%q",
			d.DefaultBranch, d.LatestCommit, d.License, d.Category, d.Tags, d.PartCount, d.Catalog.Failed, failures, d.Title)
		for _, p := range d.Parts {
			v.parts[d.Project+" "+p.Path] = fmt.Sprintf("blob=%s sha256=%s commit=%s triangles=%d format=%s size=%s,%s,%s volume=%s area=%s watertight=%v shells=%d",
				p.Blob, p.SHA256, p.Commit, p.Triangles, p.Format, num(p.Size[0]), num(p.Size[1]), num(p.Size[2]), num(p.Volume), num(p.Area), p.Watertight, p.Shells)
		}
	}
	queries := []url.Values{
		{"kind": {"part"}},
		{"q": {"part"}},
		{"q": {"idler"}},
		{"q": {"gears"}},
		{"kind": {"project"}},
		{"min_volume": {"1000"}, "max_x": {"120"}},
		{"license": {"MIT"}},
	}
	for _, q := range queries {
		var keys []string
		for page := 1; ; page++ {
			q.Set("per_page", "100")
			q.Set("page", strconv.Itoa(page))
			var a api.SearchResult
			if code, err := getJSON(srv.URL+"/api/v1/search?"+q.Encode(), &a); err != nil || code != http.StatusOK {
				t.Fatalf("search %s: %d %v", q.Encode(), code, err)
			}
			for _, h := range a.Hits {
				k := h.Kind + " " + h.Project + " " + h.Path + " " + h.Commit + " " + h.License
				if h.Part != nil {
					k += fmt.Sprintf(" sha256=%s triangles=%d volume=%s", h.SHA256, h.Triangles, num(h.Volume))
				}
				keys = append(keys, k)
			}
			if len(a.Hits) < 100 {
				break
			}
		}
		sort.Strings(keys)
		q.Del("page")
		v.hits[q.Encode()] = strings.Join(keys, "\n")
	}
	return v
}

// diffViews lists what differs between two views ("" when none).
func diffViews(a, b view) string {
	var out []string
	cmp := func(what string, x, y map[string]string) {
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if x[k] != y[k] {
				out = append(out, fmt.Sprintf("%s %s:\n  after crashes: %s\n  after reindex: %s", what, k, x[k], y[k]))
			}
		}
	}
	cmp("project", a.projects, b.projects)
	cmp("part", a.parts, b.parts)
	cmp("search", a.hits, b.hits)
	if len(out) > 40 {
		out = append(out[:40], fmt.Sprintf("... and %d more", len(out)-40))
	}
	return strings.Join(out, "\n")
}

// waitOrphans waits until no process works in the data folder any more.
// SIGKILL ends the server alone: the git processes it started (a
// receive-pack moving a push out of quarantine, the gc --auto it spawns)
// run on to their end, as they would under a supervisor that restarts
// only the main process. git fsck beside them would race their writes and
// report objects they are still moving as missing.
func waitOrphans(t *testing.T, data string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		busy := workingIn(data)
		if len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes still working in %s a minute after the kill: %v", data, busy)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// workingIn lists the processes whose working folder or command line is
// inside dir.
func workingIn(dir string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var busy []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.HasPrefix(cwd, dir) || strings.Contains(string(cmdline), dir) {
			busy = append(busy, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return busy
}
