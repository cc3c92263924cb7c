package slicer

import (
	"strings"
	"testing"
)

// The closing comments PrusaSlicer 2.5 writes (taken from a real G-code
// file), among lines that look alike.
const gcodeTail = `G1 X125.3 Y104.2 E0.0123
; some_option = 1
;TYPE:Custom
; filament used [mm] = 6182.04
; filament used [cm3] = 14.87
; filament used [g] = 18.44
; filament cost = 0.00
; total filament used [g] = 18.44
; total filament cost = 0.00
; total layers count = 180
; estimated printing time (normal mode) = 1h 45m 34s
; estimated printing time (silent mode) = 1h 48m 23s
; estimated first layer printing time (normal mode) = 1m 56s

; prusaslicer_config = begin
; filament_density = 1.24
; prusaslicer_config = end
`

func TestParseGCode(t *testing.T) {
	e, err := ParseGCode(strings.NewReader(gcodeTail))
	if err != nil {
		t.Fatal(err)
	}
	if e.Seconds != 3600+45*60+34 || e.Metres != 6.18204 || e.Grams != 18.44 {
		t.Errorf("got %+v, want 6334 s, 6.18204 m, 18.44 g", e)
	}
	for _, c := range []struct {
		in   string
		secs float64
	}{{"3m 10s", 190}, {"1d 2h 0m 5s", 93605}, {"45s", 45}} {
		got, err := ParseGCode(strings.NewReader("; filament used [mm] = 1\n; estimated printing time (normal mode) = " + c.in + "\n"))
		if err != nil || got.Seconds != c.secs {
			t.Errorf("%q: %v, %v; want %g s", c.in, got.Seconds, err, c.secs)
		}
	}
	for _, bad := range []string{
		"",
		"; filament used [mm] = 12\n", // no time
		"; estimated printing time (normal mode) = 1m\n", // no filament
		"; filament used [mm] = x\n; estimated printing time (normal mode) = 1m\n",
		"; filament used [mm] = 1\n; estimated printing time (normal mode) = soon\n",
		"; filament used [mm] = 1\n; estimated printing time (normal mode) = 1h 2x\n",
		"; filament used [mm] = -3\n; estimated printing time (normal mode) = 1m\n",
		"; filament used [mm] = NaN\n; estimated printing time (normal mode) = 1m\n",
		"; filament used [mm] = 1\n; filament used [g] = -1\n; estimated printing time (normal mode) = 1m\n",
	} {
		if _, err := ParseGCode(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseGCode(f *testing.F) {
	f.Add([]byte(gcodeTail))
	f.Add([]byte("; filament used [mm] = 1e308\n; estimated printing time (normal mode) = 99999999999d\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseGCode(strings.NewReader(string(data)))
		if err == nil && (e.Seconds < 0 || e.Metres < 0 || e.Grams < 0 || e.Metres != e.Metres || e.Grams != e.Grams) {
			t.Fatalf("parsed %+v", e)
		}
	})
}
