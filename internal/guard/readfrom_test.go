package guard

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// connWriter stands for net/http's response on a TCP connection: its
// ReadFrom is where sendfile happens, which needs a file (anything with a
// file descriptor, as os.File's own WriteTo passes), bare or under one
// io.LimitedReader.
type connWriter struct {
	*httptest.ResponseRecorder
	slices   []int64
	notFiles int
	deadline time.Time
}

func (w *connWriter) ReadFrom(src io.Reader) (int64, error) {
	r := src
	if lr, ok := src.(*io.LimitedReader); ok {
		w.slices = append(w.slices, lr.N)
		r = lr.R
	}
	if _, ok := r.(syscall.Conn); !ok {
		w.notFiles++
	}
	return io.Copy(w.ResponseRecorder, src)
}

func (w *connWriter) SetWriteDeadline(t time.Time) error { w.deadline = t; return nil }

// TestRateWriterReadFrom: a file sent with io.Copy reaches the
// connection's ReadFrom as the file itself, in paced slices, each with a
// write deadline; the client gets every byte.
func TestRateWriterReadFrom(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (readFromSlice*2+1000)/16)
	path := filepath.Join(t.TempDir(), "answer")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, limited := range []bool{true, false} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		conn := &connWriter{ResponseRecorder: httptest.NewRecorder()}
		w := &rateWriter{ResponseWriter: conn, rc: http.NewResponseController(conn), pace: newPace(time.Minute, 1<<10)}
		var src io.Reader = f
		want := data
		if limited {
			src = io.LimitReader(f, int64(len(data)-5)) // a cached answer before its trailer
			want = data[:len(data)-5]
		}
		n, err := io.Copy(w, src)
		f.Close()
		if err != nil || n != int64(len(want)) || !bytes.Equal(conn.Body.Bytes(), want) {
			t.Fatalf("limited %v: copied %d of %d bytes, %v", limited, n, len(want), err)
		}
		if conn.notFiles > 0 || len(conn.slices) < 3 {
			t.Errorf("limited %v: the connection got %d slices, %d of them not of the file", limited, len(conn.slices), conn.notFiles)
		}
		for _, s := range conn.slices {
			if s > readFromSlice {
				t.Errorf("limited %v: a slice of %d bytes, more than %d", limited, s, readFromSlice)
			}
		}
		if conn.deadline.IsZero() || time.Until(conn.deadline) > time.Minute {
			t.Errorf("limited %v: write deadline %v", limited, conn.deadline)
		}
	}
}

// stalledConn is a connection whose ReadFrom times out.
type stalledConn struct{ net.Conn }

func (stalledConn) ReadFrom(io.Reader) (int64, error) { return 0, os.ErrDeadlineExceeded }

// TestGuardedConnReadFrom: a connection of the limiting listener keeps
// the TCP connection's ReadFrom (net/http's path to sendfile), and a
// timeout there marks it as one of Write's does.
func TestGuardedConnReadFrom(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(inner, 4, nil, nil)
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	rf, ok := server.(io.ReaderFrom)
	if !ok {
		t.Fatalf("the listener's connections have no ReadFrom: net/http cannot use sendfile")
	}
	data := bytes.Repeat([]byte("PACK"), 1<<18)
	path := filepath.Join(t.TempDir(), "answer")
	os.WriteFile(path, data, 0o644)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(io.LimitReader(client, int64(len(data)-4))); got <- b }()
	if n, err := rf.ReadFrom(io.LimitReader(f, int64(len(data)-4))); err != nil || n != int64(len(data)-4) {
		t.Fatalf("ReadFrom: %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, data[:len(data)-4]) {
		t.Errorf("the client got %d bytes, not the file's", len(b))
	}

	c := &guardedConn{Conn: stalledConn{server}}
	if _, err := c.ReadFrom(f); !errors.Is(err, os.ErrDeadlineExceeded) || !c.timedOut.Load() {
		t.Errorf("a ReadFrom that timed out: %v, marked %v", err, c.timedOut.Load())
	}
}
