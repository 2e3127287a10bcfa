package main

import (
	"fmt"
	"io"
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

// checkCancelled asserts what every kind of interrupt must leave: exit
// 130, every job cancelled in the journal, and nothing of the running
// job's process group left.
func checkCancelled(t *testing.T, code int, out fmt.Stringer, jpath, pgid string) {
	t.Helper()
	if code != ExitCancelled {
		t.Errorf("controller ended with exit %d, want %d\n%s", code, ExitCancelled, out)
	}
	if groupAlive(t, pgid) {
		t.Errorf("job's processes (group %s) still running after the controller exited", pgid)
	}
	entries, err := journal.Read(jpath)
	if err != nil {
		t.Fatal(err)
	}
	for id, e := range lastEntries(entries) {
		if e.State != journal.StateCancelled {
			t.Errorf("job %s ended %s, want cancelled", id, e.State)
		}
	}
}

// TestSIGHUPCancelsTheDemoSweep closes the controller's terminal, as a
// laptop's lid does: the demo sweep is cancelled like with Ctrl-C.
func TestSIGHUPCancelsTheDemoSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real controllers and servers")
	}
	dir := t.TempDir()
	cmd, out := controller(t, dir, "sweep", "--run-id", "r", "--agent-dir", agentDir, "--log-format", "logfmt")
	jpath := filepath.Join(dir, "results", "r", "journal.jsonl")
	running := waitForState(t, jpath, journal.StateRunning, 60*time.Second)
	cmd.Process.Signal(syscall.SIGHUP)
	code := waitExit(t, cmd, 60*time.Second)
	checkCancelled(t, code, out, jpath, running.Handle.Ref)
}

// TestClosedOutputCancelsTheSweep ends what reads the controller's stdout
// and stderr (a pipe into a pager or tee that quits): fleet does not die
// of SIGPIPE with its jobs left running, it cancels them.
func TestClosedOutputCancelsTheSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real controllers and servers")
	}
	dir := t.TempDir()
	sweep := writeSweep(t, dir, "100ms")
	bin := filepath.Join(agentDir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
	// Debug logging writes the job's output lines as they come, so the
	// closed pipe is noticed while the job runs.
	cmd := exec.Command(bin, "sweep", sweep, "--run-id", "r", "--agent-dir", agentDir, "--log-format", "logfmt", "--log-level", "debug")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, r); close(drained) }()
	jpath := filepath.Join(dir, "results", "r", "journal.jsonl")
	running := waitForState(t, jpath, journal.StateRunning, 30*time.Second)
	r.Close() // the reader goes away: every later write fails with EPIPE
	<-drained
	code := waitExit(t, cmd, 60*time.Second)
	log, _ := os.ReadFile(filepath.Join(dir, "results", "r", "fleet.log"))
	checkCancelled(t, code, text(log), jpath, running.Handle.Ref)
}

type text string

func (s text) String() string { return string(s) }

// TestSecondInterruptStillStopsTheJobs presses Ctrl-C twice in a row, as
// impatient users do: the second no longer exits at once and leaves the
// job running; the job is still stopped.
func TestSecondInterruptStillStopsTheJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real controllers and servers")
	}
	dir := t.TempDir()
	sweep := writeSweep(t, dir, "100ms")
	cmd, out := controller(t, dir, "sweep", sweep, "--run-id", "r", "--agent-dir", agentDir, "--log-format", "logfmt")
	jpath := filepath.Join(dir, "results", "r", "journal.jsonl")
	running := waitForState(t, jpath, journal.StateRunning, 30*time.Second)
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(50 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("second SIGINT not delivered (the controller had ended already: %v)", err)
	}
	code := waitExit(t, cmd, 60*time.Second)
	checkCancelled(t, code, out, jpath, running.Handle.Ref)
	if !strings.Contains(out.String(), "again: cleanup (stopping remote jobs) gets at most") {
		t.Errorf("the second interrupt was not acknowledged:\n%s", out)
	}
}
