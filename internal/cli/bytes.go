package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// Bytes is a flag value holding a size in bytes, written as a whole number
// with an optional unit: "0", "65536", "512MiB", "2GiB", "1.5GB". Binary
// units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (kB, MB, GB,
// TB) of 1000; "M" and "G" alone mean MiB and GiB.
type Bytes int64

// String formats b with the largest binary unit that divides it.
func (b *Bytes) String() string {
	n := int64(*b)
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// Set parses s (see Bytes).
func (b *Bytes) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = Bytes(n)
	return nil
}

// Get returns the size as an int64.
func (b *Bytes) Get() any { return int64(*b) }

// ParseBytes reads a size such as "512MiB" (see Bytes).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	units := map[string]float64{
		"": 1, "B": 1,
		"K": 1 << 10, "KiB": 1 << 10, "kB": 1e3, "KB": 1e3,
		"M": 1 << 20, "MiB": 1 << 20, "MB": 1e6,
		"G": 1 << 30, "GiB": 1 << 30, "GB": 1e9,
		"T": 1 << 40, "TiB": 1 << 40, "TB": 1e12,
	}
	mult, ok := units[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 || f*mult >= 1<<62 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit, such as 512MiB or 2GiB", s)
	}
	return int64(f * mult), nil
}
