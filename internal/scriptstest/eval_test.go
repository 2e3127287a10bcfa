package scriptstest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/results"
)

// TestLMEvalInTheFrameworksRuntime runs a whole job with an lm-eval
// eval: job.sh, fleet job, the launcher's server, then
// scripts/eval/lm-eval.sh running the fake lm_eval where the framework
// runs (docker exec in the server's container, a second enroot start, or
// this machine), and fleet job reading its results file back.
func TestLMEvalInTheFrameworksRuntime(t *testing.T) {
	for _, tt := range []struct {
		name    string
		vars    []string
		program string // how lm_eval was reached
		only    bool
	}{
		{"docker exec in the server's container", []string{"FRAMEWORK=vllm", "RUNTIME=docker", "IMAGE=vllm/vllm-openai:v0.10.1"}, "docker", false},
		{"enroot on a plain node, eval only", []string{"FRAMEWORK=vllm", "RUNTIME=enroot", "IMAGE=vllm/vllm-openai:v0.10.1"}, "enroot", true},
		{"on the host", []string{"FRAMEWORK=vllm", "RUNTIME=none"}, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "H200")
			port := freePort(t)
			env := r.env(port, tt.vars...)
			j := r.jobOf(env)
			j.Eval = &jobspec.Eval{Tasks: []string{"gsm8k", "gpqa_diamond"}, Shots: 5, Limit: 40, Runner: jobspec.EvalLMEval,
				Thresholds: map[string]float64{"gsm8k": 0.9, "gpqa_diamond": 0.3}, Only: tt.only}
			must(t, j.Write(filepath.Join(r.work, jobspec.Path)))
			s := r.start(env, "bash", "scripts/job.sh")
			got := s.wait(t, 90*time.Second)
			log, _ := os.ReadFile(filepath.Join(r.work, filepath.FromSlash(jobspec.EvalLogPath)))
			// gsm8k scores 0.8 in the fake: under its 0.9.
			if got != jobspec.ExitEvalFailed {
				t.Fatalf("job.sh exited %d, want %d; output:\n%s\neval.log:\n%s", got, jobspec.ExitEvalFailed, s.out, log)
			}
			if !strings.Contains(s.out.String(), "gsm8k scored 0.8 (exact_match,strict-match, n=40), under its threshold 0.9") {
				t.Errorf("the job's output does not give the reason:\n%s", s.out)
			}
			scores, err := results.ReadEvalFile(r.work)
			must(t, err)
			if len(scores) != 2 || scores[0].Task != "gsm8k" || scores[1].Task != "gpqa_diamond" || scores[1].Passed == nil || !*scores[1].Passed || scores[0].N != 40 {
				t.Errorf("scores %+v: want gsm8k failed, gpqa_diamond passed, n 40", scores)
			}
			calls := r.callsOf("lm_eval", "")
			if len(calls) != 1 {
				t.Fatalf("lm_eval ran %d times, want once", len(calls))
			}
			argv := strings.Join(calls[0].argv, " ")
			for _, w := range []string{"--model local-completions", "base_url=http://127.0.0.1:" + strconv.Itoa(port) + "/v1/completions", "num_concurrent=4",
				"--tasks gsm8k,gpqa_diamond", "--num_fewshot 5", "--limit 40", "--output_path " + r.work + "/results/lm-eval"} {
				if !strings.Contains(argv, w) {
					t.Errorf("lm_eval's arguments lack %q: %s", w, argv)
				}
			}
			if tt.program != "" {
				via := r.callsOf(tt.program, map[string]string{"docker": "exec", "enroot": "start"}[tt.program])
				if len(via) == 0 || !strings.Contains(strings.Join(via[len(via)-1].argv, " "), "lm_eval") {
					t.Errorf("lm_eval was not run through %s", tt.program)
				}
			}
			_, err = os.Stat(filepath.Join(r.work, "results", "test_result.json"))
			if (err == nil) == tt.only {
				t.Errorf("benchmark result present: %v, eval only: %v", err == nil, tt.only)
			}
			if left := r.waitGone(10 * time.Second); len(left) > 0 {
				t.Errorf("processes of the job still running: %v", left)
			}
			if c := r.containers(); len(c) > 0 {
				t.Errorf("containers left: %v", c)
			}
			r.noSecret(r.work)
		})
	}
}
