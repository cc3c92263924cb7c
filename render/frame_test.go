package render

import (
	"bytes"
	"os"
	"testing"
)

// TestFramesReused: a preview drawn on frames another preview used (a
// part that fills the frame, then one that leaves most of it empty, with
// one worker and with two) has the pixels of one drawn on fresh frames.
func TestFramesReused(t *testing.T) {
	small := readCorpusMesh(t, "rwb27__openflexure_microscope/stl/sample_clips.stl")
	big := readCorpusMesh(t, "prusa3d__Original-Prusa-i3/Printed-Parts/STL/x-carriage.stl")
	frames.Clear()
	fresh, err := small.Render(128)
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		r := newRaster(3*128, workers)
		r.fit(big.verts)
		r.draw(big.verts, big.tris, Limits{})
		r.resolve(128, 3)
		r.done()
		again, err := small.Render(128)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Pix, fresh.Pix) {
			t.Errorf("%d workers: a preview on reused frames differs from one on fresh frames", workers)
		}
	}
}

// TestRunsLikeSamples: drawing wide facets by runs found from the edge
// functions gives the pixels of testing every sample, for every corpus
// part at several sizes, one worker and two.
func TestRunsLikeSamples(t *testing.T) {
	for _, path := range corpusFiles(t) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ReadMesh(f, path, Limits{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{37, 160} {
			for workers := 1; workers <= 2; workers++ {
				var pix [2][]byte
				for k, wide := range []int64{1, 1 << 40} {
					r := newRaster(3*size, workers)
					r.wideFrom = wide
					r.fit(m.verts)
					r.draw(m.verts, m.tris, Limits{})
					pix[k] = r.resolve(size, 3).Pix
					r.done()
				}
				if !bytes.Equal(pix[0], pix[1]) {
					t.Errorf("%s at %d, %d workers: runs and per-sample tests draw differently", path, size, workers)
				}
			}
		}
	}
}
