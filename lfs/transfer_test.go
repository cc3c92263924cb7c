package lfs

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestVerifyingReader(t *testing.T) {
	data := bytes.Repeat([]byte("facet normal 0 0 1\n"), 5000)
	oid := object(data).OID
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	cases := []struct {
		name string
		r    io.Reader
		size int64
		want error // nil: verified
	}{
		{"exact, known size", bytes.NewReader(data), int64(len(data)), nil},
		{"exact, unknown size", bytes.NewReader(data), -1, nil},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data)), int64(len(data)), nil},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(data)), -1, nil},
		{"flipped bit", bytes.NewReader(bad), int64(len(data)), ErrContentMismatch},
		{"flipped bit, unknown size", bytes.NewReader(bad), -1, ErrContentMismatch},
		{"short", bytes.NewReader(data[:len(data)-1]), int64(len(data)), io.ErrUnexpectedEOF},
		{"short, unknown size", bytes.NewReader(data[:len(data)-1]), -1, ErrContentMismatch},
		{"long", bytes.NewReader(append(bytes.Clone(data), 'x')), int64(len(data)), ErrContentMismatch},
		{"size too small", bytes.NewReader(data), int64(len(data) - 1), ErrContentMismatch},
		{"read error", iotest.TimeoutReader(bytes.NewReader(data)), int64(len(data)), iotest.ErrTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := NewVerifyingReader(c.r, oid, c.size)
			_, err := io.Copy(io.Discard, v)
			if c.want == nil {
				if err != nil || !v.Verified() || v.N() != int64(len(data)) {
					t.Fatalf("err %v, verified %v, n %d", err, v.Verified(), v.N())
				}
				return
			}
			if !errors.Is(err, c.want) || v.Verified() {
				t.Fatalf("err %v, verified %v; want %v", err, v.Verified(), c.want)
			}
		})
	}
}

// A consumer that reads exactly the announced size (as some S3 clients
// do) must still get the mismatch, on its last read.
func TestVerifyingReaderExactConsumer(t *testing.T) {
	data := []byte("solid part\nendsolid part\n")
	oid := object(data).OID
	bad := bytes.Clone(data)
	bad[0] = 'S'
	buf := make([]byte, len(data))
	if _, err := io.ReadFull(NewVerifyingReader(bytes.NewReader(bad), oid, int64(len(bad))), buf); !errors.Is(err, ErrContentMismatch) {
		t.Fatalf("ReadFull of wrong bytes: %v", err)
	}
	v := NewVerifyingReader(bytes.NewReader(data), oid, int64(len(data)))
	if _, err := io.ReadFull(v, buf); err != nil || !v.Verified() {
		t.Fatalf("ReadFull of right bytes: %v, verified %v", err, v.Verified())
	}
}
