package ui

import "testing"

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		h               string
		n               int64
		first, last     int64
		ok, satisfiable bool
	}{
		{"bytes=0-9", 100, 0, 9, true, true},
		{"bytes=90-", 100, 90, 99, true, true},
		{"bytes=90-200", 100, 90, 99, true, true},
		{"bytes=-10", 100, 90, 99, true, true},
		{"bytes=-1000", 100, 0, 99, true, true},
		{"bytes=100-", 100, 0, 0, true, false},
		{"bytes=5-4", 100, 0, 0, true, false},
		{"bytes=-0", 100, 0, 0, true, false},
		{"bytes=0-0", 0, 0, 0, true, false},
		{"bytes=0-1,5-6", 100, 0, 0, false, false},
		{"bytes=-", 100, 0, 0, false, false},
		{"items=0-1", 100, 0, 0, false, false},
		{"bytes=99999999999999999999-", 100, 0, 0, true, false},
	} {
		first, last, ok, sat := parseRange(c.h, c.n)
		if first != c.first || last != c.last || ok != c.ok || sat != c.satisfiable {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v, %v; want %d, %d, %v, %v", c.h, c.n, first, last, ok, sat, c.first, c.last, c.ok, c.satisfiable)
		}
	}
}

// FuzzParseRange checks that a satisfiable range always lies inside the
// file.
func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-9", int64(100))
	f.Add("bytes=-5", int64(3))
	f.Add("bytes=7-", int64(7))
	f.Fuzz(func(t *testing.T, h string, n int64) {
		if n < 0 {
			n = -n
		}
		if n < 0 {
			return
		}
		first, last, ok, sat := parseRange(h, n)
		if !ok || !sat {
			return
		}
		if first < 0 || last < first || last >= n {
			t.Fatalf("parseRange(%q, %d) = %d-%d, outside the file", h, n, first, last)
		}
	})
}
