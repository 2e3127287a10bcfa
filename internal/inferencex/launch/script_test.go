package launch

import (
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/inferencex"
)

// checkout is a fake set of benchmark scripts, as InferenceX names them.
var checkout = map[string]bool{
	"benchmarks/single_node/fixed_seq_len/dsr1_fp4_b200_sglang.sh":     true,
	"benchmarks/single_node/fixed_seq_len/dsr1_fp4_b200.sh":            true,
	"benchmarks/single_node/fixed_seq_len/dsr1_fp4_b200_trt.sh":        true,
	"benchmarks/single_node/fixed_seq_len/dsr1_fp4_b200_trt_mtp.sh":    true,
	"benchmarks/single_node/fixed_seq_len/dsr1_fp8_h100.sh":            true,
	"benchmarks/single_node/fixed_seq_len/dsr1_fp8_h100_mtp.sh":        true,
	"benchmarks/single_node/fixed_seq_len/qwen3.5_fp8_h200.sh":         true,
	"benchmarks/single_node/fixed_seq_len/qwen3.5_fp8_h200_mtp.sh":     true,
	"benchmarks/single_node/fixed_seq_len/dsr1_fp8_mi355x_atom.sh":     true,
	"benchmarks/single_node/fixed_seq_len/dsr1_fp8_mi355x.sh":          true,
	"benchmarks/single_node/fixed_seq_len/dsv4_fp4_b300_sglang.sh":     true,
	"benchmarks/single_node/agentic/dsv4_fp4_b300_sglang_mtp.sh":       true,
	"benchmarks/single_node/fixed_seq_len/dsv4_fp4_b300_sglang_mtp.sh": true,
	"benchmarks/single_node/agentic/qwen3.5_fp8_h200_mtp.sh":           true,
}

func TestScriptPicksTheFileTheLabelsLaunchersRun(t *testing.T) {
	fixed := func(prefix, precision, runner, framework, spec string) *inferencex.Job {
		return &inferencex.Job{ExpName: prefix + "_8k1k", ModelPrefix: prefix, Precision: precision, Runner: runner,
			Framework: framework, SpecDecoding: spec}
	}
	agentic := func(expName, precision, runner, framework, spec string) *inferencex.Job {
		return &inferencex.Job{ExpName: expName, Precision: precision, Runner: runner, Framework: framework,
			SpecDecoding: spec, ScenarioType: inferencex.AgenticCoding}
	}
	tests := []struct {
		name string
		job  *inferencex.Job
		want string
	}{
		{"a framework-suffixed script wins over the bare one (b200, sglang)",
			fixed("dsr1", "fp4", "b200", "sglang", "none"), "fixed_seq_len/dsr1_fp4_b200_sglang.sh"},
		{"a framework without its own script runs the bare one (b200, vllm)",
			fixed("dsr1", "fp4", "b200", "vllm", "none"), "fixed_seq_len/dsr1_fp4_b200.sh"},
		{"trt runs its legacy _trt script",
			fixed("dsr1", "fp4", "b200", "trt", "none"), "fixed_seq_len/dsr1_fp4_b200_trt.sh"},
		{"mtp adds _mtp after the framework",
			fixed("dsr1", "fp4", "b200", "trt", "mtp"), "fixed_seq_len/dsr1_fp4_b200_trt_mtp.sh"},
		{"a label whose launchers never add a framework runs the bare script (h100)",
			fixed("dsr1", "fp8", "h100", "sglang", "none"), "fixed_seq_len/dsr1_fp8_h100.sh"},
		{"bare mtp script (h100)",
			fixed("dsr1", "fp8", "h100", "sglang", "mtp"), "fixed_seq_len/dsr1_fp8_h100_mtp.sh"},
		{"draft_model gets no suffix",
			fixed("qwen3.5", "fp8", "h200", "sglang", "draft_model"), "fixed_seq_len/qwen3.5_fp8_h200.sh"},
		{"atom runs its _atom script (mi355x)",
			fixed("dsr1", "fp8", "mi355x", "atom", "none"), "fixed_seq_len/dsr1_fp8_mi355x_atom.sh"},
		{"a label with a suffix names the GPU before its first dash",
			fixed("dsr1", "fp4", "b200-dsv4", "sglang", "none"), "fixed_seq_len/dsr1_fp4_b200_sglang.sh"},
		{"an agentic row looks in agentic/ and takes the model from exp-name up to its first _",
			agentic("dsv4_tp8_conc4_kvnone_spec-mtp", "fp4", "cluster:b300-nv", "sglang", "mtp"), "agentic/dsv4_fp4_b300_sglang_mtp.sh"},
		{"a cluster: label without a framework script",
			agentic("qwen3.5_tp8_conc4_kvnone_spec-mtp", "fp8", "cluster:h200-dgxc", "sglang", "mtp"), "agentic/qwen3.5_fp8_h200_mtp.sh"},
	}
	exists := func(rel string) bool { return checkout[rel] }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tried, err := Script(exists, tt.job)
			if err != nil {
				t.Fatal(err)
			}
			if want := "benchmarks/single_node/" + tt.want; got != want {
				t.Errorf("script %s, want %s (tried %v)", got, want, tried)
			}
			if len(tried) == 0 || tried[len(tried)-1] != got {
				t.Errorf("tried %v: want it to end with the chosen script", tried)
			}
		})
	}
}

func TestScriptMissingNamesEveryPathTried(t *testing.T) {
	j := &inferencex.Job{ExpName: "qwen3.5_tp8_conc4_kvnone", Precision: "fp8", Runner: "cluster:h100-dgxc", Framework: "sglang",
		SpecDecoding: "none", ScenarioType: inferencex.AgenticCoding}
	_, tried, err := Script(func(rel string) bool { return checkout[rel] }, j)
	want := []string{"benchmarks/single_node/agentic/qwen3.5_fp8_h100_sglang.sh", "benchmarks/single_node/agentic/qwen3.5_fp8_h100.sh"}
	if err == nil {
		t.Fatal("no error for a row without a script")
	}
	if strings.Join(tried, " ") != strings.Join(want, " ") {
		t.Errorf("tried %v, want %v", tried, want)
	}
	for _, p := range want {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %s", err, p)
		}
	}
}

func TestScriptRefusesRowsItCannotName(t *testing.T) {
	tests := []struct {
		name string
		job  *inferencex.Job
		want string
	}{
		{"multi-node", &inferencex.Job{MultiNode: true, ExpName: "dsr1_8k1k", Precision: "fp4", Runner: "gb200", Framework: "dynamo-trt"}, "multi-node"},
		{"no exp-name", &inferencex.Job{Precision: "fp4", Runner: "b200", Framework: "sglang"}, "exp-name"},
		{"no runner", &inferencex.Job{ExpName: "dsr1_8k1k", Precision: "fp4", Framework: "sglang"}, "runner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			_, _, err := Script(func(string) bool { called = true; return true }, tt.job)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one naming %q", err, tt.want)
			}
			if called {
				t.Error("looked for a file for a row it cannot name")
			}
		})
	}
}

func TestGPUIsTheLabelsFirstPart(t *testing.T) {
	for label, want := range map[string]string{
		"b200": "b200", "b200-dsv4": "b200", "cluster:b300-nv": "b300", "rtx6000pro-lat": "rtx6000pro", "cluster:mi355x-amds": "mi355x",
	} {
		if got := GPU(label); got != want {
			t.Errorf("GPU(%q) = %q, want %q", label, got, want)
		}
	}
}
