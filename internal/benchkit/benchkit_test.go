package benchkit

import (
	"os"
	"testing"
)

func TestFormatTable(t *testing.T) {
	got := FormatTable([]string{"task", "ours"}, [][]string{{"push", "1.5 s"}, {"clone", "1.4 s"}})
	want := "| task | ours |\n| --- | --- |\n| push | 1.5 s |\n| clone | 1.4 s |\n"
	if got != want {
		t.Errorf("FormatTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestPeakRSS(t *testing.T) {
	n, err := PeakRSS(os.Getpid())
	if err != nil || n < 1<<20 || n > 64<<30 {
		t.Errorf("PeakRSS of this test = %d, %v; want a plausible size", n, err)
	}
	if _, err := PeakRSS(0); err == nil {
		t.Error("PeakRSS(0) gave no error")
	}
	for _, c := range []struct {
		status string
		want   int64
		ok     bool
	}{
		{"Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t 1 kB\n", 2048 << 10, true},
		{"VmRSS:\t1 kB\n", 0, false},
		{"VmHWM:\tlots kB\n", 0, false},
	} {
		got, err := parseStatusKB(c.status, "VmHWM")
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseStatusKB(%q) = %d, %v", c.status, got, err)
		}
	}
}
