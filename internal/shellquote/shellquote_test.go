package shellquote

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	"=cmd",
	"A=b",
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

func TestQuoteArrivesLiterally(t *testing.T) {
	for _, sh := range shells(t) {
		for _, v := range nastyValues {
			t.Run(sh+"/"+v, func(t *testing.T) {
				got := runShell(t, sh, "printf %s "+Quote(v))
				if string(got) != v {
					t.Errorf("value %q arrived as %q (quoted %s)", v, got, Quote(v))
				}
			})
		}
	}
}

func TestQuoteKeepsSafeWordsReadable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc"},
		{"/usr/bin/python3", "/usr/bin/python3"},
		{"--tp=8", "--tp=8"},
		{"a=b", "'a=b'"},
		{"=b", "'=b'"},
		{"/x=y", "'/x=y'"},
		{"a b", "'a b'"},
		{"", "''"},
		{"~", "'~'"},
		{"it's", `'it'\''s'`},
	}
	for _, tc := range tests {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// A quoted word is a word wherever it stands: as the first word of a
// command, NAME=value must run the program of that name, not assign.
func TestQuotedFirstWordIsACommand(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"A=b", "run=1"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, sh := range shells(t) {
			got := runShell(t, sh, "PATH="+Quote(bin)+":$PATH; "+Join(name))
			if string(got) != "ran\n" {
				t.Errorf("%s: %s as a command printed %q, want the program to run", sh, Join(name), got)
			}
		}
	}
}

func TestJoinSplitsBackIntoArgv(t *testing.T) {
	line := Join(nastyValues...)
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
	if got := Join(); got != "" {
		t.Errorf("Join() = %q, want nothing", got)
	}
}

func FuzzQuote(f *testing.F) {
	for _, v := range nastyValues {
		f.Add(v)
	}
	sh := shells(f)[0]
	f.Fuzz(func(t *testing.T, v string) {
		if strings.IndexByte(v, 0) >= 0 {
			// No argv carries a NUL; Exports refuses one.
			if _, err := Exports(map[string]string{"V": v}); !errors.Is(err, ErrNUL) {
				t.Fatalf("Exports accepted a NUL in %q (err %v)", v, err)
			}
			return
		}
		q := Quote(v)
		out, err := exec.Command(sh, "-c", "printf %s "+q).Output()
		if err != nil {
			t.Fatalf("sh -c printf %%s %s: %v", q, err)
		}
		if !bytes.Equal(out, []byte(v)) {
			t.Fatalf("value %q arrived as %q (quoted %s)", v, out, q)
		}
		env, err := Exports(map[string]string{"V": v})
		if err != nil {
			t.Fatal(err)
		}
		out, err = exec.Command(sh, "-c", env+`printf %s "$V"`).Output()
		if err != nil || !bytes.Equal(out, []byte(v)) {
			t.Fatalf("exported %q arrived as %q (%v; script %q)", v, out, err, env)
		}
	})
}

func TestExportsRejectsBadNamesAndNUL(t *testing.T) {
	for _, name := range []string{"", "1X", "A-B", "A B", "A=B", "$(x)", "A;rm -rf /", "é"} {
		if _, err := Exports(map[string]string{name: "v"}); err == nil {
			t.Errorf("Exports accepted the name %q", name)
		}
	}
	for _, name := range []string{"A", "_", "HF_TOKEN", "a1_2"} {
		if _, err := Exports(map[string]string{name: "v"}); err != nil {
			t.Errorf("Exports refused the name %q: %v", name, err)
		}
	}
	for _, v := range []string{"\x00", "a\x00b", "end\x00"} {
		_, err := Exports(map[string]string{"K": "ok", "TOKEN": v})
		if !errors.Is(err, ErrNUL) {
			t.Errorf("Exports with %q: error = %v, want ErrNUL", v, err)
		}
		if err != nil && strings.Contains(err.Error(), v) {
			t.Errorf("the error carries the value: %v", err)
		}
	}
}

func TestExportsAreSortedAndArrive(t *testing.T) {
	env := map[string]string{"B": "two words", "A": "1", "C": "it's $(x)\n"}
	got, err := Exports(env)
	if err != nil {
		t.Fatal(err)
	}
	want := "export A=1\nexport B='two words'\nexport C='it'\\''s $(x)\n'\n"
	if got != want {
		t.Errorf("Exports = %q, want %q", got, want)
	}
	for _, sh := range shells(t) {
		out := runShell(t, sh, got+`printf '%s\0' "$A" "$B" "$C"`)
		if want := "1\x00two words\x00it's $(x)\n\x00"; string(out) != want {
			t.Errorf("%s: values arrived as %q, want %q", sh, out, want)
		}
	}
	if got, err := Exports(nil); err != nil || got != "" {
		t.Errorf("Exports(nil) = %q, %v; want nothing", got, err)
	}
}
