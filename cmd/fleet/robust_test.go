package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
)

// A slow sweep on the local node: each job runs long enough to be caught
// in the middle.
const slowSweep = `
client {
  prompts_per_conc = 2
  warmups_per_conc = 0
}
config "slow" {
  model        = "m"
  model_prefix = "slow"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  server_args  = ["--timing", "fixed", "--ttft", "50ms", "--itl", "%s"]
  scenario "1k1k" {
    isl = 64
    osl = 200
    search {
      tp   = 1
      conc = [1, 2, 4]
    }
  }
}
`

// controller starts the fleet binary as a separate process, as a user
// would, so that it can be interrupted and killed for real.
func controller(t *testing.T, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	bin := filepath.Join(agentDir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// waitForState polls the run's journal until some job reaches state.
func waitForState(t *testing.T, jpath, state string, timeout time.Duration) journal.Entry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		entries, _ := journal.Read(jpath)
		for _, e := range lastEntries(entries) {
			if e.State == state {
				return e
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no job reached %s within %s", state, timeout)
	return journal.Entry{}
}

// groupAlive reports whether any non-zombie process of the job's session
// (whose id is the job's process group id) is left.
func groupAlive(t *testing.T, pgid string) bool {
	t.Helper()
	out, err := exec.Command("ps", "-e", "-o", "sid=,stat=").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == pgid && !strings.HasPrefix(f[1], "Z") {
			return true
		}
	}
	return false
}

func writeSweep(t *testing.T, dir, itl string) string {
	t.Helper()
	p := filepath.Join(dir, "slow.hcl")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(slowSweep, itl)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInterruptCancelsRunningJobsAndExits130(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real controllers and servers")
	}
	dir := t.TempDir()
	sweep := writeSweep(t, dir, "100ms") // 20 s per request: far longer than the test waits
	cmd, out := controller(t, dir, "sweep", sweep, "--run-id", "r", "--agent-dir", agentDir, "--log-format", "logfmt")
	jpath := filepath.Join(dir, "results", "r", "journal.jsonl")
	running := waitForState(t, jpath, journal.StateRunning, 30*time.Second)
	pgid := running.Handle.Ref
	if !groupAlive(t, pgid) {
		t.Fatalf("job's process group %s not running", pgid)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != ExitCancelled {
		t.Fatalf("controller ended with %v, want exit %d\n%s", err, ExitCancelled, out)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("cancel took %s", d)
	}
	if groupAlive(t, pgid) {
		t.Fatalf("job's processes (group %s) still running after the controller exited", pgid)
	}
	entries, _ := journal.Read(jpath)
	for id, e := range lastEntries(entries) {
		if e.State != journal.StateCancelled {
			t.Errorf("job %s ended %s, want cancelled", id, e.State)
		}
	}
	// The cancelled job's server log was fetched.
	if _, err := os.Stat(filepath.Join(dir, "results", "r", "jobs", running.Job, "logs", "server.log")); err != nil {
		t.Errorf("logs of the cancelled job not fetched: %v", err)
	}
}

func TestKilledControllerResumesWithEveryResultExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real controllers and servers")
	}
	dir := t.TempDir()
	sweep := writeSweep(t, dir, "10ms") // about 2 s per request
	cmd, _ := controller(t, dir, "sweep", sweep, "--run-id", "r", "--agent-dir", agentDir, "--log-format", "logfmt")
	jpath := filepath.Join(dir, "results", "r", "journal.jsonl")
	waitForState(t, jpath, journal.StateDone, 60*time.Second)
	running := waitForState(t, jpath, journal.StateRunning, 30*time.Second)
	cmd.Process.Kill() // SIGKILL: no chance to clean up
	cmd.Wait()

	// The job left running finishes on its own; the resumed controller
	// re-attaches to it rather than starting it again.
	cmd2, out := controller(t, dir, "sweep", sweep, "--resume", "r", "--agent-dir", agentDir, "--log-format", "logfmt", "--json")
	if err := cmd2.Wait(); err != nil {
		t.Fatalf("resume failed: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "re-attaching") {
		t.Errorf("resume did not re-attach to the running job %s:\n%s", running.Job, out)
	}
	entries, _ := journal.Read(jpath)
	last := lastEntries(entries)
	if len(last) != 3 {
		t.Fatalf("journal knows %d jobs, want 3", len(last))
	}
	starts := map[string]int{}
	for _, e := range entries {
		if e.State == journal.StatePreparing {
			starts[e.Job]++
		}
	}
	for id, e := range last {
		if e.State != journal.StateDone {
			t.Errorf("job %s ended %s", id, e.State)
		}
		if starts[id] != 1 {
			t.Errorf("job %s was started %d times, want exactly once", id, starts[id])
		}
		results, _ := filepath.Glob(filepath.Join(dir, "results", "r", "jobs", id, "results", "*.json"))
		if len(results) != 1 {
			t.Errorf("job %s has %d result files, want 1", id, len(results))
		}
	}
	var sum struct{ Rows []json.RawMessage }
	if err := json.Unmarshal(jsonPart(out.String()), &sum); err != nil || len(sum.Rows) != 3 {
		t.Errorf("summary rows: %d (%v)", len(sum.Rows), err)
	}
	if pg := running.Handle.Ref; pg != "" && groupAlive(t, pg) {
		t.Errorf("re-attached job's processes still alive")
	}
}

// jsonPart returns the JSON object printed last in out (logs precede it).
func jsonPart(out string) []byte {
	i := strings.Index(out, "{\n")
	if i < 0 {
		return nil
	}
	return []byte(out[i:])
}

func TestCrashesEndTheJobWithAReasonAndLeaveNothingRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real controllers and servers")
	}
	for _, tc := range []struct {
		name       string
		serverArgs string
		crash      func(t *testing.T, pgid string)
		wantReason string
	}{
		{
			name:       "the server crashes mid-benchmark",
			serverArgs: `"--timing", "fixed", "--ttft", "20ms", "--itl", "20ms", "--exit-after", "2"`,
			wantReason: "server died during the benchmark",
		},
		{
			name:       "the client is killed mid-benchmark",
			serverArgs: `"--timing", "fixed", "--ttft", "20ms", "--itl", "100ms"`,
			crash: func(t *testing.T, pgid string) {
				// Find fleet job, whose client runs in-process, among the
				// job's processes and kill it.
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) {
					out, _ := exec.Command("ps", "-e", "-o", "pid=,sid=,args=").Output()
					for _, line := range strings.Split(string(out), "\n") {
						f := strings.Fields(line)
						if len(f) > 3 && f[1] == pgid && strings.HasSuffix(f[2], "/fleet") && f[3] == "job" {
							exec.Command("kill", "-KILL", f[0]).Run()
							return
						}
					}
					time.Sleep(100 * time.Millisecond)
				}
				t.Fatal("client process not found")
			},
			wantReason: "exit 137",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sweep := fmt.Sprintf(`
client {
  prompts_per_conc = 4
  warmups_per_conc = 0
}
config "crash" {
  model        = "m"
  model_prefix = "crash"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  server_args  = [%s]
  scenario "s" {
    isl = 64
    osl = 50
    search {
      tp   = 1
      conc = [2]
    }
  }
}`, tc.serverArgs)
			p := filepath.Join(dir, "crash.hcl")
			os.WriteFile(p, []byte(sweep), 0o644)
			cmd, out := controller(t, dir, "sweep", p, "--run-id", "r", "--agent-dir", agentDir, "--log-format", "logfmt", "--retries", "0")
			jpath := filepath.Join(dir, "results", "r", "journal.jsonl")
			running := waitForState(t, jpath, journal.StateRunning, 30*time.Second)
			if tc.crash != nil {
				tc.crash(t, running.Handle.Ref)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errorsAs(err, &ee) || ee.ExitCode() != ExitFailed {
				t.Fatalf("controller ended with %v, want exit %d\n%s", err, ExitFailed, out)
			}
			entries, _ := journal.Read(jpath)
			last := lastEntries(entries)[running.Job]
			if last.State != journal.StateFailed || !strings.Contains(last.Reason, tc.wantReason) {
				t.Errorf("job ended %s (%q), want failed with %q", last.State, last.Reason, tc.wantReason)
			}
			if groupAlive(t, running.Handle.Ref) {
				t.Errorf("processes of the job (group %s) still running", running.Handle.Ref)
			}
			if _, err := os.Stat(filepath.Join(dir, "results", "r", "jobs", running.Job, "logs", "server.log")); err != nil {
				t.Errorf("logs of the failed job not fetched: %v", err)
			}
		})
	}
}

// lastEntries maps each job to its latest journal entry.
func lastEntries(entries []journal.Entry) map[string]journal.Entry {
	m := map[string]journal.Entry{}
	for _, e := range entries {
		m[e.Job] = e
	}
	return m
}
