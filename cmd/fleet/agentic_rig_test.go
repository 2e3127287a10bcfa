package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/testrig"
)

// An agentic sweep through `fleet sweep` on an SSH node of the rig: the
// trace ships with the job, the sim keeps a prefix cache, and the job's
// row is InferenceX's agentic row with the server's hit rate near the
// trace's theoretical one; `fleet report` shows it among agentic runs.
func TestAgenticSweepRunsOverSSH(t *testing.T) {
	r := testrig.Load(t)
	r.Share(t, "node3")
	inv := rigInventory(t, r, "")
	dir := t.TempDir()
	trace, err := filepath.Abs(filepath.Join("..", "..", "sweeps", "traces", "demo.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sweep := filepath.Join(dir, "agentic.hcl")
	os.WriteFile(sweep, []byte(fmt.Sprintf(`
config "ag-sim" {
  model        = "sim-model"
  model_prefix = "agsim"
  precision    = "fp8"
  framework    = "sim"
  runner       = "node3"
  server_args  = ["--startup-delay", "500ms", "--time-scale", "0.05"]
  agentic "demo" {
    trace    = %q
    duration = "60s"
    warmup_requests_per_lane = 1
    search {
      tp   = 8
      conc = [4]
    }
  }
}
`, trace)), 0o644)
	runID := "agentic-" + filepath.Base(dir)
	code, stdout, stderr := runFleet(t, rigEnv(t), "sweep", sweep, "-i", inv, "--known-hosts", r.KnownHosts,
		"--agent-dir", agentDir, "--results", dir, "--run-id", runID, "--json", "--log-format", "logfmt")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum := readSummary(t, stdout)
	if sum.Done != 1 {
		t.Fatalf("done %d, want 1\n%s", sum.Done, stdout)
	}
	rows, err := results.ReadRows(filepath.Join(dir, runID, "jobs", sum.Jobs[0].Job, "row.json"))
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	row := rows[0]
	theo, server := row.Metrics[results.KeyTheoHitRate], row.Metrics[results.KeyServerHit]
	if !results.IsAgentic(row) || row.TputPerGPU <= 0 || theo < 0.8 || server < theo-0.05 || server > theo+0.05 {
		t.Errorf("row: agentic %v, tput/GPU %v, theoretical hit %v, server hit %v", results.IsAgentic(row), row.TputPerGPU, theo, server)
	}
	code, out, errOut := runFleet(t, rigEnv(t), "report", filepath.Join(dir, runID), "--results", dir, "--out", filepath.Join(dir, "report"))
	if code != ExitOK || !strings.Contains(strings.ToLower(out), "agentic") {
		t.Errorf("report: exit %d\n%s\n%s", code, out, errOut)
	}
	noLeftovers(t, r, runID)
}
