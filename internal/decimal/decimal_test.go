package decimal

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestParseFloat32 checks the fast float parser against strconv on the forms
// exporters write and on random bit patterns.
func TestParseFloat32(t *testing.T) {
	words := []string{"0", "-0", "0.0", "-0.000", "1", "+1", "12.5", "1e3", "1E-3", "6.5e+01", "-1.234567e+01",
		"123456789012345678901234", "0.000000000000000000000001", "1e-45", "1e-50", "3.4028235e38", "3.5e38",
		"16777217", "12345678901234567890", "1234567890123456789", "0.1", "33554431e-1", "1.00000005960464477539062", "nan", "inf", "-Infinity", "0x1p-2",
		".5", "5.", "1e", "e5", "-", "", "1.2.3", "1e+", "--1", "1_000", "9999999999999999e22", "9007199254740991e22", "1e39", "1e-9999", "-0e0"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200_000 {
		f := math.Float32frombits(rng.Uint32())
		if f != f || math.IsInf(float64(f), 0) {
			continue
		}
		switch rng.IntN(3) {
		case 0:
			words = append(words, strconv.FormatFloat(float64(f), 'e', -1, 32))
		case 1:
			words = append(words, strconv.FormatFloat(float64(f), 'e', 6, 32))
		default:
			words = append(words, strconv.FormatFloat(float64(f)*math.Pow10(rng.IntN(12)-6), 'f', rng.IntN(10), 64))
		}
	}
	for _, w := range words {
		got, ok := ParseFloat32([]byte(w))
		want, err := strconv.ParseFloat(w, 32)
		if ok != (err == nil) || ok && math.Float32bits(got) != math.Float32bits(float32(want)) && !(got != got && want != want) {
			t.Errorf("ParseFloat32(%q) = %v, %v; strconv %v, %v", w, got, ok, float32(want), err)
		}
		// The in-place scanner must agree whenever it accepts the whole
		// word, and must not accept a word strconv rejects.
		for _, tail := range []string{" ", "x", "\n"} {
			f, n, ok := ScanFloat32([]byte(w + tail))
			if ok && n == len(w) && (err != nil || math.Float32bits(f) != math.Float32bits(float32(want))) {
				t.Errorf("ScanFloat32(%q) = %v over %d bytes; strconv %v, %v", w+tail, f, n, float32(want), err)
			}
			if ok && n > len(w) {
				t.Errorf("ScanFloat32(%q) read past the word: %d bytes", w+tail, n)
			}
			if n, ok := SkipFloat32([]byte(w + tail)); ok && n == len(w) && err != nil {
				t.Errorf("SkipFloat32(%q) accepts what strconv rejects: %v", w+tail, err)
			}
		}
	}
}
