package engine

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/target"
)

// evalDatasets are the built-in eval runner's datasets, hashed once per
// run: every job that evals ships its dataset, cached on each machine by
// content.
type evalDatasets struct {
	mu     sync.Mutex
	digest map[string]string // by the dataset's path on the controller
}

func (d *evalDatasets) file(path string) (target.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dg, ok := d.digest[path]
	if !ok {
		var err error
		if dg, err = fileDigest(path); err != nil {
			return target.File{}, err
		}
		if d.digest == nil {
			d.digest = map[string]string{}
		}
		d.digest[path] = dg
	}
	return target.File{Path: jobspec.EvalDatasetPath, Mode: 0o644, Source: path, Digest: dg, Shared: true}, nil
}

// evalSection is the job file's eval section of js and the dataset to
// ship with it (none for lm-eval, which reads its tasks' own data).
func (e *Engine) evalSection(js *jobState) (*jobspec.Eval, []target.File, error) {
	ev := js.job.Eval
	c := jobspec.Eval(*ev)
	s := &c
	s.Tasks, s.Thresholds = slices.Clone(ev.Tasks), maps.Clone(ev.Thresholds)
	s.Dataset = "" // the controller's path; the shipped file's replaces it below
	if ev.Runner != jobspec.EvalBuiltin {
		return s, nil, nil
	}
	f, err := e.evalData.file(ev.Dataset)
	if err != nil {
		return nil, nil, fmt.Errorf("job %s: eval dataset %s: %w", js.job.ID, ev.Dataset, err)
	}
	s.Dataset = jobspec.EvalDatasetPath
	return s, []target.File{f}, nil
}

// evalOutputs are the files a job that evals brings back besides its
// result and logs.
func evalOutputs() []string {
	return []string{results.EvalFile, jobspec.EvalSamplesPath, jobspec.EvalLogPath}
}

// aggregateEval gives a job's row its eval scores; an eval-only job,
// which has no benchmark result, gets a row of its own.
func (e *Engine) aggregateEval(js *jobState, m *machine.Machine, jobDir string, row *results.Row, only bool) (*results.Row, error) {
	scores, err := results.ReadEvalFile(jobDir)
	if err != nil {
		return nil, err
	}
	j := js.job
	if only {
		if len(scores) == 0 {
			return nil, fmt.Errorf("no eval scores (%s)", filepath.FromSlash(results.EvalFile))
		}
		row = results.EvalOnlyRow(results.Meta{
			RunID: e.opts.Run.ID(), JobID: j.ID, Node: m.Name, HW: m.GPU,
			Model: j.Model, Framework: j.Framework, Precision: j.Precision, Image: j.Image,
			TP: j.TP, EP: j.EP, PP: j.PP, DPAttn: j.DPAttn, Conc: j.Conc, ISL: j.ISL, OSL: j.OSL,
			GPUs: j.GPUs(), Fingerprint: j.Fingerprint,
		}, scores)
		return row, writeRow(jobDir, row)
	}
	if row == nil {
		return nil, nil
	}
	row.Evals = scores
	return row, writeRow(jobDir, row)
}

// evalTimeout is what an eval after a benchmark adds to a job's timeout:
// the eval has a benchmark timeout of its own on the node. An eval-only
// job's eval takes the benchmark's place.
func (e *Engine) evalTimeout(j *plan.Job) time.Duration {
	if j.Eval == nil || j.Eval.Only {
		return 0
	}
	return e.opts.Timeouts.Benchmark
}
