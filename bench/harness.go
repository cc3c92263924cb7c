package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/blueprints-hq/blueprints/internal/benchkit"
)

// Bench is the state of one section. It satisfies testenv.T, so the test
// harness (servers, users, git, S3) serves benchmarks too.
type Bench struct {
	name     string
	dir      string
	cleanups []func()
	rows     [][]string
	opt      options
}

type fatal struct{ msg string }

func newBench(name string) *Bench {
	dir, err := os.MkdirTemp("", "blueprints-bench-"+name+"-")
	if err != nil {
		panic(err)
	}
	b := &Bench{name: name, dir: dir}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return b
}

func (b *Bench) runSection(run func(*Bench) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = errors.New(f.msg)
		}
	}()
	return run(b)
}

func (b *Bench) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

// Helper does nothing; it is part of testenv.T.
func (b *Bench) Helper() {}

// Fatalf stops the section with an error.
func (b *Bench) Fatalf(format string, args ...any) { panic(fatal{fmt.Sprintf(format, args...)}) }

// Logf prints a progress line on stderr.
func (b *Bench) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  "+format+"\n", args...)
}

// Cleanup registers f to run when the section ends.
func (b *Bench) Cleanup(f func()) { b.cleanups = append(b.cleanups, f) }

var tempN int

// TempDir returns a new folder removed when the section ends.
func (b *Bench) TempDir() string {
	tempN++
	d := fmt.Sprintf("%s/t%03d", b.dir, tempN)
	if err := os.MkdirAll(d, 0o755); err != nil {
		b.Fatalf("tempdir: %v", err)
	}
	return d
}

// Table prints a Markdown table: a header row, then rows.
func Table(header []string, rows [][]string) { benchkit.Table(header, rows) }

// Ratio formats ours/peer as "0.93×" (lower is better for times).
func Ratio(ours, peer float64) string {
	if peer == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", ours/peer)
}

// Machine describes where the figures were taken.
func Machine() string {
	return fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}
