package plan

import (
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
	multi := &inferencex.Job{Key: "m", MultiNode: true, Runner: "h200", Conc: []int{4},
		Prefill: &inferencex.Worker{NumWorker: 1, TP: 8, PP: 1, PCPSize: 1}, Decode: &inferencex.Worker{NumWorker: 1, TP: 8, PP: 1, PCPSize: 1}}
	agentic := ixRow("a", "h200", 8, 4, "none")
	agentic.ScenarioType = inferencex.AgenticCoding
	rows := []*inferencex.Job{ixRow("ok", "h200-nb", 8, 4, "none"), ixRow("amd", "mi355x-amds", 8, 4, "none"),
		ixRow("big", "h100", 16, 4, "none"), multi, agentic}
	jobs := FromInferenceX(rows, config.DefaultClient())
	p, err := Place(jobs, inv, Options{})
	if err != nil {
		t.Fatalf("InferenceX jobs no machine takes are reported, not an error: %v", err)
	}
	if len(p.Jobs) != 1 || p.Jobs[0].Config != "ok" || p.Jobs[0].GPU != "h200" {
		t.Fatalf("placed %v", p.Jobs)
	}
	wantWhy := map[string]string{
		"amd": "no machine in the inventory for runner mi355x-amds", "big": "no machine for runner h100 has 16 GPUs",
		"m": "multi-node job (16 GPUs", "a": "agentic trace-replay row",
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
