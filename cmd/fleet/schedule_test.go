package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/schedule"
)

// fleetBinary is the fleet TestMain built, for tests that need separate
// processes.
func fleetBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(agentDir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the fleet TestMain builds: %v", err)
	}
	return bin
}

// fakeTools makes a directory of stand-ins for systemctl and crontab that
// record their arguments, one call per line, in calls; systemctl fails
// when failWith is not empty, saying it. crontab keeps its table in the
// file tab, and reads a new table whole before replacing the old, as the
// real one does.
func fakeTools(t *testing.T, failWith string) (binDir, calls, tab string) {
	t.Helper()
	binDir = t.TempDir()
	calls = filepath.Join(t.TempDir(), "calls")
	tab = filepath.Join(t.TempDir(), "crontab")
	systemctl := fmt.Sprintf("#!/bin/sh\necho \"systemctl $*\" >>'%s'\n", calls)
	if failWith != "" {
		systemctl += fmt.Sprintf("echo '%s' >&2\nexit 1\n", failWith)
	}
	crontab := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = -l ]; then cat '%[1]s' 2>/dev/null || { echo 'no crontab for you' >&2; exit 1; }; else new=$(cat); printf '%%s\\n' \"$new\" >'%[1]s'; fi\n", tab)
	for name, text := range map[string]string{"systemctl": systemctl, "crontab": crontab} {
		if err := os.WriteFile(filepath.Join(binDir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return binDir, calls, tab
}

func readCalls(t *testing.T, calls string) []string {
	t.Helper()
	data, err := os.ReadFile(calls)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// scheduleEnv is the environment of a schedule command: its own unit
// directory and a PATH of only the given directory (no systemd-analyze,
// so no calendar check, unless the test asks for it).
func scheduleEnv(t *testing.T, path string) (map[string]string, string) {
	config := filepath.Join(t.TempDir(), "config")
	return map[string]string{"XDG_CONFIG_HOME": config, "PATH": path, "HOME": t.TempDir()}, filepath.Join(config, "systemd", "user")
}

func TestSchedulePrintsTheUnits(t *testing.T) {
	sweep, err := filepath.Abs("../../sweeps/demo.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env, unitDir := scheduleEnv(t, t.TempDir())
	code, stdout, stderr := runFleet(t, env, "schedule", sweep, "--on", "Mon..Fri 01:30", "--dir", dir, "--fleet", "/usr/local/bin/fleet",
		"--env", "HF_TOKEN", "--", "--only", "gpu=h100", "--retries", "0")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"# " + filepath.Join(unitDir, "fleet-demo.service") + "\n# fleet-schedule: fleet-demo\n",
		"# " + filepath.Join(unitDir, "fleet-demo.timer") + "\n# fleet-schedule: fleet-demo\n",
		"\nExecStart=/usr/local/bin/fleet schedule run --dir " + dir + " --require-env HF_TOKEN fleet-demo -- " + sweep + " --only gpu=h100 --retries 0\n",
		"\nPassEnvironment=HF_TOKEN\n",
		"\nOnCalendar=Mon..Fri 01:30\nPersistent=true\nUnit=fleet-demo.service\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(unitDir); err == nil {
		t.Errorf("printing wrote %s", unitDir)
	}
}

func TestScheduleRefusesWhatCannotRun(t *testing.T) {
	sweep, err := filepath.Abs("../../sweeps/demo.hcl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no calendar", []string{sweep}, ExitUsage, "--on"},
		{"no sweep", []string{"--on", "daily"}, ExitUsage, "sweep file"},
		{"two sweeps", []string{sweep, sweep, "--on", "daily"}, ExitUsage, "one sweep file"},
		{"a sweep that is not there", []string{"nowhere.hcl", "--on", "daily"}, ExitUsage, "nowhere.hcl"},
		{"a flag fleet sweep lacks", []string{sweep, "--on", "daily", "--", "--bogus"}, ExitUsage, "--bogus"},
		{"--resume", []string{sweep, "--on", "daily", "--", "--resume", "20260101-000000-demo"}, ExitUsage, "new run"},
		{"--run-id", []string{sweep, "--on", "daily", "--", "--run-id", "x"}, ExitUsage, "new run"},
		{"a second sweep after --", []string{sweep, "--on", "daily", "--", "other.hcl"}, ExitUsage, "before --"},
		{"install and uninstall", []string{sweep, "--on", "daily", "--install", "--uninstall"}, ExitUsage, "install"},
		{"a bad name", []string{sweep, "--on", "daily", "--name", "../x"}, ExitUsage, "schedule name"},
		{"a value for --env", []string{sweep, "--on", "daily", "--env", "HF_TOKEN=hf_secret"}, ExitUsage, "values never go into the units"},
		{"a calendar cron cannot say", []string{sweep, "--on", "*-*-01 02:00", "--cron"}, ExitUsage, "5-field cron expression"},
		{"--env with cron and no file", []string{sweep, "--on", "daily", "--cron", "--env", "HF_TOKEN"}, ExitUsage, "--env-file"},
		{"a program systemd would refuse", []string{sweep, "--on", "daily", "--fleet", "/opt/o'brien/fleet"}, ExitUsage, "quote"},
		{"a newline in a flag", []string{sweep, "--on", "daily", "--", "--var", "a=b\nExecStartPre=/bin/false"}, ExitUsage, "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, unitDir := scheduleEnv(t, t.TempDir())
			code, stdout, stderr := runFleet(t, env, append([]string{"schedule", "--fleet", "/usr/local/bin/fleet"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", code, tt.code, tt.want, stdout, stderr)
			}
			if _, err := os.Stat(unitDir); err == nil {
				t.Errorf("a refused schedule wrote %s", unitDir)
			}
		})
	}
}

// TestScheduleChecksTheCalendarWithSystemd: an expression systemd refuses
// would make a timer that never fires.
func TestScheduleChecksTheCalendarWithSystemd(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (internal/schedule's tests require it)")
	}
	sweep, _ := filepath.Abs("../../sweeps/demo.hcl")
	env, _ := scheduleEnv(t, filepath.Dir(analyze))
	code, _, stderr := runFleet(t, env, "schedule", sweep, "--on", "every night", "--fleet", "/usr/local/bin/fleet")
	if code != ExitUsage || !strings.Contains(stderr, "every night") {
		t.Errorf("exit %d, want %d naming the expression\n%s", code, ExitUsage, stderr)
	}
	code, _, stderr = runFleet(t, env, "schedule", sweep, "--on", "Mon..Fri 01:30", "--fleet", "/usr/local/bin/fleet")
	if code != 0 {
		t.Errorf("a good expression: exit %d\n%s", code, stderr)
	}
}

func TestScheduleInstallAndUninstall(t *testing.T) {
	sweep, _ := filepath.Abs("../../sweeps/demo.hcl")
	bin, calls, _ := fakeTools(t, "")
	env, unitDir := scheduleEnv(t, bin)
	install := []string{"schedule", sweep, "--on", "daily", "--fleet", "/usr/local/bin/fleet", "--install"}
	service, timer := filepath.Join(unitDir, "fleet-demo.service"), filepath.Join(unitDir, "fleet-demo.timer")

	code, stdout, stderr := runFleet(t, env, install...)
	if code != 0 {
		t.Fatalf("install: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, p := range []string{service, timer} {
		data, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(data), schedule.Marker("fleet-demo")+"\n") {
			t.Errorf("%s: %v, %.60q", p, err, data)
		}
		if !strings.Contains(stdout, p+": written") {
			t.Errorf("install does not say it wrote %s:\n%s", p, stdout)
		}
	}
	want := []string{"systemctl --user daemon-reload", "systemctl --user enable --now fleet-demo.timer"}
	if got := readCalls(t, calls); !slices.Equal(got, want) {
		t.Errorf("systemctl calls %q, want %q", got, want)
	}

	// Again: nothing to write, and systemd told again (both idempotent).
	code, stdout, stderr = runFleet(t, env, install...)
	if code != 0 || strings.Count(stdout, ": unchanged") != 2 {
		t.Errorf("second install: exit %d, want both units unchanged\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr = runFleet(t, env, "schedule", "--uninstall", "--name", "fleet-demo")
	if code != 0 {
		t.Fatalf("uninstall: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, p := range []string{service, timer} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("uninstall left %s", p)
		}
	}
	want = append(append(want, want...), "systemctl --user disable --now fleet-demo.timer", "systemctl --user daemon-reload")
	if got := readCalls(t, calls); !slices.Equal(got, want) {
		t.Errorf("systemctl calls %q, want %q", got, want)
	}
	code, stdout, _ = runFleet(t, env, "schedule", "--uninstall", "--name", "fleet-demo")
	if code != 0 || !strings.Contains(stdout, "nothing to remove") || len(readCalls(t, calls)) != len(want) {
		t.Errorf("second uninstall: exit %d, calls %q\n%s", code, readCalls(t, calls), stdout)
	}
}

func TestScheduleLeavesOthersUnitsAlone(t *testing.T) {
	sweep, _ := filepath.Abs("../../sweeps/demo.hcl")
	bin, calls, _ := fakeTools(t, "")
	env, unitDir := scheduleEnv(t, bin)
	mine := "[Unit]\nDescription=my own timer\n"
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	timer := filepath.Join(unitDir, "fleet-demo.timer")
	if err := os.WriteFile(timer, []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"schedule", sweep, "--on", "daily", "--fleet", "/usr/local/bin/fleet", "--install"},
		{"schedule", "--uninstall", "--name", "fleet-demo"},
	} {
		code, _, stderr := runFleet(t, env, args...)
		if code != ExitError || !strings.Contains(stderr, "not written by fleet schedule") {
			t.Errorf("%q: exit %d, want %d saying the unit is not fleet's\n%s", args, code, ExitError, stderr)
		}
	}
	if got, _ := os.ReadFile(timer); string(got) != mine {
		t.Errorf("the user's timer became %q", got)
	}
	if _, err := os.Stat(filepath.Join(unitDir, "fleet-demo.service")); err == nil {
		t.Error("install wrote the service beside a timer that is not fleet's")
	}
	if got := readCalls(t, calls); len(got) != 0 {
		t.Errorf("systemctl called: %q", got)
	}
}

func TestScheduleInstallReportsSystemctlFailing(t *testing.T) {
	sweep, _ := filepath.Abs("../../sweeps/demo.hcl")
	bin, _, _ := fakeTools(t, "Failed to connect to bus: No medium found")
	env, _ := scheduleEnv(t, bin)
	code, _, stderr := runFleet(t, env, "schedule", sweep, "--on", "daily", "--fleet", "/usr/local/bin/fleet", "--install")
	if code != ExitError || !strings.Contains(stderr, "systemctl --user daemon-reload") || !strings.Contains(stderr, "No medium found") {
		t.Errorf("exit %d, want %d with systemctl's message\n%s", code, ExitError, stderr)
	}
}

func TestScheduleWithoutSystemctlSaysWhatToRun(t *testing.T) {
	sweep, _ := filepath.Abs("../../sweeps/demo.hcl")
	env, unitDir := scheduleEnv(t, t.TempDir())
	code, stdout, stderr := runFleet(t, env, "schedule", sweep, "--on", "daily", "--fleet", "/usr/local/bin/fleet", "--install")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "systemctl is not on PATH") || !strings.Contains(stdout, "  systemctl --user enable --now fleet-demo.timer\n") {
		t.Errorf("no instructions:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(unitDir, "fleet-demo.timer")); err != nil {
		t.Errorf("the units were not written: %v", err)
	}
}

// TestScheduleCronCommandsEditTheCrontab runs the crontab commands that
// --cron --install and --cron --uninstall print, against a stand-in
// crontab: the line goes in once however often it is added, and only it
// comes out.
func TestScheduleCronCommandsEditTheCrontab(t *testing.T) {
	sweep, _ := filepath.Abs("../../sweeps/demo.hcl")
	bin, _, tab := fakeTools(t, "")
	env, _ := scheduleEnv(t, bin)
	others := "MAILTO=me\n0 3 * * * backup # fleet-schedule: fleet-demo-2\n"
	if err := os.WriteFile(tab, []byte(others), 0o600); err != nil {
		t.Fatal(err)
	}
	printed := func(args ...string) (line, command string) {
		code, stdout, stderr := runFleet(t, env, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d\n%s", args, code, stderr)
		}
		lines := strings.Split(stdout, "\n")
		for _, l := range lines {
			if strings.HasPrefix(l, "  ") && strings.Contains(l, "crontab -") {
				command = strings.TrimSpace(l)
			}
		}
		if command == "" {
			t.Fatalf("%q printed no crontab command:\n%s", args, stdout)
		}
		return lines[0], command
	}
	sh := func(command string) {
		cmd := exec.Command("/bin/sh", "-c", command)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", command, err, out)
		}
	}
	line, add := printed("schedule", sweep, "--on", "Mon..Fri 01:30", "--cron", "--install", "--fleet", "/usr/local/bin/fleet", "--dir", t.TempDir())
	if !strings.HasPrefix(line, "30 1 * * 1-5 ") || !strings.HasSuffix(line, " # fleet-schedule: fleet-demo") {
		t.Errorf("cron line %q", line)
	}
	sh(add)
	sh(add)
	if got, _ := os.ReadFile(tab); string(got) != others+line+"\n" {
		t.Errorf("crontab after adding twice:\n%s\nwant\n%s", got, others+line+"\n")
	}
	_, remove := printed("schedule", "--uninstall", "--name", "fleet-demo", "--cron")
	sh(remove)
	if got, _ := os.ReadFile(tab); string(got) != others {
		t.Errorf("crontab after removing:\n%s\nwant\n%s", got, others)
	}
}

// TestScheduledRunsDoNotOverlap starts a scheduled run that stays in its
// sweep (the sweep file is a FIFO nobody writes), then a second run of the
// same schedule: it must start nothing, log why with the first's pid and
// exit 5. Once the first is gone, the next run starts.
func TestScheduledRunsDoNotOverlap(t *testing.T) {
	bin := fleetBinary(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "blocking.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	lockPath := schedule.LockPath(dir, "nightly")
	run := func(sweep string) *exec.Cmd {
		cmd := exec.Command(bin, "schedule", "run", "--dir", dir, "nightly", "--", sweep)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		return cmd
	}

	first := run(fifo)
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = first.Process.Kill()
		_ = first.Wait()
	}()
	// The holder writes its pid once it has the lock. Waiting is bounded
	// only so that a broken run fails the test rather than hanging it.
	pid := strconv.Itoa(first.Process.Pid)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if data, _ := os.ReadFile(lockPath); strings.TrimSpace(string(data)) == pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first run never took the lock\n%s", firstErr.String())
		}
	}

	second := run(fifo)
	out, err := second.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != ExitSkipped {
		t.Fatalf("second run: %v, want exit %d\n%s", err, ExitSkipped, out)
	}
	want := "previous run of nightly still running (pid " + pid + "), not starting"
	if !strings.Contains(string(out), want) || strings.Contains(string(out), "starting fleet sweep") {
		t.Errorf("second run's log lacks %q, or it started a sweep:\n%s", want, out)
	}

	_ = first.Process.Kill()
	_ = first.Wait()
	third := run(filepath.Join(dir, "missing.hcl"))
	out, _ = third.CombinedOutput()
	if strings.Contains(string(out), "still running") || !strings.Contains(string(out), "starting fleet sweep") {
		t.Errorf("the run after a killed one did not start its sweep:\n%s", out)
	}
}

func TestScheduledRunNeedsItsVariables(t *testing.T) {
	bin := fleetBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "schedule", "run", "--dir", dir, "--require-env", "FLEET_TEST_NEVER_SET", "nightly", "--", "x.hcl")
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != ExitError || !strings.Contains(string(out), "FLEET_TEST_NEVER_SET not set") {
		t.Errorf("exit %v, want %d naming the variable\n%s", err, ExitError, out)
	}
	if _, err := os.Stat(schedule.LockPath(dir, "nightly")); err == nil {
		t.Error("a run that could not start took the lock")
	}
}

// TestReadmeNightlySweeps runs the `fleet schedule` commands of the
// README's "Nightly sweeps" section (which TestReadme skips: they need a
// user's systemd) as a reader would, in a scratch directory with stand-ins
// for systemctl and crontab: the printed units pass systemd-analyze
// verify, --install and --uninstall do what the section says, and the
// crontab command it prints adds the line.
func TestReadmeNightlySweeps(t *testing.T) {
	src, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseMarkdown(string(src))
	if err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	copyPath(t, "../../inventory.hcl", filepath.Join(ws, "inventory.hcl"))
	copyPath(t, "../../sweeps", filepath.Join(ws, "sweeps"))
	home := filepath.Join(ws, "home")
	fleetDir := t.TempDir()
	copyPath(t, fleetBinary(t), filepath.Join(fleetDir, "fleet"))
	fakes, calls, tab := fakeTools(t, "")
	path := fakes + ":" + fleetDir + ":/usr/bin:/bin"
	unitDir := filepath.Join(home, ".config", "systemd", "user")
	service, timer := filepath.Join(unitDir, "fleet-full.service"), filepath.Join(unitDir, "fleet-full.timer")

	run := func(line string) string {
		cmd := exec.Command("bash", "-c", line)
		cmd.Dir = ws
		cmd.Env = []string{"HOME=" + home, "PATH=" + path, "USER=lab"}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s%s", line, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	kinds := map[string]bool{}
	for _, b := range blocks {
		if b.section != "Nightly sweeps" {
			continue
		}
		cmds, err := b.commands()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			if !strings.HasPrefix(c.text, "fleet schedule ") {
				continue
			}
			t.Logf("README.md:%d: %s", c.line, c.text)
			out := run(c.text)
			switch {
			case strings.Contains(c.text, "--cron"):
				kinds["cron"] = true
				var add string
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, "  ") && strings.HasSuffix(l, "| crontab -") {
						add = strings.TrimSpace(l)
					}
				}
				if add == "" {
					t.Fatalf("README.md:%d: no crontab command in\n%s", c.line, out)
				}
				run(add)
				line, _, _ := strings.Cut(out, "\n")
				if got, _ := os.ReadFile(tab); !strings.Contains(string(got), line+"\n") {
					t.Errorf("README.md:%d: the crontab holds %q, not the line %q", c.line, got, line)
				}
			case strings.Contains(c.text, "--uninstall"):
				kinds["uninstall"] = true
				for _, p := range []string{service, timer} {
					if _, err := os.Stat(p); err == nil {
						t.Errorf("README.md:%d: %s is still there", c.line, p)
					}
				}
				if got := readCalls(t, calls); len(got) < 2 || got[len(got)-2] != "systemctl --user disable --now fleet-full.timer" {
					t.Errorf("README.md:%d: systemctl calls %q", c.line, got)
				}
			case strings.Contains(c.text, "--install"):
				kinds["install"] = true
				for _, p := range []string{service, timer} {
					if _, err := os.Stat(p); err != nil {
						t.Errorf("README.md:%d: %v", c.line, err)
					}
				}
				if got := readCalls(t, calls); len(got) == 0 || got[len(got)-1] != "systemctl --user enable --now fleet-full.timer" {
					t.Errorf("README.md:%d: systemctl calls %q", c.line, got)
				}
			default:
				kinds["print"] = true
				checkPrintedUnits(t, c.line, out, unitDir)
			}
		}
	}
	for _, k := range []string{"print", "install", "uninstall", "cron"} {
		if !kinds[k] {
			t.Errorf("the README's Nightly sweeps section has no %s example", k)
		}
	}
}

// checkPrintedUnits splits what fleet schedule printed into its units,
// each headed by its path in unitDir, and has systemd-analyze verify them.
func checkPrintedUnits(t *testing.T, line int, out, unitDir string) {
	t.Helper()
	dir := t.TempDir()
	var names []string
	var cur *os.File
	for _, l := range strings.SplitAfter(out, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), "# "+unitDir+"/"); ok {
			if cur != nil {
				cur.Close()
			}
			f, err := os.Create(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			cur, names = f, append(names, p)
			continue
		}
		if cur == nil {
			t.Fatalf("README.md:%d: output before the first unit's path: %q", line, l)
		}
		if _, err := cur.WriteString(l); err != nil {
			t.Fatal(err)
		}
	}
	if cur != nil {
		cur.Close()
	}
	if !slices.Equal(names, []string{"fleet-full.service", "fleet-full.timer"}) {
		t.Fatalf("README.md:%d: printed units %q, want fleet-full.service and fleet-full.timer", line, names)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if testing.Short() {
			t.Logf("README.md:%d: systemd-analyze is not installed: the units are not verified", line)
			return
		}
		t.Fatal("systemd-analyze is not installed (apt-get install systemd)")
	}
	cmd := exec.Command(analyze, "verify", "--user", filepath.Join(dir, names[0]), filepath.Join(dir, names[1]))
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("README.md:%d: systemd-analyze verify: %v\n%s", line, err, out)
	}
}

// The service unit counts fleet's "skipped" exit as a success; both name
// the one code.
func TestSkippedExitIsTheUnitsSuccessStatus(t *testing.T) {
	if schedule.SkippedExit != ExitSkipped {
		t.Fatalf("schedule.SkippedExit %d, ExitSkipped %d", schedule.SkippedExit, ExitSkipped)
	}
}
