package jobrun

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/results"
)

// evalJob is a sim job whose server answers a 6-question dataset (2 shots,
// 4 scored): 3 right, 1 wrong, so its score is exactly 0.75.
func evalJob(t *testing.T, dir string) *jobspec.Job {
	t.Helper()
	var data strings.Builder
	answers := map[string]string{}
	for i := 1; i <= 6; i++ {
		q := fmt.Sprintf("How many legs do %d ducks have?", i)
		fmt.Fprintf(&data, "{\"question\":%q,\"answer\":%q}\n", q, fmt.Sprintf("2 each.\n#### %d", 2*i))
		switch {
		case i == 6:
			answers[q] = "#### 7"
		case i > 2:
			answers[q] = fmt.Sprintf("Two legs each, so %d.", 2*i)
		}
	}
	must(t, os.MkdirAll(filepath.Join(dir, "evals"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(jobspec.EvalDatasetPath)), []byte(data.String()), 0o644))
	b, _ := json.Marshal(answers)
	// The server starts in the work directory; the mode splits at commas,
	// which a test's temporary path may hold.
	must(t, os.WriteFile(filepath.Join(dir, "answers.json"), b, 0o644))
	j := testJob(freePort(t), "sim,answers=answers.json")
	j.Eval = &jobspec.Eval{Tasks: []string{"gsm8k"}, Shots: 2, Runner: jobspec.EvalBuiltin, Dataset: jobspec.EvalDatasetPath, MaxTokens: 32}
	return j
}

func readScores(t *testing.T, dir string) []results.EvalScore {
	t.Helper()
	s, err := results.ReadEvalFile(dir)
	must(t, err)
	return s
}

func TestEvalBuiltin(t *testing.T) {
	for _, tt := range []struct {
		name       string
		threshold  float64 // 0: none
		only       bool
		want       int
		says       string
		passed     string // "true", "false" or "" (not judged)
		wantResult bool
	}{
		{name: "no thresholds: scored, not judged", want: jobspec.ExitOK, wantResult: true},
		{name: "at its threshold passes", threshold: 0.75, want: jobspec.ExitOK, passed: "true", wantResult: true},
		{name: "under its threshold fails the job", threshold: 0.8, want: jobspec.ExitEvalFailed, passed: "false", wantResult: true,
			says: "gsm8k scored 0.75 (exact_match, n=4), under its threshold 0.8"},
		{name: "eval only: no benchmark", only: true, want: jobspec.ExitOK, wantResult: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := workDir(t)
			j := evalJob(t, dir)
			j.Eval.Only = tt.only
			if tt.threshold > 0 {
				j.Eval.Thresholds = map[string]float64{"gsm8k": tt.threshold}
			}
			out, err := run(t, dir, j)
			if got := code(err); got != tt.want {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tt.want, out)
			}
			if tt.says != "" && !strings.Contains(err.Error(), tt.says) {
				t.Errorf("reason %q does not say %q", err, tt.says)
			}
			if _, err := os.Stat(filepath.Join(dir, ResultPath(j))); (err == nil) != tt.wantResult {
				t.Errorf("benchmark result present: %v, want %v", err == nil, tt.wantResult)
			}
			s := readScores(t, dir)
			if len(s) != 1 || s[0].Task != "gsm8k" || s[0].Score != 0.75 || s[0].N != 4 || s[0].Conc != j.Conc || s[0].Runner != "builtin" {
				t.Fatalf("scores %+v, want gsm8k 0.75 over 4", s)
			}
			got := ""
			if s[0].Passed != nil {
				got = fmt.Sprint(*s[0].Passed)
			}
			if got != tt.passed {
				t.Errorf("passed = %q, want %q", got, tt.passed)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(jobspec.EvalSamplesPath))); strings.Count(string(b), "\n") != 4 {
				t.Errorf("samples file holds %q, want 4 lines", b)
			}
		})
	}
}

func TestEvalBuiltinBadDataset(t *testing.T) {
	dir := workDir(t)
	j := evalJob(t, dir)
	must(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(jobspec.EvalDatasetPath)), []byte("not json\n"), 0o644))
	_, err := run(t, dir, j)
	if code(err) != jobspec.ExitEvalFailed || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad dataset: %v, want exit %d naming line 1", err, jobspec.ExitEvalFailed)
	}
}

// fakeLMEval is scripts/eval/lm-eval.sh for the test: it records its
// environment and writes an lm-eval results file under EVAL_OUTPUT, as
// lm-eval does (<output>/<model>/results_<time>.json), or fails.
const fakeLMEval = `#!/usr/bin/env bash
set -eu
env | grep -E '^(EVAL_|PORT=|MODEL=)' | sort > lm-eval.env
[ "${FAKE_LMEVAL:-}" != fail ] || { echo "lm_eval: no such task"; exit 3; }
mkdir -p "$EVAL_OUTPUT/sim-model"
cat > "$EVAL_OUTPUT/sim-model/results_2026-12-03T10-00-00.json" <<'J'
{"results": {"gsm8k": {"exact_match,strict-match": 0.5, "exact_match,flexible-extract": 0.625}},
 "n-samples": {"gsm8k": {"original": 1319, "effective": 8}}}
J
`

func TestEvalLMEval(t *testing.T) {
	for _, tt := range []struct {
		name  string
		tasks []string
		fake  string
		want  int
		says  string
	}{
		{name: "scores come back from the results file", tasks: []string{"gsm8k"}, want: jobspec.ExitOK},
		{name: "a task lm-eval did not score", tasks: []string{"gsm8k", "gpqa_diamond"}, want: jobspec.ExitEvalFailed, says: "no score for task gpqa_diamond"},
		{name: "lm-eval fails", tasks: []string{"gsm8k"}, fake: "fail", want: jobspec.ExitEvalFailed, says: "no such task"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := workDir(t)
			must(t, os.MkdirAll(filepath.Join(dir, "scripts", "eval"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(jobspec.EvalLMEvalScript)), []byte(fakeLMEval), 0o755))
			j := testJob(freePort(t), "sim")
			j.ExtraEnv["FAKE_LMEVAL"] = tt.fake
			j.Eval = &jobspec.Eval{Tasks: tt.tasks, Shots: 5, Limit: 8, Runner: jobspec.EvalLMEval, Thresholds: map[string]float64{"gsm8k": 0.5}}
			out, err := run(t, dir, j)
			if got := code(err); got != tt.want {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tt.want, out)
			}
			if tt.says != "" {
				if !strings.Contains(err.Error(), tt.says) {
					t.Errorf("reason %q does not say %q", err, tt.says)
				}
				return
			}
			s := readScores(t, dir)
			if len(s) != 1 || s[0].Score != 0.5 || s[0].Metric != "exact_match,strict-match" || s[0].N != 8 || s[0].Passed == nil || !*s[0].Passed {
				t.Errorf("scores %+v, want gsm8k 0.5 (strict-match), n 8, passed", s)
			}
			env, _ := os.ReadFile(filepath.Join(dir, "lm-eval.env"))
			for _, w := range []string{"EVAL_TASKS=gsm8k", "EVAL_SHOTS=5", "EVAL_LIMIT=8", "EVAL_CONC=2", "EVAL_OUTPUT=results/lm-eval", "MODEL=sim-model", fmt.Sprintf("PORT=%d", j.Port)} {
				if !strings.Contains(string(env), w+"\n") {
					t.Errorf("lm-eval's environment lacks %s:\n%s", w, env)
				}
			}
		})
	}
}

// TestInferenceXEval: an InferenceX script that runs its own lm-eval
// (RUN_EVAL, EVAL_ONLY) leaves results*.json in its workspace; fleet job
// copies them out and judges every task, against the job's threshold for
// it or MinScore, as InferenceX's gate does.
func TestInferenceXEval(t *testing.T) {
	const results = `printf '{"results": {"gsm8k": {"exact_match,strict-match": 0.93, "exact_match,flexible-extract": 0.95}, "gpqa": {"exact_match,none": 0.9}}, "n-samples": {"gsm8k": {"effective": 1319}}}' > results_2026-12-03T10-00-00.json
`
	const bench = "echo '{}' > res.json\n"
	for _, tt := range []struct {
		name, script string
		only         bool
		thresholds   map[string]float64
		want         int
		says         string
	}{
		{"run-eval: scores judged", bench + results, false, map[string]float64{"gsm8k": 0.91}, jobspec.ExitOK, ""},
		{"eval-only: no result file needed", results, true, map[string]float64{"gsm8k": 0.91}, jobspec.ExitOK, ""},
		{"a task the thresholds do not name is judged against MinScore", bench + strings.Replace(results, `"exact_match,none": 0.9`, `"exact_match,none": 0.8`, 1), false,
			map[string]float64{"gsm8k": 0.91, "other": 0.1}, jobspec.ExitEvalFailed, "gpqa scored 0.8 (exact_match,none, n=0), under its threshold 0.85"},
		{"the model's threshold fails gsm8k", results, true, map[string]float64{"gsm8k": 0.94}, jobspec.ExitEvalFailed, "gsm8k scored 0.93 (exact_match,strict-match, n=1319), under its threshold 0.94"},
		{"no eval results", bench, false, nil, jobspec.ExitEvalFailed, "ended without eval results"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			script := "benchmarks/single_node/fixed_seq_len/x_fp8_h200.sh"
			dir := ixWorkDir(t, map[string]string{script: "#!/usr/bin/env bash\n" + tt.script})
			j := testJob(freePort(t), "sim")
			j.Runtime = "none"
			j.InferenceX = &jobspec.InferenceX{Bundle: "bundle.tar", Workspace: "ix", Script: script, Client: jobspec.ClientInferenceX,
				ResultFilename: "res", Env: map[string]string{"MODEL": "sim-model", "CONC": "16"}}
			j.Eval = &jobspec.Eval{Runner: jobspec.EvalInferenceX, Only: tt.only, Thresholds: tt.thresholds, MinScore: 0.85}
			must(t, j.Validate())
			out, err := run(t, dir, j)
			if got := code(err); got != tt.want {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tt.want, out)
			}
			if tt.says != "" {
				if !strings.Contains(err.Error(), tt.says) {
					t.Errorf("reason %q does not say %q", err, tt.says)
				}
				if tt.want == jobspec.ExitEvalFailed && strings.Contains(tt.says, "scored") {
					if s := readScores(t, dir); len(s) != 2 || s[0].Failed() == s[1].Failed() {
						t.Errorf("scores %+v: want one of the two failed", s)
					}
				}
				return
			}
			s := readScores(t, dir)
			if len(s) != 2 || s[0].Task != "gpqa" || s[0].Threshold == nil || *s[0].Threshold != 0.85 || !*s[0].Passed ||
				s[1].Task != "gsm8k" || *s[1].Threshold != 0.91 || s[1].Conc != 16 {
				t.Errorf("scores %+v: want gpqa judged against MinScore, gsm8k against its own", s)
			}
			if _, err := os.Stat(filepath.Join(dir, "results", "lm-eval", "results_2026-12-03T10-00-00.json")); err != nil {
				t.Errorf("lm-eval's results not kept: %v", err)
			}
		})
	}
}
