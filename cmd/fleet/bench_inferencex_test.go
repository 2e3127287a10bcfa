package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/sim"
)

// startBenchSim serves an in-process `fleet sim` for model on a loopback
// port and returns the port.
func startBenchSim(t *testing.T, model string) int {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.Model = model
	cfg.Timing = sim.TimingFixed
	cfg.TTFT, cfg.ITL = 2*time.Millisecond, time.Millisecond
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// TestInferenceXScriptsCommandLines runs fleet bench with the command line
// InferenceX's benchmark_lib.sh run_benchmark_serving builds for real
// fixed_seq_len scripts (snapshot 843c6254f), written out here with
// ISL=64 OSL=8 RANDOM_RANGE_RATIO=0.8 CONC=4, against the simulator, and
// checks the result file has every key InferenceX's process_result and
// its tools read.
func TestInferenceXScriptsCommandLines(t *testing.T) {
	const (
		model = "deepseek-ai/DeepSeek-R1-0528"
		rf    = "dsr1_1k1k_fp8_vllm_tp8-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc4_h200-cw_00"
	)
	// lib is the lib's fixed part, in its order; PORT and the result
	// directory are filled in per run.
	lib := func(backend string, port int, dir string, profile bool) []string {
		prompts := "40" // CONC*10
		if profile {
			prompts = "4" // PROFILE=1 caps the prompts at CONC
		}
		args := []string{"bench",
			"--model", model,
			"--backend", backend,
			"--base-url", "http://0.0.0.0:" + strconv.Itoa(port),
			"--dataset-name", "random",
			"--random-input-len", "64",
			"--random-output-len", "8",
			"--random-range-ratio", "0.8",
			"--num-prompts", prompts,
			"--max-concurrency", "4",
			"--request-rate", "inf",
			"--ignore-eos",
		}
		if profile {
			args = append(args, "--profile")
		}
		return append(args,
			"--save-result",
			"--num-warmups", "8",
			"--percentile-metrics", "ttft,tpot,itl,e2el",
			"--result-dir", dir,
			"--result-filename", rf+".json",
		)
	}
	tests := []struct {
		script    string
		backend   string
		extra     []string // what the script adds, in the lib's order
		profile   bool
		stderrHas string
	}{
		{script: "dsr1_fp8_h200.sh", backend: "vllm"},
		{script: "dsr1_fp8_h200.sh with PROFILE=1", backend: "vllm", profile: true, stderrHas: "/start_profile"},
		{script: "dsr1_fp4_b200_mtp.sh", backend: "vllm", extra: []string{"--use-chat-template"}},
		{script: "dsv4_fp4_b200_trt.sh", backend: "openai-chat", extra: []string{"--endpoint", "/v1/chat/completions", "--trust-remote-code"}},
		{script: "dsv4_fp4_b200_trt_mtp.sh", backend: "openai", extra: []string{"--use-chat-template", "--dsv4", "--trust-remote-code"}},
		{script: "a script naming a tokenizer", backend: "vllm", extra: []string{"--tokenizer", model, "--tokenizer-mode", "deepseek_v4"}},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			port := startBenchSim(t, model)
			dir := t.TempDir() + "/" // the scripts pass /workspace/ or "$PWD/"
			args := append(lib(tt.backend, port, dir, tt.profile), tt.extra...)
			code, stdout, stderr := runFleet(t, nil, args...)
			if code != ExitOK {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr %q, want %q", stderr, tt.stderrHas)
			}
			b, err := os.ReadFile(filepath.Join(dir, rf+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var res map[string]any
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			want := []string{"model_id", "max_concurrency", "total_token_throughput", "output_throughput",
				"benchmark_start_time_unix", "benchmark_end_time_unix", "duration", "completed",
				"total_input_tokens", "total_output_tokens"}
			for _, m := range []string{"ttft", "tpot", "itl", "e2el"} {
				for _, s := range []string{"mean", "median", "std", "p90", "p99", "p99.9"} {
					want = append(want, s+"_"+m+"_ms")
				}
			}
			for _, k := range want {
				if v, ok := res[k]; !ok || v == nil {
					t.Errorf("result has no %s", k)
				}
			}
			n := 40.0
			if tt.profile {
				n = 4
			}
			if res["model_id"] != model || res["max_concurrency"] != 4.0 || res["completed"] != n ||
				!(res["total_output_tokens"].(float64) >= 0.8*8*n) || !(res["total_token_throughput"].(float64) > res["output_throughput"].(float64)) {
				t.Errorf("model_id %v max_concurrency %v completed %v output tokens %v", res["model_id"], res["max_concurrency"], res["completed"], res["total_output_tokens"])
			}
		})
	}
}
