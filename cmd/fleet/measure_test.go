package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
)

// measureSweep is a sim sweep with all of issue 16's measurements at
// once: MTP speculative decoding, an eval of the highest concurrency, and
// (from the fake nvidia-smi) GPU power.
const measureSweep = `
client {
  prompts_per_conc = 6
  warmups_per_conc = 1
}
eval {
  tasks      = ["gsm8k"]
  dataset    = "evals/gsm8k-sim.jsonl"
  thresholds = "evals/thresholds.yaml"
  shots      = 3
  conc       = "max"
  max_tokens = 64
}
config "sim70b-fp8-local-measure" {
  image        = ""
  model        = "sim-llama-3.3-70b"
  model_prefix = "sim70b"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  server_args  = ["--timing", "fixed", "--ttft", "40ms", "--itl", "10ms", "--spec-acceptance", "0.7"]
  scenario "1k128" {
    isl = 1024
    osl = 128
    search {
      tp          = 1
      conc        = [2, 4]
      spec        = "mtp"
      spec_tokens = 3
    }
  }
}
`

// One sim sweep on this machine with spec = "mtp", an eval block and the
// fake GPU tools gives rows with spec_decoding and the acceptance length,
// p90/p99/p99.9 of every metric, valid energy per token, and (at the
// highest concurrency) an eval score judged against its threshold; fleet
// report shows each.
func TestMeasurementsTogetherOnASimSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sim sweep on this machine")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "evals"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"evals/gsm8k-sim.jsonl", "evals/thresholds.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "sweeps", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := fakeGPUTools(t, dir, 1)
	inv := filepath.Join(dir, "inventory.hcl")
	os.WriteFile(inv, []byte(fmt.Sprintf(`
node "local" {
  gpu      = "h200"
  gpus     = 1
  runtime  = "none"
  workdir  = %q
  hf_cache = %q
  env      = { PATH = "%s:/usr/local/bin:/usr/bin:/bin", FLEET_GPU_MONITOR = "on", FLEET_GPU_MONITOR_INTERVAL = "0.2", GPU_IDLE_WAIT = "0" }
}
`, filepath.Join(dir, "work"), filepath.Join(dir, "hf"), bin)), 0o644)
	sweep := filepath.Join(dir, "measure.hcl")
	os.WriteFile(sweep, []byte(measureSweep), 0o644)

	code, stdout, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": filepath.Join(dir, "cache")}, "sweep", sweep, "-i", inv,
		"--agent-dir", agentDir, "--results", dir, "--run-id", "measure", "--json", "--log-format", "logfmt")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var sum struct {
		Done int
		Rows []*results.Row
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Done != 2 || len(sum.Rows) != 2 {
		t.Fatalf("summary (%v): %s", err, stdout)
	}
	evals := 0
	for _, r := range sum.Rows {
		if r.Spec() != "mtp" {
			t.Errorf("conc %d: spec_decoding %q, want mtp", r.Conc, r.Spec())
		}
		// Three drafts accepted with chance 0.7 each, given the ones
		// before: 1 + 0.7 + 0.49 + 0.343 = 2.53 tokens a step on average;
		// a few hundred steps put the mean well inside 2..3.
		if a, ok := r.SpecAcceptLength(); !ok || a < 2 || a > 3 {
			t.Errorf("conc %d: spec_accept_length %v (%v), want about 2.53", r.Conc, a, ok)
		}
		for _, metric := range []string{"ttft", "tpot", "itl", "e2el"} {
			for _, p := range []string{"p90", "p99", "p99.9"} {
				if _, ok := r.Metrics[p+"_"+metric]; !ok {
					t.Errorf("conc %d: no %s_%s", r.Conc, p, metric)
				}
			}
		}
		if !r.PowerValid() || r.Metrics[results.KeyJoulesPerOutTok] <= 0 {
			t.Errorf("conc %d: power valid %v (%v), joules per output token %v", r.Conc, r.PowerValid(), r.PowerReasons(), r.Metrics[results.KeyJoulesPerOutTok])
		}
		switch {
		case r.Conc == 4:
			evals++
			if len(r.Evals) != 1 || r.Evals[0].Score != 0.8 || r.Evals[0].Threshold == nil || *r.Evals[0].Threshold != 0.7 || r.Evals[0].Passed == nil || !*r.Evals[0].Passed {
				t.Errorf("conc 4 evals %+v, want gsm8k 0.8 against 0.7, passed", r.Evals)
			}
		case len(r.Evals) > 0:
			t.Errorf("conc %d evaluated: %+v", r.Conc, r.Evals)
		}
	}
	if evals != 1 {
		t.Errorf("%d rows at conc 4, want one", evals)
	}

	code, stdout, stderr = runFleet(t, nil, "report", "--results", dir, "measure")
	if code != ExitOK {
		t.Fatalf("report: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"SPEC", "ACCEPT", "mtp", "J/OUT-TOK", "W/GPU", "gsm8k", "0.8"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report shows no %q:\n%s", want, stdout)
		}
	}
}
