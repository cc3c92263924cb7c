// Package benchkit holds what the benchmarks (bench/) and the load test
// (bench/loadtest) share: Markdown tables for their reports, and readings
// of a process's memory from /proc.
package benchkit

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Table prints a Markdown table: a header row, then rows.
func Table(header []string, rows [][]string) {
	fmt.Print(FormatTable(header, rows))
}

// FormatTable is the Markdown text of a table: a header row, then rows.
func FormatTable(header []string, rows [][]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s |\n", strings.Join(header, " | "))
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	fmt.Fprintf(&b, "| %s |\n", strings.Join(sep, " | "))
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
	}
	return b.String()
}

// PeakRSS reads the peak resident set (VmHWM) of process pid, in bytes.
func PeakRSS(pid int) (int64, error) {
	if pid <= 0 {
		return 0, errors.New("read peak RSS: the process is not running")
	}
	return statusKB(pid, "VmHWM")
}

// statusKB reads a "Name:   1234 kB" line of /proc/PID/status, in bytes.
func statusKB(pid int, name string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read %s of process %d: %w", name, pid, err)
	}
	return parseStatusKB(string(data), name)
}

func parseStatusKB(status, name string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read %s: %q: %w", name, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("read %s: not in /proc status", name)
}
