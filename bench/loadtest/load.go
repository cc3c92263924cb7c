package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/blueprints-hq/blueprints/internal/benchkit"
)

// loadResult is what the load phase measured besides the recorder.
type loadResult struct {
	took    time.Duration
	metrics *scraper
	vmHWM   int64 // peak resident set of the server process, bytes (0: unknown)
	hwmErr  error

	// What else ran: the machine's load average when the load began and
	// ended, and the CPU time the server and this program (with its git
	// children) used during the load.
	loadBefore, loadAfter string
	serverCPU, clientCPU  time.Duration
	machineBusy           time.Duration // CPU time every process on the machine used

	restarts []string // with -rolling: each node's restart, how long it took
}

// rollingRestart restarts the cluster's nodes one after the other, as an
// upgrade does: SIGTERM (the node drains: /healthz answers 503 until
// HAProxy has taken it out, then requests in flight finish), start again,
// and wait until HAProxy has it back before the next. The first restart
// begins a tenth into the load; it returns what it did.
func rollingRestart(ctx context.Context, r *runner, s *site, start, deadline time.Time) []string {
	var out []string
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(time.Until(start.Add(deadline.Sub(start) / 10))):
	}
	for i, n := range s.cluster.Nodes {
		if ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		began := time.Now()
		n.Stop(r)
		stopped := time.Since(began)
		n.Start(r)
		s.cluster.WaitUp(r)
		line := fmt.Sprintf("node%d: stopped in %s (draining first), back in the balancer %s after the stop signal", i+1, stopped.Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
		r.Logf("rolling restart: %s", line)
		out = append(out, line)
	}
	return out
}

// runLoad runs the browsers and the git clients for cfg.duration while
// scraping /metrics, and returns once every client has finished its last
// operation.
func runLoad(ctx context.Context, r *runner, s *site, cfg config, rec *recorder, h *hostile) loadResult {
	tr := &http.Transport{MaxIdleConns: cfg.browsers + 8, MaxIdleConnsPerHost: cfg.browsers + 8, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}

	sc := newScraper(s.srv.URL)
	sc.markLoad(ctx)
	scrapeCtx, stopScrape := context.WithCancel(ctx)
	defer stopScrape()
	go sc.run(scrapeCtx, 3*time.Second)

	loadBefore, serverBefore, clientBefore, machineBefore := loadAverage(), processCPU(s.srv.PID()), ownCPU(), machineCPU()
	r.Logf("load: %d browsers (think %s) and %d git clients for %s", cfg.browsers, cfg.think, cfg.gitters, cfg.duration)
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var wg sync.WaitGroup
	for i := range cfg.browsers {
		b := &browser{s: s, c: client, rec: rec, rng: seeded(cfg.seed, 1, i), think: cfg.think, cache: map[string]bool{}}
		wg.Add(1)
		go func() { defer wg.Done(); b.run(ctx, deadline) }()
	}
	for _, g := range s.gitters {
		wg.Add(1)
		go func() { defer wg.Done(); g.run(ctx, deadline, s, rec) }()
	}
	var restarts []string
	if cfg.rolling {
		wg.Add(1)
		go func() { defer wg.Done(); restarts = rollingRestart(ctx, r, s, start, deadline) }()
	}
	if h != nil {
		r.Logf("hostile client: tree bombs, pathological parts, %d slow connections", h.slow)
		wg.Add(1)
		go func() { defer wg.Done(); h.run(ctx, deadline, s) }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-progress.C:
			reqs, errs, gits, gitErrs := rec.counts()
			r.Logf("  %s: %d requests (%d failed), %d git operations (%d failed)", time.Since(start).Round(time.Second), reqs, errs, gits, gitErrs)
		}
	}
	res := loadResult{took: time.Since(start), metrics: sc, loadBefore: loadBefore, loadAfter: loadAverage(), restarts: restarts}
	if !cfg.rolling { // a restarted server is another process
		res.serverCPU = processCPU(s.srv.PID()) - serverBefore
	}
	res.clientCPU = ownCPU() - clientBefore
	res.machineBusy = machineCPU() - machineBefore
	stopScrape()
	sc.scrape(context.Background())
	res.vmHWM, res.hwmErr = benchkit.PeakRSS(s.srv.PID())
	r.Logf("load done after %s", res.took.Round(100*time.Millisecond))
	return res
}

// counts returns the HTTP requests and git operations so far and how many
// failed.
func (r *recorder) counts() (reqs, reqErrs, gits, gitErrs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range classes {
		n := len(r.latency[c]) + r.errors[c]
		switch c {
		case classPush, classClone, classFetch:
			gits += n
			gitErrs += r.errors[c]
		default:
			reqs += n
			reqErrs += r.errors[c]
		}
	}
	return
}

// loadAverage is the machine's 1-minute load average, from /proc.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(data))[0]
}

// processCPU is the user and system time a process and the children it
// has waited for (git, for the server) have used, from /proc/PID/stat (in
// clock ticks of 10 ms).
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// ownCPU is the CPU time of this program and of the children it has
// waited for (git).
func ownCPU() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}

// machineCPU is the CPU time all processes have used since boot (every
// core's time neither idle nor waiting for I/O), from /proc/stat.
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}
