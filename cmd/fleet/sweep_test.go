package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
)

func TestDemoSweepRunsEndToEndOnThisMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo sweep (about a minute)")
	}
	dir := t.TempDir()
	work := t.TempDir()
	code, stdout, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": work},
		"sweep", "--agent-dir", agentDir, "--results", dir, "--run-id", "demo", "--json", "--log-format", "logfmt")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var sum struct {
		Done, Failed int
		Jobs         []struct{ ID, State string }
		Rows         []*results.Row
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if sum.Done != 3 || sum.Failed != 0 || len(sum.Rows) != 3 {
		t.Fatalf("done=%d failed=%d rows=%d, want 3/0/3", sum.Done, sum.Failed, len(sum.Rows))
	}
	for _, r := range sum.Rows {
		if r.TputPerGPU <= 0 || r.Metrics["median_ttft"] <= 0 || r.Metrics["median_intvty"] <= 0 || r.Failed != 0 {
			t.Errorf("implausible row: %+v", r)
		}
	}
	run := filepath.Join(dir, "demo")
	for _, j := range sum.Jobs {
		jd := filepath.Join(run, "jobs", j.ID)
		for _, f := range []string{"row.json", "job.log", "logs/server.log", "logs/client.log"} {
			if _, err := os.Stat(filepath.Join(jd, f)); err != nil {
				t.Errorf("job %s: %v", j.ID, err)
			}
		}
		matches, _ := filepath.Glob(filepath.Join(jd, "results", "sim70b_1k256_fp8_sim_tp8-ep1-dpafalse_conc*_local.json"))
		if len(matches) != 1 {
			t.Errorf("job %s: raw client result with InferenceMAX's name not found", j.ID)
		}
	}
	server, _ := os.ReadFile(filepath.Join(run, "jobs", sum.Jobs[0].ID, "logs", "server.log"))
	if !strings.Contains(string(server), "Application startup complete.") {
		t.Errorf("server log lacks vLLM's readiness line:\n%s", server)
	}
	// Successful jobs leave no work directory behind.
	left, _ := filepath.Glob(filepath.Join(work, "fleet", "work", "demo", "*", "*"))
	if len(left) != 0 {
		t.Errorf("work directories left behind: %v", left)
	}
}

func TestSweepRejectsABrokenSweepWithADiagnostic(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("config \"x\" {\n  framwork = \"vllm\"\n}\n"), 0o644)
	code, _, stderr := runFleet(t, nil, "sweep", bad, "--results", dir)
	if code != ExitError {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitError, stderr)
	}
	if !strings.Contains(stderr, "bad.hcl:2") || !strings.Contains(stderr, "framework") {
		t.Fatalf("diagnostic should point at bad.hcl:2 and suggest framework:\n%s", stderr)
	}
}
