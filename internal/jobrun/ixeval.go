package jobrun

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/evals"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/results"
)

// collectIXEval reads the lm-eval results an InferenceX script left in
// its workspace (its append_lm_eval_summary moves every results*.json
// there), keeps copies under results/lm-eval/, and judges the scores as
// InferenceX's gate does: every task against its threshold, the
// checkout's for the model or the job's MinScore.
func (r *runner) collectIXEval(ws string) error {
	x := r.j.InferenceX
	found, err := filepath.Glob(filepath.Join(ws, "results*.json"))
	if err != nil {
		return fail(jobspec.ExitEvalFailed, "eval results: %w", err)
	}
	slices.Sort(found)
	out := filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.EvalLMEvalDir))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fail(jobspec.ExitEvalFailed, "eval results: %w", err)
	}
	conc, _ := strconv.Atoi(x.Env["CONC"])
	var scores []results.EvalScore
	for _, f := range found {
		dst := filepath.Join(out, filepath.Base(f))
		if err := copyOut(f, dst, maxLMEvalResultBytes, false); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fail(jobspec.ExitEvalFailed, "eval results %s: %w", filepath.Base(f), err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			return fail(jobspec.ExitEvalFailed, "eval results %s: %w", filepath.Base(f), err)
		}
		s, err := evals.ParseLMEval(b, conc)
		if err != nil {
			return fail(jobspec.ExitEvalFailed, "eval results %s: %w", filepath.Base(f), err)
		}
		scores = append(scores, s...)
	}
	if len(scores) == 0 {
		r.logf("InferenceX script %s left no eval results (results*.json) in its workspace; last lines of %s:", x.Script, jobspec.ScriptLogPath)
		r.printTail(filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.ScriptLogPath)))
		return fail(jobspec.ExitEvalFailed, "InferenceX script %s ended without eval results (results*.json): %s", x.Script,
			strings.TrimPrefix(lastLines(filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.ScriptLogPath)), 3), " "))
	}
	return r.judge(scores)
}
