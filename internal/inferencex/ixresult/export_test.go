package ixresult

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
)

func TestWriteRowsFillsProcessResultKeys(t *testing.T) {
	// A row of fleet's own run: none of InferenceX's newer keys.
	r, err := results.Aggregate(results.Meta{HW: "h200", TP: 8, EP: 1, DPAttn: true, Model: "m", Framework: "vllm", Precision: "fp8",
		ISL: 1024, OSL: 1024, Image: "img", RunID: "run1", JobID: "job1", Node: "n1"},
		[]byte(`{"max_concurrency":4,"completed":40,"failed":0,"total_token_throughput":8000,"output_throughput":4000,
		"mean_ttft_ms":100,"p99_ttft_ms":300,"p90_ttft_ms":200,"mean_tpot_ms":20,"p99.9_tpot_ms":50,"median_e2el_ms":9000}`))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteRows(&b, []*results.Row{r}); err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "hw": "h200",
    "conc": 4,
    "image": "img",
    "model": "m",
    "infmax_model_prefix": "",
    "framework": "vllm",
    "precision": "fp8",
    "spec_decoding": "none",
    "disagg": false,
    "recipe_fingerprint": "",
    "isl": 1024,
    "osl": 1024,
    "is_multinode": false,
    "tp": 8,
    "pp": 1,
    "dcp_size": 1,
    "pcp_size": 1,
    "ep": 1,
    "dp_attention": "true",
    "tput_per_gpu": 1000.0,
    "output_tput_per_gpu": 500.0,
    "input_tput_per_gpu": 500.0,
    "mean_ttft": 0.1,
    "p90_ttft": 0.2,
    "p99_ttft": 0.3,
    "mean_tpot": 0.02,
    "mean_intvty": 50.0,
    "p99.9_tpot": 0.05,
    "p99.9_intvty": 20.0,
    "median_e2el": 9.0,
    "power_metric_schema_version": 2,
    "power_valid": 0
  }
]
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteRows(&b, nil); err != nil || b.String() != "[]\n" {
		t.Errorf("no rows: %q, %v", b.String(), err)
	}
}

func TestReadRowMultiNodeParallelism(t *testing.T) {
	row := func(decodeGPUs string) string {
		return `{"hw":"gb200","conc":8,"model":"m","is_multinode":true,"prefill_tp":4,"prefill_ep":4,"prefill_dp_attention":"true",
			"decode_tp":16,"decode_ep":8,"decode_dp_attention":"false","num_prefill_gpu":8,"num_decode_gpu":` + decodeGPUs + `,
			"tput_per_gpu":1,"output_tput_per_gpu":1,"input_tput_per_gpu":1}`
	}
	for _, c := range []struct {
		in     string
		tp, ep int
		dpa    bool
	}{
		{row("16"), 16, 8, false},
		{row("0"), 4, 4, true},
		{strings.Replace(row("16"), `"hw"`, `"tp":2,"ep":2,"hw"`, 1), 2, 2, false}, // a tp of its own stays
		{`{"hw":"h200","tp":8,"ep":1,"dp_attention":"true","conc":1,"tput_per_gpu":1,"output_tput_per_gpu":1,"input_tput_per_gpu":1}`, 8, 1, true},
	} {
		r, err := ReadRow([]byte(c.in))
		if err != nil {
			t.Fatal(err)
		}
		if r.TP != c.tp || r.EP != c.ep || r.DPAttention != c.dpa {
			t.Errorf("%s: tp %d ep %d dpa %v, want %d %d %v", c.in, r.TP, r.EP, r.DPAttention, c.tp, c.ep, c.dpa)
		}
	}
}

func TestParseName(t *testing.T) {
	multiBase := "dsr1_8k1k_fp8_dynamo-sglang_prefill-tp4-pp1-dcp1-pcp1-ep4-dptrue-nw2_decode-tp8-pp1-dcp1-pcp1-ep8-dpfalse-nw1" +
		"_disagg-true_spec-none_conc4x8_gb200-nv_0"
	prefill := Role{TP: 4, PP: 1, DCP: 1, PCP: 1, EP: 4, DPAttention: "true", NumWorkers: 2}
	decode := Role{TP: 8, PP: 1, DCP: 1, PCP: 1, EP: 8, DPAttention: "false", NumWorkers: 1}
	for _, c := range []struct {
		stem string
		want Name
		ok   bool
	}{
		{"dsr1_8k1k_fp4_sglang_tp4-pp2-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-mtp_conc16_b200-cw_00.json", Name{ExpName: "dsr1_8k1k",
			ModelPrefix: "dsr1", Seq: "8k1k", Precision: "fp4", Framework: "sglang", TP: 4, PP: 2, DCP: 1, PCP: 1, EP: 1, Spec: "mtp",
			Conc: 16, Runner: "b200-cw_00"}, true},
		{"kimik2.5_1k1k_fp8_vllm_tp8-pp1-dcp1-pcp1-ep8-dpatrue_disagg-false_spec-none_conc4_mi355x-amds_3_recipe-a0b83a5b8efc84ac",
			Name{ExpName: "kimik2.5_1k1k", ModelPrefix: "kimik2.5", Seq: "1k1k", Precision: "fp8", Framework: "vllm", TP: 8, PP: 1, DCP: 1,
				PCP: 1, EP: 8, DPAttn: true, Spec: "none", Conc: 4, Runner: "mi355x-amds_3", Recipe: "a0b83a5b8efc84ac"}, true},
		{multiBase + "_sglang_isl_8192_osl_1024_conc8_gpus_24_ctx_8_gen_16", Name{ExpName: "dsr1_8k1k", ModelPrefix: "dsr1", Seq: "8k1k",
			Precision: "fp8", Framework: "dynamo-sglang", MultiNode: true, Prefill: prefill, Decode: decode, PrefillGPUs: 8, DecodeGPUs: 16,
			Disagg: true, Spec: "none", Conc: 8, Runner: "gb200-nv_0"}, true},
		{multiBase + "_recipe-0123456789abcdef_concurrency_4_req_rate_inf_gpus_16_ctx_8_gen_8", Name{ExpName: "dsr1_8k1k", ModelPrefix: "dsr1",
			Seq: "8k1k", Precision: "fp8", Framework: "dynamo-sglang", MultiNode: true, Prefill: prefill, Decode: decode, PrefillGPUs: 8,
			DecodeGPUs: 8, Disagg: true, Spec: "none", Conc: 4, Runner: "gb200-nv_0", Recipe: "0123456789abcdef"}, true},
		{multiBase, Name{}, false}, // the base name is no client file
		{"dsr1_1k1k_fp8_vllm_tp8-ep1-dpafalse_conc16_b200-nb_1", Name{}, false}, // InferenceMAX's old names are results'
	} {
		got, ok := ParseName(c.stem)
		if ok != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseName(%s)\n= %+v, %v\nwant %+v, %v", c.stem, got, ok, c.want, c.ok)
		}
	}
}
