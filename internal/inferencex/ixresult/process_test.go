package ixresult

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/inferencex"
)

func singleParams() Params {
	return Params{RunnerType: "b200", Framework: "sglang", Precision: "fp8", SpecDecoding: "none", ResultFilename: "rf", ISL: 1024, OSL: 1024,
		ModelPrefix: "dsr1", Image: "lmsysorg/sglang:v0.5", TP: 2, EP: 1, DPAttention: "false", PP: 1, DCP: 1, PCP: 1}
}

func multiParams() Params {
	p := singleParams()
	p.TP, p.EP, p.DPAttention, p.PP, p.DCP, p.PCP = 0, 0, "", 0, 0, 0
	p.IsMultinode, p.Disagg = true, true
	p.Prefill = Role{TP: 4, PP: 1, DCP: 1, PCP: 1, EP: 4, DPAttention: "true", NumWorkers: 2}
	p.Decode = Role{TP: 8, PP: 1, DCP: 1, PCP: 1, EP: 8, DPAttention: "false", NumWorkers: 1}
	p.PrefillGPUs, p.DecodeGPUs = 8, 8
	return p
}

// processed runs Process on the client fixture and returns the row's keys
// in order and its values.
func processed(t *testing.T, p Params) ([]string, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile("testdata/client_single.json")
	if err != nil {
		t.Fatal(err)
	}
	agg, _, err := Process(p, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseOrdered(agg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(agg, &m); err != nil {
		t.Fatal(err)
	}
	return o.(*object).keys, m
}

// clientMetricKeys are the fixture's client metrics as process_result
// names them, each tpot followed by its interactivity.
var clientMetricKeys = strings.Fields(`mean_ttft median_ttft std_ttft p90_ttft p99_ttft p99.9_ttft
	mean_tpot mean_intvty median_tpot median_intvty std_tpot std_intvty p90_tpot p90_intvty p99_tpot p99_intvty p99.9_tpot p99.9_intvty
	mean_itl median_itl std_itl p90_itl p99_itl p99.9_itl mean_e2el median_e2el std_e2el p90_e2el p99_e2el p99.9_e2el`)

func TestProcessSingleNode(t *testing.T) {
	head := strings.Fields(`hw conc image model infmax_model_prefix framework precision spec_decoding disagg recipe_fingerprint isl osl`)
	single := strings.Fields(`is_multinode tp pp dcp_size pcp_size ep dp_attention tput_per_gpu output_tput_per_gpu input_tput_per_gpu`)
	power := []string{"power_metric_schema_version", "power_valid"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	withExtras := singleParams()
	withExtras.RouterMetadata = `{"name": "sglang-router", "version": "0.2.1"}`
	withExtras.KVP2PTransfer = "nixl"
	withExtras.RecipeFingerprint = "a0b83a5b8efc84ac94f3f1681b70aa1b31298d01b41105148fb190e120468aa6"
	withExtras.DPAttention = "true"
	withExtras.TP, withExtras.PP, withExtras.PCP, withExtras.DCP = 1, 2, 2, 4
	for _, c := range []struct {
		name string
		p    Params
		keys []string
		want map[string]any
	}{
		{"plain", singleParams(), cat(head, single, clientMetricKeys, power), map[string]any{
			"hw": "b200", "conc": 4.0, "model": "deepseek-ai/DeepSeek-R1-0528", "disagg": false, "recipe_fingerprint": "",
			"is_multinode": false, "dp_attention": "false", "pp": 1.0,
			// 5120 total and 1024 output tokens/s over 2 GPUs.
			"tput_per_gpu": 2560.0, "output_tput_per_gpu": 512.0, "input_tput_per_gpu": 2048.0,
			"mean_ttft": 0.25, "p99.9_e2el": 7.5, "mean_tpot": 0.02, "mean_intvty": 50.0, "std_intvty": 250.0, "p99.9_intvty": 12.5,
			"power_metric_schema_version": 2.0, "power_valid": 0.0}},
		{"router, kv transfer, fingerprint; gpus = tp x pp x pcp (dcp is not a GPU factor)", withExtras,
			cat(head, []string{"router", "kv_p2p_transfer"}, single, clientMetricKeys, power), map[string]any{
				"router":             map[string]any{"name": "sglang-router", "version": "0.2.1"},
				"kv_p2p_transfer":    "nixl",
				"recipe_fingerprint": withExtras.RecipeFingerprint, "dp_attention": "true", "dcp_size": 4.0,
				"tput_per_gpu": 1280.0, "output_tput_per_gpu": 256.0, "input_tput_per_gpu": 1024.0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys, m := processed(t, c.p)
			if !reflect.DeepEqual(keys, c.keys) {
				t.Errorf("keys\n%q\nwant\n%q", keys, c.keys)
			}
			for k, v := range c.want {
				if !reflect.DeepEqual(m[k], v) {
					t.Errorf("%s = %#v, want %#v", k, m[k], v)
				}
			}
		})
	}
}

func TestProcessMultiNode(t *testing.T) {
	roles := strings.Fields(`is_multinode prefill_tp prefill_pp prefill_dcp_size prefill_pcp_size prefill_ep prefill_dp_attention
		prefill_num_workers decode_tp decode_pp decode_dcp_size decode_pcp_size decode_ep decode_dp_attention decode_num_workers
		num_prefill_gpu num_decode_gpu tput_per_gpu output_tput_per_gpu input_tput_per_gpu`)
	hw := multiParams()
	hw.PrefillHW, hw.DecodeHW = "gb200", "gb300"
	agg := multiParams()
	agg.Disagg = false
	agg.PrefillGPUs, agg.DecodeGPUs = 16, 0
	for _, c := range []struct {
		name  string
		p     Params
		extra []string // keys after the throughputs
		want  map[string]any
	}{
		// 5120 total, 1024 output, 4096 input tokens/s.
		{"disaggregated 8 + 8", multiParams(), nil, map[string]any{
			"is_multinode": true, "prefill_dp_attention": "true", "decode_dp_attention": "false", "decode_tp": 8.0, "decode_ep": 8.0,
			"num_prefill_gpu": 8.0, "num_decode_gpu": 8.0,
			"tput_per_gpu": 320.0, "output_tput_per_gpu": 128.0, "input_tput_per_gpu": 512.0}},
		{"role hardware", hw, []string{"prefill_hw", "decode_hw"}, map[string]any{"prefill_hw": "gb200", "decode_hw": "gb300"}},
		{"aggregated: decode has no GPUs", agg, nil, map[string]any{
			"disagg": false, "decode_tp": 0.0, "decode_ep": 0.0, "decode_pp": 1.0, "num_decode_gpu": 0.0, "decode_num_workers": 1.0,
			"tput_per_gpu": 320.0, "output_tput_per_gpu": 64.0, "input_tput_per_gpu": 256.0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys, m := processed(t, c.p)
			if keys[12] != "is_multinode" {
				t.Fatalf("keys %q", keys)
			}
			mid := append(append([]string{}, roles...), c.extra...)
			if got := keys[12 : 12+len(mid)]; !reflect.DeepEqual(got, mid) {
				t.Errorf("multi-node keys\n%q\nwant\n%q", got, mid)
			}
			for _, k := range []string{"tp", "ep", "dp_attention", "pp"} {
				if _, ok := m[k]; ok {
					t.Errorf("a multi-node row has %s", k)
				}
			}
			for k, v := range c.want {
				if !reflect.DeepEqual(m[k], v) {
					t.Errorf("%s = %#v, want %#v", k, m[k], v)
				}
			}
		})
	}
}

func TestProcessErrors(t *testing.T) {
	raw, err := os.ReadFile("testdata/client_single.json")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*Params)) Params { p := singleParams(); f(&p); return p }
	medit := func(f func(*Params)) Params { p := multiParams(); f(&p); return p }
	for _, c := range []struct {
		name string
		p    Params
		raw  []byte
		want string
	}{
		{"not an object", singleParams(), []byte(`[1]`), "not a JSON object"},
		{"no max_concurrency", singleParams(), clientWith(t, map[string]string{"max_concurrency": ""}), "no max_concurrency"},
		{"no model_id", singleParams(), clientWith(t, map[string]string{"model_id": ""}), "no model_id"},
		{"no throughput", singleParams(), clientWith(t, map[string]string{"output_throughput": ""}), "no output_throughput"},
		{"tpot of 0", singleParams(), clientWith(t, map[string]string{"p99_tpot_ms": "0"}), "p99_tpot_ms is 0"},
		{"a metric that is text", singleParams(), clientWith(t, map[string]string{"mean_itl_ms": `"n/a"`}), "mean_itl_ms"},
		{"router not JSON", edit(func(p *Params) { p.RouterMetadata = "sglang" }), raw, "must be JSON"},
		{"router without version", edit(func(p *Params) { p.RouterMetadata = `{"name": "r"}` }), raw, "exactly name and version"},
		{"router with an empty name", edit(func(p *Params) { p.RouterMetadata = `{"name": "", "version": "1"}` }), raw, "non-empty"},
		{"disagg on one node", edit(func(p *Params) { p.Disagg = true }), raw, "multi-node"},
		{"no tp", edit(func(p *Params) { p.TP = 0 }), raw, "tp is 0"},
		{"negative pp", edit(func(p *Params) { p.PP = -1 }), raw, "positive"},
		{"no prefill GPUs", medit(func(p *Params) { p.PrefillGPUs, p.DecodeGPUs = 0, 8 }), raw, "prefill GPU"},
		{"no GPUs", medit(func(p *Params) { p.PrefillGPUs, p.DecodeGPUs = 0, 0 }), raw, "at least one GPU"},
		{"one role's hardware", medit(func(p *Params) { p.PrefillHW = "gb200" }), raw, "together"},
		{"negative decode pcp", medit(func(p *Params) { p.Decode.PCP = -2 }), raw, "positive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Process(c.p, c.raw, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestResultFilename(t *testing.T) {
	yes := true
	single := &inferencex.Job{ModelPrefix: "dsr1", Precision: "fp4", Framework: "sglang", Runner: "b200", TP: 4, PP: 1, DCPSize: 1, PCPSize: 1,
		Conc: []int{1}, EP: 1, SpecDecoding: "none", ExpName: "dsr1_8k1k", RunEval: &yes}
	recipe := *single
	recipe.RecipeFingerprint = "a0b83a5b8efc84ac94f3f1681b70aa1b31298d01b41105148fb190e120468aa6"
	multi := &inferencex.Job{MultiNode: true, Precision: "fp8", Framework: "dynamo-trt", ExpName: "kimik2.5_8k1k", SpecDecoding: "mtp",
		Disagg: true, Conc: []int{64, 128, 256},
		Prefill: &inferencex.Worker{NumWorker: 3, TP: 4, EP: 4, DPAttn: true, PP: 1, DCPSize: 1, PCPSize: 1},
		Decode:  &inferencex.Worker{NumWorker: 1, TP: 16, EP: 16, PP: 1, DCPSize: 1, PCPSize: 1}}
	multiRecipe := *multi
	multiRecipe.RecipeFingerprint = "0123456789abcdef0123"
	for _, c := range []struct {
		j    *inferencex.Job
		want string
	}{
		{single, "dsr1_8k1k_fp4_sglang_tp4-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc1_b200-cw_00"},
		{&recipe, "dsr1_8k1k_fp4_sglang_tp4-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc1_b200-cw_00_recipe-a0b83a5b8efc84ac"},
		{multi, "kimik2.5_8k1k_fp8_dynamo-trt_prefill-tp4-pp1-dcp1-pcp1-ep4-dptrue-nw3_decode-tp16-pp1-dcp1-pcp1-ep16-dpfalse-nw1" +
			"_disagg-true_spec-mtp_conc64x128x256_b200-cw_00"},
		{&multiRecipe, "kimik2.5_8k1k_fp8_dynamo-trt_prefill-tp4-pp1-dcp1-pcp1-ep4-dptrue-nw3_decode-tp16-pp1-dcp1-pcp1-ep16-dpfalse-nw1" +
			"_disagg-true_spec-mtp_conc64x128x256_b200-cw_00_recipe-0123456789abcdef"},
	} {
		if got := ResultFilename(c.j, "b200-cw_00"); got != c.want {
			t.Errorf("ResultFilename = %s\nwant            %s", got, c.want)
		}
	}
}

func TestParseMultiNodeStem(t *testing.T) {
	base := "dsr1_8k1k_fp8_dynamo-sglang_prefill-tp8-pp1-dcp1-pcp1-ep1-dpfalse-nw1_decode-tp8-pp1-dcp1-pcp1-ep1-dpfalse-nw1" +
		"_disagg-true_spec-none_conc4x8_gb200-nv_0"
	for _, c := range []struct {
		stem           string
		gpus, ctx, gen int
		ok             bool
	}{
		{base + "_sglang_isl_8192_osl_1024_conc8_gpus_24_ctx_8_gen_16.json", 24, 8, 16, true},
		{base + "_sglang_isl_8192_osl_1024_conc8_gpus_24_ctx_8_gen_16", 24, 8, 16, true},
		{base + "_concurrency_4_req_rate_inf_gpus_16_ctx_8_gen_8", 16, 8, 8, true},
		{base + "_sglang_isl_8192_osl_1024_conc4_gpus_8", 8, 8, 0, true}, // aggregated: all prefill
		{base + "_conc4_gpus_8_ctx_8", 8, 8, 0, true},                    // gen missing: all prefill
		{base + "_conc4", 0, 0, 0, false},
	} {
		g, p, d, ok := ParseMultiNodeStem(c.stem)
		if g != c.gpus || p != c.ctx || d != c.gen || ok != c.ok {
			t.Errorf("ParseMultiNodeStem(...%s) = %d %d %d %v, want %d %d %d %v", c.stem[len(base):], g, p, d, ok, c.gpus, c.ctx, c.gen, c.ok)
		}
	}
}

func TestParamsFor(t *testing.T) {
	single := &inferencex.Job{Image: "img", ModelPrefix: "gptoss", Precision: "fp4", Framework: "vllm", Runner: "h200", ISL: 1024, OSL: 8192,
		TP: 8, PP: 1, DCPSize: 1, PCPSize: 1, EP: 8, DPAttn: true, Conc: []int{16}, SpecDecoding: "none", ExpName: "gptoss_1k8k",
		Router: &inferencex.Component{Name: "vllm-router", Version: "0.1"}, RecipeFingerprint: "ff"}
	p := ParamsFor(single, "h200-nb_1")
	want := Params{RunnerType: "h200", Framework: "vllm", Precision: "fp4", SpecDecoding: "none",
		ResultFilename: "gptoss_1k8k_fp4_vllm_tp8-pp1-dcp1-pcp1-ep8-dpatrue_disagg-false_spec-none_conc16_h200-nb_1_recipe-ff",
		ISL:            1024, OSL: 8192, ModelPrefix: "gptoss", Image: "img", RecipeFingerprint: "ff",
		RouterMetadata: `{"name":"vllm-router","version":"0.1"}`, TP: 8, EP: 8, DPAttention: "true", PP: 1, DCP: 1, PCP: 1}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("ParamsFor single\n%+v\nwant\n%+v", p, want)
	}
	multi := &inferencex.Job{MultiNode: true, Runner: "gb200", Framework: "dynamo-sglang", Precision: "fp8", ExpName: "dsr1_8k1k",
		ISL: 8192, OSL: 1024, Disagg: true, SpecDecoding: "none", Conc: []int{4, 8}, KVP2PTransfer: "nixl",
		Prefill: &inferencex.Worker{NumWorker: 2, TP: 4, EP: 4, DPAttn: true, PP: 1, DCPSize: 1, PCPSize: 1, Hardware: "gb200"},
		Decode:  &inferencex.Worker{NumWorker: 1, TP: 8, EP: 8, PP: 1, DCPSize: 1, PCPSize: 1, Hardware: "gb300"}}
	p = ParamsFor(multi, "gb200-nv_0")
	if !p.IsMultinode || !p.Disagg || p.PrefillGPUs != 8 || p.DecodeGPUs != 8 || p.KVP2PTransfer != "nixl" ||
		p.Prefill != (Role{TP: 4, PP: 1, DCP: 1, PCP: 1, EP: 4, DPAttention: "true", NumWorkers: 2}) ||
		p.Decode != (Role{TP: 8, PP: 1, DCP: 1, PCP: 1, EP: 8, DPAttention: "false", NumWorkers: 1}) ||
		p.PrefillHW != "gb200" || p.DecodeHW != "gb300" || p.GPUs() != 16 || p.TP != 0 {
		t.Errorf("ParamsFor multi = %+v", p)
	}
}
