package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Bytes declares a flag holding a size in bytes, written as a number with
// an optional unit: B, KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB
// (powers of 1024), any case, "100MiB" or "1.5 GB".
func (f *Flags) Bytes(name string, value int64, usage string) *int64 {
	b := byteSize(value)
	f.Var(&b, name, usage)
	return (*int64)(&b)
}

type byteSize int64

func (b *byteSize) String() string { return FormatBytes(int64(*b)) }

func (b *byteSize) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// Get returns the size as an int64.
func (b *byteSize) Get() any { return int64(*b) }

var byteUnits = []struct {
	suffix string
	scale  float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseBytes reads a size such as "512", "64KiB", "100 MB" or "1.5GiB".
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	scale := 1.0
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, scale = strings.TrimSpace(rest), u.scale
			break
		}
	}
	if t == "" || strings.ContainsAny(t, "+-eEnNiI_xX") {
		return 0, fmt.Errorf("size %q: want a number of bytes, e.g. 512, 64KiB, 100MiB or 2GiB", s)
	}
	if !strings.Contains(t, ".") {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("size %q: want a number of bytes, e.g. 512, 64KiB, 100MiB or 2GiB", s)
		}
		if float64(n)*scale >= math.MaxInt64 {
			return 0, fmt.Errorf("size %q: too large", s)
		}
		return n * int64(scale), nil
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes, e.g. 512, 64KiB, 100MiB or 2GiB", s)
	}
	v *= scale
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return int64(v), nil
}

// FormatBytes writes a size as ParseBytes reads it, in the largest binary
// unit that divides it ("100MiB", "1536", "0").
func FormatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		scale  int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.scale == 0 {
			return strconv.FormatInt(n/u.scale, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
