package ssh

import (
	"bytes"
	"io"
	"strings"

	"github.com/fleetbench/fleet/internal/shellquote"
)

// envOnStdinPrefix reads the framed export lines that EnvOnStdin sends up
// to the line ".", and evaluates them before the command runs.
const envOnStdinPrefix = `__fleet_env=; while IFS= read -r __fleet_l && [ "$__fleet_l" != . ]; do ` +
	`__fleet_env="$__fleet_env${__fleet_l#+}
"; done; eval "$__fleet_env"; unset __fleet_env __fleet_l; `

// EnvOnStdin returns the command line and stdin for Exec that run cmd
// with env exported, the values travelling on stdin only, so that no
// value, secrets above all, is in the command line (visible in ps, /proc
// and sshd's logs); the command line names only the variables. cmd's own
// stdin continues with rest (nil: empty). The export lines go prefixed
// with "+" and end with a line "." so no value, however many lines it
// spans, can end them early; the shell's read builtin takes one byte at a
// time from a pipe, so nothing of rest is swallowed.
func EnvOnStdin(env map[string]string, cmd string, rest io.Reader) (string, io.Reader, error) {
	script, err := shellquote.Exports(env)
	if err != nil {
		return "", nil, err
	}
	var framed bytes.Buffer
	for _, line := range strings.SplitAfter(script, "\n") {
		if line != "" {
			framed.WriteString("+" + line)
		}
	}
	framed.WriteString(".\n")
	var stdin io.Reader = &framed
	if rest != nil {
		stdin = io.MultiReader(&framed, rest)
	}
	return envOnStdinPrefix + cmd, stdin, nil
}
