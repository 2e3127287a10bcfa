// Package shellquote writes values as words of a POSIX shell command line
// or script: every remote command fleet sends, the sbatch script and the
// environment files a job sources quote their values here, so that what
// arrives on the machine is the value, never code.
package shellquote

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNUL is returned for a value holding a NUL byte: no shell word, file
// name or environment variable can carry one, so it cannot arrive intact.
var ErrNUL = errors.New("value contains a NUL byte, which no shell can pass")

// Quote makes s one literal word for a POSIX shell: in single quotes, a
// quote inside closed, escaped and reopened,
//
//	it's $HOME  ->  'it'\''s $HOME'
//
// Inside single quotes nothing is special: $, `, \ and newlines all arrive
// as they are. Words made only of characters no shell treats specially
// stay bare, so that commands read well in logs and ps output. A NUL byte
// cannot be carried at all (a shell's argument ends there); Exports
// refuses one.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if bare(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes every argument and joins them with spaces: a command line
// that a shell splits back into exactly args.
func Join(args ...string) string {
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = Quote(a)
	}
	return strings.Join(words, " ")
}

// bare reports whether s can stand unquoted: it holds only characters
// that are literal in every position, and it cannot be read as anything
// but a word. A word with = is bare only as an option (-x=1, --tp=8): as
// a command's first word NAME=value would be an assignment, and zsh
// expands a word that starts with =.
func bare(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_-./:,+@%", c) >= 0:
		case c == '=' && s[0] == '-':
		default:
			return false
		}
	}
	return true
}

// ValidName reports whether name can be a shell variable name: letters,
// digits and _, not starting with a digit.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Exports renders env as `export NAME=value` lines, sorted by name, for a
// shell to source or run ahead of a command. Names are checked, so that a
// name can never inject code, and values holding a NUL are refused. An
// error names the variable, never its value (values may be secrets).
func Exports(env map[string]string) (string, error) {
	names := make([]string, 0, len(env))
	for k := range env {
		if !ValidName(k) {
			return "", fmt.Errorf("environment variable name %q: want letters, digits and _, not starting with a digit", k)
		}
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		v := env[k]
		if strings.IndexByte(v, 0) >= 0 {
			return "", fmt.Errorf("environment variable %s: %w", k, ErrNUL)
		}
		b.WriteString("export " + k + "=" + Quote(v) + "\n")
	}
	return b.String(), nil
}
