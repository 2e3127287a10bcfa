// Package schedule runs a fleet sweep on a calendar: it writes the systemd
// user timer and service (or the crontab line) that run it, installs and
// removes them, and holds the per-schedule lock that keeps a scheduled run
// from starting while the previous one still runs.
package schedule

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Spec is one schedule: what runs, where, and when.
type Spec struct {
	Name      string   // the units' name (NAME.service, NAME.timer) and the lock's
	On        string   // when: a systemd OnCalendar expression
	Fleet     string   // the fleet binary, an absolute path
	Dir       string   // the working directory, absolute: relative paths of SweepArgs start here
	Sweep     string   // the sweep file, an absolute path
	SweepArgs []string // more flags for fleet sweep
	Env       []string // names of variables passed from the user's service manager
	EnvFile   string   // an absolute path to a NAME=value file the user keeps, or ""
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// CheckName refuses a schedule name that is not a plain unit name: it
// becomes file names and a unit name, so only letters, digits, _, . and -.
func CheckName(name string) error {
	if !nameRE.MatchString(name) || strings.HasSuffix(name, ".timer") || strings.HasSuffix(name, ".service") {
		return fmt.Errorf("schedule name %q: want 1 to 64 letters, digits, _, . or -, starting with a letter or digit, without a .timer or .service suffix", name)
	}
	return nil
}

// DefaultName is the schedule name of a sweep file: fleet-<base name>,
// with characters a unit name cannot hold replaced by -.
func DefaultName(sweepPath string) string {
	base := strings.TrimSuffix(filepath.Base(sweepPath), filepath.Ext(sweepPath))
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, base)
	name := "fleet-" + clean
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// Check says what is wrong with s, or nil.
func (s Spec) Check() error {
	if err := CheckName(s.Name); err != nil {
		return err
	}
	if strings.TrimSpace(s.On) == "" {
		return errors.New("no calendar expression: give --on, e.g. --on daily or --on '*-*-* 02:00:00'")
	}
	for _, p := range [][2]string{{"fleet binary", s.Fleet}, {"working directory", s.Dir}, {"sweep file", s.Sweep}} {
		if !filepath.IsAbs(p[1]) {
			return fmt.Errorf("%s %q: want an absolute path", p[0], p[1])
		}
	}
	if s.EnvFile != "" && !filepath.IsAbs(s.EnvFile) {
		return fmt.Errorf("environment file %q: want an absolute path", s.EnvFile)
	}
	for _, n := range s.Env {
		if !envRE.MatchString(n) {
			return fmt.Errorf("--env %q: want a variable name (letters, digits and _, not starting with a digit); values never go into the units", n)
		}
	}
	return nil
}

// Command is what a scheduled run executes: fleet's wrapper, which takes
// the schedule's lock, changes to the working directory, checks that the
// named variables are set and runs fleet sweep.
func (s Spec) Command() []string {
	cmd := []string{s.Fleet, "schedule", "run", "--dir", s.Dir}
	for _, n := range s.Env {
		cmd = append(cmd, "--require-env", n)
	}
	cmd = append(cmd, s.Name, "--", s.Sweep)
	return append(cmd, s.SweepArgs...)
}

// Marker is the first line of every file fleet writes for a schedule; a
// unit without it is someone else's, which fleet never overwrites or
// removes.
func Marker(name string) string { return "# fleet-schedule: " + name }

// header starts both units: the marker and what to do with them.
func header(name string) string {
	return Marker(name) + "\n" +
		"# Written by `fleet schedule`, which rewrites it; `fleet schedule --uninstall --name " + name + "` removes it.\n"
}

// Service is the text of NAME.service: a oneshot that runs the sweep once,
// its output in the journal (journalctl --user -u NAME).
func Service(s Spec) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	desc, err := TextValue("description", fmt.Sprintf("fleet sweep %s in %s (schedule %s)", s.Sweep, s.Dir, s.Name))
	if err != nil {
		return "", err
	}
	exec, err := ExecLine(s.Command())
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(s.Name))
	fmt.Fprintf(&b, "\n[Unit]\nDescription=%s\n", desc)
	b.WriteString("\n[Service]\nType=oneshot\n")
	fmt.Fprintf(&b, "ExecStart=%s\n", exec)
	// A run skipped because the last one still runs is no failure.
	fmt.Fprintf(&b, "SuccessExitStatus=%d\n", SkippedExit)
	if len(s.Env) > 0 {
		// Only names: the values come from the user's service manager
		// (systemctl --user import-environment NAME), never from a file
		// fleet writes.
		fmt.Fprintf(&b, "PassEnvironment=%s\n", strings.Join(s.Env, " "))
	}
	if s.EnvFile != "" {
		p, err := PathValue("environment file", s.EnvFile)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "EnvironmentFile=%s\n", p)
	}
	b.WriteString("StandardOutput=journal\nStandardError=journal\n")
	return b.String(), nil
}

// Timer is the text of NAME.timer: it starts NAME.service on the
// calendar, and at boot when a run was missed while the machine was off.
func Timer(s Spec) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	on, err := TextValue("calendar expression", s.On)
	if err != nil {
		return "", err
	}
	desc, err := TextValue("description", fmt.Sprintf("Run fleet sweep %s on %s (schedule %s)", filepath.Base(s.Sweep), s.On, s.Name))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(header(s.Name))
	fmt.Fprintf(&b, "\n[Unit]\nDescription=%s\n", desc)
	fmt.Fprintf(&b, "\n[Timer]\nOnCalendar=%s\nPersistent=true\nUnit=%s.service\n", on, s.Name)
	b.WriteString("\n[Install]\nWantedBy=timers.target\n")
	return b.String(), nil
}

// File is one file of a schedule: its name in the unit directory and its
// text.
type File struct {
	Name, Text string
}

// Units are the two files of a systemd schedule, service first.
func Units(s Spec) ([]File, error) {
	svc, err := Service(s)
	if err != nil {
		return nil, err
	}
	tmr, err := Timer(s)
	if err != nil {
		return nil, err
	}
	return []File{{s.Name + ".service", svc}, {s.Name + ".timer", tmr}}, nil
}
