package threemf

import (
	"io"
)

// readAhead inflates an entry on its own goroutine, a few chunks ahead of
// the parser: inflating is a third of the work of reading a mesh, and the
// second core is otherwise idle while the model is parsed.
type readAhead struct {
	ch   chan aheadChunk
	free chan []byte
	done chan struct{}
	cur  []byte // unread part of the current chunk
	buf  []byte // the current chunk's buffer, returned to free when read
	err  error
}

type aheadChunk struct {
	buf []byte
	n   int
	err error
}

const (
	aheadChunkSize = 256 << 10
	aheadChunks    = 3
)

func newReadAhead(r io.Reader) *readAhead {
	a := &readAhead{ch: make(chan aheadChunk, aheadChunks), free: make(chan []byte, aheadChunks+1), done: make(chan struct{})}
	for range aheadChunks + 1 {
		a.free <- make([]byte, aheadChunkSize)
	}
	go func() {
		defer close(a.ch)
		for {
			var buf []byte
			select {
			case buf = <-a.free:
			case <-a.done:
				return
			}
			n, err := io.ReadFull(r, buf)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			select {
			case a.ch <- aheadChunk{buf, n, err}:
			case <-a.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return a
}

func (a *readAhead) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.err != nil {
			return 0, a.err
		}
		if a.buf != nil {
			a.free <- a.buf
			a.buf = nil
		}
		c, ok := <-a.ch
		if !ok {
			a.err = io.ErrUnexpectedEOF
			return 0, a.err
		}
		a.buf, a.cur, a.err = c.buf, c.buf[:c.n], c.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// close stops the goroutine; the reader it reads from may then be closed.
func (a *readAhead) close() {
	select {
	case <-a.done:
	default:
		close(a.done)
	}
	for range a.ch {
	}
}
