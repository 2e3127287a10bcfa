package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/sim"
)

// evalSweepDir copies sweeps/eval-sim.hcl and its eval files into a
// temporary directory, with the sim70b threshold set to threshold.
func evalSweepDir(t *testing.T, threshold string) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "evals"), 0o755))
	for _, f := range []string{"eval-sim.hcl", "evals/gsm8k-sim.jsonl", "evals/thresholds.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "sweeps", f))
		must(err)
		if f == "evals/thresholds.yaml" {
			b = []byte(strings.Replace(string(b), "sim70b:\n    gsm8k: 0.7\n", "sim70b:\n    gsm8k: "+threshold+"\n", 1))
		}
		must(os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	return dir
}

type evalSummary struct {
	Done, Failed int
	Jobs         []struct{ Job, State, Reason string }
	Rows         []*results.Row
}

func runEvalSweep(t *testing.T, dir string, args ...string) (int, evalSummary, string) {
	t.Helper()
	work := t.TempDir()
	args = append([]string{"sweep", filepath.Join(dir, "eval-sim.hcl"), "--agent-dir", agentDir, "--results", filepath.Join(dir, "results"),
		"--run-id", "ev", "--json", "--log-format", "logfmt"}, args...)
	code, stdout, stderr := runFleet(t, map[string]string{"XDG_CACHE_HOME": work}, args...)
	var sum evalSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("exit %d, --json output: %v\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	return code, sum, stderr
}

// TestEvalSimSweep runs sweeps/eval-sim.hcl here: the job at the highest
// concurrency scores 8 of 10 after its benchmark; a threshold over 0.8
// fails that job (exit 22, with the score in the reason); --evals-only
// runs that job alone, without a benchmark.
func TestEvalSimSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sim sweep (about ten seconds)")
	}
	t.Run("passes", func(t *testing.T) {
		code, sum, stderr := runEvalSweep(t, evalSweepDir(t, "0.7"))
		if code != ExitOK || sum.Done != 2 || len(sum.Rows) != 2 {
			t.Fatalf("exit %d, done %d, rows %d; stderr:\n%s", code, sum.Done, len(sum.Rows), stderr)
		}
		var evals []results.EvalScore
		for _, r := range sum.Rows {
			if r.Conc == 4 {
				evals = r.Evals
			} else if len(r.Evals) > 0 {
				t.Errorf("the conc %d job evaluated", r.Conc)
			}
		}
		if len(evals) != 1 || evals[0].Score != 0.8 || evals[0].N != 10 || evals[0].Passed == nil || !*evals[0].Passed {
			t.Errorf("conc 4 evals %+v, want gsm8k 0.8 of 10, passed", evals)
		}
	})
	t.Run("under its threshold", func(t *testing.T) {
		dir := evalSweepDir(t, "0.85")
		code, sum, _ := runEvalSweep(t, dir)
		if code != ExitFailed || sum.Failed != 1 {
			t.Fatalf("exit %d, failed %d; want %d and one failed job", code, sum.Failed, ExitFailed)
		}
		for _, j := range sum.Jobs {
			if j.State == "failed" && !strings.Contains(j.Reason, "gsm8k scored 0.8 (exact_match, n=10), under its threshold 0.85") {
				t.Errorf("reason %q does not give the score and threshold", j.Reason)
			}
		}
		// The job ended with eval-failed's exit code.
		b, err := os.ReadFile(filepath.Join(dir, "results", "ev", "journal.jsonl"))
		if err != nil || !strings.Contains(string(b), fmt.Sprintf(`"code":%d`, jobspec.ExitEvalFailed)) {
			t.Errorf("the journal has no exit %d (%v):\n%s", jobspec.ExitEvalFailed, err, b)
		}
	})
	t.Run("evals only", func(t *testing.T) {
		code, sum, stderr := runEvalSweep(t, evalSweepDir(t, "0.7"), "--evals-only")
		if code != ExitOK || len(sum.Jobs) != 1 || len(sum.Rows) != 1 {
			t.Fatalf("exit %d, jobs %d, rows %d; stderr:\n%s", code, len(sum.Jobs), len(sum.Rows), stderr)
		}
		r := sum.Rows[0]
		if r.Conc != 4 || r.TputPerGPU != 0 || len(r.Evals) != 1 || r.Evals[0].Score != 0.8 {
			t.Errorf("eval-only row %+v", r)
		}
	})
}

// TestEvalCommand scores the sim sweep's dataset against a simulator that
// answers it, as `fleet eval` would a real server.
func TestEvalCommand(t *testing.T) {
	data := filepath.Join("..", "..", "sweeps", "evals", "gsm8k-sim.jsonl")
	ans, err := sim.ReadAnswers(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sim.DefaultConfig()
	cfg.Answers = ans
	srv, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()
	<-srv.Ready()
	th := filepath.Join(t.TempDir(), "th.yaml")
	if err := os.WriteFile(th, []byte("default: {gsm8k: 0.9}\nmodels: {m7: {gsm8k: 0.5}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(t.TempDir(), "s.jsonl")
	base := []string{"eval", "--base-url", ts.URL, "--model", "sim", "--dataset", data, "--shots", "3", "--concurrency", "4"}
	for _, tt := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"scored", []string{"--samples", samples}, ExitOK, "gsm8k: exact_match 0.8000 (8 of 10 right, 0 without a reply)\n"},
		{"the model's threshold", []string{"--thresholds", th, "--model-prefix", "m7"}, ExitOK, "threshold 0.5: passed"},
		{"the default threshold", []string{"--thresholds", th}, ExitFailed, "threshold 0.9: FAILED"},
		{"json", []string{"--json", "--limit", "5"}, ExitOK, `"eval_n": 5`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runFleet(t, nil, append(base, tt.args...)...)
			if code != tt.code || !strings.Contains(stdout, tt.out) {
				t.Errorf("exit %d, want %d; stdout %q, want %q; stderr %s", code, tt.code, stdout, tt.out, stderr)
			}
		})
	}
	if b, _ := os.ReadFile(samples); strings.Count(string(b), "\n") != 10 {
		t.Errorf("samples file: %q", b)
	}
	if code, _, _ := runFleet(t, nil, "eval", "--base-url", ts.URL, "--model", "sim"); code != ExitUsage {
		t.Errorf("no dataset: exit %d, want %d", code, ExitUsage)
	}
}
