package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ErrNUL is returned for a value holding a NUL byte: no shell word, file
// name or environment variable can carry one, so it cannot arrive intact.
var ErrNUL = errors.New("value contains a NUL byte, which no shell can pass")

// ShellQuote makes s one literal word for a POSIX shell: single quotes,
// with each ' written as '\”. Inside single quotes nothing is special: $,
// `, \, newlines all arrive as they are. s must not contain NUL (see Quote).
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if isShellSafe(s) {
		// Plain words stay readable in logs and ps output.
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Quote is ShellQuote for values from outside (config, users): it refuses
// a NUL byte instead of letting the remote shell cut the value short.
func Quote(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", ErrNUL
	}
	return ShellQuote(s), nil
}

// QuoteArgs quotes every word of argv and joins them with spaces: a
// command line that a remote shell splits back into exactly argv.
func QuoteArgs(argv []string) (string, error) {
	words := make([]string, len(argv))
	for i, a := range argv {
		q, err := Quote(a)
		if err != nil {
			return "", fmt.Errorf("argument %d: %w", i, err)
		}
		words[i] = q
	}
	return strings.Join(words, " "), nil
}

func isShellSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_-./:,+@%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ValidEnvName reports whether name can be a shell variable name.
func ValidEnvName(name string) bool {
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

// EnvScript renders env as `export K='v'` lines, sorted by name, for a
// shell to source. It is how values, secrets above all, reach a remote
// command without being in its command line (visible in ps, /proc and
// sshd's logs): send it on the session's stdin and have the command read
// it first (SourceStdin), or Put it in a 0600 file that the job script
// sources. The command line then names only the variables, never values.
func EnvScript(env map[string]string) ([]byte, error) {
	names := make([]string, 0, len(env))
	for k := range env {
		if !ValidEnvName(k) {
			return nil, fmt.Errorf("environment variable name %q: want letters, digits and _", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		q, err := Quote(env[k])
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", k, err)
		}
		fmt.Fprintf(&b, "export %s=%s\n", k, q)
	}
	return []byte(b.String()), nil
}

// EnvOnStdin returns the command line and stdin for Exec that run cmd
// with env exported, the values travelling on stdin only; cmd's own stdin
// continues with rest (nil: empty). The script's lines go prefixed with
// "+" and end with a line "." so no value, however many lines it spans,
// can end the script early; the shell's read builtin takes one byte at a
// time from a pipe, so nothing of rest is swallowed.
func EnvOnStdin(env map[string]string, cmd string, rest io.Reader) (string, io.Reader, error) {
	script, err := EnvScript(env)
	if err != nil {
		return "", nil, err
	}
	var framed bytes.Buffer
	for _, line := range strings.SplitAfter(string(script), "\n") {
		if line != "" {
			framed.WriteString("+" + line)
		}
	}
	framed.WriteString(".\n")
	var stdin io.Reader = &framed
	if rest != nil {
		stdin = io.MultiReader(&framed, rest)
	}
	prefix := `__fleet_env=; while IFS= read -r __fleet_l && [ "$__fleet_l" != . ]; do ` +
		`__fleet_env="$__fleet_env${__fleet_l#+}
"; done; eval "$__fleet_env"; unset __fleet_env __fleet_l; `
	return prefix + cmd, stdin, nil
}
