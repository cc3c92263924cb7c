package render

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestNewFrameGetsHugePages: a new frame of a one-shot render is backed by
// huge pages even when the Go heap has memory it used before to give it
// (as after start-up's first collection in `blueprints render`): the
// heap clears such memory as it hands it out, before huge pages could be
// asked for, which faulted a frame in 4 KiB at a time.
func TestNewFrameGetsHugePages(t *testing.T) {
	if mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(mode), "[never]") {
		t.Skipf("no transparent huge pages here (%q, %v)", mode, err)
	}
	// Leave the heap some 96 MB it used and freed, not yet given back.
	var junk [][]byte
	for range 6 {
		b := make([]byte, 16<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		junk = append(junk, b)
	}
	runtime.KeepAlive(junk)
	junk = nil
	runtime.GC()
	runtime.GC()

	const n = 1536 // a 512-pixel preview's samples a side
	fellBack := thpFallbacks(t)
	f := newFrame(n, true)
	for i := range f.samples {
		f.samples[i] = 1
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(f.samples)))
	hi := lo + uintptr(4*len(f.samples))
	huge := anonHugeKiB(t, lo, hi)
	if thpFallbacks(t) != fellBack {
		// The kernel was asked and had none to give: not what this
		// tests (a frame whose huge pages were never asked for).
		t.Skip("the kernel had no free huge page")
	}
	// All but the last, partly filled, huge page.
	if want := (hi - lo) / hugePage * (hugePage >> 10); huge < want {
		t.Errorf("a new %d² frame (%d KiB) has %d KiB in huge pages, want at least %d", n, (hi-lo)>>10, huge, want)
	}
	runtime.KeepAlive(f)
}

// anonHugeKiB sums AnonHugePages over this process's mappings that
// overlap lo..hi.
func anonHugeKiB(t *testing.T, lo, hi uintptr) uintptr {
	t.Helper()
	file, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer file.Close()
	var total uintptr
	inside := false
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if from, to, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			a, err1 := strconv.ParseUint(from, 16, 64)
			b, err2 := strconv.ParseUint(to, 16, 64)
			if err1 == nil && err2 == nil {
				inside = uintptr(a) < hi && uintptr(b) > lo
				continue
			}
		}
		if inside && fields[0] == "AnonHugePages:" && len(fields) >= 2 {
			kib, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				t.Fatalf("smaps: %q: %v", line, err)
			}
			total += uintptr(kib)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("smaps: %v", err)
	}
	return total
}

// thpFallbacks is the number of times the kernel could not give a huge
// page asked for on a fault.
func thpFallbacks(t *testing.T) string {
	t.Helper()
	stat, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		t.Skipf("no vmstat: %v", err)
	}
	for line := range strings.SplitSeq(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "thp_fault_fallback "); ok {
			return v
		}
	}
	t.Skip("vmstat does not count huge page fallbacks")
	return ""
}
