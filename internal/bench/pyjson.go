package bench

import (
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// pyJSON writes JSON the way Python's json.dump does by default: ", " and
// ": " separators, floats as repr() writes them (1.0, not 1), and non-ASCII
// escaped as \uXXXX. Tools only need valid JSON, but files that look like
// bench_serving's diff cleanly against them.
type pyJSON struct {
	buf   []byte
	first bool
}

func (j *pyJSON) open()  { j.buf = append(j.buf, '{'); j.first = true }
func (j *pyJSON) close() { j.buf = append(j.buf, '}') }

func (j *pyJSON) key(k string) *pyJSON {
	if !j.first {
		j.buf = append(j.buf, ',', ' ')
	}
	j.first = false
	j.buf = appendPyString(j.buf, k)
	j.buf = append(j.buf, ':', ' ')
	return j
}

func (j *pyJSON) raw(b ...byte) *pyJSON { j.buf = append(j.buf, b...); return j }
func (j *pyJSON) null()                 { j.buf = append(j.buf, "null"...) }
func (j *pyJSON) str(s string)          { j.buf = appendPyString(j.buf, s) }
func (j *pyJSON) int(v int)             { j.buf = strconv.AppendInt(j.buf, int64(v), 10) }
func (j *pyJSON) float(f float64)       { j.buf = appendPyFloat(j.buf, f) }

func (j *pyJSON) ints(v []int) {
	j.buf = append(j.buf, '[')
	for i, x := range v {
		if i > 0 {
			j.buf = append(j.buf, ',', ' ')
		}
		j.buf = strconv.AppendInt(j.buf, int64(x), 10)
	}
	j.buf = append(j.buf, ']')
}

func (j *pyJSON) floats(v []float64) {
	j.buf = append(j.buf, '[')
	for i, x := range v {
		if i > 0 {
			j.buf = append(j.buf, ',', ' ')
		}
		j.buf = appendPyFloat(j.buf, x)
	}
	j.buf = append(j.buf, ']')
}

func (j *pyJSON) strs(v []string) {
	j.buf = append(j.buf, '[')
	for i, x := range v {
		if i > 0 {
			j.buf = append(j.buf, ',', ' ')
		}
		j.buf = appendPyString(j.buf, x)
	}
	j.buf = append(j.buf, ']')
}

// stats writes mean, median, std and the percentiles of m as
// prefix+kind+suffix keys, bench_serving's order.
func (j *pyJSON) stats(m MetricStats, prefix, suffix string) {
	j.key(prefix + "mean" + suffix).float(m.Mean)
	j.key(prefix + "median" + suffix).float(m.Median)
	j.key(prefix + "std" + suffix).float(m.Std)
	for _, p := range m.Percentiles {
		j.key(prefix + "p" + percentileWord(p.P) + suffix).float(p.Value)
	}
}

// appendPyFloat writes f as Python's repr(): shortest round-trip digits,
// always with a "." or an exponent, exponent form below 1e-4 and from 1e16.
// NaN and infinities, which are not JSON, are written as null.
func appendPyFloat(dst []byte, f float64) []byte {
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
	return strconv.AppendFloat(dst, f, 'e', -1, 64) // Go's form matches repr: 1e-05, 1.5e+16
}

// appendPyString writes s as json.dumps does with ensure_ascii.
func appendPyString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				if c < 0x20 {
					dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
				} else {
					dst = append(dst, c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		u := func(x rune) {
			dst = append(dst, '\\', 'u', hex[x>>12&0xf], hex[x>>8&0xf], hex[x>>4&0xf], hex[x&0xf])
		}
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
