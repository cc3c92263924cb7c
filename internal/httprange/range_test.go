package httprange

import "testing"

func TestParse(t *testing.T) {
	for _, c := range []struct {
		h    string
		size int64
		want Range
		kind Kind
	}{
		{"bytes=0-9", 100, Range{0, 10}, Partial},
		{"bytes=90-", 100, Range{90, 10}, Partial},
		{"bytes=90-200", 100, Range{90, 10}, Partial},
		{"bytes=-10", 100, Range{90, 10}, Partial},
		{"bytes=-1000", 100, Range{0, 100}, Partial},
		{" bytes = 5-5 ", 100, Range{5, 1}, Partial},
		{"Bytes=0-0", 1, Range{0, 1}, Partial},
		{"bytes=99-99", 100, Range{99, 1}, Partial},
		{"bytes=100-", 100, Range{}, Unsatisfiable},
		{"bytes=5-4", 100, Range{}, Unsatisfiable},
		{"bytes=-0", 100, Range{}, Unsatisfiable},
		{"bytes=0-0", 0, Range{}, Unsatisfiable},
		{"bytes=-5", 0, Range{}, Unsatisfiable},
		{"bytes=99999999999999999999-", 100, Range{}, Unsatisfiable},
		{"bytes=0-99999999999999999999", 100, Range{0, 100}, Partial},
		{"bytes=0-1,5-6", 100, Range{0, 100}, Whole},
		{"bytes=-", 100, Range{0, 100}, Whole},
		{"bytes=", 100, Range{0, 100}, Whole},
		{"bytes=a-b", 100, Range{0, 100}, Whole},
		{"bytes=+1-2", 100, Range{0, 100}, Whole},
		{"bytes=1--2", 100, Range{0, 100}, Whole},
		{"items=0-1", 100, Range{0, 100}, Whole},
		{"", 100, Range{0, 100}, Whole},
	} {
		got, kind := Parse(c.h, c.size)
		if kind != c.kind || (kind != Unsatisfiable && got != c.want) {
			t.Errorf("Parse(%q, %d) = %+v, %v; want %+v, %v", c.h, c.size, got, kind, c.want, c.kind)
		}
	}
}

func TestContentRange(t *testing.T) {
	if got := (Range{90, 10}).ContentRange(100); got != "bytes 90-99/100" {
		t.Errorf("ContentRange = %q", got)
	}
	if got := Unsatisfied(7); got != "bytes */7" {
		t.Errorf("Unsatisfied = %q", got)
	}
}

// FuzzParse checks that a partial range is never empty and always lies
// inside the representation, and that Whole covers all of it.
func FuzzParse(f *testing.F) {
	f.Add("bytes=0-9", int64(100))
	f.Add("bytes=-5", int64(3))
	f.Add("bytes=7-", int64(7))
	f.Add("bytes=9223372036854775807-", int64(10))
	f.Add("bytes=0-9223372036854775807", int64(9223372036854775807))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 { // math.MinInt64
			return
		}
		r, kind := Parse(h, size)
		switch kind {
		case Partial:
			if r.Start < 0 || r.Length < 1 || r.Start >= size || r.Start+r.Length > size || r.Start+r.Length < r.Start {
				t.Fatalf("Parse(%q, %d) = %+v, outside the representation", h, size, r)
			}
		case Whole:
			if r != (Range{0, size}) {
				t.Fatalf("Parse(%q, %d) = whole as %+v", h, size, r)
			}
		case Unsatisfiable:
		default:
			t.Fatalf("Parse(%q, %d): kind %d", h, size, kind)
		}
	})
}
