package plan

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/inferencex"
	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
)

func TestExpandAgentic(t *testing.T) {
	_, sw := load(t, "testdata/inv.hcl", "testdata/agentic/sweep.hcl")
	jobs := Expand(sw)
	abs, err := filepath.Abs("testdata/agentic/traces.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(filepath.Dir(sw.Path), "traces.jsonl")
	if p, _ := filepath.Abs(trace); p != abs {
		t.Fatalf("trace resolves to %s, want %s", p, abs)
	}
	none := AgenticSpec{Trace: trace, DurationS: 1800, WarmupPerLane: 10, KVOffloading: "none"}
	hicache := none
	hicache.KVOffloading, hicache.KVOffloadBackend, hicache.DramGB = "dram", "hicache", 100
	pd := AgenticSpec{Dataset: "semianalysisai/cc-traces-weka-062126-256k", DurationS: 3600, BlockSize: 32, WarmupPerLane: 2,
		KVOffloading: "dram", KVOffloadBackend: "native", DramGB: 50}
	want := []struct {
		id, result string
		conc       int
		spec       AgenticSpec
	}{
		{"cc-h200-sglang_agentic_tp8-ep1-dpafalse-agentic-kvnone_conc4",
			"m_tp8_conc4_kvnone_fp8_sglang_tp8-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc4_a", 4, none},
		{"cc-h200-sglang_agentic_tp8-ep1-dpafalse-agentic-kvnone_conc8",
			"m_tp8_conc8_kvnone_fp8_sglang_tp8-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc8_a", 8, none},
		{"cc-h200-sglang_agentic_tp8-ep1-dpafalse-agentic-kvdram-hicache-100gb_conc4",
			"m_tp8_conc4_kvdram-hicache_fp8_sglang_tp8-pp1-dcp1-pcp1-ep1-dpafalse_disagg-false_spec-none_conc4_a", 4, hicache},
		{"cc-b200-pd_cc_p1xtp4-ep1-dpafalse-d1xtp4-ep1-dpafalse-agentic-kvdram-native-50gb_conc2",
			"m_p1x4_d1x4_conc2_kvdram-native_fp8_sim_prefill-tp4-pp1-dcp1-pcp1-ep1-dpfalse-nw1_decode-tp4-pp1-dcp1-pcp1-ep1-dpfalse-nw1_disagg-true_spec-none_conc2_a", 2, pd},
		{"cc-b200-pd_cc_p1xtp4-ep1-dpafalse-d1xtp4-ep1-dpafalse-agentic-kvdram-native-50gb_conc4",
			"m_p1x4_d1x4_conc4_kvdram-native_fp8_sim_prefill-tp4-pp1-dcp1-pcp1-ep1-dpfalse-nw1_decode-tp4-pp1-dcp1-pcp1-ep1-dpfalse-nw1_disagg-true_spec-none_conc4_a", 4, pd},
	}
	if len(jobs) != len(want) {
		t.Fatalf("%d jobs, want %d", len(jobs), len(want))
	}
	for i, w := range want {
		j := jobs[i]
		if j.ID != w.id {
			t.Errorf("job %d: id\n got %s\nwant %s", i, j.ID, w.id)
		}
		if got := ResultName(j, "a"); got != w.result {
			t.Errorf("job %d: result name\n got %s\nwant %s", i, got, w.result)
		}
		if j.Agentic == nil || !reflect.DeepEqual(*j.Agentic, w.spec) {
			t.Errorf("job %d: agentic %+v, want %+v", i, j.Agentic, w.spec)
		}
		if j.Conc != w.conc || j.MaxModelLen != 0 || j.NumPrompts != 0 || j.ISL != 0 {
			t.Errorf("job %d: conc %d max-model-len %d prompts %d isl %d; want conc %d and no cap, prompts or isl", i, j.Conc, j.MaxModelLen, j.NumPrompts, j.ISL, w.conc)
		}
		if got, want := Estimate(j), serverStart(j.Framework)+time.Duration(w.spec.DurationS)*time.Second; got != want {
			t.Errorf("job %d: estimate %s, want start + duration %s", i, got, want)
		}
		if j.Multi != nil && !reflect.DeepEqual(j.ConcList, []int{w.conc}) {
			t.Errorf("job %d: a multi-node agentic job runs one concurrency, not %v", i, j.ConcList)
		}
	}
	// InferenceX's name parser reads the single-node names back.
	if n, ok := ixresult.ParseName(ResultName(jobs[2], "a")); !ok || n.TP != 8 || n.Conc != 4 || n.Framework != "sglang" {
		t.Errorf("ParseName of an agentic result name: %+v %v", n, ok)
	}
}

func TestAgenticEnv(t *testing.T) {
	a := &AgenticSpec{Dataset: "o/d", DurationS: 900, WarmupPerLane: 10, BlockSize: 64, KVOffloading: "dram", KVOffloadBackend: "lmcache", DramGB: 200}
	want := map[string]string{"AGENTIC": "true", "KV_OFFLOADING": "dram", "KV_OFFLOAD_BACKEND": "lmcache", "TOTAL_CPU_DRAM_GB": "200",
		"DURATION": "900", "AGENTIC_WARMUP_PER_LANE": "10", "AGENTIC_DATASET": "o/d", "AGENTIC_BLOCK_SIZE": "64"}
	if got := a.Env(); !reflect.DeepEqual(got, want) {
		t.Errorf("Env\n got %v\nwant %v", got, want)
	}
	b := &AgenticSpec{Trace: "/t", DurationS: 60}
	if got := b.Env(); got["KV_OFFLOADING"] != "none" || got["KV_OFFLOAD_BACKEND"] != "" || got["TOTAL_CPU_DRAM_GB"] != "0" || got["AGENTIC_DATASET"] != "" {
		t.Errorf("Env of a trace without offload: %v", got)
	}
}

func TestFromInferenceXAgenticRows(t *testing.T) {
	row := func(prefix, mode string, backend *inferencex.Component, gb int) *inferencex.Job {
		return &inferencex.Job{Key: prefix + "-agentic", ModelPrefix: prefix, Precision: "fp4", Framework: "sglang", Runner: "cluster:b200-dgxc",
			TP: 8, PP: 1, DCPSize: 1, PCPSize: 1, EP: 1, SpecDecoding: "none", Conc: []int{16}, ScenarioType: inferencex.AgenticCoding,
			KVOffloading: mode, KVOffloadBackend: backend, TotalCPUDramGB: gb, Duration: 3600, ExpName: prefix + "_tp8_conc16_kv" + mode}
	}
	jobs := FromInferenceX([]*inferencex.Job{
		row("dsv4", "dram", &inferencex.Component{Name: "hicache", Version: "1"}, 1199),
		row("qwen3.5", "none", nil, 0),
		row("kimik3", "none", nil, 0),
	}, config.DefaultClient())
	want := []AgenticSpec{
		{Dataset: "semianalysisai/cc-traces-weka-062126", DurationS: 3600, WarmupPerLane: 10, KVOffloading: "dram", KVOffloadBackend: "hicache", DramGB: 1199},
		{Dataset: "semianalysisai/cc-traces-weka-062126-256k", DurationS: 3600, WarmupPerLane: 10, KVOffloading: "none"},
		{Dataset: "semianalysisai/cc-traces-weka-062126", DurationS: 3600, WarmupPerLane: 10, KVOffloading: "none"},
	}
	for i, j := range jobs {
		if j.Agentic == nil || !reflect.DeepEqual(*j.Agentic, want[i]) {
			t.Errorf("row %d: agentic %+v, want %+v", i, j.Agentic, want[i])
		}
		if ok, why := IXRunnable(j); !ok {
			t.Errorf("row %d: a single-node agentic row is refused: %s", i, why)
		}
		if j.NumPrompts != 0 {
			t.Errorf("row %d: %d prompts for a trace replay", i, j.NumPrompts)
		}
		// The row keeps InferenceX's own result name.
		if got, w := ResultName(j, "b200-dgxc_00"), ixresult.ResultFilename(j.InferenceX, "b200-dgxc_00"); got != w {
			t.Errorf("row %d: result %s, want %s", i, got, w)
		}
	}
}
