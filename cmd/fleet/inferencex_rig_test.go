package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/testrig"
)

// ixFixture is fleet's miniature InferenceX checkout: master configs in
// InferenceX's schema and benchmark scripts in its layout that start
// `fleet sim` through the fake sglang.
const ixFixture = "../../internal/inferencex/testdata/checkout"

// ixTinyJobs are the rows of the fixture's tiny-fp8-h200-sglang config:
// tp 1 at concurrency 1, 2 and 4, and tp 2 with MTP at 2.
const ixTinyJobs = 4

// ixSweepSummary runs `fleet sweep --inferencex` on the fixture's tiny
// config and returns the run directory and the summary's rows.
func ixSweep(t *testing.T, env map[string]string, inv, results, runID string, extra ...string) (string, []map[string]any) {
	t.Helper()
	args := append([]string{"sweep", "--inferencex", ixFixture, "--config-key", "tiny-fp8-h200-sglang", "-i", inv,
		"--agent-dir", agentDir, "--results", results, "--run-id", runID, "--json", "--log-format", "logfmt"}, extra...)
	code, stdout, stderr := runFleet(t, env, args...)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var sum struct {
		Done, Failed int
		Rows         []map[string]any
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if sum.Done != ixTinyJobs || sum.Failed != 0 || len(sum.Rows) != ixTinyJobs {
		t.Fatalf("done %d failed %d rows %d, want %d done\n%s", sum.Done, sum.Failed, len(sum.Rows), ixTinyJobs, stderr)
	}
	return filepath.Join(results, runID), sum.Rows
}

// checkIXRows checks each job of an InferenceX run: the raw result came
// back under InferenceX's name, its aggregated row is what InferenceX's
// processing computes from it (agg_<name>.json beside it), and the run's
// row is that row. client is the marker the fixture's own client leaves
// ("inferencex-checkout"), or "" for fleet's client, which leaves none.
func checkIXRows(t *testing.T, runDir, machine, client string, rows []map[string]any) {
	t.Helper()
	raws, _ := filepath.Glob(filepath.Join(runDir, "jobs", "*", "results", "tiny_256_32_fp8_sglang_tp*_conc*_"+machine+".json"))
	if len(raws) != ixTinyJobs {
		t.Fatalf("raw results under InferenceX's names: %v", raws)
	}
	byJob := map[string]map[string]any{}
	for _, r := range rows {
		byJob[fmt.Sprint(r["job_id"])] = r
	}
	for _, p := range raws {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if got, _ := raw["fixture_client"].(string); got != client {
			t.Errorf("%s: written by client %q, want %q", name, got, client)
		}
		agg, err := os.ReadFile(filepath.Join(filepath.Dir(p), "agg_"+name+".json"))
		if err != nil {
			t.Fatalf("no aggregated row beside %s: %v", name, err)
		}
		var row map[string]any
		if err := json.Unmarshal(agg, &row); err != nil {
			t.Fatal(err)
		}
		tp, _ := row["tp"].(float64)
		spec := "none"
		if strings.Contains(name, "_spec-mtp_") {
			spec = "mtp"
		}
		// The row's values, computed here from the raw result by
		// InferenceX's definitions.
		for k, want := range map[string]any{
			"hw": "h200", "framework": "sglang", "precision": "fp8", "spec_decoding": spec, "infmax_model_prefix": "tiny",
			"model": "fleet-test/tiny-model", "image": "fleet.test/sglang:tiny", "isl": 256.0, "osl": 32.0,
			"dp_attention": "false", "disagg": false, "is_multinode": false, "conc": raw["max_concurrency"],
			"tput_per_gpu":        raw["total_token_throughput"].(float64) / tp,
			"output_tput_per_gpu": raw["output_throughput"].(float64) / tp,
			"median_ttft":         raw["median_ttft_ms"].(float64) / 1000,
			"p99_e2el":            raw["p99_e2el_ms"].(float64) / 1000,
			"median_intvty":       1000 / raw["median_tpot_ms"].(float64),
		} {
			got := row[k]
			if g, ok := got.(float64); ok {
				if w, ok := want.(float64); ok && (g-w > 1e-9*w || w-g > 1e-9*w) {
					t.Errorf("%s: %s = %v, want %v", name, k, got, want)
				}
				continue
			}
			if got != want {
				t.Errorf("%s: %s = %v (%T), want %v", name, k, got, got, want)
			}
		}
		if _, ok := row["power_valid"]; !ok {
			t.Errorf("%s: no power_valid in %s", name, agg)
		}
		job := filepath.Base(filepath.Dir(filepath.Dir(p)))
		r, ok := byJob[job]
		if !ok {
			t.Errorf("no summary row for job %s", job)
			continue
		}
		if r["tput_per_gpu"] != row["tput_per_gpu"] || r["spec_decoding"] != spec || r["node"] != machine {
			t.Errorf("summary row of %s differs from InferenceX's: %v", job, r)
		}
	}
	// The store keeps them as InferenceX rows: its export format gives
	// them back with InferenceX's keys and types.
	resultsDir, runID := filepath.Dir(runDir), filepath.Base(runDir)
	code, stdout, stderr := runFleet(t, nil, "results", "export", "--results", resultsDir, "--run", runID, "--format", "inferencex")
	if code != ExitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	var exported []map[string]any
	if err := json.Unmarshal([]byte(stdout), &exported); err != nil || len(exported) != ixTinyJobs {
		t.Fatalf("export --format inferencex: %d rows, %v\n%s", len(exported), err, stdout)
	}
	for _, e := range exported {
		if e["dp_attention"] != "false" || e["hw"] != "h200" || e["infmax_model_prefix"] != "tiny" || e["run_id"] != nil {
			t.Errorf("exported row is not InferenceX's: %v", e)
		}
	}
}

// TestInferenceXSweepRunsTheCheckoutsScriptsOnAnSSHNode runs the
// miniature checkout's tiny config through `fleet sweep --inferencex` on
// an SSH node of the rig, in (fake) docker: the bundle is shipped, the
// script chosen by InferenceX's naming rules runs in /workspace with its
// environment contract, and the rows are InferenceX's. Then again with
// fleet's client in place of the checkout's.
func TestInferenceXSweepRunsTheCheckoutsScriptsOnAnSSHNode(t *testing.T) {
	r := testrig.Load(t)
	node := r.Host(t, "node1")
	r.Share(t, node.Name)
	dir := t.TempDir()
	bin, calls := fakeFrameworks(t, dir)
	// The image's nvidia-smi: in a container it sees the job's GPUs only,
	// so the script's GPU monitor measures exactly them.
	os.Symlink("fake", filepath.Join(bin, "nvidia-smi"))
	fleet := filepath.Join(agentDir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
	inv := filepath.Join(dir, "inventory.hcl")
	os.WriteFile(inv, []byte(fmt.Sprintf(`
node "node1" {
  host          = %q
  user          = %q
  identity_file = %q
  gpu           = "h200"
  gpus          = 8
  packing       = true
  runtime       = "docker"
  workdir       = %q
  hf_cache      = %q
  env = {
    PATH                = "%s:%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    FIXTURE_FLEET_BENCH = %q
    FLEET_PASS_ENV      = "FIXTURE_FLEET_BENCH"
  }
  env_from = ["HF_TOKEN"]
}
`, node.Addr, r.User, r.Keys.Private, filepath.Join(node.WorkDir, "ix"), filepath.Join(dir, "hf"), bin, node.BinDir, fleet)), 0o644)
	env := rigEnv(t)
	env["HF_TOKEN"] = "hf_rig_ix_secret"
	runDir, rows := ixSweep(t, env, inv, filepath.Join(dir, "results"), "ix", "--known-hosts", r.KnownHosts)
	checkIXRows(t, runDir, "node1", "inferencex-checkout", rows)
	// Power: the fake GPU i draws 600 W + 10 W x i, 20 W more in odd
	// seconds (scripts/testdata/fakebin/fake), and the monitor saw exactly
	// each job's GPUs around its benchmark window: a job on GPUs 0..tp-1
	// averages between 600 W and 600 + 10 (tp-1) + 20 W per GPU.
	for _, r := range rows {
		tp, _ := r["tp"].(float64)
		avg, _ := r["avg_power_w"].(float64)
		if r["power_valid"] != 1.0 || tp < 1 || avg < 600 || avg > 600+10*(tp-1)+20 || r["joules_per_output_token"] == nil {
			t.Errorf("job %v: power_valid %v avg_power_w %v joules_per_output_token %v", r["job_id"], r["power_valid"], r["avg_power_w"], r["joules_per_output_token"])
		}
	}

	var runs int
	for _, argv := range recorded(t, calls, "docker") {
		joined := strings.Join(argv, " ")
		if len(argv) == 0 || argv[0] != "run" || strings.Contains(joined, "-download ") {
			// The model download runs in the image too, before the script.
			continue
		}
		runs++
		for _, want := range []string{"--network=host", "--ipc=host", "--shm-size=16g", ":/workspace", "-w /workspace",
			"fleet.test/sglang:tiny", "-e MODEL", "-e RESULT_FILENAME", "-e CONC", "-e HF_TOKEN", "benchmarks/single_node/fixed_seq_len/tiny_fp8_h200"} {
			if !strings.Contains(joined, want) {
				t.Errorf("docker run lacks %q: %s", want, joined)
			}
		}
		if strings.Contains(joined, "hf_rig_ix_secret") {
			t.Errorf("secret value in docker's argv: %s", joined)
		}
	}
	if runs < ixTinyJobs {
		t.Errorf("%d docker runs, want one per job (%d)", runs, ixTinyJobs)
	}
	if left := leftovers(filepath.Join(node.WorkDir, "ix")); len(left) > 0 {
		t.Errorf("processes left on the node: %v", left)
	}

	// client = "fleet": the same scripts, fleet bench as the client.
	runDir, rows = ixSweep(t, env, inv, filepath.Join(dir, "results"), "ixfleet", "--known-hosts", r.KnownHosts, "--client", "fleet")
	checkIXRows(t, runDir, "node1", "", rows)

	// The rows are in the store beside fleet's own: a report of the run
	// and a comparison of the two clients' runs, job by job.
	res := filepath.Join(dir, "results")
	code, stdout, stderr := runFleet(t, nil, "report", "ix", "--results", res, "--json")
	if code != ExitOK || !strings.Contains(stdout, "tiny-fp8-h200-sglang") {
		t.Errorf("report of an InferenceX run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runFleet(t, nil, "compare", "ix", "ixfleet", "--results", res, "--threshold", "1000%", "--json")
	if code != ExitOK {
		t.Fatalf("compare: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var cmp struct {
		Configs []struct{ JobA, JobB string } `json:"configs"`
	}
	if err := json.Unmarshal([]byte(stdout), &cmp); err != nil {
		t.Fatalf("compare --json: %v\n%s", err, stdout)
	}
	if len(cmp.Configs) != ixTinyJobs {
		t.Errorf("compare matched %d of the %d jobs:\n%s", len(cmp.Configs), ixTinyJobs, stdout)
	}
	for _, c := range cmp.Configs {
		if c.JobA != c.JobB {
			t.Errorf("compare paired %s with %s", c.JobA, c.JobB)
		}
	}
}

// TestInferenceXSweepRunsOnASlurmCluster runs the same config through
// sbatch on the rig's Slurm cluster, on the compute nodes' own runtime.
func TestInferenceXSweepRunsOnASlurmCluster(t *testing.T) {
	r := testrig.Load(t)
	c := r.NoAccountingCluster(t)
	r.Share(t, c.Nodes...)
	dir := t.TempDir()
	bin, _ := fakeFrameworks(t, dir)
	fleet := filepath.Join(agentDir, fmt.Sprintf("fleet-%s-%s", runtime.GOOS, runtime.GOARCH))
	work, err := os.MkdirTemp("", "fleet-ix-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	nodeBin := r.Host(t, c.Nodes[0]).BinDir
	inv := filepath.Join(dir, "inventory.hcl")
	os.WriteFile(inv, []byte(fmt.Sprintf(`cluster "cl" {
  login         = "local"
  gpu           = "h200"
  gpus_per_node = 8
  max_nodes     = 2
  workdir       = %q
  env = {
    SLURM_CONF          = %q
    PATH                = "%s:%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    FIXTURE_FLEET_BENCH = %q
  }
}
`, work, c.SlurmConf, bin, nodeBin, fleet)), 0o644)
	runDir, rows := ixSweep(t, nil, inv, filepath.Join(dir, "results"), "ixslurm")
	checkIXRows(t, runDir, "cl", "inferencex-checkout", rows)
	logs, _ := filepath.Glob(filepath.Join(runDir, "jobs", "*", "logs", "script.log"))
	if len(logs) != ixTinyJobs {
		t.Errorf("script logs fetched: %v", logs)
	}
}
