package plan

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
	"github.com/fleetbench/fleet/internal/topology"
)

// multiSweep is a sweep of multi-node bands, read without an inventory
// so that bands no machine takes reach placement.
func multiSweep(t *testing.T, runner, bands string) []*Job {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.hcl")
	src := `
client {
  prompts_per_conc = 4
  warmups_per_conc = 1
}
config "pd" {
  model        = "m"
  model_prefix = "sim70b"
  precision    = "fp8"
  framework    = "sim"
  runner       = ["` + runner + `"]
  scenario "1k1k" {
    isl = 1024
    osl = 1024
` + bands + `
  }
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sw, diags := config.NewLoader(nil).Sweep(path, nil)
	if diags.HasErrors() {
		t.Fatalf("sweep: %s", diags.Error())
	}
	return Expand(sw)
}

const pd1x1 = `
    search {
      kv_transfer = "nixl"
      prefill {
        workers = 1
        tp      = 8
      }
      decode {
        workers = 1
        tp      = 8
        ep      = 8
        dp_attn = true
      }
      conc = [4, 8, 16]
    }`

func TestExpandMultiNode(t *testing.T) {
	jobs := multiSweep(t, "h200", pd1x1+`
    search {
      prefill {
        workers = 2
        tp      = 4
      }
      router { policy = "session" }
      conc = [4, 8, 16]
    }
    search {
      prefill {
        workers = 1
        tp      = 8
      }
      decode {
        workers = 1
        tp      = 8
        ep      = 8
        dp_attn = true
      }
      kv_transfer = "mooncake"
      conc = [4, 8, 16]
    }`)
	want := []struct {
		id, result string
		tp, gpus   int
	}{
		{"pd_1k1k_p1xtp8-ep1-dpafalse-d1xtp8-ep8-dpatrue-kv-nixl_conc4x8x16",
			"sim70b_1k1k_fp8_sim_prefill-tp8-pp1-dcp1-pcp1-ep1-dpfalse-nw1_decode-tp8-pp1-dcp1-pcp1-ep8-dptrue-nw1_disagg-true_spec-none_conc4x8x16_n1", 8, 16},
		{"pd_1k1k_agg2xtp4-ep1-dpafalse-router-session_conc4x8x16",
			"sim70b_1k1k_fp8_sim_prefill-tp4-pp1-dcp1-pcp1-ep1-dpfalse-nw2_decode-tp0-pp0-dcp0-pcp0-ep0-dpfalse-nw0_disagg-false_spec-none_conc4x8x16_n1", 4, 8},
		{"pd_1k1k_p1xtp8-ep1-dpafalse-d1xtp8-ep8-dpatrue-kv-mooncake_conc4x8x16", "", 8, 16},
	}
	if len(jobs) != len(want) {
		t.Fatalf("%d jobs, want %d (one per multi-node band)", len(jobs), len(want))
	}
	for i, w := range want {
		j := jobs[i]
		if j.ID != w.id {
			t.Errorf("job %d: id\n got %s\nwant %s", i, j.ID, w.id)
		}
		if j.Multi == nil || !reflect.DeepEqual(j.ConcList, []int{4, 8, 16}) || j.Conc != 4 || j.NumPrompts != 16 || j.NumWarmups != 4 {
			t.Errorf("job %d: shape %v, conc %d, list %v, prompts %d+%d", i, j.Multi, j.Conc, j.ConcList, j.NumPrompts, j.NumWarmups)
		}
		if j.TP != w.tp || j.PP != 1 || j.GPUs() != w.gpus {
			t.Errorf("job %d: tp %d pp %d, %d GPUs; want the prefill pool's tp %d and %d GPUs", i, j.TP, j.PP, j.GPUs(), w.tp, w.gpus)
		}
		if w.result == "" {
			continue
		}
		name := ResultName(j, "n1")
		if name != w.result {
			t.Errorf("job %d: result name\n got %s\nwant %s", i, name, w.result)
		}
		// InferenceX's parser reads each concurrency's file of it.
		n, ok := ixresult.ParseName(name + "_conc4_gpus_16_ctx_8_gen_8")
		if !ok || !n.MultiNode || n.Prefill.NumWorkers != j.Multi.Prefill.Workers || n.Runner != "" && n.Runner != "n1" || n.Conc != 4 {
			t.Errorf("job %d: ixresult reads %s as %+v (ok %t)", i, name, n, ok)
		}
	}
	if jobs[0].Multi.Infra {
		t.Errorf("a sim job starts a discovery process")
	}
	if Estimate(jobs[0]) <= Estimate(&Job{Framework: "sim", ISL: 1024, OSL: 1024, TP: 8, PP: 1, Conc: 16, NumPrompts: 64, NumWarmups: 16}) {
		t.Errorf("a job of three concurrencies is estimated no longer than its last alone")
	}
}

func TestJobLayout(t *testing.T) {
	jobs := multiSweep(t, "h200", pd1x1)
	l, err := jobs[0].Layout(8)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := topology.Place(*jobs[0].Multi, 8)
	if !reflect.DeepEqual(l, want) || l.NodeCount() != 2 {
		t.Errorf("layout %+v", l)
	}
	if _, err := jobs[0].Layout(3); err == nil || !strings.Contains(err.Error(), jobs[0].ID) {
		t.Errorf("tp 8 on nodes of 3 GPUs: %v", err)
	}
	if _, err := job("x", "h200", 8, 4).Layout(8); err == nil {
		t.Errorf("a single-node job has a layout")
	}
}

func TestPlaceMultiNode(t *testing.T) {
	inv, _ := load(t, "testdata/inv.hcl", "../../sweeps/demo.hcl")
	tests := []struct {
		name      string
		runner    string
		bands     string
		opts      Options
		cands     []string
		node      string
		group     []string
		skipped   bool
		why       string
		loads     map[string]int // jobs per machine
		sameStart bool
	}{
		{
			name:   "a node group: the equal h200 nodes, not the half one",
			runner: "h200", bands: pd1x1,
			cands: []string{"a", "b"}, node: "a", group: []string{"a", "b"},
			loads: map[string]int{"a": 1, "b": 1},
		},
		{
			name:   "a cluster lays it out in one allocation",
			runner: "b200", bands: pd1x1,
			cands: []string{"s"}, node: "s",
			loads: map[string]int{"s": 1},
		},
		{
			name:   "a group of one node: the half node alone is too small",
			runner: "half", bands: pd1x1,
			why: "multi-node job of 16 GPUs: needs 4 nodes of 4 h200 GPUs, the runner selects 1 (c)",
		},
		{
			name:   "nothing of the runner's kind",
			runner: "mi355x", bands: pd1x1,
			why: "no machine in the inventory for runner mi355x",
		},
		{
			name:   "--node narrows a group below its size: left out, not unplaced",
			runner: "h200", bands: pd1x1, opts: Options{Node: "a"},
			skipped: true,
		},
		{
			name:   "--only gpu keeps the cluster of a runner list",
			runner: "h200\", \"b200", bands: pd1x1, opts: Options{Only: mustFilters(t, "gpu=b200")},
			cands: []string{"s"}, node: "s",
		},
		{
			name:   "an aggregated shape of one node packs its workers",
			runner: "h200",
			bands: `
    search {
      prefill {
        workers = 2
        tp      = 4
      }
      conc = [4]
    }`,
			cands: []string{"a", "b"}, node: "a", group: []string{"a"},
			loads: map[string]int{"a": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs := multiSweep(t, tt.runner, tt.bands)
			p, err := Place(jobs, inv, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			j := jobs[0]
			switch {
			case tt.skipped:
				if len(p.Skipped) != 1 {
					t.Fatalf("skipped %d, placed %d, unplaced %d", len(p.Skipped), len(p.Jobs), len(p.Unplaced))
				}
				return
			case tt.why != "":
				if len(p.Unplaced) != 1 || j.Why != tt.why {
					t.Fatalf("why %q, want %q", j.Why, tt.why)
				}
				return
			}
			if len(p.Jobs) != 1 {
				t.Fatalf("not placed: %s", j.Why)
			}
			if !reflect.DeepEqual(j.Candidates, tt.cands) || j.Node != tt.node || !reflect.DeepEqual(p.Groups[j.ID], tt.group) {
				t.Errorf("candidates %v, node %s, group %v; want %v, %s, %v", j.Candidates, j.Node, p.Groups[j.ID], tt.cands, tt.node, tt.group)
			}
			if tt.loads != nil {
				got := map[string]int{}
				var hours float64
				for _, m := range p.Machines {
					got[m.Name] = m.Jobs
					hours += m.GPUHours
				}
				if !reflect.DeepEqual(got, tt.loads) {
					t.Errorf("machine loads %v, want %v", got, tt.loads)
				}
				if d := hours - GPUHours(j); d > 1e-9 || d < -1e-9 {
					t.Errorf("machines hold %.6f GPU hours, the job %.6f", hours, GPUHours(j))
				}
			}
		})
	}
}

// Two multi-node jobs on a group of two nodes run one after the other;
// on a cluster of two lanes, a job of two nodes waits for both.
func TestPlaceMultiNodeQueues(t *testing.T) {
	inv, _ := load(t, "testdata/inv.hcl", "../../sweeps/demo.hcl")
	for _, runner := range []string{"h200", "b200"} {
		jobs := multiSweep(t, runner, pd1x1+strings.Replace(pd1x1, "[4, 8, 16]", "[32]", 1))
		p, err := Place(jobs, inv, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if want := addSat(Estimate(jobs[0]), Estimate(jobs[1])); p.Makespan != want {
			t.Errorf("%s: makespan %s, want the two jobs in sequence, %s", runner, p.Makespan, want)
		}
		var busy time.Duration
		for _, m := range p.Machines {
			busy = max(busy, m.Busy)
		}
		if busy != p.Makespan {
			t.Errorf("%s: machines busy until %s, makespan %s", runner, busy, p.Makespan)
		}
	}
}

func TestFiltersOnMultiNodeJobs(t *testing.T) {
	pd := strings.Replace(strings.Replace(pd1x1, "tp      = 8\n      }\n      decode", "tp      = 4\n      }\n      decode", 1), "ep      = 8", "ep      = 2", 1)
	j := multiSweep(t, "h200", pd)[0]
	tests := []struct {
		only string
		want bool
	}{
		{"tp=4", true},  // the prefill pool's
		{"tp=8", true},  // the decode pool's
		{"tp=2", false}, // neither
		{"ep=2", true},
		{"conc=16", true}, // any of the list
		{"conc=32", false},
	}
	for _, tt := range tests {
		if got := mustFilters(t, tt.only).Match(j); got != tt.want {
			t.Errorf("--only %s matches %s: %t, want %t", tt.only, j.ID, got, tt.want)
		}
	}
}
