package matrix

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args string
		want Selection
	}{
		{"full-sweep --config-files configs/nvidia-master.yaml configs/amd-master.yaml --runner-config configs/runners.yaml --single-node --evals-only",
			Selection{Mode: FullSweep, ConfigFiles: []string{"configs/nvidia-master.yaml", "configs/amd-master.yaml"}, RunnerConfig: "configs/runners.yaml",
				StepSize: 2, SingleNode: true, EvalsOnly: true}},
		// A pasted command line, with the interpreter and script.
		{"python3 utils/matrix_logic/generate_sweep_configs.py full-sweep --multi-node --all-evals",
			Selection{Mode: FullSweep, StepSize: 2, MultiNode: true, AllEvals: true}},
		{"full-sweep --model-prefix dsr1 qwen --precision fp4 --framework sglang vllm --runner-type h200 --seq-lens 8k1k " +
			"--step-size 4 --min-conc 4 --max-conc=64 --max-tp 8 --max-ep 4 --no-evals --scenario-type fixed-seq-len --runner-node-filter cw",
			Selection{Mode: FullSweep, ModelPrefix: []string{"dsr1", "qwen"}, Precision: []string{"fp4"}, Framework: []string{"sglang", "vllm"},
				RunnerType: []string{"h200"}, SeqLens: []string{"8k1k"}, StepSize: 4, MinConc: ptr(4), MaxConc: ptr(64), MaxTP: ptr(8), MaxEP: ptr(4),
				NoEvals: true, ScenarioTypes: []string{"fixed-seq-len"}, RunnerNodeFilter: "cw"}},
		// Unique prefixes, as argparse allows; a negative number is a value.
		{"full-sweep --single --min-c -1", Selection{Mode: FullSweep, StepSize: 2, SingleNode: true, MinConc: ptr(-1)}},
		{"test-config --config-files a.yaml --config-keys 'dsr1-*' k2 --conc 4 8 --seq-lens 1k1k --scenario-type agentic-coding fixed-seq-len",
			Selection{Mode: TestConfig, ConfigFiles: []string{"a.yaml"}, ConfigKeys: []string{"'dsr1-*'", "k2"}, Conc: []int{4, 8},
				SeqLens: []string{"1k1k"}, ScenarioTypes: []string{"agentic-coding", "fixed-seq-len"}}},
	}
	for _, tt := range tests {
		got, err := ParseArgs(strings.Fields(tt.args))
		if err != nil {
			t.Errorf("ParseArgs(%s): %v", tt.args, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseArgs(%s):\n got %+v\nwant %+v", tt.args, got, tt.want)
		}
	}
}

func TestParseArgsRefuses(t *testing.T) {
	tests := []struct{ args, want string }{
		{"", "missing mode"},
		{"sweep --single-node", `invalid mode "sweep"`},
		{"full-sweep --conc 4", "unrecognized option --conc"},
		{"test-config --config-keys a --single-node", "unrecognized option --single-node"},
		{"test-config --conc 4", "needs --config-keys"},
		{"full-sweep --step-size 1", "greater than 1"},
		{"full-sweep --step-size two", `invalid int value "two"`},
		{"full-sweep --min-conc 8 --max-conc 4", "--min-conc (8)"},
		{"full-sweep --no-evals --all-evals", "cannot be combined"},
		{"full-sweep --no-evals --evals-only", "exclude each other"},
		{"full-sweep --seq-lens 1k8k", "want 1k1k or 8k1k"},
		{"full-sweep --scenario-type chat", "--scenario-type"},
		{"full-sweep --m 4", "ambiguous option --m"},
		{"full-sweep --max-conc", "needs a value"},
		{"full-sweep --single-node=yes", "takes no value"},
		{"full-sweep stray", `unrecognized argument "stray"`},
	}
	for _, tt := range tests {
		_, err := ParseArgs(strings.Fields(tt.args))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseArgs(%s) = %v; want %q", tt.args, err, tt.want)
		}
	}
}
