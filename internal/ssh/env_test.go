package ssh

import (
	"flag"
	"os/exec"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/shellgolden"
)

var update = flag.Bool("update", false, "rewrite the rendered scripts in testdata/rendered")

// hostile holds what breaks naive quoting: quotes, spaces, $, `, newlines.
const hostile = "it's \"$(touch /tmp/fleet-pwned)\" `id` $HOME\nline2 \\ %"

// shells to check against: the POSIX sh of Debian (dash) and bash, the
// usual login shell.
func shells(t testing.TB) []string {
	var out []string
	for _, sh := range []string{"sh", "dash", "bash"} {
		if p, err := exec.LookPath(sh); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip("no shell found")
	}
	return out
}

func TestEnvOnStdinDeliversValuesOutsideTheCommandLine(t *testing.T) {
	env := map[string]string{
		"HF_TOKEN": "hf_secret'$(touch /tmp/fleet-pwned)`x`\nline2",
		// A value whose lines look like the framing must not end it early.
		"TRICKY": "a\n.\n+\n__fleet_env_end__\n",
		"EMPTY":  "",
	}
	cmd := `printf '%s\0' "$HF_TOKEN" "$TRICKY" "$EMPTY"; cat`
	line, _, err := EnvOnStdin(env, cmd, strings.NewReader("rest of stdin\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range env {
		if v != "" && strings.Contains(line, v) {
			t.Fatalf("a value is in the command line: %s", line)
		}
	}
	for _, sh := range shells(t) {
		c := exec.Command(sh, "-c", line)
		// Readers are consumed once: one per shell.
		_, stdin, _ := EnvOnStdin(env, cmd, strings.NewReader("rest of stdin\n"))
		c.Stdin = stdin
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v", sh, err)
		}
		parts := strings.SplitN(string(out), "\x00", 4)
		if len(parts) != 4 {
			t.Fatalf("%s: output %q", sh, out)
		}
		want := []string{env["HF_TOKEN"], env["TRICKY"], env["EMPTY"], "rest of stdin\n"}
		for i := range want {
			if parts[i] != want[i] {
				t.Errorf("%s: part %d = %q, want %q", sh, i, parts[i], want[i])
			}
		}
	}
}

func TestEnvOnStdinRefusesWhatCannotArrive(t *testing.T) {
	for _, env := range []map[string]string{{"A-B": "v"}, {"K": "a\x00b"}} {
		if _, _, err := EnvOnStdin(env, "true", nil); err == nil {
			t.Errorf("EnvOnStdin accepted %q", env)
		}
	}
}

// The commands this package sends, rendered into testdata/rendered where
// the shellcheck test (internal/scriptstest) checks them.
func TestRenderedShellMatchesGolden(t *testing.T) {
	line, _, err := EnvOnStdin(map[string]string{"HF_TOKEN": "secret"}, `printf %s "$HF_TOKEN"`, nil)
	if err != nil {
		t.Fatal(err)
	}
	shellgolden.Check(t, *update, "env-on-stdin.sh", shellgolden.Sh+line)
	shellgolden.Check(t, *update, "sum.sh", shellgolden.Sh+sumCommand("/srv/fleet work/"+hostile))
}
