package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/schedule"
	"github.com/fleetbench/fleet/internal/shellquote"
)

// scheduleOptions are the flags of fleet schedule.
type scheduleOptions struct {
	on        string
	name      string
	cron      bool
	install   bool
	uninstall bool
	env       []string
	envFile   string
	dir       string
	fleet     string
}

func (a *App) scheduleCmd() *cobra.Command {
	var o scheduleOptions
	cmd := &cobra.Command{
		Use:   "schedule SWEEP --on CALENDAR [flags] [-- fleet sweep flags]",
		Short: "Run a sweep on a calendar: a systemd user timer, or a cron line",
		Long: `Print (or, with --install, install for this user) a systemd timer and
service that run 'fleet sweep SWEEP' on a calendar, or with --cron a crontab
line that does.

CALENDAR is systemd's OnCalendar syntax: daily, '*-*-* 02:00:00',
'Mon..Fri 01:30' (systemd-analyze calendar checks it when it is installed).
With --cron it is a 5-field cron expression, or one of the simple systemd
forms (daily, hourly, weekly, monthly, [Mon..Fri] HH:MM), translated.

The units hold absolute paths: this fleet binary (--fleet), the sweep file
and the working directory (--dir), where relative paths among the sweep
flags after -- are read. They hold no secret: --env NAME passes the
variable NAME from the user's service manager (set it with
'systemctl --user import-environment NAME'), --env-file FILE reads a file of
NAME=value lines that you keep (fleet never writes it). A timer missed while
the machine was off runs at the next boot; the output goes to the journal
(journalctl --user -u NAME).

The units run 'fleet schedule run NAME -- SWEEP ...', which takes the
schedule's lock first: a run that finds the previous one still running
logs "previous run of NAME still running (pid P), not starting" and exits 5.

--install writes NAME.service and NAME.timer into
$XDG_CONFIG_HOME/systemd/user (~/.config/systemd/user), reloads systemd and
enables the timer; it rewrites units it wrote before and refuses others.
--uninstall disables and removes them. With --cron, --install and
--uninstall print the crontab command to run rather than editing your
crontab.`,
		Example: `  fleet schedule sweeps/full.hcl --on '*-*-* 02:00:00' --env HF_TOKEN -- -i inventory.hcl --only gpu=h200
  fleet schedule sweeps/full.hcl --on daily --install
  fleet schedule sweeps/full.hcl --on 'Mon..Fri 01:30' --cron
  fleet schedule --uninstall --name fleet-full`,
		Args: func(cmd *cobra.Command, args []string) error {
			n := len(args)
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				n = dash
			}
			switch {
			case n > 1:
				return fmt.Errorf("want one sweep file, got %d arguments before --: %q", n, args[:n])
			case n == 0 && !(o.uninstall && o.name != ""):
				return errors.New("want the sweep file to schedule (only --uninstall --name NAME goes without)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var sweepArgs []string
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				args, sweepArgs = args[:dash], args[dash:]
			}
			return a.runSchedule(cmd.Context(), &o, args, sweepArgs)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.on, "on", "", "when to run: a systemd calendar expression (daily, '*-*-* 02:00:00', 'Mon..Fri 01:30'); with --cron, a 5-field cron expression or a simple systemd form")
	f.StringVar(&o.name, "name", "", "name of the schedule: its units (NAME.timer, NAME.service) and its lock (default fleet-<sweep name>)")
	f.BoolVar(&o.cron, "cron", false, "print a crontab line instead of systemd units")
	f.BoolVar(&o.install, "install", false, "install the units for this user and enable the timer (with --cron: print the crontab command)")
	f.BoolVar(&o.uninstall, "uninstall", false, "disable and remove the schedule's units (with --cron: print the crontab command)")
	f.StringArrayVar(&o.env, "env", nil, "pass the variable NAME to the sweep from the user's service manager; the value is never written; repeatable")
	f.StringVar(&o.envFile, "env-file", "", "a file of NAME=value lines that you keep, read when the sweep starts (systemd EnvironmentFile=; sourced by the cron line)")
	f.StringVar(&o.dir, "dir", "", "working directory of the scheduled runs (default the current one)")
	f.StringVar(&o.fleet, "fleet", "", "the fleet binary the schedule runs (default this one)")
	cmd.MarkFlagsMutuallyExclusive("install", "uninstall")
	cmd.AddCommand(a.scheduleRunCmd())
	return cmd
}

// runSchedule prints, installs or removes one schedule.
func (a *App) runSchedule(ctx context.Context, o *scheduleOptions, args, sweepArgs []string) error {
	if o.uninstall && o.name != "" && len(args) == 0 {
		return a.uninstallSchedule(ctx, o.name, o.cron)
	}
	spec, err := a.scheduleSpec(o, args[0], sweepArgs)
	if err != nil {
		return err
	}
	if o.uninstall {
		return a.uninstallSchedule(ctx, spec.Name, o.cron)
	}
	if o.on == "" {
		return usageError{errors.New("give --on CALENDAR: when the sweep runs, e.g. --on daily or --on '*-*-* 02:00:00'")}
	}
	if o.cron {
		line, err := schedule.CronLine(spec)
		if err != nil {
			return usageError{err}
		}
		fmt.Fprintln(a.Stdout, line)
		if o.install {
			// fleet does not edit a crontab: it is the user's file, often
			// with hand-made lines, and one command shows what changes.
			fmt.Fprintf(a.Stdout, "\nfleet does not edit your crontab. To add the line (replacing an earlier one of %s), run:\n\n  %s\n\nOutput goes to %s.\n",
				spec.Name, cronReplaceCommand(spec.Name, line), schedule.CronLog(spec))
		}
		return nil
	}
	if analyze := findTool(a.Getenv("PATH"), "systemd-analyze"); analyze != "" {
		if err := schedule.CheckCalendar(ctx, analyze, spec.On); err != nil {
			return usageError{err}
		}
	}
	files, err := schedule.Units(spec)
	if err != nil {
		return usageError{err}
	}
	dir, err := schedule.UserUnitDir(a.Getenv)
	if err != nil {
		return err
	}
	if !o.install {
		for i, f := range files {
			if i > 0 {
				fmt.Fprintln(a.Stdout)
			}
			fmt.Fprintf(a.Stdout, "# %s\n%s", filepath.Join(dir, f.Name), f.Text)
		}
		fmt.Fprintf(a.Stderr, "fleet: install these with the same command and --install\n")
		return nil
	}
	return a.installSchedule(ctx, dir, spec, files)
}

// scheduleSpec resolves the flags into a schedule: absolute paths, a
// name, and sweep flags that fleet sweep takes.
func (a *App) scheduleSpec(o *scheduleOptions, sweepPath string, sweepArgs []string) (schedule.Spec, error) {
	s := schedule.Spec{Name: o.name, On: o.on, Env: o.env, SweepArgs: sweepArgs}
	if s.Name == "" {
		s.Name = schedule.DefaultName(sweepPath)
	}
	if err := schedule.CheckName(s.Name); err != nil {
		return s, usageError{err}
	}
	var err error
	dir := o.dir
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return s, fmt.Errorf("working directory: %w", err)
		}
	}
	if s.Dir, err = filepath.Abs(dir); err != nil {
		return s, fmt.Errorf("--dir %s: %w", dir, err)
	}
	if o.uninstall {
		return s, nil
	}
	if info, err := os.Stat(s.Dir); err != nil || !info.IsDir() {
		return s, usageError{fmt.Errorf("--dir %s: not a directory", s.Dir)}
	}
	// A relative sweep path is the user's, from where they type.
	if s.Sweep, err = filepath.Abs(sweepPath); err != nil {
		return s, fmt.Errorf("sweep %s: %w", sweepPath, err)
	}
	if _, err := os.Stat(s.Sweep); err != nil {
		return s, usageError{fmt.Errorf("sweep %s: %w", sweepPath, err)}
	}
	if o.envFile != "" {
		if s.EnvFile, err = filepath.Abs(o.envFile); err != nil {
			return s, fmt.Errorf("--env-file %s: %w", o.envFile, err)
		}
	}
	s.Fleet = o.fleet
	if s.Fleet == "" {
		if s.Fleet, err = os.Executable(); err != nil {
			return s, fmt.Errorf("find the fleet binary (give --fleet PATH): %w", err)
		}
		if strings.HasPrefix(s.Fleet, os.TempDir()+string(filepath.Separator)) {
			fmt.Fprintf(a.Stderr, "fleet: warning: this fleet runs from a temporary directory (go run?): the schedule would run %s; give --fleet PATH\n", s.Fleet)
		}
	}
	if s.Fleet, err = filepath.Abs(s.Fleet); err != nil {
		return s, fmt.Errorf("--fleet %s: %w", o.fleet, err)
	}
	if err := a.checkSweepArgs(sweepArgs); err != nil {
		return s, err
	}
	if err := s.Check(); err != nil {
		return s, usageError{err}
	}
	return s, nil
}

// checkSweepArgs parses the flags for fleet sweep now, so that a typo
// fails here rather than at two in the morning. A schedule starts a new
// run each time, so the flags that pick a run are refused.
func (a *App) checkSweepArgs(args []string) error {
	sw := a.sweepCmd()
	sw.SetOut(io.Discard)
	sw.SetErr(io.Discard)
	if err := sw.ParseFlags(args); err != nil {
		return usageError{fmt.Errorf("fleet sweep flags after --: %w", err)}
	}
	if rest := sw.Flags().Args(); len(rest) > 0 {
		return usageError{fmt.Errorf("fleet sweep flags after --: %q: the sweep file goes before --", rest)}
	}
	for _, name := range []string{"resume", "rerun-failed", "run-id"} {
		if sw.Flags().Changed(name) {
			return usageError{fmt.Errorf("fleet sweep flags after --: --%s: every scheduled run is a new run, named <time>-<sweep name>", name)}
		}
	}
	return nil
}

// installSchedule writes the units and enables the timer.
func (a *App) installSchedule(ctx context.Context, dir string, spec schedule.Spec, files []schedule.File) error {
	written, err := schedule.Install(dir, spec.Name, files)
	if err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		state := "unchanged"
		if slices.Contains(written, p) {
			state = "written"
		}
		fmt.Fprintf(a.Stdout, "%s: %s\n", p, state)
	}
	steps := [][]string{{"--user", "daemon-reload"}, {"--user", "enable", "--now", spec.Name + ".timer"}}
	if err := a.systemctl(ctx, steps); err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "Next runs: systemctl --user list-timers %s.timer\nLogs: journalctl --user -u %s.service\nRun now: systemctl --user start %s.service\n",
		spec.Name, spec.Name, spec.Name)
	fmt.Fprintf(a.Stdout, "The timer runs while you are logged in; to run it when you are not: loginctl enable-linger %s\n", shellquote.Quote(userName(a.Getenv)))
	return nil
}

// uninstallSchedule disables the timer and removes the units, or with
// cron prints how to remove the line.
func (a *App) uninstallSchedule(ctx context.Context, name string, cron bool) error {
	if cron {
		fmt.Fprintf(a.Stdout, "fleet does not edit your crontab. To remove the line of %s, run:\n\n  crontab -l | grep -v %s | crontab -\n",
			name, shellquote.Quote(regexp.QuoteMeta(" "+schedule.Marker(name))+"$"))
		return nil
	}
	dir, err := schedule.UserUnitDir(a.Getenv)
	if err != nil {
		return err
	}
	found, err := schedule.Installed(dir, name)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		fmt.Fprintf(a.Stdout, "No schedule %s in %s: nothing to remove.\n", name, dir)
		return nil
	}
	// Disabling stops the timer; a run under way finishes on its own.
	if err := a.systemctl(ctx, [][]string{{"--user", "disable", "--now", name + ".timer"}}); err != nil {
		return err
	}
	removed, err := schedule.Remove(dir, name)
	for _, p := range removed {
		fmt.Fprintf(a.Stdout, "%s: removed\n", p)
	}
	if err != nil {
		return err
	}
	return a.systemctl(ctx, [][]string{{"--user", "daemon-reload"}})
}

// systemctl runs each step with systemctl, or, where there is none, says
// what to run.
func (a *App) systemctl(ctx context.Context, steps [][]string) error {
	bin := findTool(a.Getenv("PATH"), "systemctl")
	if bin == "" {
		fmt.Fprintln(a.Stdout, "systemctl is not on PATH; where your user's systemd runs, run:")
		for _, s := range steps {
			fmt.Fprintf(a.Stdout, "  systemctl %s\n", shellquote.Join(s...))
		}
		return nil
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, bin, s...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("systemctl %s: %w: %s", strings.Join(s, " "), err, strings.TrimSpace(out.String()))
		}
		fmt.Fprintf(a.Stdout, "systemctl %s: ok\n", strings.Join(s, " "))
	}
	return nil
}

// cronReplaceCommand is the shell command that puts line into the user's
// crontab in place of an earlier line of the same schedule.
func cronReplaceCommand(name, line string) string {
	return fmt.Sprintf("( crontab -l 2>/dev/null | grep -v %s; echo %s ) | crontab -",
		shellquote.Quote(regexp.QuoteMeta(" "+schedule.Marker(name))+"$"), shellquote.Quote(line))
}

// findTool looks name up in a PATH list, as a shell would; "" when it is
// not there.
func findTool(pathList, name string) string {
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func userName(getenv func(string) string) string {
	if u := getenv("USER"); u != "" {
		return u
	}
	return "$USER"
}

// scheduleRunCmd is what a schedule's timer or cron line runs.
func (a *App) scheduleRunCmd() *cobra.Command {
	var (
		dir        string
		requireEnv []string
	)
	cmd := &cobra.Command{
		Use:   "run NAME -- SWEEP [fleet sweep flags]",
		Short: "Run a schedule's sweep, unless the schedule's previous run still runs (what its timer or cron line calls)",
		Long: `Take schedule NAME's lock (.fleet-schedule-NAME.lock in the working
directory), then run 'fleet sweep SWEEP ...' in this process. When the
previous run of NAME still holds the lock, log "previous run of NAME still
running (pid P), not starting" and exit 1 without starting anything.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return errors.New("want NAME -- SWEEP [fleet sweep flags]")
			}
			return schedule.CheckName(args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScheduled(cmd.Context(), args[0], dir, requireEnv, args[1:])
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "change to this directory first (default the current one)")
	cmd.Flags().StringArrayVar(&requireEnv, "require-env", nil, "refuse to start when the variable NAME is not set; repeatable")
	return cmd
}

// runScheduled runs one scheduled sweep under the schedule's lock.
func (a *App) runScheduled(ctx context.Context, name, dir string, requireEnv, sweepArgs []string) error {
	if dir != "" {
		// The process exists to run this one sweep: its relative paths
		// (the results directory, an inventory) are the schedule's
		// working directory's, as for a person who typed it there.
		if err := os.Chdir(dir); err != nil {
			return fmt.Errorf("schedule %s: %w", name, err)
		}
	}
	var missing []string
	for _, n := range requireEnv {
		if a.Getenv(n) == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("schedule %s: %s not set: import it into the user's service manager (systemctl --user import-environment %s) or put it in the --env-file",
			name, strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("schedule %s: working directory: %w", name, err)
	}
	lg := a.logger()
	lock, err := schedule.Acquire(schedule.LockPath(wd, name), name)
	var running *schedule.RunningError
	if errors.As(err, &running) {
		lg.Warn(running.Error())
		return errSilent{ExitSkipped}
	}
	if err != nil {
		return err
	}
	defer lock.Release()
	lg.Info(fmt.Sprintf("schedule %s: starting fleet sweep", name), "dir", wd, "args", strings.Join(sweepArgs, " "))
	// The root command re-reads its persistent flags: pass them on.
	var args []string
	if a.logFormat != "" {
		args = append(args, "--log-format", a.logFormat)
	}
	args = append(args, "--log-level", a.logLevel, "sweep")
	code := a.Run(ctx, append(args, sweepArgs...))
	lg.Info(fmt.Sprintf("schedule %s: fleet sweep ended", name), "exit", code)
	if code != ExitOK {
		return errSilent{code}
	}
	return nil
}
