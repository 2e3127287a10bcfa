package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

var update = flag.Bool("update", false, "rewrite the .want files of testdata/broken from the current output")

// diagLines renders diagnostics one per line as
// "file:line:col: severity: summary: detail", the form .want files hold.
func diagLines(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(&b, "%s: %s: %s\n", sev, d.Summary, d.Detail)
	}
	return b.String()
}

// readVars reads FILE.vars (one k=v a line), the --var values of a case.
func readVars(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file + ".vars")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	vars, err := ParseVars(strings.Split(strings.TrimSpace(string(data)), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

// TestBrokenFiles loads every file of testdata/broken and compares its
// diagnostics with FILE.want (name.hcl.want, name.json.want). inventory_* files are read as inventories,
// sweep_* files as sweeps checked against testdata/fleet.hcl.
func TestBrokenFiles(t *testing.T) {
	var files []string
	for _, pat := range []string{"testdata/broken/*.hcl", "testdata/broken/*.json"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 25 {
		t.Fatalf("found only %d broken files", len(files))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			l := NewLoader(readVars(t, file))
			var diags hcl.Diagnostics
			switch {
			case strings.HasPrefix(name, "inventory_"):
				inv, d := l.Inventory(file, true)
				if d.HasErrors() != (inv == nil) {
					t.Errorf("inventory is %v with errors %v: want nil exactly when there are errors", inv, d.HasErrors())
				}
				diags = d
			case strings.HasPrefix(name, "sweep_"):
				inv, d := l.Inventory("testdata/fleet.hcl", true)
				if d.HasErrors() {
					t.Fatalf("test inventory: %s", d)
				}
				sw, d := l.Sweep(file, inv)
				if d.HasErrors() != (sw == nil) {
					t.Errorf("sweep is %v with errors %v: want nil exactly when there are errors", sw, d.HasErrors())
				}
				diags = d
			default:
				t.Fatalf("%s: name must start with inventory_ or sweep_", name)
			}
			if len(diags) == 0 {
				t.Fatal("no diagnostics for a broken file")
			}
			got := diagLines(diags)
			wantFile := file + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ\n got:\n%s\nwant:\n%s", got, want)
			}

			// The rendered text names the file and line of every
			// diagnostic and quotes its source line.
			var buf bytes.Buffer
			if err := l.WriteDiagnostics(&buf, diags, false); err != nil {
				t.Fatal(err)
			}
			text := buf.String()
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(src), "\n")
			for _, d := range diags {
				if !strings.Contains(text, d.Summary) {
					t.Errorf("rendered text lacks %q:\n%s", d.Summary, text)
				}
				if d.Subject == nil || d.Subject.Filename != file {
					continue
				}
				loc := fmt.Sprintf("%s:%d:%d: %s", file, d.Subject.Start.Line, d.Subject.Start.Column, d.Summary)
				if !strings.Contains(text, loc) {
					t.Errorf("rendered text lacks %q:\n%s", loc, text)
				}
				where := fmt.Sprintf("on %s line %d", file, d.Subject.Start.Line)
				srcLine := strings.TrimSpace(lines[d.Subject.Start.Line-1])
				if !strings.Contains(text, where) || !strings.Contains(text, srcLine) {
					t.Errorf("rendered text lacks %q or the source line %q:\n%s", where, srcLine, text)
				}
			}
		})
	}
}
