package cli

import "testing"

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "512": 512, "64KiB": 64 << 10, "100MiB": 100 << 20, "100 mib": 100 << 20, "2GiB": 2 << 30,
		"1.5GB": 1_500_000_000, "10MB": 10_000_000, "1k": 1024, "7B": 7, " 3 M ": 3 << 20,
	} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1e9", "0x10", "NaN", "inf", "1.2.3", "10 parsecs", "99999999999TiB"} {
		if n, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", bad, n)
		}
	}
	for _, n := range []int64{0, 1, 1023, 1024, 100 << 20, 3 << 30, 5<<40 + 1} {
		if got, err := ParseBytes(FormatBytes(n)); err != nil || got != n {
			t.Errorf("round trip of %d via %q: %d, %v", n, FormatBytes(n), got, err)
		}
	}
}

// FuzzParseBytes: a size flag's value never panics the parser, and what it
// accepts formats back to the same number.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"100MiB", "1.5 GB", "0", "-1", "1e3", "9223372036854775807", "8EiB"} {
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
		if back, err := ParseBytes(FormatBytes(n)); err != nil || back != n {
			t.Fatalf("%q → %d → %q → %d, %v", s, n, FormatBytes(n), back, err)
		}
	})
}
