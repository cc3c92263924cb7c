// Package slicer gives print estimates from a real slicer (serve --slicer
// prusa-slicer): each part, laid as its plan lays it, is sliced once per
// file content and profile by PrusaSlicer's command line with the profile
// kept here (profile.ini), and the print time and filament PrusaSlicer
// writes in the G-code's comments are kept in the store.
//
// Parts enter through Estimates, which answers from the store and queues
// what it lacks; a background worker (Run) slices the queue one part at a
// time through the runner for outside programs (internal/runner: its own
// process group, a timeout, a memory limit, nice 19, no network, a work
// folder holding only the part and the profile). Estimates leave as
// print.Estimate values, and Changes counts those that landed so plans
// made before are made again.
package slicer

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blueprints-hq/blueprints/internal/runner"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/print"
)

// Profile is the PrusaSlicer profile estimates are sliced with.
//
//go:embed profile.ini
var Profile []byte

// ProfilePrinter is the bed the profile describes: parts are sliced in
// its middle.
var ProfilePrinter = print.Printer{ID: "profile", Name: "PrusaSlicer profile", X: 250, Y: 210, Z: 220}

// Options are a Slicer's dependencies; all but Logger are required.
type Options struct {
	Program string // "prusa-slicer", on PATH, or a path
	Store   *store.Store
	Runner  *runner.Runner
	// Write writes one piece of a part, laid as ref says, in the middle of
	// the profile's bed, as a 3MF (print.Planner.WritePiece).
	Write func(ctx context.Context, ref print.PartRef, pr print.Printer, w io.Writer) error
	// Timeout bounds one part's slicing (default 10 minutes).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Slicer estimates parts with PrusaSlicer. Create it with New and run its
// worker with Run.
type Slicer struct {
	o       Options
	log     *slog.Logger
	profile string // the estimates' key: program, profile hash, pose version
	queue   chan print.PartRef
	mu      sync.Mutex
	queued  map[string]bool // SHA-256s queued or being sliced
	changes atomic.Int64
}

var _ print.Estimator = (*Slicer)(nil)

// New checks that the program runs and returns a Slicer.
func New(o Options) (*Slicer, error) {
	if o.Program == "" || o.Store == nil || o.Runner == nil || o.Write == nil {
		return nil, errors.New("new slicer: program, store, runner and writer are required")
	}
	if o.Program != "prusa-slicer" && filepath.Base(o.Program) != "prusa-slicer" {
		return nil, fmt.Errorf("slicer %q: only prusa-slicer is supported", o.Program)
	}
	path, err := exec.LookPath(o.Program)
	if err != nil {
		return nil, fmt.Errorf("slicer %s is not installed (Debian: apt-get install prusa-slicer): %w", o.Program, err)
	}
	o.Program = path
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	sum := sha256.Sum256(Profile)
	return &Slicer{
		o:       o,
		log:     log.With("component", "slicer"),
		profile: fmt.Sprintf("prusa-slicer/%s/pose%d", hex.EncodeToString(sum[:8]), print.ShapeVersion),
		queue:   make(chan print.PartRef, 4096),
		queued:  map[string]bool{},
	}, nil
}

// ProfileKey names the profile estimates are kept under.
func (s *Slicer) ProfileKey() string { return s.profile }

// Changes implements print.Estimator.
func (s *Slicer) Changes() int64 { return s.changes.Load() }

// Known implements print.Estimator.
func (s *Slicer) Known(ctx context.Context, sha256 string) (*print.Estimate, error) {
	docs, err := s.o.Store.PrintEstimates(ctx, s.profile, []string{sha256})
	if err != nil {
		return nil, err
	}
	doc, ok := docs[sha256]
	if !ok {
		return nil, nil
	}
	var e print.Estimate
	if err := json.Unmarshal([]byte(doc), &e); err != nil {
		return nil, fmt.Errorf("estimate of %s: %w", sha256, err)
	}
	return &e, nil
}

// Estimates implements print.Estimator.
func (s *Slicer) Estimates(ctx context.Context, parts map[string]print.PartRef) (map[string]*print.Estimate, error) {
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	docs, err := s.o.Store.PrintEstimates(ctx, s.profile, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*print.Estimate, len(parts))
	for k, ref := range parts {
		if doc, ok := docs[k]; ok {
			var e print.Estimate
			if json.Unmarshal([]byte(doc), &e) == nil {
				out[k] = &e
				continue
			}
		}
		out[k] = &print.Estimate{Profile: s.profile, Pending: true}
		s.enqueue(k, ref)
	}
	return out, nil
}

// enqueue queues a part unless it is queued already; a full queue drops
// it (the next plan asks again).
func (s *Slicer) enqueue(sha string, ref print.PartRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued[sha] {
		return
	}
	ref.SHA256 = sha
	select {
	case s.queue <- ref:
		s.queued[sha] = true
	default:
	}
}

// Run slices queued parts one at a time until ctx ends: a background
// worker for internal/server.
func (s *Slicer) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ref := <-s.queue:
			e, err := s.Slice(ctx, ref)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				// Not the part's fault (storage, the work folder): try again
				// when a plan next asks.
				s.log.Warn("slice a part", "project", ref.Project, "path", ref.Path, "err", err)
			} else if err := s.put(ctx, ref.SHA256, e); err != nil {
				s.log.Warn("store an estimate", "path", ref.Path, "err", err)
			} else {
				s.changes.Add(1)
			}
			s.mu.Lock()
			delete(s.queued, ref.SHA256)
			s.mu.Unlock()
		}
	}
}

func (s *Slicer) put(ctx context.Context, sha string, e print.Estimate) error {
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.o.Store.PutPrintEstimate(ctx, sha, s.profile, string(doc))
}

// Slice slices one part now. A part the slicer cannot slice gives an
// Estimate with Error set (kept, so it is not tried again); an error
// return is a failure of the machinery, worth another try.
func (s *Slicer) Slice(ctx context.Context, ref print.PartRef) (print.Estimate, error) {
	dir, err := s.o.Runner.Workdir()
	if err != nil {
		return print.Estimate{}, err
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "part.3mf"))
	if err != nil {
		return print.Estimate{}, err
	}
	err = s.o.Write(ctx, ref, ProfilePrinter, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return print.Estimate{}, fmt.Errorf("write %s for the slicer: %w", ref.Path, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "profile.ini"), Profile, 0o644); err != nil {
		return print.Estimate{}, err
	}
	start := time.Now()
	res, err := s.o.Runner.Run(ctx, runner.Job{
		Program: s.o.Program,
		Args:    Args("profile.ini", "part.3mf", "part.gcode"),
		Dir:     dir,
		Limits:  runner.Limits{Timeout: s.o.Timeout},
	})
	e := print.Estimate{Profile: s.profile}
	if err != nil {
		if ctx.Err() != nil {
			return print.Estimate{}, ctx.Err()
		}
		var re *runner.Error
		if !errors.As(err, &re) || errors.Is(err, runner.ErrStart) {
			return print.Estimate{}, err
		}
		e.Error = fmt.Sprintf("prusa-slicer %s: %s", re.Reason, lastLine(res.Stderr, res.Stdout))
		if len(res.Refused) > 0 {
			e.Error += " (" + strings.Join(res.Refused, "; ") + ")"
		}
		s.log.Info("part could not be sliced", "path", ref.Path, "err", e.Error)
		return e, nil
	}
	g, err := os.Open(filepath.Join(dir, "part.gcode"))
	if err != nil {
		e.Error = "prusa-slicer wrote no G-code: " + lastLine(res.Stderr, res.Stdout)
		return e, nil
	}
	defer g.Close()
	got, err := ParseGCode(g)
	if err != nil {
		e.Error = err.Error()
		return e, nil
	}
	got.Profile = s.profile
	s.log.Info("sliced", "project", ref.Project, "path", ref.Path, "took", time.Since(start).Round(time.Millisecond), "seconds", got.Seconds, "grams", got.Grams)
	return got, nil
}

// Args are PrusaSlicer's arguments to slice in (a 3MF) into out with the
// profile at profile, placements kept.
func Args(profile, in, out string) []string {
	return []string{"--loglevel", "1", "--export-gcode", "--load", profile, "--dont-arrange", "--output", out, in}
}

func lastLine(outs ...[]byte) string {
	for _, b := range outs {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if l := strings.TrimSpace(lines[i]); l != "" && !strings.Contains(l, "=>") {
				if len(l) > 300 {
					l = l[:300]
				}
				return l
			}
		}
	}
	return "no message"
}

var (
	timeComment = regexp.MustCompile(`^; estimated printing time \(normal mode\) = (.+)$`)
	timePart    = regexp.MustCompile(`^(\d+)([dhms])$`)
)

// ParseGCode reads the estimates PrusaSlicer writes in a G-code file's
// closing comments: "; estimated printing time (normal mode) = 1h 2m 3s",
// "; filament used [mm] = …" and "; filament used [g] = …".
func ParseGCode(r io.Reader) (print.Estimate, error) {
	var e print.Estimate
	var haveTime, haveMM bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if len(line) == 0 || line[0] != ';' {
			continue
		}
		if m := timeComment.FindStringSubmatch(line); m != nil {
			secs, err := parseDuration(m[1])
			if err != nil {
				return e, err
			}
			e.Seconds, haveTime = secs, true
			continue
		}
		if v, ok := strings.CutPrefix(line, "; filament used [mm] = "); ok {
			mm, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil && (mm < 0 || math.IsInf(mm, 0) || math.IsNaN(mm)) {
				err = errors.New("out of range")
			}
			if err != nil {
				return e, fmt.Errorf("G-code: filament used [mm] = %q: %w", v, err)
			}
			e.Metres, haveMM = mm/1000, true
			continue
		}
		if v, ok := strings.CutPrefix(line, "; filament used [g] = "); ok {
			g, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil && (g < 0 || math.IsInf(g, 0) || math.IsNaN(g)) {
				err = errors.New("out of range")
			}
			if err != nil {
				return e, fmt.Errorf("G-code: filament used [g] = %q: %w", v, err)
			}
			e.Grams = g
		}
	}
	if err := sc.Err(); err != nil {
		return e, fmt.Errorf("read G-code: %w", err)
	}
	if !haveTime || !haveMM {
		return e, errors.New("G-code has no print time or filament estimate in its comments")
	}
	return e, nil
}

// parseDuration reads PrusaSlicer's "1d 2h 3m 4s" (parts left out when
// zero).
func parseDuration(s string) (float64, error) {
	total := 0.0
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return 0, fmt.Errorf("G-code: print time %q", s)
	}
	for _, f := range fields {
		m := timePart.FindStringSubmatch(f)
		if m == nil {
			return 0, fmt.Errorf("G-code: print time %q", s)
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 1e7 {
			return 0, fmt.Errorf("G-code: print time %q", s)
		}
		total += float64(n) * map[string]float64{"d": 86400, "h": 3600, "m": 60, "s": 1}[m[2]]
	}
	return total, nil
}
