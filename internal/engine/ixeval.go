package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"github.com/fleetbench/fleet/internal/evals"
	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/plan"
)

// IXThresholdsPath is where an InferenceX checkout keeps its eval
// thresholds, relative to its root.
const IXThresholdsPath = "utils/evals/thresholds.yaml"

// ixThresholds is the checkout's thresholds file, read once per run.
type ixThresholds struct {
	once  sync.Once
	table *evals.Thresholds // nil when the checkout has none
	err   error
}

// ixEvals says whether an InferenceX row runs its script's eval
// (run-eval or eval-only); fleet's own launchers do not run it for a
// multi-node or agentic row.
func ixEvals(j *plan.Job) bool {
	x := j.InferenceX
	return x != nil && j.Multi == nil && j.Agentic == nil &&
		(x.RunEval != nil && *x.RunEval || x.EvalOnly != nil && *x.EvalOnly)
}

// evalOnly says whether a job evals without a benchmark: fleet's own
// eval-only block, or an InferenceX eval-only row.
func evalOnly(j *plan.Job) bool {
	if j.Eval != nil {
		return j.Eval.Only
	}
	return ixEvals(j) && j.InferenceX.EvalOnly != nil && *j.InferenceX.EvalOnly
}

// ixEval is the eval section of an InferenceX job whose script evals:
// fleet job collects the script's lm-eval results and judges each task
// as InferenceX's gate does, against the checkout's threshold for the
// row's model prefix, else evals.DefaultMinScore. Nil for a row that does
// not eval.
func (e *Engine) ixEval(row *inferencex.Job) (*jobspec.Eval, error) {
	j := &plan.Job{InferenceX: row}
	if !ixEvals(j) {
		return nil, nil
	}
	t := &e.ixThresh
	t.once.Do(func() {
		p := filepath.Join(e.opts.InferenceX.Dir, filepath.FromSlash(IXThresholdsPath))
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err == nil {
			t.table, err = evals.ParseThresholds(b)
		}
		if err != nil {
			t.err = fmt.Errorf("InferenceX eval thresholds %s: %w", p, err)
		}
	})
	if t.err != nil {
		return nil, t.err
	}
	s := &jobspec.Eval{Runner: jobspec.EvalInferenceX, Only: evalOnly(j), MinScore: evals.DefaultMinScore}
	if t.table != nil {
		s.Thresholds = map[string]float64{}
		tasks := maps.Clone(t.table.Default)
		maps.Copy(tasks, t.table.Models[row.ModelPrefix])
		for task := range tasks {
			s.Thresholds[task] = t.table.For(row.ModelPrefix, task)
		}
	}
	return s, nil
}
