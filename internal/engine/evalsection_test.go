package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/plan"
)

// TestEvalSection checks the job file's eval section made from the
// plan's: every field carried over, the controller's dataset path
// replaced by the shipped file's (built-in runner) or dropped (lm-eval),
// and no slice or map shared with the plan.
func TestEvalSection(t *testing.T) {
	data := filepath.Join(t.TempDir(), "gsm8k.jsonl")
	if err := os.WriteFile(data, []byte(`{"question":"1+1","answer":"2"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		runner      string
		wantDataset string
		wantFiles   int
	}{
		{jobspec.EvalBuiltin, jobspec.EvalDatasetPath, 1},
		{jobspec.EvalLMEval, "", 0},
	} {
		t.Run(tc.runner, func(t *testing.T) {
			ev := &plan.EvalSpec{Tasks: []string{"gsm8k", "mmlu"}, Shots: 5, Limit: 50, Runner: tc.runner, Dataset: data,
				MaxTokens: 256, Chat: true, Thresholds: map[string]float64{"gsm8k": 0.8}, Only: true}
			e := &Engine{}
			s, files, err := e.evalSection(&jobState{job: &plan.Job{ID: "j", Eval: ev}})
			if err != nil {
				t.Fatal(err)
			}
			want := &jobspec.Eval{Tasks: []string{"gsm8k", "mmlu"}, Shots: 5, Limit: 50, Runner: tc.runner, Dataset: tc.wantDataset,
				MaxTokens: 256, Chat: true, Thresholds: map[string]float64{"gsm8k": 0.8}, Only: true}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("eval section %+v, want %+v", s, want)
			}
			if len(files) != tc.wantFiles || tc.wantFiles == 1 && files[0].Source != data {
				t.Errorf("files %+v, want %d shipping %s", files, tc.wantFiles, data)
			}
			s.Tasks[0], s.Thresholds["gsm8k"] = "changed", 0
			if ev.Tasks[0] != "gsm8k" || ev.Thresholds["gsm8k"] != 0.8 {
				t.Errorf("the eval section shares the plan's tasks or thresholds: %+v", ev)
			}
		})
	}
}
