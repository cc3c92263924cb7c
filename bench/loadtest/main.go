// Command loadtest puts a real Blueprints server under load on loopback
// for a bounded time and checks it against the targets of issue 7: zero
// 5xx answers, zero failed git operations, p99 page and search latency
// under 200 ms.
//
// It builds and starts `blueprints serve` (internal/testenv), or with
// -cluster three nodes on PostgreSQL and S3 behind HAProxy configured by
// deploy/haproxy.cfg (with -rolling, restarted one after the other during
// the load, as in an upgrade), pushes the
// test corpus and projects holding synthetic STL parts, waits until the
// catalog has indexed them all, then runs browsers (HTTP clients reading
// pages, searches, previews, downloads and the JSON API) beside git
// clients (pushing new commits, sometimes with a new part, and cloning and
// fetching with the real git binary). It prints client-side latencies and
// errors, the server's own figures scraped from /metrics, and a table of
// the targets; it exits 1 when one is missed and 2 when the run could not
// be set up.
//
//	go run ./bench/loadtest -duration 20s -parts 1000 -browsers 16
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config is the run's flags.
type config struct {
	duration time.Duration
	browsers int
	gitters  int
	parts    int
	storage  string
	seed     int64
	think    time.Duration
	setupFor time.Duration
	nice     int
	cluster  bool // three nodes behind HAProxy
	rolling  bool // restart each node in turn during the load
	latency  bool // count the latency targets
	hostile  bool
	slow     int
}

func main() {
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 2*time.Minute, "how long the load runs (after set-up)")
	flag.IntVar(&cfg.browsers, "browsers", 64, "concurrent HTTP clients browsing and searching")
	flag.IntVar(&cfg.gitters, "gitters", 8, "concurrent git clients pushing, cloning and fetching")
	flag.IntVar(&cfg.parts, "parts", 10000, "synthetic STL parts pushed before the load (beside the corpus)")
	flag.StringVar(&cfg.storage, "storage", "fs", "blob storage: fs, or s3 (a versitygw on loopback)")
	flag.Int64Var(&cfg.seed, "seed", 1, "seed of the synthetic parts and of every client's choices")
	flag.DurationVar(&cfg.think, "think", time.Second, "mean pause of a browser between two clicks (uniform from 0 to twice this; 0: none)")
	flag.IntVar(&cfg.nice, "git-nice", 10, "niceness of the load generator's own git processes, which on loopback share the server's CPU (remote clients would not); 0: none")
	flag.BoolVar(&cfg.hostile, "hostile", true, "run a hostile client beside the others: a tree-bomb push every 5 s, a push of parts that cost a previewer facets × pixels, and -slow-clients slowloris connections")
	flag.IntVar(&cfg.slow, "slow-clients", 32, "slow connections the hostile client holds at once (half dribbling headers, half LFS request bodies)")
	flag.DurationVar(&cfg.setupFor, "setup-timeout", 30*time.Minute, "longest wait for the catalog to index everything before the load")
	flag.BoolVar(&cfg.cluster, "cluster", false, "run three nodes on PostgreSQL and S3 behind HAProxy (deploy/haproxy.cfg) instead of one server; every client goes through the balancer")
	flag.BoolVar(&cfg.rolling, "rolling", false, "with -cluster: restart the nodes one after the other during the load (SIGTERM, drain, start), as an upgrade does")
	flag.BoolVar(&cfg.latency, "latency", true, "count the p99 latency targets (false: only errors count, for a run on a machine busy with other work)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "loadtest: unexpected argument %q (flags only; see -h)\n", flag.Arg(0))
		os.Exit(2)
	}
	if cfg.duration <= 0 || cfg.browsers < 0 || cfg.gitters < 0 || cfg.parts < 0 || cfg.think < 0 || cfg.nice < 0 || cfg.nice > 19 || cfg.slow < 0 {
		fmt.Fprintln(os.Stderr, "loadtest: -duration must be positive and -browsers, -gitters, -parts, -think, -slow-clients not negative, -git-nice from 0 to 19")
		os.Exit(2)
	}
	if cfg.rolling && !cfg.cluster {
		fmt.Fprintln(os.Stderr, "loadtest: -rolling restarts the nodes of -cluster; give both")
		os.Exit(2)
	}
	if cfg.cluster {
		cfg.storage = "s3" // a cluster shares S3
	}
	if cfg.storage != "fs" && cfg.storage != "s3" {
		fmt.Fprintf(os.Stderr, "loadtest: -storage %q: want fs or s3\n", cfg.storage)
		os.Exit(2)
	}

	r, err := newRunner()
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadtest: %v\n", err)
		os.Exit(2)
	}
	// Ctrl-C still stops the server and removes the temporary folders.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := r.guard(func() int { return run(ctx, r, cfg) })
	r.cleanup()
	os.Exit(code)
}

// run sets up the site, runs the load and prints the report; it returns
// the exit status.
func run(ctx context.Context, r *runner, cfg config) int {
	start := time.Now()
	s := setUp(ctx, r, cfg)
	if ctx.Err() != nil {
		r.Logf("interrupted")
		return 2
	}
	r.Logf("set-up took %s", time.Since(start).Round(time.Second))

	var h *hostile
	if cfg.hostile {
		r.Logf("hostile client: building a tree bomb and pathological parts")
		h = newHostile(r, s, cfg.slow)
	}
	rec := newRecorder()
	load := runLoad(ctx, r, s, cfg, rec, h)
	if h != nil {
		r.Logf("waiting for the catalog to finish the hostile push")
		h.finish(ctx, s, 3*time.Minute)
	}
	return report(r, s, cfg, rec, load, h)
}

// seeded returns a random source for client i, the same for the same seed.
func seeded(seed int64, stream, i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(stream)<<32|uint64(i)))
}
