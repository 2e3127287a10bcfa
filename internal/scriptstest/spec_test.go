package scriptstest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLaunchersRenderSpeculativeDecoding runs each launcher with a
// speculative decoding setting and checks the framework's flags for it:
// the tail of its command line, the lines of its config file, and the
// variables it exports.
func TestLaunchersRenderSpeculativeDecoding(t *testing.T) {
	tests := []struct {
		name, launcher, program string
		vars                    []string
		argvTail                []string // what the command line ends with
		configFile              string
		configLines             []string // lines the config file must hold
		env                     []string // variables the server must see
	}{
		{
			name: "vLLM MTP: speculative-config with method and token count", launcher: "vllm", program: "vllm",
			vars:        []string{"SPEC_DECODING=mtp", "NUM_SPEC_TOKENS=3"},
			configFile:  "vllm-config.yaml",
			configLines: []string{`speculative-config: '{"method":"mtp","num_speculative_tokens":3}'`},
		},
		{
			name: "vLLM EAGLE-3: the drafter goes into the JSON", launcher: "vllm", program: "vllm",
			vars:        []string{"SPEC_DECODING=eagle3", "NUM_SPEC_TOKENS=2", "DRAFT_MODEL=yuhuili/EAGLE3-LLaMA3.1-Instruct-8B"},
			configFile:  "vllm-config.yaml",
			configLines: []string{`speculative-config: '{"method":"eagle3","model":"yuhuili/EAGLE3-LLaMA3.1-Instruct-8B","num_speculative_tokens":2}'`},
		},
		{
			name: "SGLang MTP: NEXTN, steps, topk 1, k+1 draft tokens, golden acceptance", launcher: "sglang", program: "python3",
			vars: []string{"FRAMEWORK=sglang", "SPEC_DECODING=mtp", "NUM_SPEC_TOKENS=3", "SPEC_ACCEPT_LENGTH=2.5"},
			argvTail: []string{"--speculative-algorithm", "NEXTN", "--speculative-num-steps", "3",
				"--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", "4"},
			env: []string{"SGLANG_SIMULATE_ACC_LEN"},
		},
		{
			name: "SGLang draft model: STANDALONE with the draft model path", launcher: "sglang", program: "python3",
			vars: []string{"FRAMEWORK=sglang", "SPEC_DECODING=draft_model", "NUM_SPEC_TOKENS=4", "DRAFT_MODEL=meta/Small-Draft"},
			argvTail: []string{"--speculative-algorithm", "STANDALONE", "--speculative-draft-model-path", "meta/Small-Draft",
				"--speculative-num-steps", "4", "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", "5"},
		},
		{
			name: "TensorRT-LLM MTP: speculative_config in the extra options, forced acceptance", launcher: "trt", program: "trtllm-serve",
			vars:        []string{"FRAMEWORK=trt", "GPU_TYPE=b200", "SPEC_DECODING=mtp", "NUM_SPEC_TOKENS=3", "SPEC_ACCEPT_LENGTH=3"},
			configFile:  "trtllm-extra.yaml",
			configLines: []string{"speculative_config:", "  decoding_type: MTP", "  num_nextn_predict_layers: 3"},
			env:         []string{"TLLM_SPEC_DECODE_FORCE_NUM_ACCEPTED_TOKENS"},
		},
		{
			name: "TensorRT-LLM EAGLE-3: Eagle3 with the drafter's directory", launcher: "trt", program: "trtllm-serve",
			vars:        []string{"FRAMEWORK=trt", "SPEC_DECODING=eagle3", "NUM_SPEC_TOKENS=2", "DRAFT_MODEL=/models/eagle3 head"},
			configFile:  "trtllm-extra.yaml",
			configLines: []string{"speculative_config:", "  decoding_type: Eagle3", "  max_draft_len: 2", `  speculative_model_dir: "/models/eagle3 head"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "B200")
			port := freePort(t)
			s := r.start(r.env(port, tt.vars...), "bash", "scripts/server/"+tt.launcher+".sh")
			waitHealthy(t, s, port)
			must(t, s.cmd.Process.Signal(syscall.SIGTERM))
			s.wait(t, 30*time.Second)
			prog := r.callsOf(tt.program, "")
			if len(prog) != 1 {
				t.Fatalf("%s ran %d times, want once; output:\n%s", tt.program, len(prog), s.out)
			}
			if n := len(tt.argvTail); n > 0 {
				argv := prog[0].argv
				if len(argv) < n || !reflect.DeepEqual(argv[len(argv)-n:], tt.argvTail) {
					t.Errorf("%s argv\n got %q\nwant it to end with %q", tt.program, argv, tt.argvTail)
				}
			}
			if tt.configFile != "" {
				b, err := os.ReadFile(filepath.Join(r.work, tt.configFile))
				must(t, err)
				lines := strings.Split(string(b), "\n")
				for _, l := range tt.configLines {
					if !slices.Contains(lines, l) {
						t.Errorf("%s has no line %q:\n%s", tt.configFile, l, b)
					}
				}
			}
			for _, n := range tt.env {
				if !slices.Contains(prog[0].env, n) {
					t.Errorf("%s did not get %s; its environment: %v", tt.program, n, prog[0].env)
				}
			}
		})
	}
}

// TestLaunchersRefuseSpeculativeSettingsTheyCannotRender checks that a
// launcher stops with exit 14 and a reason rather than serve without the
// asked-for drafting.
func TestLaunchersRefuseSpeculativeSettingsTheyCannotRender(t *testing.T) {
	tests := []struct {
		name, launcher string
		vars           []string
		reason         string
	}{
		{"an unknown method", "vllm", []string{"SPEC_DECODING=medusa", "NUM_SPEC_TOKENS=3"}, "want none, mtp, eagle3 or draft_model"},
		{"no token count", "sglang", []string{"FRAMEWORK=sglang", "SPEC_DECODING=mtp"}, "needs NUM_SPEC_TOKENS"},
		{"EAGLE-3 without a drafter", "trt", []string{"FRAMEWORK=trt", "SPEC_DECODING=eagle3", "NUM_SPEC_TOKENS=2"}, "needs DRAFT_MODEL"},
		{"a drafter with a quote", "vllm", []string{"SPEC_DECODING=draft_model", "NUM_SPEC_TOKENS=2", `DRAFT_MODEL=a"b`}, "quotes and backslashes"},
		{"vLLM cannot pin the acceptance", "vllm", []string{"SPEC_DECODING=mtp", "NUM_SPEC_TOKENS=3", "SPEC_ACCEPT_LENGTH=2"}, "vLLM has no setting"},
		{"TensorRT-LLM forces whole counts", "trt", []string{"FRAMEWORK=trt", "SPEC_DECODING=mtp", "NUM_SPEC_TOKENS=3", "SPEC_ACCEPT_LENGTH=2.5"}, "whole acceptance length"},
		{"an acceptance above k+1", "sim", []string{"FRAMEWORK=sim", "SPEC_DECODING=mtp", "NUM_SPEC_TOKENS=2", "SPEC_ACCEPT_LENGTH=4"}, "want a number from 1 to NUM_SPEC_TOKENS + 1 = 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, "H200")
			s := r.start(r.env(freePort(t), tt.vars...), "bash", "scripts/server/"+tt.launcher+".sh")
			if code := s.wait(t, 30*time.Second); code != 14 {
				t.Errorf("launcher exited %d, want 14; output:\n%s", code, s.out)
			}
			if !strings.Contains(s.out.String(), tt.reason) {
				t.Errorf("output does not say %q:\n%s", tt.reason, s.out)
			}
		})
	}
}

// TestSimLauncherDrafts starts the simulator through its launcher with a
// golden acceptance length and checks, through /metrics, that it drafts
// NUM_SPEC_TOKENS tokens per step and accepts SPEC_ACCEPT_LENGTH - 1.
func TestSimLauncherDrafts(t *testing.T) {
	r := newRig(t, "H200")
	port := freePort(t)
	s := r.start(r.env(port, "FRAMEWORK=sim", "SPEC_DECODING=mtp", "NUM_SPEC_TOKENS=2", "SPEC_ACCEPT_LENGTH=3"),
		"bash", "scripts/server/sim.sh", "--timing", "fixed", "--ttft", "1ms", "--itl", "1ms")
	waitHealthy(t, s, port)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	resp, err := http.Post(base+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"meta/Test-Model","prompt":[1,2,3],"max_tokens":7,"ignore_eos":true}`))
	must(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp, err = http.Get(base + "/metrics")
	must(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err)
	// 7 tokens: the prefill's one, then steps of 3 (2 drafts accepted).
	for _, want := range []string{
		`vllm:spec_decode_num_drafts_total{model_name="meta/Test-Model",role="agg"} 2`,
		`vllm:spec_decode_num_draft_tokens_total{model_name="meta/Test-Model",role="agg"} 4`,
		`vllm:spec_decode_num_accepted_tokens_total{model_name="meta/Test-Model",role="agg"} 4`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics has no %q:\n%s", want, b)
		}
	}
	must(t, s.cmd.Process.Signal(syscall.SIGTERM))
	s.wait(t, 30*time.Second)
}
