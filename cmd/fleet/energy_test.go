package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
)

// TestSweepRowsCarryEnergyAndInferenceXPercentiles runs one vLLM job on
// this machine (the local target) with the fake framework, container and
// GPU tools:
// the fake vllm is fleet's simulator and the fake nvidia-smi draws a
// known, varying power (scripts/testdata/fakebin/fake: 600 W + 10 W per
// GPU index + 20 W in odd seconds). The row carries valid energy figures
// within those bounds and p90, p99 and p99.9 of every latency metric, and
// `fleet report` shows the energy column.
func TestSweepRowsCarryEnergyAndInferenceXPercentiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a job on this machine")
	}
	dir := t.TempDir()
	bin := fakeGPUTools(t, dir, 2)
	inv := filepath.Join(dir, "inventory.hcl")
	os.WriteFile(inv, []byte(fmt.Sprintf(`
node "local" {
  gpu     = "h200"
  gpus    = 2
  runtime = "docker"
  workdir = %q
  hf_cache = %q
  env     = { PATH = "%s:/usr/local/bin:/usr/bin:/bin", FLEET_GPU_MONITOR_INTERVAL = "0.25", GPU_IDLE_WAIT = "0" }
}
`, filepath.Join(dir, "work"), filepath.Join(dir, "hf"), bin)), 0o644)
	sweep := filepath.Join(dir, "energy.hcl")
	os.WriteFile(sweep, []byte(`
client {
  prompts_per_conc = 5
  warmups_per_conc = 1
}
config "llama70b-fp8-h200-vllm" {
  image        = "vllm/vllm-openai:v0.10.2"
  model        = "meta-llama/Llama-3.3-70B-Instruct"
  model_prefix = "llama70b"
  precision = "fp8"
  framework = "vllm"
  runner    = "local"
  scenario "short" {
    isl = 64
    osl = 512
    search {
      tp   = 2
      conc = [2]
    }
  }
}
`), 0o644)
	code, stdout, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": filepath.Join(dir, "cache")}, "sweep", sweep, "-i", inv,
		"--agent-dir", agentDir, "--results", dir, "--run-id", "energy", "--json", "--log-format", "logfmt")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var sum struct {
		Done int
		Jobs []struct{ Job string }
		Rows []*results.Row
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Done != 1 || len(sum.Rows) != 1 {
		t.Fatalf("summary (%v): %s", err, stdout)
	}
	r := sum.Rows[0]
	if !r.PowerValid() || len(r.PowerReasons()) != 0 {
		gpuCSV, _ := os.ReadFile(filepath.Join(dir, "energy", "jobs", sum.Jobs[0].Job, "logs", "gpu.csv"))
		t.Fatalf("power invalid: %v\n%s", r.PowerReasons(), gpuCSV)
	}
	m := r.Metrics
	start, end := m[results.KeyPowerWindowStart], m[results.KeyPowerWindowEnd]
	// GPU 0 draws 600 or 620 W, GPU 1 610 or 630 W: per GPU on average
	// between 605 and 625 W, at most 630 W, 620 or 630 W at its peak.
	if avg := m[results.KeyAvgPowerW]; avg < 605 || avg > 625 {
		t.Errorf("avg_power_w %v, want 605..625", avg)
	}
	if peak := m[results.KeyPeakPowerW]; peak != 620 && peak != 630 {
		t.Errorf("peak_power_w %v, want 620 or 630", peak)
	}
	e := m[results.KeyEnergyJ]
	if want := m[results.KeyAvgPowerW] * 2 * (end - start); end <= start || math.Abs(e-want) > 1e-6*want {
		t.Errorf("total_gpu_energy_j %v over [%v, %v], want %v (avg x 2 GPUs x window)", e, start, end, want)
	}
	if m[results.KeyPowerSamples] < 2 {
		t.Errorf("power_samples %v", m[results.KeyPowerSamples])
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "energy", "jobs", sum.Jobs[0].Job, "results", "*.json"))
	if len(matches) != 1 {
		t.Fatalf("client results %v, want one", matches)
	}
	raw, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	var counts struct {
		In  int     `json:"total_input_tokens"`
		Out int     `json:"total_output_tokens"`
		S   float64 `json:"benchmark_start_time_unix"`
		E   float64 `json:"benchmark_end_time_unix"`
	}
	if err := json.Unmarshal(raw, &counts); err != nil {
		t.Fatal(err)
	}
	if counts.S != start || counts.E != end {
		t.Errorf("window [%v, %v], the client's [%v, %v]", start, end, counts.S, counts.E)
	}
	if got, want := m[results.KeyJoulesPerOutTok], e/float64(counts.Out); math.Abs(got-want) > 1e-9*want {
		t.Errorf("joules_per_output_token %v, want %v", got, want)
	}
	if got, want := m[results.KeyJoulesPerTotalTok], e/float64(counts.In+counts.Out); math.Abs(got-want) > 1e-9*want {
		t.Errorf("joules_per_total_token %v, want %v", got, want)
	}
	// InferenceX's percentiles, of every metric.
	for _, metric := range []string{"ttft", "tpot", "itl", "e2el"} {
		for _, p := range []string{"p90", "p99", "p99.9"} {
			if _, ok := m[p+"_"+metric]; !ok {
				t.Errorf("row has no %s_%s", p, metric)
			}
		}
	}
	code, stdout, stderr = runFleet(t, nil, "report", "--results", dir, "energy")
	if code != ExitOK || !strings.Contains(stdout, "J/OUT-TOK") {
		t.Errorf("report (exit %d) shows no energy column:\n%s\n%s", code, stdout, stderr)
	}
}

// fakeGPUTools puts the fake frameworks and a fake nvidia-smi showing
// count GPUs (with the fake's known, varying power) under dir/bin.
func fakeGPUTools(t *testing.T, dir string, count int) (bin string) {
	t.Helper()
	bin, _ = fakeFrameworks(t, dir)
	if err := os.Symlink("fake", filepath.Join(bin, "nvidia-smi")); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(bin, "fake.env"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "FAKE_GPU_COUNT=%d\n", count); err != nil {
		t.Fatal(err)
	}
	return bin
}
