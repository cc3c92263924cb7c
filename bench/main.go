// Command bench runs Blueprints' benchmarks beside their peers, in the same
// run, and prints each figure with the peer's and the ratio: git push and
// clone against git http-backend, STL parsing against admesh, previews
// against F3D, 3MF and OBJ reading against PrusaSlicer, the outside-program
// sandbox against bare OpenSCAD, LFS transfers against direct S3, page and search latency,
// what private projects and signed-in sessions cost beside their absence, and three nodes
// behind HAProxy on PostgreSQL against one SQLite node.
//
//	go run ./bench            # every section
//	go run ./bench -only git  # one section
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// section is one area's benchmarks; each lives in its own file.
type section struct {
	name string
	run  func(b *Bench) error
}

var sections = []section{
	{"git", benchGit},
	{"render", benchRender},
	{"formats", benchFormats},
	{"catalog", benchCatalog},
	{"lfs", benchLFS},
	{"pages", benchPages},
	{"network", benchNetwork},
	{"print", benchPrint},
	{"access", benchAccess},
	{"cluster", benchCluster},
	{"bigfiles", benchBigFiles},
	{"scale", benchScale}, // long: a million parts; not in the default run
	// The whole-machine case of catalog alone; not in the default run.
	{"machine", func(b *Bench) error {
		Table([]string{"a whole machine", "Blueprints", "peer", "ratio", "target"}, benchMachine(b))
		fmt.Printf("\nLoad average after: %s.\n", loadAverage())
		return nil
	}},
}

// options are the flags sections read.
type options struct {
	scaleParts int           // parts in the scale section's index
	scaleFor   time.Duration // how long each server is loaded
	scalePeer  bool          // measure the plain Bleve peer too (false: ours only, for a quick loop)
	// machinePeerFiles is how many of the machine's files F3D renders
	// (0: all); the peer's time is scaled to the whole machine.
	machinePeerFiles int
	// machinePerf, when set, is where perf records the server while it
	// takes the machine in (perf report -i FILE).
	machinePerf string

	accessParts   int // parts in the access section's indexes
	accessQueries int // distinct queries each viewer asks
}

func main() {
	only := flag.String("only", "", "comma-separated sections to run ("+names()+"); without it, all but scale")
	var opt options
	flag.IntVar(&opt.scaleParts, "scale-parts", 1_000_000, "scale: parts in the index")
	flag.DurationVar(&opt.scaleFor, "scale-for", 20*time.Second, "scale: how long each server answers the query mix")
	flag.BoolVar(&opt.scalePeer, "scale-peer", true, "scale: build and measure the plain Bleve peer (false: ours only, no ratios; for a quick loop)")
	flag.IntVar(&opt.machinePeerFiles, "machine-peer-files", 0, "catalog: how many of the machine's files F3D renders (0: all 500); its time is scaled to the whole machine")
	flag.StringVar(&opt.machinePerf, "machine-perf", "", "catalog: record the server with perf into this file from the machine's push until it is searchable")
	flag.IntVar(&opt.accessParts, "access-parts", 100_000, "access: parts in the index (1,000 projects of them private)")
	flag.IntVar(&opt.accessQueries, "access-queries", 8_000, "access: distinct queries each viewer asks")
	servePlainIndex := flag.String("serve-plain", "", "internal: serve the plain Bleve index at this path (the scale section's peer)")
	flag.Parse()
	if *servePlainIndex != "" {
		if err := servePlain(*servePlainIndex); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s != "" {
			want[s] = true
		}
	}
	failed := false
	for _, s := range sections {
		if len(want) > 0 && !want[s.name] || len(want) == 0 && (s.name == "scale" || s.name == "machine") {
			continue
		}
		b := newBench(s.name)
		b.opt = opt
		fmt.Printf("\n## %s\n\n", s.name)
		start := time.Now()
		err := b.runSection(s.run)
		b.cleanup()
		if err != nil {
			fmt.Printf("\n%s: FAILED: %v\n", s.name, err)
			failed = true
			continue
		}
		fmt.Printf("\n(%s took %s)\n", s.name, time.Since(start).Round(time.Second))
	}
	if failed {
		os.Exit(1)
	}
}

func names() string {
	var n []string
	for _, s := range sections {
		n = append(n, s.name)
	}
	return strings.Join(n, ",")
}
