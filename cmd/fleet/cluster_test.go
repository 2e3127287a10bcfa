package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fleetbench/fleet/internal/testrig"
)

// `fleet sweep` on a Slurm cluster of the test rig, with fleet on the
// cluster's login node (login = "local"): the inventory's SLURM_CONF
// reaches the Slurm commands, the demo's jobs go through sbatch.
func TestDemoSweepRunsOnASlurmCluster(t *testing.T) {
	r := testrig.Load(t)
	c := r.NoAccountingCluster(t)
	r.Share(t, c.Nodes...)
	dir := t.TempDir()
	work, err := os.MkdirTemp("", "fleet-cli-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	inv := filepath.Join(dir, "inventory.hcl")
	os.WriteFile(inv, []byte(fmt.Sprintf(`cluster "cl" {
  login         = "local"
  gpu           = "h200"
  gpus_per_node = 8
  max_nodes     = 3
  workdir       = %q
  env           = { SLURM_CONF = %q }
}
`, work, c.SlurmConf)), 0o644)
	demo, err := os.ReadFile("../../sweeps/demo.hcl")
	if err != nil {
		t.Fatal(err)
	}
	sweep := filepath.Join(dir, "demo.hcl")
	os.WriteFile(sweep, bytes.Replace(demo, []byte(`runner       = "local"`), []byte(`runner       = "cl"`), 1), 0o644)

	code, stdout, stderr := runFleet(t, nil, "sweep", sweep, "-i", inv, "--agent-dir", agentDir,
		"--results", filepath.Join(dir, "results"), "--run-id", "onslurm", "--json", "--log-format", "logfmt")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var sum struct {
		Done, Failed int
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if sum.Done != 3 || sum.Failed != 0 {
		t.Fatalf("done=%d failed=%d, want 3/0\n%s", sum.Done, sum.Failed, stderr)
	}
	// Slurm ran them: each fetched log holds the batch script's output
	// from a compute node.
	logs, _ := filepath.Glob(filepath.Join(dir, "results", "onslurm", "jobs", "*", "job.log"))
	if len(logs) != 3 {
		t.Fatalf("job logs: %v", logs)
	}
}

func TestAClusterWithABadPartitionFailsBeforeAnyJob(t *testing.T) {
	r := testrig.Load(t)
	c := r.NoAccountingCluster(t)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.hcl")
	os.WriteFile(inv, []byte(fmt.Sprintf(`cluster "cl" {
  login         = "local"
  partition     = "nosuch"
  gpu           = "h200"
  workdir       = %q
  env           = { SLURM_CONF = %q }
}
`, filepath.Join(dir, "work"), c.SlurmConf)), 0o644)
	demo, _ := os.ReadFile("../../sweeps/demo.hcl")
	sweep := filepath.Join(dir, "demo.hcl")
	os.WriteFile(sweep, bytes.Replace(demo, []byte(`runner       = "local"`), []byte(`runner       = "cl"`), 1), 0o644)
	code, stdout, stderr := runFleet(t, nil, "sweep", sweep, "-i", inv, "--agent-dir", agentDir,
		"--results", filepath.Join(dir, "results"), "--run-id", "bad", "--log-format", "logfmt")
	if code == ExitOK {
		t.Fatalf("a sweep on a missing partition succeeded\n%s", stdout)
	}
	if !bytes.Contains([]byte(stderr), []byte(`partition "nosuch"`)) {
		t.Errorf("error does not name the partition:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "work", "bad")); err == nil {
		t.Error("jobs were prepared before the preflight failed")
	}
}
