package render

import (
	"bytes"
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
		r.draw(big.verts, big.tris)
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
