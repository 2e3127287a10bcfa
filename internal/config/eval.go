package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/evals"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Eval is an eval block: the accuracy eval some of a config's jobs run
// against their server after the benchmark (or instead of it, Only). A
// sweep-level block applies to every config without one of its own.
type Eval struct {
	Tasks []string // default gsm8k
	Shots int      // few-shot examples (5)
	// Conc selects the jobs that eval, per scenario of a config, as
	// InferenceX marks its rows: "max" (the highest concurrency, the
	// default), "median" (of the sorted distinct concurrencies, the one
	// at index n/2) or a concurrency (ConcN). The eval runs at the job's
	// concurrency.
	Conc  string
	ConcN int
	Limit int // questions per task; 0: all
	// Runner is jobspec.EvalBuiltin (fleet's own, with Dataset) or
	// jobspec.EvalLMEval (lm-eval in the framework's container).
	Runner string
	// Dataset (built-in runner) and Thresholds are as written: relative
	// paths are relative to the sweep file (DatasetPath,
	// ThresholdsPath).
	Dataset    string
	Thresholds string
	MaxTokens  int  // per reply (512)
	Chat       bool // ask the chat completions API
	// Only runs the eval without the benchmark and drops the jobs that
	// do not eval, like InferenceX's --evals-only.
	Only  bool
	Range hcl.Range

	// ThresholdTable is the thresholds file, read when the sweep loads;
	// nil without one.
	ThresholdTable *evals.Thresholds

	concRange, datasetRange, thresholdsRange hcl.Range
}

// Eval defaults.
const (
	DefaultEvalShots     = 5
	DefaultEvalMaxTokens = 512
	maxEvalShots         = 64
	maxEvalTokens        = 1 << 16
)

// EvalConcs are the named concurrency selections of an eval block.
var EvalConcs = []string{"max", "median"}

// EvalRunners are the runners an eval block may name.
var EvalRunners = []string{jobspec.EvalBuiltin, jobspec.EvalLMEval}

var evalSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "tasks"}, {Name: "shots"}, {Name: "conc"}, {Name: "limit"}, {Name: "runner"}, {Name: "dataset"},
	{Name: "thresholds"}, {Name: "max_tokens"}, {Name: "chat"}, {Name: "only"},
}}

func resolve(p, sweepPath string) string {
	if p == "" {
		return ""
	}
	p = ExpandHome(p)
	if !filepath.IsAbs(p) && sweepPath != "" {
		p = filepath.Join(filepath.Dir(sweepPath), p)
	}
	return p
}

// DatasetPath is the dataset resolved against the sweep file at
// sweepPath (~ is the home directory).
func (e *Eval) DatasetPath(sweepPath string) string { return resolve(e.Dataset, sweepPath) }

// ThresholdsPath is the thresholds file resolved likewise.
func (e *Eval) ThresholdsPath(sweepPath string) string { return resolve(e.Thresholds, sweepPath) }

// Threshold is the score task must reach for a model prefix, and whether
// the block gives thresholds at all.
func (e *Eval) Threshold(modelPrefix, task string) (float64, bool) {
	if e.ThresholdTable == nil {
		return 0, false
	}
	return e.ThresholdTable.For(modelPrefix, task), true
}

// eval decodes an eval block.
func (d *decoder) eval(b *hcl.Block) *Eval {
	content, diags := b.Body.Content(evalSchema)
	d.diags = append(d.diags, diags...)
	a := content.Attributes
	e := &Eval{Tasks: []string{"gsm8k"}, Shots: DefaultEvalShots, Conc: "max", Runner: jobspec.EvalBuiltin,
		MaxTokens: DefaultEvalMaxTokens, Range: b.DefRange}
	if attr := d.strings(a, "tasks", true, &e.Tasks); attr != nil {
		if len(e.Tasks) == 0 {
			d.errorf(attr.Expr.Range(), "Invalid value", "tasks must name at least one task, such as [\"gsm8k\"].")
		}
		for _, t := range e.Tasks {
			if !jobspec.ValidTask(t) {
				d.errorf(attr.Expr.Range(), "Invalid value", "Task %q: a task name has letters, digits, '_', '.' and '-' only.", t)
			}
		}
	}
	if attr := d.integer(a, "shots", &e.Shots); attr != nil && (e.Shots < 0 || e.Shots > maxEvalShots) {
		d.errorf(attr.Expr.Range(), "Invalid value", "shots must be from 0 to %d, not %d.", maxEvalShots, e.Shots)
	}
	if attr := d.integer(a, "limit", &e.Limit); attr != nil && e.Limit < 0 {
		d.errorf(attr.Expr.Range(), "Invalid value", "limit must be 0 (every question) or more, not %d.", e.Limit)
	}
	if attr := d.integer(a, "max_tokens", &e.MaxTokens); attr != nil && (e.MaxTokens < 1 || e.MaxTokens > maxEvalTokens) {
		d.errorf(attr.Expr.Range(), "Invalid value", "max_tokens must be from 1 to %d, not %d.", maxEvalTokens, e.MaxTokens)
	}
	if attr, ok := a["conc"]; ok {
		e.concRange = attr.Expr.Range()
		d.evalConc(attr, e)
	}
	if attr := d.str(a, "runner", &e.Runner); attr != nil {
		d.oneOf(attr, e.Runner, EvalRunners)
	}
	dataAttr := d.str(a, "dataset", &e.Dataset)
	if dataAttr != nil {
		e.datasetRange = dataAttr.Expr.Range()
	}
	if attr := d.str(a, "thresholds", &e.Thresholds); attr != nil {
		e.thresholdsRange = attr.Expr.Range()
		if strings.TrimSpace(e.Thresholds) == "" {
			d.errorf(attr.Expr.Range(), "Invalid value", "thresholds must name a thresholds file (InferenceX's format); leave it out to score without thresholds.")
		}
	}
	d.boolean(a, "chat", &e.Chat)
	d.boolean(a, "only", &e.Only)
	switch e.Runner {
	case jobspec.EvalBuiltin:
		if len(e.Tasks) != 1 {
			d.errorf(b.DefRange, "Invalid eval", "The built-in runner scores one task from its dataset file, not %d (%s); use one eval task, or runner = \"lm-eval\".", len(e.Tasks), strings.Join(e.Tasks, ", "))
		}
		if dataAttr == nil || strings.TrimSpace(e.Dataset) == "" {
			d.errorf(b.DefRange, "Missing dataset", "The built-in eval runner needs dataset: a JSONL file of {\"question\": ..., \"answer\": \"... #### 42\"} lines (GSM8K's format); or set runner = \"lm-eval\".")
		}
	case jobspec.EvalLMEval:
		if dataAttr != nil {
			d.errorf(dataAttr.NameRange, "Unexpected argument", "dataset is for the built-in runner; lm-eval reads its tasks' own data.")
		}
	}
	return e
}

// evalConc reads conc: "max", "median" or a concurrency.
func (d *decoder) evalConc(attr *hcl.Attribute, e *Eval) {
	v, diags := attr.Expr.Value(d.ctx)
	if diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		return
	}
	switch {
	case v.IsKnown() && !v.IsNull() && v.Type() == cty.Number:
		if n, ok := d.toInt(attr, v); ok {
			if n < 1 {
				d.errorf(attr.Expr.Range(), "Invalid value", "conc must be at least 1, not %d.", n)
				return
			}
			e.Conc, e.ConcN = strconv.Itoa(n), n
		}
	case v.IsKnown() && !v.IsNull() && v.Type() == cty.String:
		e.Conc = v.AsString()
		if n, err := strconv.Atoi(e.Conc); err == nil && n >= 1 {
			e.ConcN = n
			return
		}
		d.oneOf(attr, e.Conc, EvalConcs)
	default:
		d.errorf(attr.Expr.Range(), "Invalid value", "conc must be \"max\", \"median\" or a concurrency of the config's search bands.")
	}
}

// checkEvals reads each eval block's files (the dataset, to check it
// and that it holds more examples than shots; the thresholds) and checks
// that a concurrency it names is one some band of its config runs.
func (l *Loader) checkEvals(sw *Sweep) hcl.Diagnostics {
	var diags hcl.Diagnostics
	errorf := func(rng hcl.Range, summary, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng.Ptr()})
	}
	done := map[*Eval]bool{}
	for _, c := range sw.Configs {
		e := c.Eval
		if e == nil {
			continue
		}
		if e.ConcN > 0 && !configRuns(c, e.ConcN) {
			errorf(e.concRange, "Invalid eval concurrency", "Config %q runs no single-node job at concurrency %d, so no job would eval; name one of its concurrencies, or \"max\" or \"median\".", c.Key, e.ConcN)
		}
		if done[e] {
			continue
		}
		done[e] = true
		if e.Runner == jobspec.EvalBuiltin && strings.TrimSpace(e.Dataset) != "" {
			p := e.DatasetPath(sw.Path)
			b, err := l.read(p)
			var ex []evals.Example
			if err == nil {
				ex, err = evals.ParseDataset(bytes.NewReader(b))
			}
			switch {
			case err != nil:
				errorf(e.datasetRange, "Invalid eval dataset", "Dataset %s: %v.", p, err)
			case len(ex) <= e.Shots:
				errorf(e.datasetRange, "Eval dataset too small", "Dataset %s holds %d examples: the first %d are the prompt's worked examples (shots), which leaves none to score.", p, len(ex), e.Shots)
			}
		}
		if strings.TrimSpace(e.Thresholds) != "" {
			p := e.ThresholdsPath(sw.Path)
			b, err := l.read(p)
			if err == nil {
				e.ThresholdTable, err = evals.ParseThresholds(b)
			}
			if err != nil {
				errorf(e.thresholdsRange, "Invalid thresholds file", "Thresholds %s: %v.", p, err)
			}
		}
	}
	return diags
}

// configRuns says whether some single-node band of c runs concurrency n.
func configRuns(c *BenchConfig, n int) bool {
	for _, sc := range c.Scenarios {
		if sc.Agentic != nil {
			continue
		}
		for _, s := range sc.Search {
			if s.Multi == nil && slices.Contains(s.Conc, n) {
				return true
			}
		}
	}
	return false
}

// read reads a file the sweep names: a source given in memory, or the
// file (at most evals.MaxDatasetBytes).
func (l *Loader) read(path string) ([]byte, error) {
	if src, ok := l.sources[path]; ok {
		return src, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > evals.MaxDatasetBytes {
		return nil, fmt.Errorf("over %d bytes", evals.MaxDatasetBytes)
	}
	return os.ReadFile(path)
}
