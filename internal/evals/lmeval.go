package evals

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/fleetbench/fleet/internal/results"
)

// ParseLMEval reads an lm-eval results file (results_<time>.json) into one
// score per task: the lowest of the task's exact_match metrics (one per
// filter, stderr entries aside), since InferenceX's gate fails a task
// when any of them is under its threshold. N is the effective number of
// samples lm-eval reports. A task without an exact_match metric is an
// error: there is nothing to gate it by.
func ParseLMEval(b []byte, conc int) ([]results.EvalScore, error) {
	var f struct {
		Results  map[string]map[string]json.RawMessage `json:"results"`
		NSamples map[string]struct {
			Original  int `json:"original"`
			Effective int `json:"effective"`
		} `json:"n-samples"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("lm-eval results: %w", err)
	}
	if len(f.Results) == 0 {
		return nil, fmt.Errorf("lm-eval results: no results")
	}
	var out []results.EvalScore
	for _, task := range slices.Sorted(maps.Keys(f.Results)) {
		metrics := f.Results[task]
		best := results.EvalScore{Task: task, Score: math.Inf(1), Runner: "lm-eval", Conc: conc, N: f.NSamples[task].Effective}
		for _, k := range slices.Sorted(maps.Keys(metrics)) {
			if !strings.HasPrefix(k, "exact_match,") || strings.Contains(k, "stderr") {
				continue
			}
			var v float64
			if err := json.Unmarshal(metrics[k], &v); err != nil {
				continue // "N/A" and the like
			}
			if v < best.Score {
				best.Score, best.Metric = v, k
			}
		}
		if best.Metric == "" {
			return nil, fmt.Errorf("lm-eval results: task %s has no exact_match metric", task)
		}
		if err := best.Check(); err != nil {
			return nil, fmt.Errorf("lm-eval results: %w", err)
		}
		out = append(out, best)
	}
	return out, nil
}
