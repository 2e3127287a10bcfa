package termtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

const hostile = "\x1b]0;pwned\x07\x1b[2J"

func TestText(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain text is kept as it is", "server ready on :8000\n\tok", "server ready on :8000\n\tok"},
		{"a title change and a screen clear are removed", "before" + hostile + "after", "beforeafter"},
		{"colours are removed", "\x1b[0;36mINFO\x1b[0m up", "INFO up"},
		{"an OSC ended by ST is removed", "a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"},
		{"a DCS string is removed", "a\x1bPq#0;2;0;0;0\x1b\\b", "ab"},
		{"a terminal reset is removed", "a\x1bcb", "ab"},
		{"a charset designation is removed", "a\x1b(Bb", "ab"},
		{"an unterminated OSC shows its ESC and the rest as text", "a\x1b]0;title", `a\x1b]0;title`},
		{"a lone ESC at the end is shown escaped", "a\x1b", `a\x1b`},
		{"an ESC before a control is shown escaped", "a\x1b\x01", `a\x1b\x01`},
		{"other C0 controls are shown escaped", "bell\x07 back\b nul\x00 del\x7f", `bell\x07 back\x08 nul\x00 del\x7f`},
		{"a carriage return that would overwrite the line is shown", "progress\rpwned", `progress\rpwned`},
		{"CRLF becomes LF", "a\r\nb", "a\nb"},
		{"C1 controls are shown escaped", "a\u009b2Jb\u0085", `a\u009b2Jb\u0085`},
		{"bidirectional overrides are shown escaped", "abc\u202edcba", `abc\u202edcba`},
		{"invalid UTF-8 is shown byte by byte", "a\xff\xc3b", `a\xff\xc3b`},
		{"other Unicode is kept", "τ → ✓ 日本", "τ → ✓ 日本"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.in); got != tc.want {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"line breaks and tabs are escaped", "a\nb\tc\r\nd", 0, `a\nb\tc\nd`},
		{"a short value is kept", "server exited", 20, "server exited"},
		{"a long value is cut and marked", "0123456789abcdef", 10, "0123456..."},
		{"a value exactly at the bound is kept", "0123456789", 10, "0123456789"},
		{"a cut never splits a character", "ééééé", 8, "éé..."},
		{"a cut never splits an escape", "ab\x01cdefgh", 8, `ab...`},
		{"removed sequences do not count", hostile + "short", 8, "short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Line(tc.in, tc.max)
			if got != tc.want {
				t.Errorf("Line(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if tc.max > 0 && len(got) > tc.max {
				t.Errorf("Line(%q, %d) is %d bytes long", tc.in, tc.max, len(got))
			}
		})
	}
}

func TestLineOfAHugeValueStaysSmall(t *testing.T) {
	huge := strings.Repeat(hostile+"x\x01", 1<<20)
	got := Line(huge, 2048)
	if len(got) > 2048 || !strings.HasSuffix(got, ellipsis) {
		t.Fatalf("Line of %d bytes gave %d bytes ending %q", len(huge), len(got), got[max(len(got)-8, 0):])
	}
	checkSafe(t, got, true)
}

// checkSafe fails unless s can go to a terminal as it is.
func checkSafe(t *testing.T, s string, oneLine bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("output is not valid UTF-8: %q", s)
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			if oneLine {
				t.Fatalf("one-line output holds %q: %q", r, s)
			}
		case r < 0x20 || r == 0x7f || hidden(r):
			t.Fatalf("output holds control %U: %q", r, s)
		}
	}
}

func FuzzSanitise(f *testing.F) {
	for _, s := range []string{"", "plain", hostile, "\x1b[", "\x1b]0;t", "\x1bP\x1b\\", "a\r\nb\r", "\xc2\x9b2J", "\xff\xfe", "\u202e", "\x1b\x1b[1m"} {
		f.Add(s, 16)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max %= 4096
		text := Text(s)
		checkSafe(t, text, false)
		if again := Text(text); again != text {
			t.Fatalf("Text is not idempotent: %q -> %q -> %q", s, text, again)
		}
		line := Line(s, max)
		checkSafe(t, line, true)
		if max > 0 && len(line) > max && len(line) > len(ellipsis)+1 {
			t.Fatalf("Line(_, %d) is %d bytes: %q", max, len(line), line)
		}
		if again := Line(line, max); again != line {
			t.Fatalf("Line is not idempotent: %q -> %q -> %q", s, line, again)
		}
	})
}
