package main

import (
	"testing"

	"github.com/fleetbench/fleet/internal/testrig"
)

// bgSweep is a sweep the fault tests run in the background while they
// break something on the rig; its fields are set once done is closed.
type bgSweep struct {
	done           chan struct{}
	code           int
	stdout, stderr string
}

// startRigSweep runs `fleet sweep` of sweep on the rig's inventory inv in
// the background, as the fault tests do: JSON summary, logfmt logs, two
// retries, results under dir in run runID.
func startRigSweep(t *testing.T, r *testrig.Rig, sweep, inv, dir, runID string) *bgSweep {
	t.Helper()
	s := &bgSweep{done: make(chan struct{})}
	env := rigEnv(t)
	go func() {
		defer close(s.done)
		s.code, s.stdout, s.stderr = runFleet(t, env, "sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts,
			"--agent-dir", agentDir, "--results", dir, "--run-id", runID, "--json", "--log-format", "logfmt", "--retries", "2")
	}()
	return s
}
