package launch

import (
	"fmt"
	"sort"
	"testing"

	"github.com/fleetbench/fleet/internal/inferencex"
)

// resultFilename builds the single-node result name the workflow uses,
// only to give Env a realistic input (package ixresult owns the rule).
func resultFilename(j *inferencex.Job, runner string) string {
	rf := fmt.Sprintf("%s_%s_%s_tp%d-pp%d-dcp%d-pcp%d-ep%d-dpa%t_disagg-%t_spec-%s_conc%d_%s",
		j.ExpName, j.Precision, j.Framework, j.TP, j.PP, j.DCPSize, j.PCPSize, j.EP, j.DPAttn, j.Disagg, j.SpecDecoding, j.FirstConc(), runner)
	if len(j.RecipeFingerprint) >= 16 {
		rf += "_recipe-" + j.RecipeFingerprint[:16]
	}
	return rf
}

func ptr[T any](v T) *T { return &v }

// constant are the values the workflow sets whatever the row.
var constant = map[string]string{
	"RANDOM_RANGE_RATIO":              "0.8",
	"HF_HUB_CACHE":                    "/mnt/hf_hub_cache/",
	"REQUIRE_POWER":                   "0",
	"AIPERF_EXPERIMENTAL_FAST":        "0",
	"AIPERF_FAILED_REQUEST_THRESHOLD": "0.10",
	"EVAL_LIMIT":                      "",
	"SWEBENCH_GEN_MODE":               "",
	"SWEBENCH_USE_MODAL":              "true",
	"RESULT_DIR":                      "/workspace/results",
	"PYTHONDONTWRITEBYTECODE":         "1",
	"PYTHONPYCACHEPREFIX":             "/tmp/inferencex-pycache",
}

func TestEnvIsTheWorkflowsContract(t *testing.T) {
	fixed := &inferencex.Job{
		Image: "lmsysorg/sglang:v0.5.16-cu130", Model: "nvidia/DeepSeek-R1-0528-FP4-V2", ModelPrefix: "dsr1", Precision: "fp4",
		Framework: "sglang", Runner: "b200", ISL: 8192, OSL: 1024, TP: 4, PP: 1, DCPSize: 1, PCPSize: 2, EP: 4, DPAttn: true,
		Conc: []int{64}, MaxModelLen: 9472, SpecDecoding: "mtp", ExpName: "dsr1_8k1k", RunEval: ptr(true),
		Router:            &inferencex.Component{Name: "sglang-router", Version: "0.3.1"},
		RecipeFingerprint: "a0b83a5b8efc84ac94f3f1681b70aa1b31298d01b41105148fb190e120468aa6",
	}
	agentic := &inferencex.Job{
		Image: "lmsysorg/sglang:v0.5.16-cu130", Model: "deepseek-ai/DeepSeek-V4", ModelPrefix: "dsv4", Precision: "fp4",
		Framework: "sglang", Runner: "cluster:b300-nv", TP: 8, PP: 1, DCPSize: 1, PCPSize: 1, EP: 1, SpecDecoding: "none",
		Conc: []int{4}, KVOffloading: "dram", KVOffloadBackend: &inferencex.Component{Name: "hicache"}, TotalCPUDramGB: 1503,
		Duration: 1800, ExpName: "dsv4_tp8_conc4_kvdram-hicache", ScenarioType: inferencex.AgenticCoding,
	}
	tests := []struct {
		name   string
		job    *inferencex.Job
		runner string
		want   map[string]string
	}{
		{"a fixed-seq-len row", fixed, "b200-cw_00", map[string]string{
			"MODEL": "nvidia/DeepSeek-R1-0528-FP4-V2", "MODEL_PREFIX": "dsr1", "EXP_NAME": "dsr1_8k1k",
			"IMAGE": "lmsysorg/sglang:v0.5.16-cu130", "FRAMEWORK": "sglang", "PRECISION": "fp4",
			"RECIPE_FINGERPRINT": "a0b83a5b8efc84ac94f3f1681b70aa1b31298d01b41105148fb190e120468aa6",
			"TP":                 "4", "PP_SIZE": "1", "DCP_SIZE": "1", "PCP_SIZE": "2", "EP_SIZE": "4", "DP_ATTENTION": "true",
			"CONC": "64", "ISL": "8192", "OSL": "1024", "MAX_MODEL_LEN": "9472",
			"SPEC_DECODING": "mtp", "DISAGG": "false", "RUN_EVAL": "true", "EVAL_ONLY": "false", "GPU_COUNT": "8",
			"RUNNER_TYPE": "b200", "RUNNER_NAME": "b200-cw_00",
			"RESULT_FILENAME": "dsr1_8k1k_fp4_sglang_tp4-pp1-dcp1-pcp2-ep4-dpatrue_disagg-false_spec-mtp_conc64_b200-cw_00_recipe-a0b83a5b8efc84ac",
			"SCENARIO_TYPE":   "fixed-seq-len", "SCENARIO_SUBDIR": "fixed_seq_len/", "IS_AGENTIC": "0",
			"KV_OFFLOADING": "", "KV_OFFLOAD_BACKEND": "", "KV_OFFLOAD_BACKEND_METADATA": "",
			"ROUTER_METADATA": `{"name":"sglang-router","version":"0.3.1"}`, "KV_P2P_TRANSFER": "",
			"TOTAL_CPU_DRAM_GB": "0", "DURATION": "3600",
		}},
		{"an agentic row", agentic, "node-1", map[string]string{
			"MODEL": "deepseek-ai/DeepSeek-V4", "MODEL_PREFIX": "dsv4", "EXP_NAME": "dsv4_tp8_conc4_kvdram-hicache",
			"IMAGE": "lmsysorg/sglang:v0.5.16-cu130", "FRAMEWORK": "sglang", "PRECISION": "fp4", "RECIPE_FINGERPRINT": "",
			"TP": "8", "PP_SIZE": "1", "DCP_SIZE": "1", "PCP_SIZE": "1", "EP_SIZE": "1", "DP_ATTENTION": "false",
			"CONC": "4", "ISL": "0", "OSL": "0", "MAX_MODEL_LEN": "0",
			"SPEC_DECODING": "none", "DISAGG": "false", "RUN_EVAL": "false", "EVAL_ONLY": "false", "GPU_COUNT": "8",
			"RUNNER_TYPE": "cluster:b300-nv", "RUNNER_NAME": "node-1",
			"RESULT_FILENAME": "dsv4_tp8_conc4_kvdram-hicache_fp4_sglang_tp8-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc4_node-1",
			"SCENARIO_TYPE":   "agentic-coding", "SCENARIO_SUBDIR": "agentic/", "IS_AGENTIC": "1",
			"KV_OFFLOADING": "dram", "KV_OFFLOAD_BACKEND": "hicache", "KV_OFFLOAD_BACKEND_METADATA": `{"name":"hicache"}`,
			"ROUTER_METADATA": "", "KV_P2P_TRANSFER": "",
			"TOTAL_CPU_DRAM_GB": "1503", "DURATION": "1800",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := map[string]string{}
			for k, v := range constant {
				want[k] = v
			}
			for k, v := range tt.want {
				want[k] = v
			}
			got := Env(tt.job, tt.runner, resultFilename(tt.job, tt.runner))
			var keys []string
			for k := range want {
				keys = append(keys, k)
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				g, gok := got[k]
				w, wok := want[k]
				switch {
				case !gok:
					t.Errorf("%s missing, want %q", k, w)
				case !wok:
					t.Errorf("%s=%q set, want it absent", k, g)
				case g != w:
					t.Errorf("%s=%q, want %q", k, g, w)
				}
			}
		})
	}
}

func TestEnvCarriesNoSecretsAndNoPort(t *testing.T) {
	env := Env(&inferencex.Job{TP: 1, Conc: []int{1}}, "n", "rf")
	for _, k := range []string{"HF_TOKEN", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "PORT"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s is set; secrets travel as secrets and the node picks the port", k)
		}
	}
}
