package plan

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/inferencex"
)

func ptr[T any](v T) *T { return &v }

// ixRow is a single-node fixed-length generator row.
func ixRow(key, runner string, tp, conc int, spec string) *inferencex.Job {
	return &inferencex.Job{Key: key, Image: "img", Model: "org/m", ModelPrefix: "dsr1", Precision: "fp8", Framework: "sglang",
		Runner: runner, ISL: 8192, OSL: 1024, TP: tp, PP: 1, DCPSize: 1, PCPSize: 1, EP: 1, SpecDecoding: spec,
		Conc: []int{conc}, MaxModelLen: 9472, ExpName: "dsr1_8k1k", RunEval: ptr(false)}
}

func TestFromInferenceXDerivesFleetFieldsAndUniqueIDs(t *testing.T) {
	multi := &inferencex.Job{Key: "dsr1-fp4-gb200-dynamo-trt", MultiNode: true, ModelPrefix: "dsr1", Runner: "gb200", ISL: 8192, OSL: 1024,
		SpecDecoding: "mtp", Conc: []int{4, 8, 24}, ExpName: "dsr1_8k1k", Disagg: true,
		Prefill: &inferencex.Worker{NumWorker: 1, TP: 4, EP: 4, DPAttn: true, PP: 1, DCPSize: 1, PCPSize: 1},
		Decode:  &inferencex.Worker{NumWorker: 4, TP: 8, EP: 8, PP: 1, DCPSize: 1, PCPSize: 1}}
	agentic := &inferencex.Job{Key: "dsv4-fp4-b200-sglang-agentic", ModelPrefix: "dsv4", Runner: "cluster:b200-dgxc", TP: 8, PP: 1, DCPSize: 1, PCPSize: 1, EP: 1,
		SpecDecoding: "none", Conc: []int{4}, ScenarioType: inferencex.AgenticCoding, KVOffloading: "dram",
		KVOffloadBackend: &inferencex.Component{Name: "lm cache"}}
	dcp := ixRow("k", "h200", 8, 4, "none")
	dcp.DCPSize, dcp.PP = 2, 2
	evalOnly := ixRow("k", "h200", 8, 64, "none")
	evalOnly.EvalOnly = ptr(true)
	rows := []*inferencex.Job{
		ixRow("k", "h200", 8, 4, "none"), ixRow("k", "h200", 8, 4, "mtp"), ixRow("k", "h200", 8, 4, "none"),
		dcp, evalOnly, multi, agentic,
	}
	odd := ixRow("k", "h200", 4, 2, "none")
	odd.ISL, odd.OSL = 256, 32
	rows = append(rows, odd)
	jobs := FromInferenceX(rows, config.DefaultClient())
	want := []string{
		"k_8k1k_tp8-ep1-dpafalse_conc4",
		"k_8k1k_tp8-ep1-dpafalse-spec-mtp_conc4",
		"k_8k1k_tp8-ep1-dpafalse_conc4_2",
		"k_8k1k_tp8-ep1-pp2-dcp2-dpafalse_conc4",
		"k_8k1k_tp8-ep1-dpafalse_conc64_eval",
		"dsr1-fp4-gb200-dynamo-trt_8k1k_p1xtp4-ep4-dpatrue-d4xtp8-ep8-dpafalse-spec-mtp_conc4x8x24",
		"dsv4-fp4-b200-sglang-agentic_agentic_tp8-ep1-dpafalse-kvdram-lm-cache_conc4",
		"k_256-32_tp4-ep1-dpafalse_conc2",
	}
	for i, j := range jobs {
		if j.ID != want[i] {
			t.Errorf("job %d: id %q, want %q", i, j.ID, want[i])
		}
		if j.InferenceX != rows[i] || j.Config != rows[i].Key {
			t.Errorf("job %d does not carry its row", i)
		}
	}
	j := jobs[1]
	if j.Spec != "mtp" || j.Conc != 4 || j.NumPrompts != 40 || j.NumWarmups != 8 || j.RangeRatio != 0.8 || j.Seq != "8k1k" || j.MaxModelLen != 9472 {
		t.Errorf("fleet fields of a single-node row: %+v", j)
	}
	if m := jobs[5]; m.TP != 8 || m.EP != 8 || m.Conc != 4 || m.Runner[0] != "gb200" {
		t.Errorf("a multi-node job shows its decode role and first concurrency: %+v", m)
	}
	for _, j := range jobs {
		if strings.ContainsAny(j.ID, "/ ") {
			t.Errorf("id %q is not one directory name", j.ID)
		}
	}
}

func TestInferenceXRunnerLabelsSelectMachinesByLabelThenGPU(t *testing.T) {
	inv, _ := load(t, "testdata/inv.hcl", "../../sweeps/demo.hcl")
	ms := inv.Machines()
	names := func(label string) []string {
		sel := ixRunnerSelects(label, ms)
		var out []string
		for _, m := range ms {
			if sel(m) {
				out = append(out, m.Name)
			}
		}
		return out
	}
	tests := []struct {
		label string
		want  string
	}{
		{"half", "c"},              // a label some machine carries: only those
		{"h200", "a,b,c"},          // a GPU type
		{"h200-nb", "a,b,c"},       // no machine has the label: its GPU type
		{"cluster:b200-dgxc", "s"}, // the cluster: prefix is not part of the GPU
		{"mi355x-amds", ""},        // nothing of that kind
		{"h100-dgxc-slurm", "p"},   // GPU type up to the first '-'
	}
	for _, tt := range tests {
		if got := strings.Join(names(tt.label), ","); got != tt.want {
			t.Errorf("%s selects %q, want %q", tt.label, got, tt.want)
		}
	}
}

func TestPlaceReportsInferenceXJobsItCannotRun(t *testing.T) {
	inv, _ := load(t, "testdata/inv.hcl", "../../sweeps/demo.hcl")
	multi := &inferencex.Job{Key: "m", MultiNode: true, Runner: "h200", Framework: "atom-disagg", Conc: []int{4},
		Prefill: &inferencex.Worker{NumWorker: 1, TP: 8, PP: 1, PCPSize: 1}, Decode: &inferencex.Worker{NumWorker: 1, TP: 8, PP: 1, PCPSize: 1}}
	// A single-node agentic row runs; a multi-node one does not.
	agentic := ixRow("a", "h200", 8, 4, "none")
	agentic.ScenarioType = inferencex.AgenticCoding
	multiAgentic := &inferencex.Job{Key: "ma", MultiNode: true, Runner: "h200", Framework: "dynamo-sglang", Conc: []int{4},
		ScenarioType: inferencex.AgenticCoding, KVOffloading: "none",
		Prefill: &inferencex.Worker{NumWorker: 1, TP: 8, PP: 1, PCPSize: 1}, Decode: &inferencex.Worker{NumWorker: 0, PP: 1, PCPSize: 1}}
	rows := []*inferencex.Job{ixRow("ok", "h200-nb", 8, 4, "none"), ixRow("amd", "mi355x-amds", 8, 4, "none"),
		ixRow("big", "h100", 16, 4, "none"), multi, agentic, multiAgentic}
	jobs := FromInferenceX(rows, config.DefaultClient())
	p, err := Place(jobs, inv, Options{})
	if err != nil {
		t.Fatalf("InferenceX jobs no machine takes are reported, not an error: %v", err)
	}
	if len(p.Jobs) != 2 || p.Jobs[0].Config != "ok" || p.Jobs[0].GPU != "h200" || p.Jobs[1].Config != "a" || p.Jobs[1].Agentic == nil {
		t.Fatalf("placed %v", p.Jobs)
	}
	wantWhy := map[string]string{
		"amd": "no machine in the inventory for runner mi355x-amds", "big": "no machine for runner h100 has 16 GPUs",
		"m":  "multi-node framework atom-disagg: fleet launches multi-node roles of dynamo-sglang, dynamo-trt, dynamo-vllm, sglang-disagg, vllm-disagg only",
		"ma": "multi-node agentic trace-replay row",
	}
	if len(p.Unplaced) != len(wantWhy) {
		t.Fatalf("unplaced %d, want %d", len(p.Unplaced), len(wantWhy))
	}
	for _, j := range p.Unplaced {
		if !strings.Contains(j.Why, wantWhy[j.Config]) {
			t.Errorf("%s: why %q, want it to say %q", j.Config, j.Why, wantWhy[j.Config])
		}
	}
}

func TestFiltersOnSpecRunnerAndConcLists(t *testing.T) {
	multi := &inferencex.Job{Key: "m", MultiNode: true, Runner: "gb200", Conc: []int{4, 48}, SpecDecoding: "mtp",
		Prefill: &inferencex.Worker{NumWorker: 1, TP: 4}, Decode: &inferencex.Worker{NumWorker: 1, TP: 8}}
	jobs := FromInferenceX([]*inferencex.Job{ixRow("a", "h200-nb", 8, 4, "none"), ixRow("b", "b200", 8, 4, "mtp"), multi}, config.DefaultClient())
	tests := []struct {
		only []string
		want string
	}{
		{[]string{"spec=mtp"}, "b,m"},
		{[]string{"spec=none"}, "a"},
		{[]string{"runner=h200*"}, "a"},
		{[]string{"conc=48"}, "m"},
		{[]string{"conc=4", "spec=mtp"}, "b,m"},
	}
	for _, tt := range tests {
		f := mustFilters(t, tt.only...)
		var got []string
		for _, j := range jobs {
			if f.Match(j) {
				got = append(got, j.Config)
			}
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("--only %v: %v, want %s", tt.only, got, tt.want)
		}
	}
}

// ixMulti is a multi-node disaggregated generator row.
func ixMulti(key, framework, runner string, p, d *inferencex.Worker) *inferencex.Job {
	return &inferencex.Job{Key: key, MultiNode: true, Image: "img", Model: "org/m", ModelPrefix: "dsr1", Precision: "fp4", Framework: framework,
		Runner: runner, ISL: 1024, OSL: 1024, SpecDecoding: "none", Conc: []int{8, 64}, ExpName: "dsr1_1k1k", Disagg: d != nil && d.NumWorker > 0,
		Prefill: p, Decode: d, KVP2PTransfer: "nixl"}
}

func worker(n, tp, ep int, dpa bool) *inferencex.Worker {
	return &inferencex.Worker{NumWorker: n, TP: tp, EP: ep, DPAttn: dpa, PP: 1, DCPSize: 1, PCPSize: 1}
}

func TestInferenceXMultiNodeRows(t *testing.T) {
	inv, _ := load(t, "testdata/inv.hcl", "../../sweeps/demo.hcl")
	pcp := worker(1, 4, 1, false)
	pcp.PCPSize = 2
	tests := []struct {
		name  string
		row   *inferencex.Job
		why   string   // unplaced when set
		fw    string   // the launcher
		shape string   // the job's shape, %+v
		cands []string // candidates when placed
		group []string // planned nodes of a node group
	}{
		{
			name:  "dynamo on two h200 nodes",
			row:   ixMulti("dyn", "dynamo-vllm", "h200", worker(1, 8, 1, false), worker(1, 8, 8, true)),
			fw:    "dynamo-vllm",
			shape: "{Prefill:{Workers:1 TP:8 EP:1 PP:1 DPAttn:false Nodes:0} Decode:{Workers:1 TP:8 EP:8 PP:1 DPAttn:true Nodes:0} Router:{Policy:} KVTransfer:nixl Infra:true}",
			cands: []string{"a", "b"},
			group: []string{"a", "b"},
		},
		{
			name:  "sglang-disagg runs on fleet's sglang, on the b200 cluster",
			row:   ixMulti("sgl", "sglang-disagg", "b200", worker(1, 8, 8, true), worker(1, 8, 1, false)),
			fw:    "sglang",
			shape: "{Prefill:{Workers:1 TP:8 EP:8 PP:1 DPAttn:true Nodes:0} Decode:{Workers:1 TP:8 EP:1 PP:1 DPAttn:false Nodes:0} Router:{Policy:} KVTransfer:nixl Infra:false}",
			cands: []string{"s"},
		},
		{
			name:  "aggregated: no KV transfer",
			row:   ixMulti("agg", "vllm-disagg", "h200", worker(2, 8, 1, false), worker(0, 8, 1, false)),
			fw:    "vllm",
			shape: "{Prefill:{Workers:2 TP:8 EP:1 PP:1 DPAttn:false Nodes:0} Decode:{Workers:0 TP:0 EP:0 PP:0 DPAttn:false Nodes:0} Router:{Policy:} KVTransfer: Infra:false}",
			cands: []string{"a", "b"},
			group: []string{"a", "b"},
		},
		{
			name: "three nodes of 8 where two exist",
			row:  ixMulti("big", "dynamo-trt", "h200", worker(2, 8, 1, false), worker(1, 8, 1, false)),
			why:  "multi-node job of 24 GPUs: needs 3 nodes of 8 h200 GPUs, the runner selects 2 (a, b); needs 6 nodes of 4 h200 GPUs, the runner selects 1 (c)",
		},
		{
			name: "three nodes where the cluster runs two",
			row:  ixMulti("big", "dynamo-trt", "b200", worker(2, 8, 1, false), worker(1, 8, 1, false)),
			why:  "multi-node job of 24 GPUs: cluster s: needs 3 nodes of 8 GPUs, max_nodes is 2",
		},
		{
			name: "context parallelism",
			row:  ixMulti("pcp", "dynamo-trt", "h200", pcp, worker(1, 8, 1, false)),
			why:  "prefill pcp-size 2: context-parallel ranks multiply a worker's GPUs",
		},
		{
			name: "no launcher for the framework",
			row:  ixMulti("atom", "atom-disagg", "h200", worker(1, 8, 1, false), worker(1, 8, 1, false)),
			why:  "multi-node framework atom-disagg",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs := FromInferenceX([]*inferencex.Job{tt.row}, config.DefaultClient())
			p, err := Place(jobs, inv, Options{})
			if err != nil {
				t.Fatal(err)
			}
			j := jobs[0]
			if tt.why != "" {
				if len(p.Unplaced) != 1 || !strings.Contains(j.Why, tt.why) {
					t.Fatalf("why %q (unplaced %d), want it to say %q", j.Why, len(p.Unplaced), tt.why)
				}
				return
			}
			if len(p.Jobs) != 1 {
				t.Fatalf("not placed: %s", j.Why)
			}
			if j.Framework != tt.fw || j.Multi == nil || fmt.Sprintf("%+v", *j.Multi) != tt.shape {
				t.Errorf("framework %s, shape %+v; want %s, %s", j.Framework, j.Multi, tt.fw, tt.shape)
			}
			if !reflect.DeepEqual(j.ConcList, []int{8, 64}) || j.Conc != 8 || j.GPUs() != tt.row.GPUs() {
				t.Errorf("conc %d, list %v, %d GPUs", j.Conc, j.ConcList, j.GPUs())
			}
			if !reflect.DeepEqual(j.Candidates, tt.cands) || !reflect.DeepEqual(p.Groups[j.ID], tt.group) {
				t.Errorf("candidates %v, group %v; want %v, %v", j.Candidates, p.Groups[j.ID], tt.cands, tt.group)
			}
			// The result name is InferenceX's, which ixresult reads back.
			want := "dsr1_1k1k_fp4_" + tt.row.Framework + "_prefill-"
			if name := ResultName(j, j.Node); !strings.HasPrefix(name, want) || !strings.HasSuffix(name, "_conc8x64_"+j.Node) {
				t.Errorf("result name %s", name)
			}
		})
	}
}
