package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Sizes of the read pipeline. A chunk is read and hashed by one goroutine
// while the parser works on the previous one; the parser carries at most
// carryMax unconsumed bytes (a partial facet or token) into the next chunk.
const (
	chunkSize = 256 << 10
	carryMax  = 4 << 10
	nChunks   = 4
)

type chunk struct {
	buf   []byte // whole pool buffer; data at buf[carryMax : carryMax+n]
	n     int
	err   error           // io.EOF at the end, or the read error
	panic *goroutinePanic // the reader panicked: raised again by refill
}

// stream delivers the input as a sliding window of contiguous bytes while a
// second goroutine reads ahead and computes the SHA-256 of every byte, so
// hashing costs no time on two cores. It never seeks.
type stream struct {
	name     string
	ch       chan chunk
	pool     chan []byte
	done     chan struct{}
	sum      chan []byte
	cur      []byte // pool buffer behind buf
	buf      []byte // window: unconsumed input is buf[pos:]
	pos      int
	base     int64 // file offset of buf[0]
	total    int64 // bytes delivered so far
	maxBytes int64
	sizeHint int64
	eof      bool
	err      error
}

// newStream starts reading and hashing r; sizeHint is its length if known,
// else -1.
func newStream(r io.Reader, name string, maxBytes, sizeHint int64) *stream {
	return startStream(r, name, maxBytes, sizeHint, true)
}

// startStream is newStream; without hashing, finish returns "".
func startStream(r io.Reader, name string, maxBytes, sizeHint int64, hashing bool) *stream {
	s := &stream{
		sizeHint: sizeHint,
		name:     name,
		ch:       make(chan chunk, nChunks-2),
		pool:     make(chan []byte, nChunks),
		done:     make(chan struct{}),
		sum:      make(chan []byte, 1),
		maxBytes: maxBytes,
	}
	var h hash.Hash
	if hashing {
		h = sha256.New()
	}
	go s.readAhead(io.LimitReader(r, maxBytes+1), h)
	return s
}

func (s *stream) readAhead(r io.Reader, h hash.Hash) {
	defer close(s.ch)
	defer func() {
		if v := recover(); v != nil {
			select {
			case s.ch <- chunk{panic: caught(v)}:
			case <-s.done:
			}
		}
	}()
	made := 0
	for {
		var buf []byte
		select {
		case buf = <-s.pool:
		default:
			if made < nChunks {
				// Small files (most parts) need no big buffers.
				n := chunkSize
				if made == 0 && s.sizeHint >= 0 {
					n = int(min(chunkSize, max(4<<10, s.sizeHint+1)))
				} else if made == 0 {
					n = 16 << 10
				}
				buf = make([]byte, carryMax+n)
				made++
			} else {
				select {
				case buf = <-s.pool:
				case <-s.done:
					return
				}
			}
		}
		n, err := io.ReadFull(r, buf[carryMax:])
		if h != nil {
			h.Write(buf[carryMax : carryMax+n])
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		if err == io.EOF {
			var sum []byte
			if h != nil {
				sum = h.Sum(nil)
			}
			s.sum <- sum
		}
		select {
		case s.ch <- chunk{buf: buf, n: n, err: err}:
		case <-s.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// close stops the read-ahead goroutine; the stream is unusable afterwards.
func (s *stream) close() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// refill keeps the unconsumed bytes buf[pos:] and appends the next chunk,
// resetting pos to 0. It returns false at the end of input or on error
// (s.err), when nothing was added.
func (s *stream) refill() bool {
	if s.eof || s.err != nil {
		return false
	}
	keep := len(s.buf) - s.pos
	if keep > carryMax {
		panic("render: carry exceeds carryMax") // parsers bound their tokens below carryMax
	}
	for {
		c, ok := <-s.ch
		if !ok {
			s.err = fmt.Errorf("read %s: input ended early", s.name)
			return false
		}
		c.panic.raise()
		if c.err != nil && c.err != io.EOF {
			s.err = fmt.Errorf("read %s: %w", s.name, c.err)
			return false
		}
		start := carryMax - keep
		copy(c.buf[start:carryMax], s.buf[s.pos:])
		s.base = s.total - int64(keep) - int64(start)
		if s.cur != nil {
			s.pool <- s.cur
		}
		s.cur = c.buf
		s.buf = c.buf[:carryMax+c.n]
		s.pos = start
		s.total += int64(c.n)
		if s.total > s.maxBytes {
			s.err = tooLarge(s.name, s.maxBytes, "file is larger than the limit of %d bytes", s.maxBytes)
			return false
		}
		if c.err == io.EOF {
			s.eof = true
		}
		if c.n > 0 {
			return true
		}
		if s.eof {
			return false
		}
	}
}

// offset is the file offset of buf[i].
func (s *stream) offset(i int) int64 { return s.base + int64(i) }

// drain consumes the rest of the input (so the hash covers it) and returns
// the number of bytes that followed the current position.
func (s *stream) drain() int64 {
	rest := int64(len(s.buf) - s.pos)
	s.pos = len(s.buf)
	for s.refill() {
		rest += int64(len(s.buf) - s.pos)
		s.pos = len(s.buf)
	}
	return rest
}

// finish returns the hex SHA-256 of the whole input; call it after the end
// of input was reached.
func (s *stream) finish() string {
	sum := <-s.sum
	if sum == nil {
		return ""
	}
	return hex.EncodeToString(sum)
}
