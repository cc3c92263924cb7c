package render

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
)

// Panics on render's helper goroutines (the read-ahead, the welders, the
// workers of topology and drawing) come back on the caller's goroutine,
// where the catalog recovers them: a bug that one file triggers fails that
// file instead of killing the server.

func recovered(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func TestParallelRaisesPanicOnCaller(t *testing.T) {
	for h := range 2 {
		v := recovered(func() {
			parallel(2, func(w int) {
				if w == h {
					panic("boom")
				}
			})
		})
		if v == nil || !strings.Contains(v.(string), "boom") {
			t.Errorf("worker %d's panic came back as %v", h, v)
		}
	}
}

// panicReader panics after some bytes, as a buggy blob reader might.
type panicReader struct{ r io.Reader }

func (p *panicReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b[:min(len(b), 1000)])
	if n == 0 {
		panic("reader boom")
	}
	return n, err
}

func TestReaderPanicRaisedOnCaller(t *testing.T) {
	var buf bytes.Buffer
	if err := stlgen.WriteTorus(&buf, 2000, false); err != nil {
		t.Fatal(err)
	}
	v := recovered(func() {
		ReadMesh(&panicReader{bytes.NewReader(buf.Bytes())}, "p.stl", Limits{})
	})
	if s, ok := v.(string); !ok || !strings.Contains(s, "reader boom") {
		t.Fatalf("the reader's panic came back as %v", v)
	}
}

func TestWelderPanicRaisedOnCaller(t *testing.T) {
	w := newWelder()
	defer w.stop()
	b := w.nextBatch()
	b.n, b.cnt = 3, [2]int{3, 3}
	for p := range 2 {
		b.at[p][0], b.at[p][1], b.at[p][2] = 0, 1, 1<<30 // out of the batch
	}
	v := recovered(func() {
		w.send(b)
		w.collect()
	})
	if s, ok := v.(string); !ok || !strings.Contains(s, "index out of range") {
		t.Fatalf("the welder's panic came back as %v", v)
	}
}
