package jobspec

import (
	"path"
	"regexp"
	"strings"
)

// Eval is a job's accuracy eval: after the benchmark (or instead of it,
// Only), tasks are scored against the running server, by fleet's
// built-in runner or by lm-eval in the framework's container.
type Eval struct {
	Tasks []string `json:"tasks"`
	Shots int      `json:"shots"`
	Limit int      `json:"limit,omitempty"` // questions per task; 0: all
	// Runner is EvalBuiltin or EvalLMEval.
	Runner string `json:"runner"`
	// Dataset is the built-in runner's JSONL file the controller shipped,
	// relative to the work directory.
	Dataset   string `json:"dataset,omitempty"`
	MaxTokens int    `json:"max_tokens,omitempty"`
	// Chat asks the chat completions API (the built-in runner; lm-eval
	// uses its local-chat-completions model).
	Chat bool `json:"chat,omitempty"`
	// Thresholds is the score each task must reach, resolved by the
	// controller from the sweep's thresholds file for the job's model;
	// a task without one is not judged.
	Thresholds map[string]float64 `json:"thresholds,omitempty"`
	// Only skips the benchmark: the job starts the server, evals, stops.
	Only bool `json:"only,omitempty"`
	// MinScore is the threshold of a task Thresholds does not name (an
	// InferenceX job's, as its gate has one); 0: such a task is not
	// judged.
	MinScore float64 `json:"min_score,omitempty"`
}

// Eval runners.
const (
	EvalBuiltin = "builtin"
	EvalLMEval  = "lm-eval"
	// EvalInferenceX: an InferenceX script runs lm-eval itself (RUN_EVAL,
	// EVAL_ONLY); fleet job collects the results files it leaves in the
	// workspace and judges them.
	EvalInferenceX = "inferencex"
)

// EvalDatasetPath is where the controller puts a job's eval dataset in its
// work directory.
const EvalDatasetPath = "evals/dataset.jsonl"

// Files an eval leaves, relative to the work directory (besides
// results.EvalFile, the scores).
const (
	EvalLogPath     = "logs/eval.log"
	EvalSamplesPath = "results/eval-samples.jsonl"
	// EvalLMEvalDir is lm-eval's --output_path.
	EvalLMEvalDir = "results/lm-eval"
)

// EvalLMEvalScript runs lm-eval for a job, relative to the work directory.
const EvalLMEvalScript = "scripts/eval/lm-eval.sh"

var taskName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ValidTask says whether s may name an eval task (lm-eval's task names
// and fleet's: letters, digits, '_', '.', '-').
func ValidTask(s string) bool { return taskName.MatchString(s) }

func (e *Eval) validate(bad func(field, format string, args ...any)) {
	if len(e.Tasks) == 0 && e.Runner != EvalInferenceX {
		bad("eval.tasks", "want at least one task")
	}
	for _, t := range e.Tasks {
		if !ValidTask(t) {
			bad("eval.tasks", "%q: want letters, digits, '_', '.' and '-' only", t)
		}
	}
	if e.Shots < 0 || e.Limit < 0 || e.MaxTokens < 0 {
		bad("eval.shots/limit/max_tokens", "want 0 or more")
	}
	switch e.Runner {
	case EvalBuiltin:
		if len(e.Tasks) != 1 {
			bad("eval.tasks", "the built-in runner scores one task from its dataset, not %d", len(e.Tasks))
		}
		c := path.Clean(e.Dataset)
		if e.Dataset == "" || path.IsAbs(c) || c == "." || c == ".." || strings.HasPrefix(c, "../") {
			bad("eval.dataset", "%q: want a path inside the work directory", e.Dataset)
		}
	case EvalLMEval, EvalInferenceX:
	default:
		bad("eval.runner", "%q: want %s or %s", e.Runner, EvalBuiltin, EvalLMEval)
	}
	if !(e.MinScore >= 0 && e.MinScore <= 1) {
		bad("eval.min_score", "%v: want a score from 0 to 1", e.MinScore)
	}
	for t, v := range e.Thresholds {
		if !(v >= 0 && v <= 1) {
			bad("eval.thresholds", "%s: %v: want a score from 0 to 1", t, v)
		}
	}
}
