package ssh

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

// nastyValues are the values a config may hold that break naive quoting.
var nastyValues = []string{
	"",
	"plain",
	"two words",
	"it's",
	`'`,
	`''`,
	`'\''`,
	`"double" quotes`,
	"$(touch /tmp/fleet-pwned)",
	"`touch /tmp/fleet-pwned`",
	"$HOME ${HOME} $$ $? $0 $1",
	`back\slash\\ \n \t`,
	"new\nline\n",
	"\n",
	"trailing newlines\n\n\n",
	"tab\tand\rcarriage",
	"; rm -rf / #",
	"a && b || c | d > e < f & g",
	"*?[abc]{x,y}~",
	"~root",
	"-n",
	"--flag=value",
	"%s %d %%",
	"日本語 émoji 🚀",
	"\x01\x02\x7f\xff\xfe invalid utf8",
	"KEY=value",
	strings.Repeat("'", 100),
}

// shells to check quoting against: the POSIX sh of Debian (dash) and bash,
// the usual login shell.
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

func runShell(t testing.TB, shell, script string) []byte {
	t.Helper()
	out, err := exec.Command(shell, "-c", script).Output()
	if err != nil {
		t.Fatalf("%s -c %q: %v", shell, script, err)
	}
	return out
}

func TestShellQuoteArrivesLiterally(t *testing.T) {
	for _, sh := range shells(t) {
		for _, v := range nastyValues {
			t.Run(sh+"/"+v, func(t *testing.T) {
				got := runShell(t, sh, "printf %s "+ShellQuote(v))
				if string(got) != v {
					t.Errorf("value %q arrived as %q (quoted %s)", v, got, ShellQuote(v))
				}
			})
		}
	}
}

func TestShellQuoteKeepsSafeWordsReadable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc"},
		{"/usr/bin/python3", "/usr/bin/python3"},
		{"--tp=8", "'--tp=8'"},
		{"a b", "'a b'"},
		{"", "''"},
		{"it's", `'it'\''s'`},
	}
	for _, tc := range tests {
		if got := ShellQuote(tc.in); got != tc.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestQuoteRejectsNUL(t *testing.T) {
	for _, v := range []string{"\x00", "a\x00b", "end\x00"} {
		if _, err := Quote(v); !errors.Is(err, ErrNUL) {
			t.Errorf("Quote(%q) error = %v, want ErrNUL", v, err)
		}
		if _, err := QuoteArgs([]string{"ok", v}); !errors.Is(err, ErrNUL) {
			t.Errorf("QuoteArgs with %q: error = %v, want ErrNUL", v, err)
		}
		if _, err := EnvScript(map[string]string{"K": v}); !errors.Is(err, ErrNUL) {
			t.Errorf("EnvScript with %q: error = %v, want ErrNUL", v, err)
		}
	}
}

func TestQuoteArgsSplitsBackIntoArgv(t *testing.T) {
	line, err := QuoteArgs(nastyValues)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shells(t) {
		// Each argument followed by a NUL, which no argument contains.
		out := runShell(t, sh, `printf '%s\0' `+line)
		got := strings.Split(string(out), "\x00")
		got = got[:len(got)-1]
		if len(got) != len(nastyValues) {
			t.Fatalf("%s: %d arguments arrived, want %d", sh, len(got), len(nastyValues))
		}
		for i := range got {
			if got[i] != nastyValues[i] {
				t.Errorf("%s: argument %d arrived as %q, want %q", sh, i, got[i], nastyValues[i])
			}
		}
	}
}

func FuzzShellQuote(f *testing.F) {
	for _, v := range nastyValues {
		f.Add(v)
	}
	sh := shells(f)[0]
	f.Fuzz(func(t *testing.T, v string) {
		q, err := Quote(v)
		if strings.IndexByte(v, 0) >= 0 {
			if !errors.Is(err, ErrNUL) {
				t.Fatalf("Quote(%q) accepted a NUL", v)
			}
			return
		}
		if err != nil {
			t.Fatalf("Quote(%q): %v", v, err)
		}
		out, err := exec.Command(sh, "-c", "printf %s "+q).Output()
		if err != nil {
			t.Fatalf("sh -c printf %s %s: %v", "%s", q, err)
		}
		if !bytes.Equal(out, []byte(v)) {
			t.Fatalf("value %q arrived as %q (quoted %s)", v, out, q)
		}
	})
}

func TestEnvScriptRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "1X", "A-B", "A B", "A=B", "$(x)", "é"} {
		if _, err := EnvScript(map[string]string{name: "v"}); err == nil {
			t.Errorf("EnvScript accepted the name %q", name)
		}
	}
	for _, name := range []string{"A", "_", "HF_TOKEN", "a1_2"} {
		if _, err := EnvScript(map[string]string{name: "v"}); err != nil {
			t.Errorf("EnvScript refused the name %q: %v", name, err)
		}
	}
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

func TestEnvScriptIsSortedExports(t *testing.T) {
	got, err := EnvScript(map[string]string{"B": "two words", "A": "1"})
	if err != nil {
		t.Fatal(err)
	}
	want := "export A=1\nexport B='two words'\n"
	if string(got) != want {
		t.Errorf("EnvScript = %q, want %q", got, want)
	}
	if !utf8.Valid(got) {
		t.Error("not UTF-8")
	}
}
