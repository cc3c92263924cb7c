// Package decimal converts the decimal numbers that mesh files write (STL,
// OBJ, 3MF) to float32, exactly as strconv does but without allocating:
// callers hand it bytes of their read buffers and get a value or a refusal.
package decimal

import (
	"math"
	"strconv"
)

// Exact powers of ten: float32 holds 10^0..10^10 exactly, float64 10^0..10^22.
var (
	pow10f32 = [...]float32{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}
	pow10f64 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
		1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}
)

// ParseFloat32 converts a decimal token exactly as strconv.ParseFloat(tok,
// 32) does, without allocating for the plain decimals STL exporters write
// ("-1.234567e+01", "0.5", "12"). ok is false when tok is not a number or is
// out of float32 range.
//
// The fast paths are exact: one correctly rounded float32 operation on exact
// operands (Clinger's method), or a float64 one whose result is then rounded
// to float32 unless it sits exactly on a float32 rounding midpoint, the only
// case where rounding twice could differ from rounding once. Anything else
// goes to strconv.
func ParseFloat32(tok []byte) (f float32, ok bool) {
	i := 0
	neg := false
	if i < len(tok) && (tok[i] == '-' || tok[i] == '+') {
		neg = tok[i] == '-'
		i++
	}
	var mant uint64
	digits, exp := 0, 0
	sawDigit := false
	if len(tok) <= 19 {
		// At most 19 digits: mant cannot overflow, so no per-digit checks.
		for ; i < len(tok) && tok[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(tok[i]-'0')
			sawDigit = true
		}
		if i < len(tok) && tok[i] == '.' {
			i++
			for ; i < len(tok) && tok[i]-'0' <= 9; i++ {
				mant = mant*10 + uint64(tok[i]-'0')
				exp--
				sawDigit = true
			}
		}
	} else {
		for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
			sawDigit = true
			if mant == 0 && tok[i] == '0' {
				continue
			}
			if digits == 19 {
				return slowFloat32(tok)
			}
			mant = mant*10 + uint64(tok[i]-'0')
			digits++
		}
		if i < len(tok) && tok[i] == '.' {
			i++
			for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
				sawDigit = true
				exp--
				if mant == 0 && tok[i] == '0' {
					continue
				}
				if digits == 19 {
					return slowFloat32(tok)
				}
				mant = mant*10 + uint64(tok[i]-'0')
				digits++
			}
		}
	}
	if !sawDigit {
		return slowFloat32(tok)
	}
	if i < len(tok) && (tok[i] == 'e' || tok[i] == 'E') {
		i++
		eneg := false
		if i < len(tok) && (tok[i] == '-' || tok[i] == '+') {
			eneg = tok[i] == '-'
			i++
		}
		if i == len(tok) {
			return 0, false
		}
		e := 0
		for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(tok[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(tok) {
		return slowFloat32(tok)
	}
	if mant == 0 {
		if neg {
			return float32(math.Copysign(0, -1)), true
		}
		return 0, true
	}
	if f, ok := exact(mant, exp, neg); ok {
		return f, true
	}
	return slowFloat32(tok)
}

// ScanFloat32 converts the plain decimal at the start of b (sign, at most
// 19 digits with an optional point, optional exponent) with ParseFloat32's
// exact fast paths, and returns how many bytes it used: the value is what
// ParseFloat32 gives for those bytes (a zero keeps its sign). ok is false
// when b does not start with such a number or it needs the slow path; the
// caller then falls back to ParseFloat32 on the whole word, which decides.
func ScanFloat32(b []byte) (f float32, n int, ok bool) {
	mant, exp, neg, n, ok := scanDecimal(b)
	if !ok {
		return 0, 0, false
	}
	if mant == 0 {
		if neg {
			return float32(math.Copysign(0, -1)), n, true
		}
		return 0, n, true
	}
	if f, ok := exact(mant, exp, neg); ok {
		return f, n, true
	}
	return 0, 0, false
}

// exact converts mant × 10^exp (negated if neg; mant not zero) when one
// of the exact fast paths applies: one correctly rounded float32 operation
// on exact operands, or a float64 one whose result is not on a float32
// rounding midpoint. ok is false otherwise.
func exact(mant uint64, exp int, neg bool) (f float32, ok bool) {
	if mant < 1<<24 && exp >= -10 && exp <= 10 {
		f = float32(mant)
		if exp < 0 {
			f /= pow10f32[-exp]
		} else {
			f *= pow10f32[exp]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	if mant < 1<<53 && exp >= -22 && exp <= 22 {
		d := float64(mant)
		if exp < 0 {
			d /= pow10f64[-exp]
		} else {
			d *= pow10f64[exp]
		}
		bits := math.Float64bits(d)
		// float32 normal range, and not on a float32 rounding midpoint (the
		// 29 mantissa bits float32 drops are exactly 1000…0).
		if d >= 0x1p-126 && d <= math.MaxFloat32 && bits&(1<<29-1) != 1<<28 {
			f = float32(d)
			if neg {
				f = -f
			}
			return f, true
		}
	}
	return 0, false
}

// SkipFloat32 reports how many bytes the plain decimal at the start of b
// takes when ParseFloat32 surely accepts it (it is at most 2^53 × 10^22,
// far inside float32 range; tiny values round to zero or a subnormal, which
// is no error), without converting it. ok is false when that is not sure.
func SkipFloat32(b []byte) (n int, ok bool) {
	mant, exp, _, n, ok := scanDecimal(b)
	return n, ok && mant < 1<<53 && exp >= -22 && exp <= 22
}

// scanDecimal reads the plain decimal at the start of b: sign, 1 to 19
// digits with an optional point, optional exponent of 1 to 4 digits. The
// value is mant × 10^exp, negated if neg; n is the bytes used.
func scanDecimal(b []byte) (mant uint64, exp int, neg bool, n int, ok bool) {
	i := 0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	d0 := i
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		mant = mant*10 + uint64(b[i]-'0')
	}
	digits := i - d0
	if i < len(b) && b[i] == '.' {
		i++
		f0 := i
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(b[i]-'0')
		}
		exp = f0 - i
		digits += i - f0
	}
	if digits == 0 || digits > 19 {
		return 0, 0, false, 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		e0 := i
		e := 0
		for ; i < len(b) && b[i]-'0' <= 9 && i-e0 < 4; i++ {
			e = e*10 + int(b[i]-'0')
		}
		if i == e0 || i < len(b) && b[i]-'0' <= 9 {
			return 0, 0, false, 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	return mant, exp, neg, i, true
}

func slowFloat32(tok []byte) (float32, bool) {
	d, err := strconv.ParseFloat(string(tok), 32)
	if err != nil {
		return 0, false
	}
	return float32(d), true
}
