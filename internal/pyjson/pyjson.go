// Package pyjson writes JSON values byte for byte as Python's json module
// does by default (ensure_ascii): the files fleet writes in the formats of
// Python tools (bench_serving's results, InferenceX's aggregated rows and
// recipe fingerprints) then diff cleanly against theirs, and a hash over
// the JSON text matches the one Python computes.
package pyjson

import (
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendFloat appends f as Python's repr() writes it: the shortest digits
// that read back as f, always with a '.' or an exponent (1.0, not 1), the
// exponent form below 1e-4 and from 1e16 (1e-05, 1.5e+16). NaN and the
// infinities, which are not JSON, are written as null.
func AppendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	if a := math.Abs(f); a >= 1e-4 && a < 1e16 {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		for _, c := range dst[start:] {
			if c == '.' {
				return dst
			}
		}
		return append(dst, '.', '0')
	}
	// Go's exponent form is repr's: two digits at least, with a sign.
	return strconv.AppendFloat(dst, f, 'e', -1, 64)
}

// AppendString appends s as a JSON string the way json.dumps writes it
// with ensure_ascii: '"' and '\' escaped, \n \r \t \b \f by name, every
// other character outside printable ASCII (0x20-0x7e) as \uXXXX, with a
// surrogate pair above U+FFFF. Invalid UTF-8 is written as U+FFFD.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(x rune) {
		dst = append(dst, '\\', 'u', hex[x>>12&0xf], hex[x>>8&0xf], hex[x>>4&0xf], hex[x&0xf])
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\b':
				dst = append(dst, '\\', 'b')
			case c == '\f':
				dst = append(dst, '\\', 'f')
			case c < 0x20 || c == 0x7f:
				u(rune(c))
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			u(r1)
			u(r2)
		} else {
			u(r)
		}
	}
	return append(dst, '"')
}
