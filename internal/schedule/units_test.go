package schedule

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden units in testdata")

// plainSpec is a schedule as most labs would write it.
func plainSpec() Spec {
	return Spec{
		Name:      "fleet-nightly",
		On:        "*-*-* 02:00:00",
		Fleet:     "/usr/local/bin/fleet",
		Dir:       "/srv/lab",
		Sweep:     "/srv/lab/sweeps/full.hcl",
		SweepArgs: []string{"-i", "inventory.hcl", "--only", "gpu=h200"},
		Env:       []string{"HF_TOKEN"},
	}
}

// hostileSpec has every value a unit file could misread, where fleet
// takes one: spaces, both quotes, %, $, backslashes, a lone ;.
func hostileSpec() Spec {
	lab := `/srv/it's "the" lab $HOME \ 50%`
	return Spec{
		Name:      "lab.nightly_2",
		On:        "Mon..Fri 01:30",
		Fleet:     "/opt/my tools 100% $X/fleet",
		Dir:       lab,
		Sweep:     lab + "/sweeps/a b.hcl",
		SweepArgs: []string{"--only", "config=*h200*", "--var", `note=it's "x" %h $USER \`, ";"},
		Env:       []string{"HF_TOKEN", "WANDB_API_KEY"},
		EnvFile:   "/home/u/my secrets 100%/fleet.env",
	}
}

func TestUnitsMatchTheGoldenFiles(t *testing.T) {
	for name, spec := range map[string]Spec{"plain": plainSpec(), "hostile": hostileSpec()} {
		files, err := Units(spec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, f := range files {
			golden := filepath.Join("testdata", name+filepath.Ext(f.Name))
			if *update {
				if err := os.WriteFile(golden, []byte(f.Text), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if f.Text != string(want) {
				t.Errorf("%s: %s differs from %s (go test -update rewrites it):\n%s", name, f.Name, golden, f.Text)
			}
		}
	}
}

func TestTheServiceRunsTheWrapperWithEveryArgument(t *testing.T) {
	spec := hostileSpec()
	svc, err := Service(spec)
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(svc, "\n") {
		if strings.HasPrefix(l, "ExecStart=") {
			line = strings.TrimPrefix(l, "ExecStart=")
		}
	}
	// Split as systemd does for these words: each is bare or one quoted
	// word, so a blank outside quotes separates.
	var words []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && quoted:
			cur.WriteByte(c)
			cur.WriteByte(line[i+1])
			i++
		case c == '"':
			quoted = !quoted
			cur.WriteByte(c)
		case c == ' ' && !quoted:
			words = append(words, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	words = append(words, cur.String())
	want := spec.Command()
	if len(words) != len(want) {
		t.Fatalf("ExecStart has %d words, want %d: %s", len(words), len(want), line)
	}
	if words[0] != `"/opt/my tools 100%% $X/fleet"` {
		t.Errorf("program %s: want the path quoted, %% doubled, $ as it is", words[0])
	}
	for i := 1; i < len(want); i++ {
		if got := execUnquote(t, words[i]); got != want[i] {
			t.Errorf("word %d is %s, read back as %q; want %q", i, words[i], got, want[i])
		}
	}
	if !strings.Contains(svc, "\nPassEnvironment=HF_TOKEN WANDB_API_KEY\n") || !strings.Contains(svc, "\nEnvironmentFile=/home/u/my secrets 100%%/fleet.env\n") {
		t.Errorf("the service does not pass the named variables and the file:\n%s", svc)
	}
}

func TestSpecCheckRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Spec)
		err    string
	}{
		{"a name with a slash", func(s *Spec) { s.Name = "a/b" }, "schedule name"},
		{"a name with a unit suffix", func(s *Spec) { s.Name = "x.timer" }, "schedule name"},
		{"no calendar", func(s *Spec) { s.On = " " }, "--on"},
		{"a relative sweep", func(s *Spec) { s.Sweep = "sweeps/full.hcl" }, "absolute"},
		{"a relative directory", func(s *Spec) { s.Dir = "lab" }, "absolute"},
		{"a variable with its value", func(s *Spec) { s.Env = []string{"HF_TOKEN=hf_secret"} }, "values never go into the units"},
		{"a relative environment file", func(s *Spec) { s.EnvFile = "fleet.env" }, "absolute"},
		{"a newline in the calendar", func(s *Spec) { s.On = "daily\nExecStartPre=/bin/rm" }, "control character"},
		{"a newline in a sweep flag", func(s *Spec) { s.SweepArgs = []string{"--var", "a=b\nExecStartPre=/bin/rm"} }, "control character"},
		{"a quote in the program", func(s *Spec) { s.Fleet = `/opt/o'brien/fleet` }, "quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := plainSpec()
			tt.change(&s)
			_, err := Units(s)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Units: %v, want an error saying %q", err, tt.err)
			}
		})
	}
}

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"sweeps/full.hcl":          "fleet-full",
		"/srv/lab/my sweep!.hcl":   "fleet-my-sweep-",
		"nightly.json":             "fleet-nightly",
		strings.Repeat("x", 80):    "fleet-" + strings.Repeat("x", 58),
		"sweeps/h200.fp8.full.hcl": "fleet-h200.fp8.full",
	} {
		got := DefaultName(in)
		if got != want {
			t.Errorf("DefaultName(%q) = %q, want %q", in, got, want)
		}
		if err := CheckName(got); err != nil {
			t.Errorf("DefaultName(%q) = %q, which CheckName refuses: %v", in, got, err)
		}
	}
}

// TestSystemdAcceptsTheUnits has systemd-analyze verify load the units of
// a plain and a hostile schedule as the user's manager would. The program
// is a real file at a hostile path, since verify checks that the path it
// reads from ExecStart= is an executable file: a quoting mistake there
// fails. Without systemd-analyze it fails, except under -short (CI
// installs the Debian package systemd).
func TestSystemdAcceptsTheUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if testing.Short() {
			t.Skip("systemd-analyze is not installed")
		}
		t.Fatal("systemd-analyze is not installed (apt-get install systemd)")
	}
	tmp := t.TempDir()
	prog := filepath.Join(tmp, "my tools 100% $X %h", "fleet")
	if err := os.MkdirAll(filepath.Dir(prog), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	verify := func(t *testing.T, s Spec) (string, error) {
		dir := t.TempDir()
		files, err := Units(s)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, f := range files {
			p := filepath.Join(dir, f.Name)
			if err := os.WriteFile(p, []byte(f.Text), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		cmd := exec.Command(analyze, append([]string{"verify", "--user"}, paths...)...)
		// The user manager's runtime directory, which a test machine may
		// lack.
		runtime := t.TempDir()
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime, "HOME="+t.TempDir())
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		return out.String(), err
	}
	for name, s := range map[string]Spec{"plain": plainSpec(), "hostile": hostileSpec()} {
		t.Run(name, func(t *testing.T) {
			s.Fleet = prog
			// verify warns, and still succeeds, about what it ignores: any
			// output is a finding.
			if out, err := verify(t, s); err != nil || out != "" {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
	t.Run("a program that is not there fails", func(t *testing.T) {
		s := hostileSpec()
		s.Fleet = prog + "-missing"
		if out, err := verify(t, s); err == nil || !strings.Contains(out, "fleet-missing") {
			t.Errorf("systemd-analyze verify took a unit whose program is missing: %v\n%s", err, out)
		}
	})
}
