package schedule

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// systemd reads a unit file line by line and expands its specifiers (%n,
// %h, ...) in nearly every value; a command line is further split into
// words, unquoted and C-unescaped, and $NAME in its arguments is replaced
// from the environment when the command runs (systemd.syntax(7),
// systemd.service(5) "Command lines"). These functions write a value so
// that what systemd reads back is the value itself. None of the rules can
// carry a newline or another control character (a newline ends the
// setting), so those are refused rather than escaped: a path holding one
// is more likely an accident than a name anyone meant.

// checkLine refuses what no unit file line can carry.
func checkLine(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q: is not UTF-8, which systemd requires of a unit", what, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s %q: holds a control character (%U), which a systemd unit cannot carry", what, s, r)
		}
	}
	return nil
}

// ExecWord writes s as one word of an Exec*= command line. A word made
// only of characters that are literal everywhere stays bare; any other is
// double-quoted with \ and " escaped, and in every word % (a specifier) is
// doubled and so is $ (an environment variable): systemd unquotes and
// unescapes a word first, then expands specifiers in it, and replaces
// variables when it runs the command.
func ExecWord(s string) (string, error) {
	if err := checkLine("command word", s); err != nil {
		return "", err
	}
	if s != "" && bareWord(s) {
		return s, nil
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '%':
			b.WriteString("%%")
		case '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// ExecLine writes args as an Exec*= command line that systemd splits back
// into exactly args. The first word is the program, which follows its own
// rules (see ExecPath).
func ExecLine(args []string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("empty command")
	}
	prog, err := ExecPath(args[0])
	if err != nil {
		return "", err
	}
	words := []string{prog}
	for _, a := range args[1:] {
		w, err := ExecWord(a)
		if err != nil {
			return "", err
		}
		words = append(words, w)
	}
	return strings.Join(words, " "), nil
}

// ExecPath writes the program of an Exec*= command line. It must be an
// absolute path (a leading @, -, :, + or ! would be read as a prefix, and
// / is none of them). systemd expands specifiers in it but not variables,
// so % is doubled and $ is not; and it refuses, fatally, a program whose
// name holds a quote or a backslash ("Executable name contains special
// characters"), however it is quoted, so those are refused here, where
// the message can say what to do.
func ExecPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("program %q: want an absolute path", p)
	}
	if err := checkLine("program", p); err != nil {
		return "", err
	}
	if strings.ContainsAny(p, `"'\`) || strings.ContainsRune(p, 0x7f) {
		return "", fmt.Errorf("program %q: systemd refuses to run a program whose path holds a quote or a backslash; move it, or give another with --fleet", p)
	}
	q := strings.ReplaceAll(p, "%", "%%")
	if !bareWord(p) {
		q = `"` + q + `"`
	}
	return q, nil
}

// bareWord: letters, digits and punctuation that systemd's splitting,
// unquoting, specifiers and variables all leave alone.
func bareWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_-./:,+=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// TextValue writes s as a free-text value (Description=): systemd takes
// it as it is apart from specifiers, so % is doubled. It trims leading and
// trailing blanks and reads a line ending in \ as continued, so those are
// refused.
func TextValue(what, s string) (string, error) {
	if err := checkLine(what, s); err != nil {
		return "", err
	}
	if strings.TrimSpace(s) != s {
		return "", fmt.Errorf("%s %q: starts or ends with a blank, which systemd drops", what, s)
	}
	if strings.HasSuffix(s, `\`) {
		return "", fmt.Errorf("%s %q: ends with a backslash, which systemd reads as a continued line", what, s)
	}
	return strings.ReplaceAll(s, "%", "%%"), nil
}

// PathValue writes an absolute path as the value of a path setting
// (EnvironmentFile=): not unquoted, only specifier-expanded, so it is a
// TextValue that starts with /.
func PathValue(what, p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%s %q: want an absolute path", what, p)
	}
	return TextValue(what, p)
}
