package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/journal"
)

// brokenSweep (with %s for a settings block) runs three jobs on this machine with a server that never
// starts: the simulator refuses a flag it does not know, as a broken
// image's server would exit.
const brokenSweep = `
%s
client {
  prompts_per_conc = 2
  warmups_per_conc = 0
}
config "broken" {
  model        = "m"
  model_prefix = "broken"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  server_args  = ["--no-such-flag"]
  scenario "s" {
    isl = 64
    osl = 16
    search {
      tp   = 1
      conc = [1, 2, 4]
    }
  }
}
`

func TestABrokenCanaryStopsTheSweepBeforeAnyJobStarts(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		args     []string
		want     string // in the message and every job's reason
		started  int    // real jobs that started
	}{
		{"--canary", "", []string{"--canary"}, "canary sim/sim failed: server exited before it became healthy", 0},
		{"settings", "settings {\n  canary { prompts = 1 }\n}", nil, "canary sim/sim failed: server exited before it became healthy", 0},
		// Without a canary the first job to start is the longest: conc 4.
		{"--fail-fast", "", []string{"--fail-fast"}, "fail-fast: job broken_s_tp1-ep1-dpafalse_conc4 failed", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "broken.hcl")
			if err := os.WriteFile(p, []byte(strings.Replace(brokenSweep, "%s", tt.settings, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"sweep", p, "--results", dir, "--run-id", "r", "--agent-dir", agentDir, "--log-format", "logfmt", "--retries", "0"}, tt.args...)
			code, stdout, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": filepath.Join(dir, "cache")}, args...)
			if code != ExitFailed || !strings.Contains(stderr, "sweep stopped: "+tt.want) {
				t.Fatalf("exit %d, want %d saying %q\nstdout:\n%s\nstderr:\n%s", code, ExitFailed, tt.want, stdout, stderr)
			}
			entries, err := journal.Read(filepath.Join(dir, "r", "journal.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			started := map[string]bool{}
			for _, e := range entries {
				if e.State == journal.StatePreparing {
					started[e.Job] = true
				}
			}
			var real []string
			for job := range started {
				if !strings.HasSuffix(job, "~canary") {
					real = append(real, job)
				}
			}
			if len(real) != tt.started {
				t.Errorf("jobs started: %v, want %d besides canaries", real, tt.started)
			}
			notStarted := 0
			for job, e := range lastEntries(entries) {
				if started[job] {
					continue
				}
				if e.State != journal.StateCancelled || !strings.Contains(e.Reason, "not started: "+tt.want) {
					t.Errorf("%s ended %s %q, want cancelled, not started, saying why", job, e.State, e.Reason)
				}
				notStarted++
			}
			if notStarted != 3-tt.started {
				t.Errorf("%d jobs not started, want %d", notStarted, 3-tt.started)
			}
		})
	}
}
