package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/target"
)

// TestHostileSweepsAreRefusedFast plans the security issue's hostile
// sweeps. Each took a minute or more to expand; each must now fail with a
// located diagnostic long before a deadline that is generous for a busy
// machine. A plan that outlives the deadline is cancelled and exits 130
// instead of 1, so the exit code is the assertion.
func TestHostileSweepsAreRefusedFast(t *testing.T) {
	const broken = "../../internal/config/testdata/broken/"
	for _, tc := range []struct {
		file string
		args []string
		want string
	}{
		{"sweep_hostile_200k.hcl", nil, "sweep_hostile_200k.hcl:15:14: Error in function call"},
		{"sweep_hostile_100k.hcl", nil, "sweep_hostile_100k.hcl:17:7: Too many jobs"},
		{"sweep_hostile_100k.hcl", []string{"--max-jobs", "99999"}, "This sweep makes 100000 jobs, more than the limit of 99999"},
		{"sweep_hostile_functions.hcl", nil, "sweep_hostile_functions.hcl:4:11: Error in function call"},
		{"sweep_overflow.hcl", nil, "sweep_overflow.hcl:4:22: Value too large"},
		{"sweep_empty_and_dash.hcl", nil, `sweep_empty_and_dash.hcl:22:18: Invalid value`},
	} {
		t.Run(tc.file+strings.Join(tc.args, ""), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			app := &App{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: os.Getenv, Environ: os.Environ}
			args := append([]string{"plan", broken + tc.file, "-i", "../../internal/config/testdata/fleet.hcl"}, tc.args...)
			code := app.Run(ctx, args)
			if code != ExitError || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, want %d with %q in:\n%s", code, ExitError, tc.want, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("a refused sweep printed a plan:\n%.500s", stdout.String())
			}
		})
	}
}

// TestMaxJobsRaisesTheLimit shows the way out the diagnostic names.
func TestMaxJobsRaisesTheLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("plans 100,000 jobs")
	}
	code, out, errOut := runFleet(t, nil, "plan", "../../internal/config/testdata/broken/sweep_hostile_100k.hcl",
		"-i", "../../internal/config/testdata/fleet.hcl", "--max-jobs", "100000", "--only", "seq=s0", "--only", "conc=1")
	if code != ExitOK || !strings.Contains(out, "4 jobs on") || !strings.Contains(out, "99996 left out") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// spinSweep takes minutes to evaluate (a billion loop steps in a local)
// and then would plan one job.
const spinSweep = `
locals {
  spin = length([for i in range(1024) : length([for j in range(1024) : length([for k in range(1024) : k])])])
}
config "x" {
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  scenario "s" {
    isl = 1
    osl = 1
    search {
      tp   = 1
      conc = [1]
    }
  }
}
`

// TestSIGTERMStopsAnExpansion sends SIGTERM to `fleet plan` while it
// evaluates a sweep that takes minutes: the command ends at once with exit
// 130 and says it was cancelled.
func TestSIGTERMStopsAnExpansion(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "spin.hcl")
	if err := os.WriteFile(p, []byte(spinSweep), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, out := controller(t, dir, "plan", p)
	// Let it get into the evaluation; a signal before that is handled the
	// same way, so the pause does not decide the outcome.
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := waitExit(t, cmd, 30*time.Second)
	if code != ExitCancelled || !strings.Contains(out.String(), "reading the sweep: cancelled by SIGTERM") {
		t.Errorf("exit %d, want %d with a cancelled message:\n%s", code, ExitCancelled, out)
	}
}

// waitExit waits for cmd and returns its exit code; past the deadline it
// kills cmd and fails the test.
func waitExit(t *testing.T, cmd *exec.Cmd, deadline time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(deadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("fleet still running %s after the signal", deadline)
		return -1
	}
}

func TestOrphansAreListedWithTheCommandThatStopsThem(t *testing.T) {
	inv := &config.Inventory{
		Nodes:    []*config.Node{{Name: "local"}, {Name: "gpu1"}, {Name: "login"}},
		Clusters: []*config.Cluster{{Name: "slurm1", Login: "login"}, {Name: "slurm2", Login: "local"}},
	}
	var b bytes.Buffer
	printOrphans(&b, inv, "r1", []target.Handle{
		{Target: "local", JobID: "a", Ref: "4242", WorkDir: "/w/a"},
		{Target: "gpu1", JobID: "b", Ref: "77", WorkDir: "/w/b"},
		{Target: "slurm1", JobID: "c", Ref: "123;east", WorkDir: "/w/c"},
		{Target: "slurm2", JobID: "d", Ref: "9", WorkDir: "/w/d"},
		{Target: "gpu1", JobID: "e", Ref: "", WorkDir: "/w/e"},
	})
	for _, want := range []string{
		"job a may still be running on local (not stopped when cancelled): process group 4242 in /w/a; stop it with: kill -TERM -- -4242\n",
		"job b may still be running on gpu1 (not stopped when cancelled): process group 77 in /w/b; stop it with: fleet exec gpu1 -- 'kill -TERM -- -77'\n",
		"job c may still be running on slurm1 (not stopped when cancelled): Slurm job 123; stop it with: fleet exec login -- 'scancel 123 --clusters=east'\n",
		"job d may still be running on slurm2 (not stopped when cancelled): Slurm job 9; stop it with: scancel 9\n",
		`job e may still be running on gpu1 (not stopped when cancelled): handle "", work dir /w/e` + "\n",
		"fleet status r1 shows the run.\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
	b.Reset()
	printOrphans(&b, inv, "r1", nil)
	if b.Len() != 0 {
		t.Errorf("no orphans printed %q", b.String())
	}
}
