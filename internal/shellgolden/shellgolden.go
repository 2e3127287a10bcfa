// Package shellgolden keeps the shell that fleet renders from Go (remote
// commands, the sbatch script, environment files) as golden files under
// each package's testdata/rendered, for tests: the package's test renders
// representative and hostile inputs and compares them with the committed
// files, and the shellcheck test (internal/scriptstest) checks every file
// of every testdata/rendered directory in its dialect.
package shellgolden

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Dir is where a package keeps its rendered scripts, relative to the
// package directory (a test's working directory).
const Dir = "testdata/rendered"

// Headers that name a fragment's dialect, for a rendered command line that
// is not a whole script: fleet's remote commands run under /bin/sh -c,
// env files are sourced by sh.
const (
	Sh      = "#!/bin/sh\n"
	Sourced = "# shellcheck shell=sh\n"
)

// Check compares script with Dir/name, rewriting the file first when
// update is set (go test -update). script must start with a #! line or a
// shellcheck shell= directive (prefix a fragment with Sh or Sourced), so
// that the shellcheck test reads it in the right dialect, and pass that
// shell's syntax check (-n), which runs even where shellcheck is not
// installed. A final newline is added where script has
// none, so that the files read well; it changes nothing a shell does.
func Check(t testing.TB, update bool, name, script string) {
	t.Helper()
	if !strings.HasSuffix(script, "\n") {
		script += "\n"
	}
	first, _, _ := strings.Cut(script, "\n")
	if !strings.HasPrefix(first, "#!") && !strings.HasPrefix(first, "# shellcheck shell=") {
		t.Fatalf("%s: rendered script starts with %q: give it a #! line or a shellcheck shell= directive", name, first)
	}
	shell := "sh"
	if strings.Contains(first, "bash") {
		shell = "bash"
	}
	syntax := exec.Command(shell, "-n")
	syntax.Stdin = strings.NewReader(script)
	if out, err := syntax.CombinedOutput(); err != nil {
		t.Errorf("%s: %s -n: %v: %s", name, shell, err, out)
	}
	path := filepath.Join(Dir, name)
	if update {
		if err := os.MkdirAll(Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal([]byte(script), want) {
		t.Errorf("rendered %s differs from %s (go test -run %s -update rewrites it) at line %d:\n%s",
			name, path, t.Name(), firstDiff(script, string(want)), script)
	}
}

// firstDiff is the 1-based number of the first line where a and b differ.
func firstDiff(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range al {
		if i >= len(bl) || al[i] != bl[i] {
			return i + 1
		}
	}
	return len(al) + 1
}
