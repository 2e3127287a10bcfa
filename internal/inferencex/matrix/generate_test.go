package matrix

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/inferencex"
)

// checkout is fleet's miniature InferenceX checkout; the counts below
// are worked out by hand from its configs (see the comments there).
const checkout = "../testdata/checkout"

func loadFixture(t *testing.T) *Matrix {
	t.Helper()
	m, diags := Load(checkout, nil, "")
	if len(diags) > 0 {
		t.Fatalf("Load: %v", diags)
	}
	return m
}

func generate(t *testing.T, args string) []*inferencex.Job {
	t.Helper()
	sel, err := ParseArgs(strings.Fields(args))
	if err != nil {
		t.Fatalf("ParseArgs(%s): %v", args, err)
	}
	jobs, err := loadFixture(t).Generate(sel)
	if err != nil {
		t.Fatalf("Generate(%s): %v", args, err)
	}
	return jobs
}

// summary names a row briefly: config key, tp (single-node), spec
// decoding, conc, runner and its eval fields.
func summary(j *inferencex.Job) string {
	s := fmt.Sprintf("%s tp%d %s %v %s", j.Key, j.TP, j.SpecDecoding, j.Conc, j.Runner)
	if j.EvalConc != nil {
		s += fmt.Sprintf(" eval-conc=%d", *j.EvalConc)
	}
	if j.EvalAllConcs != nil {
		s += " all-concs"
	}
	return s
}

func evalRows(jobs []*inferencex.Job) []string {
	var out []string
	for _, j := range jobs {
		if j.RunEval != nil && *j.RunEval {
			out = append(out, summary(j))
		}
	}
	return out
}

func TestGenerateCountsAndEvals(t *testing.T) {
	singleDefault := []string{
		// dsr1 8k1k, per (spec, dp-attn) group: highest and median conc >= 16.
		"dsr1-fp4-b200-trt tp4 none [32] b200", "dsr1-fp4-b200-trt tp4 none [48] b200",
		"dsr1-fp4-b200-trt tp8 none [128] b200",
		"dsr1-fp4-b200-trt tp8 mtp [32] b200", "dsr1-fp4-b200-trt tp8 mtp [64] b200",
		// tp4 conc 8 is below 16, so 32 is both median and top.
		"qwen3.5-fp8-h200-vllm tp8 none [32] h200",
		"gptoss-fp4-mi355x-atom tp1 none [64] mi355x", "gptoss-fp4-mi355x-atom tp8 none [256] mi355x",
	}
	multiDefault := []string{
		"dsr1-fp4-gb200-dynamo-trt tp0 mtp [4 8 24 48] gb200 eval-conc=48",
		"dsr1-fp4-gb200-dynamo-trt tp0 none [32 64 128 256] gb200 eval-conc=256",
		// Two entries of one topology: the one holding the highest conc.
		"dsv4-fp4-gb300-dynamo-sglang tp0 none [128 256] gb300 eval-conc=256",
		"dsr1-fp8-mi355x-sglang-disagg tp0 none [16 64] mi355x-disagg eval-conc=64",
	}
	agenticSingle := "qwen3.5-fp8-mi355x-sglang-agentic tp8 none [16] cluster:mi355x-amds"
	agenticMulti := []string{
		// conc 8 is below 16; of the second entry only 16 is eligible.
		"dsv4-fp4-gb200-dynamo-vllm-agentic tp0 none [32] cluster:gb200-nv eval-conc=32",
		"dsv4-fp4-gb200-dynamo-vllm-agentic tp0 none [16] cluster:gb200-nv eval-conc=16",
	}
	allEvalsSingle := []string{
		"dsr1-fp4-b200-trt tp4 none [4] b200", "dsr1-fp4-b200-trt tp4 none [8] b200", "dsr1-fp4-b200-trt tp4 none [16] b200",
		"dsr1-fp4-b200-trt tp4 none [32] b200", "dsr1-fp4-b200-trt tp4 none [48] b200",
		"dsr1-fp4-b200-trt tp8 none [64] b200", "dsr1-fp4-b200-trt tp8 none [128] b200",
		"dsr1-fp4-b200-trt tp8 mtp [16] b200", "dsr1-fp4-b200-trt tp8 mtp [32] b200", "dsr1-fp4-b200-trt tp8 mtp [64] b200",
		"qwen3.5-fp8-h200-vllm tp8 none [16] h200", "qwen3.5-fp8-h200-vllm tp8 none [32] h200", "qwen3.5-fp8-h200-vllm tp4 none [8] h200",
		"gptoss-fp4-mi355x-atom tp1 none [4] mi355x", "gptoss-fp4-mi355x-atom tp1 none [8] mi355x", "gptoss-fp4-mi355x-atom tp1 none [16] mi355x",
		"gptoss-fp4-mi355x-atom tp1 none [32] mi355x", "gptoss-fp4-mi355x-atom tp1 none [64] mi355x", "gptoss-fp4-mi355x-atom tp8 none [256] mi355x",
		"qwen3.5-fp8-mi355x-sglang-agentic tp8 none [4] cluster:mi355x-amds", "qwen3.5-fp8-mi355x-sglang-agentic tp8 none [16] cluster:mi355x-amds",
		"qwen3.5-fp8-mi355x-sglang-agentic tp4 mtp [2] cluster:mi355x-amds", "qwen3.5-fp8-mi355x-sglang-agentic tp4 mtp [4] cluster:mi355x-amds",
		"qwen3.5-fp8-mi355x-sglang-agentic tp4 mtp [8] cluster:mi355x-amds",
	}
	allEvalsMulti := []string{
		"dsr1-fp4-gb200-dynamo-trt tp0 mtp [4 8 24 48] gb200 all-concs",
		"dsr1-fp4-gb200-dynamo-trt tp0 none [32 64 128 256] gb200 all-concs",
		"dsv4-fp4-gb300-dynamo-sglang tp0 none [16 32 64 128 256] gb300 all-concs",
		"dsv4-fp4-gb200-dynamo-vllm-agentic tp0 none [8 32] cluster:gb200-nv eval-conc=32",
		"dsv4-fp4-gb200-dynamo-vllm-agentic tp0 none [4 8 16] cluster:gb200-nv eval-conc=16",
		"dsr1-fp8-mi355x-sglang-disagg tp0 none [16 64] mi355x-disagg all-concs",
	}
	tests := []struct {
		args     string
		n        int
		evals    []string
		evalOnly bool
	}{
		// tiny 4 + dsr1 11 + qwen3.5 3 + gptoss 6 + agentic 5.
		{"full-sweep --single-node", 29, singleDefault, false},
		{"full-sweep --single-node --no-evals", 29, nil, false},
		{"full-sweep --single-node --evals-only", 9, append(singleDefault[:5:5], append([]string{singleDefault[5], singleDefault[6], singleDefault[7]}, agenticSingle)...), true},
		{"full-sweep --single-node --all-evals", 24, allEvalsSingle, true},
		// dsr1-gb200 3 rows (one per entry) + dsv4-gb300 2 + agentic 2+3 + mi355x 1.
		{"full-sweep --multi-node", 11, multiDefault, false},
		{"full-sweep --multi-node --no-evals", 11, nil, false},
		{"full-sweep --multi-node --evals-only", 6, []string{multiDefault[0], multiDefault[1], multiDefault[2], agenticMulti[0], agenticMulti[1], multiDefault[3]}, true},
		{"full-sweep --multi-node --all-evals", 6, allEvalsMulti, true},
		// File order: nvidia's configs (tiny, dsr1-b200, qwen3.5-h200,
		// dsr1-gb200, dsv4-gb300, dsv4 agentic), then amd's.
		{"full-sweep", 40, append(append([]string(nil), singleDefault[:6]...), append(multiDefault[:3:3], append(singleDefault[6:], multiDefault[3])...)...), false},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			jobs := generate(t, tt.args)
			if len(jobs) != tt.n {
				t.Errorf("%d jobs; want %d", len(jobs), tt.n)
			}
			if got := evalRows(jobs); !reflect.DeepEqual(got, tt.evals) {
				t.Errorf("eval rows:\n got %q\nwant %q", got, tt.evals)
			}
			for _, j := range jobs {
				if got := j.EvalOnly != nil && *j.EvalOnly; got != tt.evalOnly {
					t.Errorf("%s: eval-only %v; want %v", summary(j), got, tt.evalOnly)
				}
				// --no-evals leaves agentic rows without run-eval; fixed
				// rows always have it.
				noEvals := strings.Contains(tt.args, "--no-evals")
				if hasRunEval := j.RunEval != nil; hasRunEval == (noEvals && j.Agentic()) {
					t.Errorf("%s: run-eval present %v", summary(j), hasRunEval)
				}
			}
		})
	}
}

// TestGenerateRows checks whole rows field for field.
func TestGenerateRows(t *testing.T) {
	tests := []struct {
		args  string
		index int
		key   string
		want  string
	}{
		{"full-sweep", 0, "tiny-fp8-h200-sglang",
			`{"image":"fleet.test/sglang:tiny","model":"fleet-test/tiny-model","model-prefix":"tiny","precision":"fp8","framework":"sglang","runner":"h200","isl":256,"osl":32,"tp":1,"pp":1,"dcp-size":1,"pcp-size":1,"conc":1,"max-model-len":544,"ep":1,"dp-attn":false,"spec-decoding":"none","exp-name":"tiny_256_32","disagg":false,"run-eval":false}`},
		{"full-sweep", 3, "tiny-fp8-h200-sglang",
			`{"image":"fleet.test/sglang:tiny","model":"fleet-test/tiny-model","model-prefix":"tiny","precision":"fp8","framework":"sglang","runner":"h200","isl":256,"osl":32,"tp":2,"pp":1,"dcp-size":1,"pcp-size":1,"conc":2,"max-model-len":544,"ep":1,"dp-attn":false,"spec-decoding":"mtp","exp-name":"tiny_256_32","disagg":false,"run-eval":false}`},
		{"full-sweep --single-node", 8, "dsr1-fp4-b200-trt",
			`{"image":"nvcr.io#nvidia/tensorrt-llm/release:1.2.0","model":"nvidia/DeepSeek-R1-0528-FP4-V2","model-prefix":"dsr1","precision":"fp4","framework":"trt","runner":"b200","isl":8192,"osl":1024,"tp":4,"pp":1,"dcp-size":1,"pcp-size":1,"conc":48,"max-model-len":9472,"ep":1,"dp-attn":false,"spec-decoding":"none","exp-name":"dsr1_8k1k","disagg":false,"run-eval":true}`},
		{"full-sweep --single-node", 10, "dsr1-fp4-b200-trt",
			`{"image":"nvcr.io#nvidia/tensorrt-llm/release:1.2.0","model":"nvidia/DeepSeek-R1-0528-FP4-V2","model-prefix":"dsr1","precision":"fp4","framework":"trt","runner":"b200","isl":8192,"osl":1024,"tp":8,"pp":1,"dcp-size":1,"pcp-size":1,"conc":128,"max-model-len":9472,"ep":8,"dp-attn":true,"spec-decoding":"none","exp-name":"dsr1_8k1k","disagg":false,"run-eval":true}`},
		{"full-sweep --single-node", 16, "qwen3.5-fp8-h200-vllm",
			`{"image":"vllm/vllm-openai:v0.12.0","model":"Qwen/Qwen3.5-397B-A17B-FP8","model-prefix":"qwen3.5","precision":"fp8","framework":"vllm","runner":"h200","isl":8192,"osl":1024,"tp":8,"pp":1,"dcp-size":4,"pcp-size":1,"conc":32,"max-model-len":9472,"ep":1,"dp-attn":false,"spec-decoding":"none","exp-name":"qwen3.5_8k1k","disagg":false,"run-eval":true,"router":{"name":"vllm-router","version":"0.1.4"}}`},
		{"full-sweep --single-node", 24, "qwen3.5-fp8-mi355x-sglang-agentic",
			`{"image":"lmsysorg/sglang:v0.5.16-rocm700-mi35x","model":"Qwen/Qwen3.5-397B-A17B-FP8","model-prefix":"qwen3.5","precision":"fp8","framework":"sglang","runner":"cluster:mi355x-amds","tp":8,"pp":1,"dcp-size":1,"pcp-size":1,"ep":1,"dp-attn":false,"spec-decoding":"none","conc":4,"kv-offloading":"dram","total-cpu-dram-gb":2399,"duration":3600,"exp-name":"qwen3.5_tp8_conc4_kvdram-mooncake","scenario-type":"agentic-coding","kv-offload-backend":{"name":"mooncake"},"run-eval":false}`},
		{"full-sweep --single-node --no-evals", 26, "qwen3.5-fp8-mi355x-sglang-agentic",
			`{"image":"lmsysorg/sglang:v0.5.16-rocm700-mi35x","model":"Qwen/Qwen3.5-397B-A17B-FP8","model-prefix":"qwen3.5","precision":"fp8","framework":"sglang","runner":"cluster:mi355x-amds","tp":4,"pp":1,"dcp-size":1,"pcp-size":1,"ep":4,"dp-attn":false,"spec-decoding":"mtp","conc":2,"kv-offloading":"none","total-cpu-dram-gb":0,"duration":3600,"exp-name":"qwen3.5_tp4_conc2_kvnone_spec-mtp","scenario-type":"agentic-coding"}`},
		{"full-sweep --multi-node", 0, "dsr1-fp4-gb200-dynamo-trt",
			`{"image":"nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1","model":"nvidia/DeepSeek-R1-0528-FP4-V2","model-prefix":"dsr1","precision":"fp4","framework":"dynamo-trt","runner":"gb200","isl":8192,"osl":1024,"spec-decoding":"mtp","prefill":{"num-worker":1,"tp":4,"ep":4,"dp-attn":true,"additional-settings":["CONFIG_FILE=recipes/trtllm/gb200-fp4/8k1k/mtp/ctx1_gen4.yaml"],"pp":1,"dcp-size":1,"pcp-size":1},"decode":{"num-worker":4,"tp":8,"ep":8,"dp-attn":false,"pp":1,"dcp-size":1,"pcp-size":1},"conc":[4,8,24,48],"max-model-len":9472,"exp-name":"dsr1_8k1k","disagg":true,"run-eval":true,"router":{"name":"dynamo-router","version":"0.8.1"},"kv-p2p-transfer":"nixl","eval-conc":48}`},
		{"full-sweep --multi-node", 1, "dsr1-fp4-gb200-dynamo-trt",
			`{"image":"nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1","model":"nvidia/DeepSeek-R1-0528-FP4-V2","model-prefix":"dsr1","precision":"fp4","framework":"dynamo-trt","runner":"gb200","isl":8192,"osl":1024,"spec-decoding":"none","prefill":{"num-worker":2,"tp":4,"ep":4,"dp-attn":true,"hardware":"gb200","pp":1,"dcp-size":1,"pcp-size":1},"decode":{"num-worker":1,"tp":8,"ep":16,"dp-attn":true,"hardware":"gb200","pp":2,"dcp-size":1,"pcp-size":1},"conc":[32,64,128,256],"max-model-len":9472,"exp-name":"dsr1_8k1k","disagg":true,"run-eval":true,"router":{"name":"dynamo-router","version":"0.8.1"},"kv-p2p-transfer":"nixl","eval-conc":256}`},
		{"full-sweep --multi-node", 2, "dsr1-fp4-gb200-dynamo-trt",
			`{"image":"nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1","model":"nvidia/DeepSeek-R1-0528-FP4-V2","model-prefix":"dsr1","precision":"fp4","framework":"dynamo-trt","runner":"gb200","isl":1024,"osl":1024,"spec-decoding":"none","prefill":{"num-worker":1,"tp":4,"ep":4,"dp-attn":false,"pp":1,"dcp-size":1,"pcp-size":1},"decode":{"num-worker":1,"tp":4,"ep":4,"dp-attn":false,"pp":1,"dcp-size":1,"pcp-size":1},"conc":[8,64],"max-model-len":2304,"exp-name":"dsr1_1k1k","disagg":true,"run-eval":false,"router":{"name":"dynamo-router","version":"0.8.1"},"kv-p2p-transfer":"nixl"}`},
		{"full-sweep --multi-node --evals-only", 3, "dsv4-fp4-gb200-dynamo-vllm-agentic",
			`{"image":"vllm/vllm-openai:v0.12.0-gb200","model":"deepseek-ai/DeepSeek-V4","model-prefix":"dsv4","precision":"fp4","framework":"dynamo-vllm","runner":"cluster:gb200-nv","spec-decoding":"none","prefill":{"num-worker":1,"tp":4,"ep":1,"dp-attn":false,"pp":1,"dcp-size":1,"pcp-size":1},"decode":{"num-worker":1,"tp":8,"ep":8,"dp-attn":true,"pp":1,"dcp-size":1,"pcp-size":1},"conc":[32],"kv-offloading":"dram","total-cpu-dram-gb":471,"duration":3600,"exp-name":"dsv4_p1x4_d1x8ep8dpa_conc32_kvdram-lmcache","disagg":true,"scenario-type":"agentic-coding","kv-offload-backend":{"name":"lmcache","version":"0.3.1"},"kv-p2p-transfer":"nixl","run-eval":true,"eval-conc":32,"eval-only":true}`},
		{"full-sweep --multi-node --all-evals", 2, "dsv4-fp4-gb300-dynamo-sglang",
			`{"image":"lmsysorg/sglang:v0.5.16-gb300","model":"deepseek-ai/DeepSeek-V4","model-prefix":"dsv4","precision":"fp4","framework":"dynamo-sglang","runner":"gb300","isl":8192,"osl":1024,"spec-decoding":"none","prefill":{"num-worker":2,"tp":8,"ep":8,"dp-attn":true,"pp":1,"dcp-size":1,"pcp-size":1},"decode":{"num-worker":0,"tp":8,"ep":8,"dp-attn":true,"pp":1,"dcp-size":1,"pcp-size":1},"conc":[16,32,64,128,256],"max-model-len":9472,"exp-name":"dsv4_8k1k","disagg":false,"run-eval":true,"eval-all-concs":true,"eval-only":true}`},
		// The merged agentic row keeps its first row's exp-name, as
		// InferenceX does.
		{"full-sweep --multi-node --all-evals", 4, "dsv4-fp4-gb200-dynamo-vllm-agentic",
			`{"image":"vllm/vllm-openai:v0.12.0-gb200","model":"deepseek-ai/DeepSeek-V4","model-prefix":"dsv4","precision":"fp4","framework":"dynamo-vllm","runner":"cluster:gb200-nv","spec-decoding":"none","prefill":{"num-worker":1,"tp":4,"ep":1,"dp-attn":false,"pp":1,"dcp-size":1,"pcp-size":1},"decode":{"num-worker":2,"tp":4,"ep":1,"dp-attn":false,"pp":1,"dcp-size":1,"pcp-size":1},"conc":[4,8,16],"kv-offloading":"none","total-cpu-dram-gb":0,"duration":3600,"exp-name":"dsv4_p1x4_d2x4_conc4","disagg":true,"scenario-type":"agentic-coding","kv-p2p-transfer":"nixl","run-eval":true,"eval-conc":16,"eval-only":true}`},
		{"full-sweep --multi-node", 10, "dsr1-fp8-mi355x-sglang-disagg",
			`{"image":"rocm/sgl-dev:v0.5.16-mi35x","model":"deepseek-ai/DeepSeek-R1-0528","model-prefix":"dsr1","precision":"fp8","framework":"sglang-disagg","runner":"mi355x-disagg","isl":8192,"osl":1024,"spec-decoding":"none","prefill":{"num-worker":1,"tp":8,"ep":8,"dp-attn":true,"additional-settings":["PREFILL_NODES=1"],"pp":1,"dcp-size":1,"pcp-size":1},"decode":{"num-worker":2,"tp":8,"ep":1,"dp-attn":false,"additional-settings":["DECODE_NODES=2"],"pp":1,"dcp-size":1,"pcp-size":1},"conc":[16,64],"max-model-len":9472,"exp-name":"dsr1_8k1k","disagg":true,"run-eval":true,"router":{"name":"sglang-router","version":"0.2.1"},"kv-p2p-transfer":"mori","eval-conc":64}`},
	}
	for _, tt := range tests {
		jobs := generate(t, tt.args)
		if tt.index >= len(jobs) {
			t.Errorf("%s: only %d jobs", tt.args, len(jobs))
			continue
		}
		j := jobs[tt.index]
		if j.Key != tt.key {
			t.Errorf("%s row %d: key %s; want %s", tt.args, tt.index, j.Key, tt.key)
		}
		if j.MultiNode != strings.Contains(tt.want, `"prefill"`) {
			t.Errorf("%s row %d: MultiNode %v", tt.args, tt.index, j.MultiNode)
		}
		got, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		// Key order too: the generator's.
		if string(got) != tt.want {
			t.Errorf("%s row %d:\n got %s\nwant %s", tt.args, tt.index, got, tt.want)
		}
	}
}

// TestGenerateFilters covers full-sweep's filters and test-config.
func TestGenerateFilters(t *testing.T) {
	tests := []struct {
		args string
		n    int
		rows []string // the first rows, when given
	}{
		// Ranges clipped before expansion, lists filtered (and replaced by
		// max-conc when nothing is left); agentic values only filtered.
		{"full-sweep --single-node --no-evals --max-conc 4", 15, []string{
			"tiny-fp8-h200-sglang tp1 none [1] h200", "tiny-fp8-h200-sglang tp1 none [2] h200", "tiny-fp8-h200-sglang tp1 none [4] h200",
			"tiny-fp8-h200-sglang tp2 mtp [2] h200", "dsr1-fp4-b200-trt tp4 none [4] b200", "dsr1-fp4-b200-trt tp8 none [4] b200",
			"dsr1-fp4-b200-trt tp8 mtp [4] b200", "dsr1-fp4-b200-trt tp8 none [4] b200"}},
		{"full-sweep --single-node --no-evals --min-conc 32", 11, []string{
			"dsr1-fp4-b200-trt tp4 none [32] b200", "dsr1-fp4-b200-trt tp4 none [48] b200", "dsr1-fp4-b200-trt tp8 none [64] b200"}},
		{"full-sweep --single-node --no-evals --model-prefix tiny --step-size 4", 3, []string{
			"tiny-fp8-h200-sglang tp1 none [1] h200", "tiny-fp8-h200-sglang tp1 none [4] h200", "tiny-fp8-h200-sglang tp2 mtp [2] h200"}},
		// max-tp and seq-lens leave agentic rows alone.
		{"full-sweep --single-node --no-evals --max-tp 4 --seq-lens 8k1k", 16, nil},
		{"full-sweep --single-node --no-evals --runner-node-filter cw", 18, []string{"tiny-fp8-h200-sglang tp1 none [1] h200-cw_0"}},
		{"full-sweep --no-evals --framework sglang --precision fp8", 9, nil},
		{"full-sweep --no-evals --runner-type h200", 7, nil},
		{"full-sweep --no-evals --scenario-type agentic-coding", 10, nil},
		{"full-sweep --no-evals --multi-node --max-conc 16", 10, []string{
			"dsr1-fp4-gb200-dynamo-trt tp0 mtp [4 8] gb200", "dsr1-fp4-gb200-dynamo-trt tp0 none [16] gb200", "dsr1-fp4-gb200-dynamo-trt tp0 none [8] gb200",
			"dsv4-fp4-gb300-dynamo-sglang tp0 none [16] gb300", "dsv4-fp4-gb300-dynamo-sglang tp0 none [16] gb300",
			"dsv4-fp4-gb200-dynamo-vllm-agentic tp0 none [8] cluster:gb200-nv"}},
		{"test-config --config-keys dsr1-* --no-evals", 15, nil},
		{"test-config --config-keys tiny-* *-agentic --conc 2 8 --runner-node-filter nb", 2, []string{
			"tiny-fp8-h200-sglang tp1 none [2] h200-nb_0", "tiny-fp8-h200-sglang tp2 mtp [2] h200-nb_0"}},
		// The label itself counts when it holds the filter.
		{"test-config --config-keys tiny-fp8-h200-sglang --conc 1 --runner-node-filter h200", 3, []string{
			"tiny-fp8-h200-sglang tp1 none [1] h200", "tiny-fp8-h200-sglang tp1 none [1] h200-cw_0", "tiny-fp8-h200-sglang tp1 none [1] h200-nb_0"}},
		{"test-config --config-keys dsv4-fp4-gb?00-* --conc 16 --evals-only", 2, []string{
			"dsv4-fp4-gb300-dynamo-sglang tp0 none [16] gb300 eval-conc=16", "dsv4-fp4-gb200-dynamo-vllm-agentic tp0 none [16] cluster:gb200-nv eval-conc=16"}},
	}
	for _, tt := range tests {
		jobs := generate(t, tt.args)
		if len(jobs) != tt.n {
			t.Errorf("%s: %d jobs; want %d", tt.args, len(jobs), tt.n)
		}
		for i, want := range tt.rows {
			if i < len(jobs) && summary(jobs[i]) != want {
				t.Errorf("%s row %d: %s; want %s", tt.args, i, summary(jobs[i]), want)
			}
		}
	}
	// ep above --max-ep is lowered, not dropped.
	for _, j := range generate(t, "full-sweep --single-node --no-evals --model-prefix dsr1 --seq-lens 8k1k --max-ep 2") {
		if j.EP > 2 {
			t.Errorf("%s: ep %d above --max-ep 2", summary(j), j.EP)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	m := loadFixture(t)
	tests := []struct {
		sel  Selection
		want string
	}{
		{Selection{Mode: TestConfig, ConfigKeys: []string{"nope-*"}}, `pattern "nope-*" matched no config keys`},
		{Selection{Mode: TestConfig, ConfigKeys: []string{"tiny-fp8-h200-sglang", "nope"}}, "config key not found: nope"},
		{Selection{RunnerType: []string{"h100"}}, "invalid runner type(s) h100"},
		{Selection{StepSize: 1}, "greater than 1"},
		{Selection{MinConc: ptr(8), MaxConc: ptr(4)}, "--min-conc (8)"},
		{Selection{NoEvals: true, AllEvals: true}, "--all-evals cannot be combined"},
		{Selection{NoEvals: true, EvalsOnly: true}, "exclude each other"},
		{Selection{SeqLens: []string{"2k1k"}}, "want 1k1k or 8k1k"},
		{Selection{Mode: "sweep"}, `mode "sweep"`},
	}
	for _, tt := range tests {
		_, err := m.Generate(tt.sel)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Generate(%+v) = %v; want %q", tt.sel, err, tt.want)
		}
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		start, end, step int
		want             []int
	}{
		{4, 48, 2, []int{4, 8, 16, 32, 48}},
		{1, 8, 2, []int{1, 2, 4, 8}},
		{8, 8, 2, []int{8}},
		{2, 100, 3, []int{2, 6, 18, 54, 100}},
		{1 << 30, 1<<31 - 1, 2, []int{1 << 30, 1<<31 - 1}},
	}
	for _, tt := range tests {
		if got := expand(tt.start, tt.end, tt.step); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("expand(%d, %d, %d) = %v; want %v", tt.start, tt.end, tt.step, got, tt.want)
		}
	}
}

// TestGenerateDramErrors: InferenceX sizes DRAM offload when it expands
// a config, so a runner without hardware facts, or a server larger than
// a node, fails the expansion (with the entry's place), not the load.
func TestGenerateDramErrors(t *testing.T) {
	tests := []struct{ name, yaml, runners, want string }{
		{"no hardware for the runner", goodAgentic, strings.Replace(goodRunners, "  cluster:mi355x-amds: {available-cpu-dram-mib: 1000, gpus-per-node: 8}\n", "  gb200: {available-cpu-dram-mib: 1000, gpus-per-node: 4}\n", 1),
			`runner "cluster:mi355x-amds" needs available-cpu-dram-mib and gpus-per-node`},
		{"server larger than a node", strings.Replace(goodAgentic, "{tp: 8,", "{tp: 8, pp: 2,", 1), goodRunners, "needs 16 GPUs, more than gpus-per-node=8"},
	}
	for _, tt := range tests {
		dir := writeCheckout(t, tt.yaml, tt.runners)
		m, diags := Load(dir, []string{"configs/nvidia-master.yaml"}, "")
		if diags.HasErrors() {
			t.Fatalf("%s: %v", tt.name, diags)
		}
		_, err := m.Generate(Selection{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nvidia-master.yaml:13:13") {
			t.Errorf("%s: err = %v; want %q at nvidia-master.yaml:13:13", tt.name, err, tt.want)
		}
		// Filtered out, the config costs nothing.
		if _, err := m.Generate(Selection{ScenarioTypes: []string{"fixed-seq-len"}}); err != nil {
			t.Errorf("%s, fixed-seq-len only: %v", tt.name, err)
		}
	}
	// 0.5 of 1000 MiB on 8 of 8 GPUs: 524288000 bytes, 0 GB rounded down.
	dir := writeCheckout(t, goodAgentic, goodRunners)
	m, _ := Load(dir, []string{"configs/nvidia-master.yaml"}, "")
	jobs, err := m.Generate(Selection{})
	if err != nil || len(jobs) != 1 || jobs[0].TotalCPUDramGB != 0 {
		t.Errorf("jobs %v, %v", jobs, err)
	}
}

func TestGenerateJobLimit(t *testing.T) {
	var list strings.Builder
	for i := 1; i <= MaxJobs+1; i++ {
		if i > 1 {
			list.WriteString(", ")
		}
		fmt.Fprint(&list, i)
	}
	dir := writeCheckout(t, strings.Replace(good, "conc-list: [1]", "conc-list: ["+list.String()+"]", 1), goodRunners)
	m, diags := Load(dir, []string{"configs/nvidia-master.yaml"}, "")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, err := m.Generate(Selection{}); err == nil || !strings.Contains(err.Error(), "more than 100000 jobs") {
		t.Errorf("err = %v; want the job limit", err)
	}
	if jobs, err := m.Generate(Selection{Mode: TestConfig, ConfigKeys: []string{"k"}, Conc: []int{7, 9}}); err != nil || len(jobs) != 2 {
		t.Errorf("narrowed: %d jobs, %v", len(jobs), err)
	}
}
