package jobrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/atomicfile"
	"github.com/fleetbench/fleet/internal/evals"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/results"
)

// maxLMEvalResultBytes bounds the lm-eval results file read back.
const maxLMEvalResultBytes = 16 << 20

// evaluate runs the job's accuracy eval against the running server,
// writes the scores (results.EvalFile), and fails the job with
// ExitEvalFailed when a score is under its threshold or the eval could
// not be run. It holds the bench timeout and notices a dying server as
// the benchmark does.
func (r *runner) evaluate(ctx context.Context) error {
	e := r.j.Eval
	logPath := filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.EvalLogPath))
	ectx, done := r.clientContext(ctx)
	defer done()
	r.progress(jobspec.Progress{Phase: jobspec.PhaseBenchmark, Port: r.port})
	r.logf("running eval: %s tasks %s, %d shots, limit %d, concurrency %d", e.Runner, strings.Join(e.Tasks, ","), e.Shots, e.Limit, r.j.Conc)
	var scores []results.EvalScore
	var err error
	if e.Runner == jobspec.EvalLMEval {
		scores, err = r.evalLMEval(ectx, logPath)
	} else {
		scores, err = r.evalBuiltin(ectx, logPath)
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(context.Cause(ectx), errServerDied):
			return r.died(err)
		case errors.Is(ectx.Err(), context.DeadlineExceeded):
			return fail(jobspec.ExitBenchTimeout, "eval timed out after %s", r.j.BenchTimeout.D())
		}
		return fail(jobspec.ExitEvalFailed, "eval (%s): %w", e.Runner, err)
	}
	return r.judge(scores)
}

// judge sets each score's threshold (the job's for its task, else its
// MinScore), logs the scores, writes them (results.EvalFile), and fails
// the job with ExitEvalFailed when one is under its threshold.
func (r *runner) judge(scores []results.EvalScore) error {
	e := r.j.Eval
	var under []string
	for i := range scores {
		s := &scores[i]
		if t, ok := e.Thresholds[s.Task]; ok {
			s.Judge(t)
		} else if e.MinScore > 0 {
			s.Judge(e.MinScore)
		}
		verdict := "no threshold"
		if s.Passed != nil {
			verdict = fmt.Sprintf("threshold %.4g: passed", *s.Threshold)
			if !*s.Passed {
				verdict = fmt.Sprintf("threshold %.4g: FAILED", *s.Threshold)
				under = append(under, fmt.Sprintf("%s scored %.4g (%s, n=%d), under its threshold %.4g", s.Task, s.Score, s.Metric, s.N, *s.Threshold))
			}
		}
		r.logf("eval %s: %s %.4g over %d questions (%s)", s.Task, s.Metric, s.Score, s.N, verdict)
	}
	b, err := json.MarshalIndent(scores, "", "  ")
	if err != nil {
		return fail(jobspec.ExitEvalFailed, "eval scores: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(r.o.Dir, filepath.FromSlash(results.EvalFile)), append(b, '\n'), 0o644); err != nil {
		return fail(jobspec.ExitEvalFailed, "eval scores: %w", err)
	}
	if len(under) > 0 {
		return fail(jobspec.ExitEvalFailed, "eval: %s", strings.Join(under, "; "))
	}
	return nil
}

// evalBuiltin scores the job's one task from its shipped dataset with
// fleet's own runner, writing each question's outcome to
// jobspec.EvalSamplesPath.
func (r *runner) evalBuiltin(ctx context.Context, logPath string) ([]results.EvalScore, error) {
	e := r.j.Eval
	ex, err := evals.ReadDataset(filepath.Join(r.o.Dir, filepath.FromSlash(e.Dataset)))
	if err != nil {
		return nil, err
	}
	samples, err := os.Create(filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.EvalSamplesPath)))
	if err != nil {
		return nil, err
	}
	defer samples.Close()
	lg, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lg.Close()
	cfg := evals.Config{
		BaseURL: "http://127.0.0.1:" + strconv.Itoa(r.port), Model: r.j.Model, Chat: e.Chat,
		Task: e.Tasks[0], Examples: ex, Shots: e.Shots, Limit: e.Limit, Concurrency: r.j.Conc,
		MaxTokens: e.MaxTokens, Samples: samples,
	}
	for _, kv := range r.o.Environ {
		if v, ok := strings.CutPrefix(kv, "OPENAI_API_KEY="); ok {
			cfg.APIKey = v
		}
	}
	fmt.Fprintf(lg, "fleet job: eval %s (built-in) %s model=%s examples=%d shots=%d limit=%d concurrency=%d\n",
		cfg.Task, cfg.BaseURL, cfg.Model, len(ex), cfg.Shots, cfg.Limit, cfg.Concurrency)
	o, err := evals.Run(ctx, cfg, nil)
	if err != nil {
		fmt.Fprintf(lg, "fleet job: %v\n", err)
		return nil, err
	}
	fmt.Fprintf(lg, "fleet job: %d of %d right, %d without a reply\n", o.Correct, o.N, o.Failed)
	return []results.EvalScore{o.Score(cfg.Task, cfg.Concurrency)}, nil
}

// evalLMEval runs lm-eval through scripts/eval/lm-eval.sh (in the
// framework's container when the job has one) and reads its results
// file back: one score per task asked.
func (r *runner) evalLMEval(ctx context.Context, logPath string) ([]results.EvalScore, error) {
	e := r.j.Eval
	out := filepath.Join(r.o.Dir, filepath.FromSlash(jobspec.EvalLMEvalDir))
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	env := r.j.Env()
	env["PORT"] = strconv.Itoa(r.port)
	env["EVAL_TASKS"] = strings.Join(e.Tasks, ",")
	env["EVAL_SHOTS"] = strconv.Itoa(e.Shots)
	env["EVAL_LIMIT"] = strconv.Itoa(e.Limit)
	env["EVAL_CONC"] = strconv.Itoa(r.j.Conc)
	env["EVAL_MAX_TOKENS"] = strconv.Itoa(e.MaxTokens)
	env["EVAL_CHAT"] = strconv.FormatBool(e.Chat)
	env["EVAL_OUTPUT"] = jobspec.EvalLMEvalDir
	if r.o.Self != "" {
		env["FLEET_BIN"] = r.o.Self
	}
	p, err := startProc("lm-eval", r.o.Dir, jobspec.EvalLMEvalScript, logPath, r.o.Environ, env, nil)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", jobspec.EvalLMEvalScript, err)
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		p.stop(r.o.StopGrace, r.logf)
		return nil, ctx.Err()
	}
	if p.status != nil {
		r.logf("lm-eval failed (%s); last lines of %s:", exitStatus(p.status), jobspec.EvalLogPath)
		r.printTail(logPath)
		return nil, fmt.Errorf("lm-eval exited (%s): %s", exitStatus(p.status), lastLines(logPath, 3))
	}
	path, err := newestResults(out)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxLMEvalResultBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxLMEvalResultBytes {
		return nil, fmt.Errorf("%s is over %d bytes", path, maxLMEvalResultBytes)
	}
	scores, err := evals.ParseLMEval(b, r.j.Conc)
	if err != nil {
		return nil, err
	}
	var kept []results.EvalScore
	for _, t := range e.Tasks {
		i := slices.IndexFunc(scores, func(s results.EvalScore) bool { return s.Task == t })
		if i < 0 {
			return nil, fmt.Errorf("lm-eval left no score for task %s", t)
		}
		kept = append(kept, scores[i])
	}
	return kept, nil
}

// newestResults finds lm-eval's results file under dir (it writes
// <dir>/<model>/results_<time>.json): the newest by name.
func newestResults(dir string) (string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), "results") && strings.HasSuffix(d.Name(), ".json") && d.Type().IsRegular() {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if len(found) == 0 {
		return "", fmt.Errorf("lm-eval wrote no results*.json under %s", jobspec.EvalLMEvalDir)
	}
	slices.SortFunc(found, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	return found[len(found)-1], nil
}
