package plan

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/jobspec"
)

// EvalSpec is the accuracy eval a job runs against its server after the
// benchmark, or instead of it (Only): the sweep's eval block as this job
// runs it, its thresholds resolved for the job's model. It has the job
// file's fields (jobspec.Eval), so the two cannot drift apart, with one
// difference of meaning: Dataset is the built-in runner's dataset file on
// the controller, which the engine ships and renames for the job file.
// MinScore stays 0: sweep evals judge by their thresholds file alone.
type EvalSpec jobspec.Eval

// Describe is the eval in words, for the plan.
func (e *EvalSpec) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "eval %s (%s, %d shots", strings.Join(e.Tasks, ","), e.Runner, e.Shots)
	if e.Limit > 0 {
		fmt.Fprintf(&b, ", %d questions", e.Limit)
	}
	b.WriteString(")")
	if len(e.Thresholds) > 0 {
		var th []string
		for _, t := range slices.Sorted(maps.Keys(e.Thresholds)) {
			th = append(th, fmt.Sprintf("%s >= %.4g", t, e.Thresholds[t]))
		}
		b.WriteString("; thresholds " + strings.Join(th, ", "))
	}
	if e.Only {
		b.WriteString("; eval only, no benchmark")
	}
	return b.String()
}

// evalConc is the concurrency at which an eval block's jobs eval among a
// scenario's concurrencies (sorted, distinct): the highest, the median
// (index n/2, as InferenceX picks it) or the one it names.
func evalConc(e *config.Eval, concs []int) int {
	switch {
	case e.ConcN > 0:
		return e.ConcN
	case len(concs) == 0:
		return 0
	case e.Conc == "median":
		return concs[len(concs)/2]
	default:
		return concs[len(concs)-1]
	}
}

// markEvals gives each job its config's eval block selects an EvalSpec:
// per config and scenario, the single-node jobs (all bands) at the
// selected concurrency. Agentic and multi-node jobs do not eval. With an
// eval-only block, the config's jobs that do not eval are dropped.
func markEvals(sw *config.Sweep, jobs []*Job) []*Job {
	byKey := map[string]*config.BenchConfig{}
	for _, c := range sw.Configs {
		byKey[c.Key] = c
	}
	eligible := func(j *Job) bool { return j.Multi == nil && j.Agentic == nil && j.InferenceX == nil }
	type group struct{ config, seq string }
	concs := map[group][]int{}
	for _, j := range jobs {
		if c := byKey[j.Config]; c != nil && c.Eval != nil && eligible(j) {
			g := group{j.Config, j.Seq}
			if !slices.Contains(concs[g], j.Conc) {
				concs[g] = append(concs[g], j.Conc)
			}
		}
	}
	out := jobs[:0]
	for _, j := range jobs {
		c := byKey[j.Config]
		if c == nil || c.Eval == nil {
			out = append(out, j)
			continue
		}
		e := c.Eval
		cs := concs[group{j.Config, j.Seq}]
		slices.Sort(cs)
		if eligible(j) && j.Conc == evalConc(e, cs) {
			j.Eval = evalSpec(sw, e, c.ModelPrefix)
		}
		if j.Eval != nil || !e.Only {
			out = append(out, j)
		}
	}
	return out
}

func evalSpec(sw *config.Sweep, e *config.Eval, modelPrefix string) *EvalSpec {
	s := &EvalSpec{Tasks: slices.Clone(e.Tasks), Shots: e.Shots, Limit: e.Limit, Runner: e.Runner,
		Dataset: e.DatasetPath(sw.Path), MaxTokens: e.MaxTokens, Chat: e.Chat, Only: e.Only}
	for _, t := range e.Tasks {
		if v, ok := e.Threshold(modelPrefix, t); ok {
			if s.Thresholds == nil {
				s.Thresholds = map[string]float64{}
			}
			s.Thresholds[t] = v
		}
	}
	return s
}

// fingerprintEval is the eval as a recipe fingerprint sees it: the
// dataset by its file name.
func fingerprintEval(e *EvalSpec) *EvalSpec {
	if e == nil {
		return nil
	}
	c := *e
	if c.Dataset != "" {
		c.Dataset = filepath.Base(c.Dataset)
	}
	return &c
}
