package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// EvalScore is one accuracy eval of a job: a task scored against the
// job's running server (fleet's built-in runner or lm-eval), and how it
// stood against its threshold when the sweep named one.
type EvalScore struct {
	Task string `json:"eval_task"`
	// Metric names the score: "exact_match" for the built-in runner,
	// lm-eval's metric and filter ("exact_match,strict-match") otherwise.
	Metric string  `json:"eval_metric,omitempty"`
	Score  float64 `json:"eval_score"`
	// Threshold and Passed are absent when the sweep gave no thresholds.
	Threshold *float64 `json:"eval_threshold,omitempty"`
	Passed    *bool    `json:"eval_passed,omitempty"`
	N         int      `json:"eval_n"` // questions scored
	Runner    string   `json:"eval_runner,omitempty"`
	Conc      int      `json:"eval_conc,omitempty"` // requests in flight
}

// EvalFile is where a job leaves its eval scores, relative to its work
// directory: a JSON array of EvalScore.
const EvalFile = "results/eval.json"

// Judge sets Threshold and Passed from threshold (a score at or above it
// passes).
func (e *EvalScore) Judge(threshold float64) {
	t, ok := threshold, e.Score >= threshold
	e.Threshold, e.Passed = &t, &ok
}

// Failed says whether the score fell under its threshold.
func (e *EvalScore) Failed() bool { return e.Passed != nil && !*e.Passed }

// Check refuses a score a row cannot hold.
func (e *EvalScore) Check() error {
	if e.Task == "" {
		return fmt.Errorf("eval score without eval_task")
	}
	if err := checkFloat("eval_score of "+e.Task, e.Score, 0, 1); err != nil {
		return err
	}
	if e.Threshold != nil {
		if err := checkFloat("eval_threshold of "+e.Task, *e.Threshold, 0, 1); err != nil {
			return err
		}
	}
	if e.N < 0 || e.N > MaxCount || e.Conc < 0 || e.Conc > MaxCount {
		return fmt.Errorf("eval_n or eval_conc of %s out of range", e.Task)
	}
	return nil
}

// checkEvals checks every eval score of a row.
func (r *Row) checkEvals() error {
	for i := range r.Evals {
		if err := r.Evals[i].Check(); err != nil {
			return err
		}
	}
	return nil
}

// ReadEvalFile reads a job's eval scores (EvalFile under dir); a job
// without the file has none.
func ReadEvalFile(dir string) ([]EvalScore, error) {
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(EvalFile)))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []EvalScore
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", EvalFile, err)
	}
	for i := range out {
		if err := out[i].Check(); err != nil {
			return nil, fmt.Errorf("%s: %w", EvalFile, err)
		}
	}
	return out, nil
}

// EvalOnlyRow is the row of a job that ran its evals and no benchmark:
// the job's columns and its scores, no throughput.
func EvalOnlyRow(m Meta, evals []EvalScore) *Row {
	r := &Row{
		HW: m.HW, TP: m.TP, EP: max(m.EP, 1), DPAttention: m.DPAttn, Conc: m.Conc,
		Model: m.Model, Framework: m.Framework, Precision: m.Precision,
		ISL: m.ISL, OSL: m.OSL, Image: m.Image, Metrics: map[string]float64{},
		RunID: m.RunID, JobID: m.JobID, Node: m.Node, Evals: evals,
	}
	r.SetFingerprint(m.Fingerprint)
	return r
}

// evalTasks is the union of the rows' eval tasks, sorted.
func evalTasks(rows []*Row) []string {
	var tasks []string
	for _, r := range rows {
		for _, e := range r.Evals {
			if !slices.Contains(tasks, e.Task) {
				tasks = append(tasks, e.Task)
			}
		}
	}
	slices.Sort(tasks)
	return tasks
}

// evalCSVHeader is a CSV's eval columns: eval_<task> (the score) and
// eval_<task>_passed (true, false, or empty when not judged) per task.
func evalCSVHeader(tasks []string) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, CSVText("eval_"+t), CSVText("eval_"+t+"_passed"))
	}
	return out
}

// evalCSVCells are a row's cells under evalCSVHeader(tasks).
func evalCSVCells(r *Row, tasks []string) []string {
	out := make([]string, 0, 2*len(tasks))
	for _, t := range tasks {
		score, passed := "", ""
		for _, e := range r.Evals {
			if e.Task == t {
				score = strconv.FormatFloat(e.Score, 'g', -1, 64)
				if e.Passed != nil {
					passed = strconv.FormatBool(*e.Passed)
				}
			}
		}
		out = append(out, score, passed)
	}
	return out
}
