package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/plan"
)

func TestIXEval(t *testing.T) {
	yes, no := true, false
	checkout := t.TempDir()
	if err := os.MkdirAll(filepath.Join(checkout, "utils", "evals"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(checkout, filepath.FromSlash(IXThresholdsPath)),
		[]byte("default: {gsm8k: 0.90, gpqa_diamond_cot_n_shot: 0.30}\nmodels:\n  dsr1: {gsm8k: 0.91}\n  qwen: {mmlu: 0.5}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &Engine{opts: Options{InferenceX: &IXOptions{Dir: checkout}}}
	for _, tt := range []struct {
		name     string
		row      inferencex.Job
		want     map[string]float64 // nil: no eval
		wantOnly bool
	}{
		{"no eval keys", inferencex.Job{ModelPrefix: "dsr1"}, nil, false},
		{"run-eval false", inferencex.Job{ModelPrefix: "dsr1", RunEval: &no}, nil, false},
		{"run-eval: the model's threshold over the default", inferencex.Job{ModelPrefix: "dsr1", RunEval: &yes},
			map[string]float64{"gsm8k": 0.91, "gpqa_diamond_cot_n_shot": 0.30}, false},
		{"eval-only of a model with its own task", inferencex.Job{ModelPrefix: "qwen", RunEval: &yes, EvalOnly: &yes},
			map[string]float64{"gsm8k": 0.90, "gpqa_diamond_cot_n_shot": 0.30, "mmlu": 0.5}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			row := tt.row
			got, err := e.ixEval(&row)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if got != nil {
					t.Errorf("eval %+v for a row that does not eval", got)
				}
				return
			}
			if got == nil || got.Runner != jobspec.EvalInferenceX || got.Only != tt.wantOnly || got.MinScore != 0.85 || len(got.Thresholds) != len(tt.want) {
				t.Fatalf("eval %+v", got)
			}
			for k, v := range tt.want {
				if got.Thresholds[k] != v {
					t.Errorf("threshold %s = %v, want %v", k, got.Thresholds[k], v)
				}
			}
		})
	}
	// A checkout without the file: every task against the gate's 0.85.
	e = &Engine{opts: Options{InferenceX: &IXOptions{Dir: t.TempDir()}}}
	got, err := e.ixEval(&inferencex.Job{RunEval: &yes})
	if err != nil || got == nil || got.Thresholds != nil || got.MinScore != 0.85 {
		t.Errorf("no thresholds file: %+v, %v", got, err)
	}
}

// A canary of a job that evals benchmarks and never evals; the job itself
// gets the eval's own benchmark timeout on top of its job timeout.
func TestEvalCanaryAndTimeout(t *testing.T) {
	yes := true
	e := New(nil, Options{Canary: config.Canary{Enabled: true, Prompts: 3, Conc: 2},
		Timeouts: config.Timeouts{ServerStart: time.Minute, Benchmark: 10 * time.Minute, Job: 30 * time.Minute}})
	j := &plan.Job{ID: "x", Conc: 8, Eval: &plan.EvalSpec{Tasks: []string{"gsm8k"}, Runner: "builtin", Only: true},
		InferenceX: &inferencex.Job{RunEval: &yes, EvalOnly: &yes}}
	c := e.canaryJob(j)
	if c.Eval != nil || c.InferenceX.RunEval != nil || c.InferenceX.EvalOnly != nil || evalOnly(c) {
		t.Errorf("canary evals: %+v %+v", c.Eval, c.InferenceX)
	}
	if j.Eval == nil || j.InferenceX.EvalOnly == nil {
		t.Error("cutting the canary changed its job")
	}
	if got := e.jobTimeout(j); got != 30*time.Minute {
		t.Errorf("eval-only job timeout %s, want the job's 30m", got)
	}
	j.Eval.Only = false
	if got := e.jobTimeout(j); got != 40*time.Minute {
		t.Errorf("benchmark+eval job timeout %s, want 30m + the eval's 10m", got)
	}
}
