package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
)

func score(task string, s, threshold float64) results.EvalScore {
	e := results.EvalScore{Task: task, Metric: "exact_match", Score: s, N: 200, Runner: "builtin", Conc: 16}
	if threshold > 0 {
		e.Judge(threshold)
	}
	return e
}

// evalRows are a benchmark row with an eval, and an eval-only row (no
// throughput) of the same configuration.
func evalRows(run string, gsm8k float64) []*results.Row {
	bench := &results.Row{HW: "h200", Model: "m", Framework: "vllm", Precision: "fp8", TP: 8, EP: 1, Conc: 16, JobID: "c_1k1k_tp8_conc16",
		RunID: run, TputPerGPU: 1000, Completed: 160, Metrics: map[string]float64{"median_intvty": 50, "median_e2el": 2},
		Evals: []results.EvalScore{score("gsm8k", gsm8k, 0.9)}}
	only := &results.Row{HW: "h200", Model: "m", Framework: "vllm", Precision: "fp8", TP: 4, EP: 1, Conc: 64, JobID: "c_1k1k_tp4_conc64",
		RunID: run, Metrics: map[string]float64{}, Evals: []results.EvalScore{score("gpqa_diamond", 0.4, 0)}}
	return []*results.Row{bench, only}
}

func TestReportEvalTables(t *testing.T) {
	rep := Build(Input{Runs: []string{"r1"}, Rows: evalRows("r1", 0.85)})
	if len(rep.Rows) != 1 || rep.Rows[0].TP != 8 {
		t.Errorf("summary rows %d: the eval-only row must stay out of the summary and frontiers", len(rep.Rows))
	}
	if len(rep.Evals) != 1 || len(rep.Evals[0].Lines) != 2 || !rep.Evals[0].Lines[0].EvalOnly || rep.Evals[0].Lines[1].EvalOnly {
		t.Fatalf("eval tables %+v, want one configuration with two lines, tp4's (eval only) first", rep.Evals)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Accuracy evals: h200 m vllm fp8", "gsm8k", "0.8500", "0.9", "FAILED", "gpqa_diamond", "64 (eval only)"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("report text lacks %q:\n%s", w, text.String())
		}
	}
	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"<h2>Accuracy evals: h200 m vllm fp8</h2>", "<td>gsm8k</td>", "0.8500", "FAILED", "64 (eval only)"} {
		if !strings.Contains(page.String(), w) {
			t.Errorf("HTML report lacks %q", w)
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Evals []EvalTable `json:"evals"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Evals) != 1 || back.Evals[0].Lines[1].Score != 0.85 || back.Evals[0].Lines[1].Task != "gsm8k" {
		t.Errorf("JSON evals %+v, %v", back.Evals, err)
	}
}

func TestCompareEvals(t *testing.T) {
	for _, tt := range []struct {
		name      string
		a, b      float64
		regressed bool
	}{
		{"both pass", 0.92, 0.95, false},
		{"B falls under its threshold", 0.92, 0.85, true},
		{"both under", 0.8, 0.85, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Compare("A", "B", evalRows("A", tt.a), evalRows("B", tt.b), nil, 0.05)
			if c.Regressed() != tt.regressed {
				t.Errorf("regressed %v, want %v", c.Regressed(), tt.regressed)
			}
			var d *ConfigDelta
			for i := range c.Configs {
				if c.Configs[i].TP == 8 {
					d = &c.Configs[i]
				}
			}
			if d == nil || len(d.Evals) != 1 || d.Evals[0].A != tt.a || d.Evals[0].B != tt.b {
				t.Fatalf("eval deltas %+v", c.Configs)
			}
			var text bytes.Buffer
			if err := c.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "Accuracy evals:") || strings.Contains(text.String(), "FAILED in B") != tt.regressed {
				t.Errorf("comparison text:\n%s", text.String())
			}
		})
	}
}
