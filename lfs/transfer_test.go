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

func TestParseRange(t *testing.T) {
	cases := []struct {
		h                  string
		start, length      int64
		partial, satisfied bool
	}{
		{"", 0, 100, false, true},
		{"bytes=0-9", 0, 10, true, true},
		{"bytes=90-", 90, 10, true, true},
		{"bytes=90-1000", 90, 10, true, true},
		{"bytes=-10", 90, 10, true, true},
		{"bytes=-1000", 0, 100, true, true},
		{"bytes=100-", 0, 0, false, false},
		{"bytes=0-1,5-6", 0, 100, false, true},
		{"bytes=9-3", 0, 100, false, true},
		{"bytes=x-3", 0, 100, false, true},
		{"items=0-3", 0, 100, false, true},
		{"bytes=-0", 0, 100, false, true},
	}
	for _, c := range cases {
		s, l, p, ok := parseRange(c.h, 100)
		if s != c.start || l != c.length || p != c.partial || ok != c.satisfied {
			t.Errorf("parseRange(%q) = %d, %d, %v, %v; want %d, %d, %v, %v", c.h, s, l, p, ok, c.start, c.length, c.partial, c.satisfied)
		}
	}
}

// FuzzParseRange checks that any Range header yields a range inside the
// blob, or the whole blob, or "not satisfiable".
func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-9", int64(100))
	f.Add("bytes=-5", int64(3))
	f.Add("bytes=9223372036854775807-", int64(10))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 { // math.MinInt64
			return
		}
		start, length, partial, ok := parseRange(h, size)
		switch {
		case !ok:
			if partial {
				t.Fatalf("%q: unsatisfiable but partial", h)
			}
		case partial:
			if start < 0 || length < 1 || start >= size || start+length > size || start+length < start {
				t.Fatalf("%q on %d bytes: start %d length %d", h, size, start, length)
			}
		default:
			if start != 0 || length != size {
				t.Fatalf("%q on %d bytes: whole blob as %d+%d", h, size, start, length)
			}
		}
	})
}
