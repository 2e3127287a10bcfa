package sse

import (
	"unicode/utf16"
	"unicode/utf8"
)

// A tiny JSON scanner: it finds a few fields by name in a chunk and skips
// everything else without building values, so that reading a token costs no
// allocation. It is lenient about malformed input (it never panics, and
// reports what it could find); well-formed input is read exactly as
// encoding/json reads it into a map (checked by a differential fuzz test).

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString expects b[i] == '"' and returns the index after the closing
// quote, whether the contents hold escapes, and false when it is unterminated.
func scanString(b []byte, i int) (end int, escaped, ok bool) {
	i++
	for i < len(b) {
		switch b[i] {
		case '"':
			return i + 1, escaped, true
		case '\\':
			escaped = true
			i += 2
			continue
		}
		i++
	}
	return len(b), escaped, false
}

// skipValue skips the value at b[i] (after whitespace) and returns the index
// after it. Containers are skipped by counting brackets outside strings,
// iteratively, so deep nesting costs no stack.
func skipValue(b []byte, i int) (int, bool) {
	i = skipWS(b, i)
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; c {
	case '"':
		end, _, ok := scanString(b, i)
		return end, ok
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _, ok := scanString(b, i)
				if !ok {
					return end, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	default: // number, true, false, null
		start := i
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r', ':', '"', '{', '[':
				return i, i > start
			}
			i++
		}
		return i, i > start
	}
}

// isNull reports whether the value at b[i] is the literal null.
func isNull(b []byte, i int) bool {
	return i+4 <= len(b) && string(b[i:i+4]) == "null"
}

// object iterates the members of the object at b[i].
type object struct {
	b   []byte
	i   int
	n   int // members seen
	bad bool
	kb  [32]byte // unescaped key, when the key holds escapes
}

func openObject(b []byte, i int) (object, bool) {
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '{' {
		return object{}, false
	}
	return object{b: b, i: i + 1}, true
}

// next returns the next key and leaves o.i at its value; false at the end
// of the object or on malformed input (then o.bad is set).
func (o *object) next() ([]byte, bool) {
	o.i = skipWS(o.b, o.i)
	if o.i >= len(o.b) {
		o.bad = true
		return nil, false
	}
	if o.n > 0 {
		if o.b[o.i] == '}' {
			o.i++
			return nil, false
		}
		if o.b[o.i] != ',' {
			o.bad = true
			return nil, false
		}
		o.i = skipWS(o.b, o.i+1)
	} else if o.b[o.i] == '}' {
		o.i++
		return nil, false
	}
	if o.i >= len(o.b) || o.b[o.i] != '"' {
		o.bad = true
		return nil, false
	}
	end, escaped, ok := scanString(o.b, o.i)
	if !ok {
		o.bad = true
		return nil, false
	}
	key := o.b[o.i+1 : end-1]
	if escaped {
		// Keys we look for are short; a longer one is not ours.
		k := appendUnescapedLimited(o.kb[:0], key, len(o.kb))
		key = k
	}
	o.i = skipWS(o.b, end)
	if o.i >= len(o.b) || o.b[o.i] != ':' {
		o.bad = true
		return nil, false
	}
	o.i = skipWS(o.b, o.i+1)
	o.n++
	return key, true
}

// skip skips the current value.
func (o *object) skip() {
	end, ok := skipValue(o.b, o.i)
	o.i = end
	if !ok {
		o.bad = true
	}
}

// array iterates the elements of the array at b[i].
type array struct {
	b   []byte
	i   int
	n   int
	bad bool
}

func openArray(b []byte, i int) (array, bool) {
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '[' {
		return array{}, false
	}
	return array{b: b, i: i + 1}, true
}

// next leaves a.i at the next element; false at the end.
func (a *array) next() bool {
	a.i = skipWS(a.b, a.i)
	if a.i >= len(a.b) {
		a.bad = true
		return false
	}
	if a.n > 0 {
		if a.b[a.i] == ']' {
			a.i++
			return false
		}
		if a.b[a.i] != ',' {
			a.bad = true
			return false
		}
		a.i = skipWS(a.b, a.i+1)
	} else if a.b[a.i] == ']' {
		a.i++
		return false
	}
	a.n++
	return true
}

func (a *array) skip() {
	end, ok := skipValue(a.b, a.i)
	a.i = end
	if !ok {
		a.bad = true
	}
}

// stringAt returns the raw contents of the string at b[i], whether they hold
// escapes, the index after it, and false when b[i] is not a string.
func stringAt(b []byte, i int) (raw []byte, escaped bool, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, false, i, false
	}
	end, escaped, ok = scanString(b, i)
	if !ok {
		return nil, false, end, false
	}
	return b[i+1 : end-1], escaped, end, true
}

// intAt parses the JSON number at b[i] when it is an integer that fits in
// an int64 (as json.Number.Int64 accepts it); ok is false otherwise.
func intAt(b []byte, i int) (v int64, end int, ok bool) {
	end, good := skipValue(b, i)
	if !good {
		return 0, end, false
	}
	s := b[i:end]
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || (s[0] == '0' && len(s) > 1) {
		return 0, end, false
	}
	var u uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, end, false
		}
		d := uint64(c - '0')
		if u > (1<<63-d)/10 { // would pass 2^63
			return 0, end, false
		}
		u = u*10 + d
	}
	if !neg && u > 1<<63-1 {
		return 0, end, false
	}
	if neg {
		return -int64(u), end, true // u <= 2^63, and -(2^63) wraps to itself correctly
	}
	return int64(u), end, true
}

// AppendUnescaped appends the JSON string contents raw (without quotes) to
// dst, decoding escapes as encoding/json does: invalid escapes and lone
// surrogates become U+FFFD, and so do invalid UTF-8 bytes.
func AppendUnescaped(dst, raw []byte) []byte {
	return appendUnescapedLimited(dst, raw, -1)
}

func appendUnescapedLimited(dst, raw []byte, limit int) []byte {
	for i := 0; i < len(raw); {
		if limit >= 0 && len(dst) >= limit {
			return dst
		}
		c := raw[i]
		if c == '\\' && i+1 < len(raw) {
			switch raw[i+1] {
			case '"', '\\', '/':
				dst = append(dst, raw[i+1])
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, n := decodeU(raw[i:])
				if n == 0 {
					dst = utf8.AppendRune(dst, utf8.RuneError)
					i += 2
					continue
				}
				dst = utf8.AppendRune(dst, r)
				i += n
				continue
			default:
				dst = utf8.AppendRune(dst, utf8.RuneError)
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, raw[i:i+size]...)
		}
		i += size
	}
	return dst
}

// decodeU decodes a \uXXXX escape (and a following low surrogate) at the
// start of s; n is the number of bytes used, 0 when malformed.
func decodeU(s []byte) (rune, int) {
	r := hex4(s)
	if r < 0 {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if r2 := hex4(s[6:]); r2 >= 0 && len(s) >= 12 && s[6] == '\\' {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				return dec, 12
			}
		}
		return utf8.RuneError, 6
	}
	return r, 6
}

// hex4 reads "\uXXXX" at the start of s, -1 when it is not one.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
