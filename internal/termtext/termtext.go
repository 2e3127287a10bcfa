// Package termtext makes text that came from another machine (a job's
// logs, a failure reason, an imported file) safe to print on a terminal.
//
// A node, or anyone who can write to a job's work directory, controls
// that text. Printed raw, an escape sequence in it can retitle the
// terminal, clear the screen, rewrite earlier lines or, on some
// terminals, write to the clipboard or run a command. Every printer that
// shows such text to a person passes it through Text (multi-line output)
// or Line (a table cell, a reason, one log line). Machine formats (JSON,
// logfmt) keep their own escaping and need neither.
package termtext

import (
	"strings"
	"unicode/utf8"
)

// ellipsis marks where Line cut a value that was too long.
const ellipsis = "..."

// Text returns s safe for a terminal, keeping its line breaks and tabs:
// well-formed escape sequences (CSI, OSC, DCS, SOS, PM, APC and the short
// ESC forms) are removed; every other control character, C1 control,
// bidirectional override and invalid byte is shown escaped (\x1b, \r,
// \u009b, \xff), so that nothing is hidden. CRLF becomes LF. Text is
// idempotent: Text(Text(s)) == Text(s).
func Text(s string) string { return clean(s, false, 0) }

// Line returns s safe for one line of a terminal: as Text, with line
// breaks and tabs escaped too (\n, \t), and at most max bytes long, the
// end cut at a character boundary and marked "..." when s is longer
// (max <= 0: no bound). Line is idempotent for a given max.
func Line(s string, max int) string { return clean(s, true, max) }

func clean(s string, oneLine bool, max int) string {
	if max > 0 && max < len(ellipsis)+1 {
		max = len(ellipsis) + 1
	}
	if isPlain(s, oneLine) && (max <= 0 || len(s) <= max) {
		return s
	}
	var b strings.Builder
	fit := 0 // output length at the last unit boundary that leaves room for the ellipsis
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b:
			if n := sequenceLen(s[i:]); n > 0 {
				i += n
				continue
			}
			b.WriteString(`\x1b`)
			i++
		case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			i++ // CRLF is a line break; the LF is handled next
			continue
		case c == '\n' || c == '\t':
			switch {
			case !oneLine:
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			default:
				b.WriteString(`\t`)
			}
			i++
		case c == '\r':
			b.WriteString(`\r`)
			i++
		case c < 0x20 || c == 0x7f:
			writeByteEscape(&b, c)
			i++
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				writeByteEscape(&b, c)
			case hidden(r):
				writeRuneEscape(&b, r)
			default:
				b.WriteString(s[i : i+size])
			}
			i += size
		}
		if max <= 0 {
			continue
		}
		if b.Len() <= max-len(ellipsis) {
			fit = b.Len()
		}
		if b.Len() > max {
			return b.String()[:fit] + ellipsis
		}
	}
	return b.String()
}

// isPlain reports whether s needs no change, which is most text: it saves
// a copy.
func isPlain(s string, oneLine bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return false
		}
		if c < 0x20 || c == 0x7f {
			if oneLine || (c != '\n' && c != '\t') {
				return false
			}
		}
	}
	return true
}

// hidden reports whether r changes how a terminal shows what follows
// without being visible itself: the C1 controls (U+0080 to U+009F, which
// some terminals obey as 8-bit CSI, OSC ...) and the bidirectional
// overrides and isolates, which reorder the text around them.
func hidden(r rune) bool {
	return (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

const hexDigits = "0123456789abcdef"

func writeByteEscape(b *strings.Builder, c byte) {
	b.WriteString(`\x`)
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&0xf])
}

func writeRuneEscape(b *strings.Builder, r rune) {
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(r>>shift)&0xf])
	}
}

// sequenceLen returns the length of the well-formed escape sequence that
// s starts with (s[0] is ESC), or 0 when it does not start one: the ESC
// is then shown escaped and what follows printed as text.
func sequenceLen(s string) int {
	if len(s) < 2 {
		return 0
	}
	switch c := s[1]; {
	case c == '[': // CSI: parameters, intermediates, one final byte
		i := 2
		for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
			i++
		}
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
			return i + 1
		}
		return 0
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		// OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
		for i := 2; i < len(s); i++ {
			switch s[i] {
			case 0x07:
				return i + 1
			case 0x1b:
				if i+1 < len(s) && s[i+1] == '\\' {
					return i + 2
				}
				return 0
			}
		}
		return 0
	case c >= 0x20 && c <= 0x2f: // nF: intermediates, then one final byte
		i := 2
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
			return i + 1
		}
		return 0
	case c >= 0x30 && c <= 0x7e: // Fp, Fe, Fs: ESC and one byte (ESC c resets the terminal)
		return 2
	}
	return 0
}
