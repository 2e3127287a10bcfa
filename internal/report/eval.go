package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/fleetbench/fleet/internal/results"
)

// EvalTable is the accuracy evals of one configuration (run, GPU, model,
// framework, precision): a line per job and task.
type EvalTable struct {
	Key       string     `json:"key"`
	Run       string     `json:"run,omitempty"` // when the report spans runs
	HW        string     `json:"hw"`
	Model     string     `json:"model"`
	Framework string     `json:"framework"`
	Precision string     `json:"precision"`
	Lines     []EvalLine `json:"lines"`
}

// EvalLine is one task of one job.
type EvalLine struct {
	JobID string `json:"job_id"`
	TP    int    `json:"tp"`
	EP    int    `json:"ep"`
	Conc  int    `json:"conc"`
	// EvalOnly marks a job that ran its eval and no benchmark.
	EvalOnly bool `json:"eval_only,omitempty"`
	results.EvalScore
}

// Verdict is "passed", "FAILED", or "-" when the score was not judged.
func (l EvalLine) Verdict() string {
	switch {
	case l.Passed == nil:
		return "-"
	case *l.Passed:
		return "passed"
	}
	return "FAILED"
}

// ThresholdText is the threshold, or "-" without one.
func (l EvalLine) ThresholdText() string {
	if l.Threshold == nil {
		return "-"
	}
	return strconv.FormatFloat(*l.Threshold, 'g', 4, 64)
}

// evalOnly says whether a row is an eval-only job's: scores, no
// benchmark. Such rows stay out of the summary table and frontiers.
func evalOnly(r *results.Row) bool {
	return len(r.Evals) > 0 && r.TputPerGPU == 0 && r.Completed == 0 && len(r.Metrics) == 0
}

// splitEvalOnly parts the eval-only rows from the others.
func splitEvalOnly(rows []*results.Row) (bench, only []*results.Row) {
	for _, r := range rows {
		if evalOnly(r) {
			only = append(only, r)
		} else {
			bench = append(bench, r)
		}
	}
	return bench, only
}

// evalTables groups the rows' eval scores by configuration, in the
// rows' order.
func evalTables(rows []*results.Row, multi bool) []EvalTable {
	var out []EvalTable
	idx := map[string]int{}
	for _, r := range rows {
		if len(r.Evals) == 0 {
			continue
		}
		key := strings.Join(nonEmpty(r.HW, r.Model, r.Framework, r.Precision), " ")
		run := ""
		if multi {
			run = r.RunID
			key = run + ": " + key
		}
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, EvalTable{Key: key, Run: run, HW: r.HW, Model: r.Model, Framework: r.Framework, Precision: r.Precision})
		}
		for _, e := range r.Evals {
			out[i].Lines = append(out[i].Lines, EvalLine{JobID: r.JobID, TP: r.TP, EP: max(r.EP, 1), Conc: r.Conc, EvalOnly: evalOnly(r), EvalScore: e})
		}
	}
	return out
}

// writeEvals prints a table of accuracy evals per configuration.
func (rep *Report) writeEvals(w io.Writer) error {
	for _, t := range rep.Evals {
		fmt.Fprintf(w, "Accuracy evals: %s\n", textCell(t.Key))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TP\tEP\tCONC\tTASK\tMETRIC\tSCORE\tTHRESHOLD\tRESULT\tN\tRUNNER")
		for _, l := range t.Lines {
			conc := strconv.Itoa(l.Conc)
			if l.EvalOnly {
				conc += " (eval only)"
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%.4f\t%s\t%s\t%d\t%s\n", l.TP, l.EP, conc, textCell(l.Task), textCell(l.Metric),
				l.Score, l.ThresholdText(), l.Verdict(), l.N, textCell(l.Runner))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return nil
}

// EvalDelta is one eval task of a configuration in both runs.
type EvalDelta struct {
	Task string  `json:"task"`
	A    float64 `json:"a"`
	B    float64 `json:"b"`
	// Change is B - A in score points (0.02: two points more).
	Change float64 `json:"change"`
	// FailedB: B's score is under its threshold (and A's was not): a
	// regression whatever the noise threshold.
	FailedB bool `json:"failed_b,omitempty"`
}

// evalDeltas pairs the eval tasks two matched rows share.
func evalDeltas(a, b *results.Row) []EvalDelta {
	var out []EvalDelta
	for _, eb := range b.Evals {
		for _, ea := range a.Evals {
			if ea.Task != eb.Task {
				continue
			}
			out = append(out, EvalDelta{Task: eb.Task, A: ea.Score, B: eb.Score, Change: eb.Score - ea.Score,
				FailedB: eb.Failed() && !ea.Failed()})
		}
	}
	return out
}

// writeEvalDeltas prints the configurations whose evals both runs have.
func (c *Comparison) writeEvalDeltas(w io.Writer) error {
	have := false
	for _, d := range c.Configs {
		have = have || len(d.Evals) > 0
	}
	if !have {
		return nil
	}
	fmt.Fprintln(w, "\nAccuracy evals:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFIG\tTASK\tSCORE A → B\tCHANGE\tVERDICT")
	for _, d := range c.Configs {
		for _, e := range d.Evals {
			verdict := "ok"
			if e.FailedB {
				verdict = "FAILED in B"
			}
			fmt.Fprintf(tw, "%s\t%s\t%.4f → %.4f\t%+.4f\t%s\n", textCell(d.Key), textCell(e.Task), e.A, e.B, e.Change, verdict)
		}
	}
	return tw.Flush()
}
