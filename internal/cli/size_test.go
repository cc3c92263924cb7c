package cli

import "testing"

// FuzzParseBytes: a size flag's value (the push and transfer limits of
// serve) never panics the parser, and what it accepts is a size that
// formats back to itself.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"100MiB", "1.5 GB", "0", "-1", "1e3", "9223372036854775807", "8EiB", "1KiB", "2G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("%q parsed as %d", s, n)
		}
		b := Bytes(n)
		if back, err := ParseBytes(b.String()); err != nil || back != n {
			t.Fatalf("%q → %d → %q → %d, %v", s, n, b.String(), back, err)
		}
	})
}
