package startgc

import (
	"runtime/debug"
	"testing"
)

// TestOffUntilDone: the collector is off once the package is initialised,
// and Done sets it as GOGC says.
func TestOffUntilDone(t *testing.T) {
	if was := debug.SetGCPercent(-1); was != -1 {
		t.Errorf("after init the collector's target is %d, want -1 (off)", was)
	}
	for gogc, want := range map[string]int{"": 100, "off": -1, "50": 50, "400": 400, "fast": 100} {
		t.Setenv("GOGC", gogc)
		Done()
		if got := debug.SetGCPercent(-1); got != want {
			t.Errorf("GOGC=%q: Done sets %d, want %d", gogc, got, want)
		}
	}
	debug.SetGCPercent(100)
}
