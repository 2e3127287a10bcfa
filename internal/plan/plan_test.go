package plan

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/config"
)

func load(t testing.TB, invPath, sweepPath string) (*config.Inventory, *config.Sweep) {
	t.Helper()
	l := config.NewLoader(nil)
	inv, diags := l.Inventory(invPath, true)
	if len(diags) > 0 {
		t.Fatalf("inventory: %s", diags.Error())
	}
	sw, diags := l.Sweep(sweepPath, inv)
	if len(diags) > 0 {
		t.Fatalf("sweep: %s", diags.Error())
	}
	return inv, sw
}

// fullJobs expands testdata/matrix.hcl, a frozen matrix whose job counts
// the tests below know by hand.
func fullJobs(t testing.TB) (*config.Inventory, []*Job) {
	inv, sw := load(t, "../../inventory.hcl", "testdata/matrix.hcl")
	return inv, Expand(sw)
}

// TestTheShippedMatrixPlacesCompletely checks sweeps/full.hcl itself, which
// follows InferenceMAX and changes: it loads, its ids are unique, and the
// example inventory places every job.
func TestTheShippedMatrixPlacesCompletely(t *testing.T) {
	inv, sw := load(t, "../../inventory.hcl", "../../sweeps/full.hcl")
	jobs := Expand(sw)
	if len(jobs) < 500 {
		t.Fatalf("full.hcl expands to only %d jobs", len(jobs))
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		if seen[j.ID] {
			t.Errorf("id %q twice", j.ID)
		}
		seen[j.ID] = true
	}
	p, err := Place(jobs, inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != len(jobs) || len(p.Skipped) != 0 {
		t.Fatalf("placed %d of %d, skipped %d", len(p.Jobs), len(jobs), len(p.Skipped))
	}
}

func TestExpand(t *testing.T) {
	sw := &config.Sweep{Configs: []*config.BenchConfig{{
		Key: "dsr1-fp8-h200-sglang", Image: "img", Model: "deepseek-ai/DeepSeek-R1-0528", ModelPrefix: "dsr1",
		Precision: "fp8", Framework: "sglang", Runner: []string{"h200"},
		ServerArgs: []string{"--x"}, Env: map[string]string{"A": "1"},
		Client: config.Client{RangeRatio: 0.8, PromptsPerConc: 10, WarmupsPerConc: 2, Percentiles: []float64{99}},
		Scenarios: []*config.Scenario{
			{Name: "1k1k", ISL: 1024, OSL: 1024, Search: []*config.Search{
				{TP: 8, EP: 1, PP: 1, Conc: []int{4, 64}},
				{TP: 4, EP: 4, PP: 2, DPAttn: true, Conc: []int{128}},
			}},
			{Name: "8k1k", ISL: 8192, OSL: 1024, MaxModelLen: 10000, Search: []*config.Search{{TP: 8, EP: 1, PP: 1, Conc: []int{16}}}},
		},
	}}}
	jobs := Expand(sw)
	type row struct {
		id                         string
		maxLen, gpus, prompts, wup int
	}
	want := []row{
		{"dsr1-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc4", 2304, 8, 40, 8},
		{"dsr1-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc64", 2304, 8, 640, 128},
		{"dsr1-fp8-h200-sglang_1k1k_tp4-ep4-pp2-dpatrue_conc128", 2304, 8, 1280, 256},
		{"dsr1-fp8-h200-sglang_8k1k_tp8-ep1-dpafalse_conc16", 10000, 8, 160, 32},
	}
	if len(jobs) != len(want) {
		t.Fatalf("%d jobs, want %d", len(jobs), len(want))
	}
	for i, w := range want {
		j := jobs[i]
		got := row{j.ID, j.MaxModelLen, j.GPUs(), j.NumPrompts, j.NumWarmups}
		if got != w {
			t.Errorf("job %d = %+v, want %+v", i, got, w)
		}
		if j.Node != "" || j.Candidates != nil || j.RangeRatio != 0.8 || !reflect.DeepEqual(j.Percentiles, []float64{99}) || j.Model != "deepseek-ai/DeepSeek-R1-0528" {
			t.Errorf("job %d fields: %+v", i, j)
		}
	}
	// Jobs own their slices and maps: changing one changes no other.
	jobs[0].Env["A"] = "2"
	jobs[0].ServerArgs[0] = "--y"
	if jobs[1].Env["A"] != "1" || jobs[1].ServerArgs[0] != "--x" || sw.Configs[0].Env["A"] != "1" {
		t.Error("jobs share Env or ServerArgs")
	}
}

func TestResultName(t *testing.T) {
	tests := []struct {
		job  Job
		node string
		want string
	}{
		{Job{ModelPrefix: "dsr1", Seq: "1k1k", Precision: "fp8", Framework: "sglang", TP: 8, EP: 1, PP: 1, Conc: 64}, "h200-cw_0",
			"dsr1_1k1k_fp8_sglang_tp8-ep1-dpafalse_conc64_h200-cw_0"},
		{Job{ModelPrefix: "gptoss", Seq: "8k1k", Precision: "fp4", Framework: "trt", TP: 4, EP: 4, PP: 1, DPAttn: true, Conc: 256}, "b200-1",
			"gptoss_8k1k_fp4_trt_tp4-ep4-dpatrue_conc256_b200-1"},
		{Job{ModelPrefix: "70b", Seq: "1k8k", Precision: "fp8", Framework: "vllm", TP: 4, EP: 1, PP: 2, Conc: 4}, "mi300x-1",
			"70b_1k8k_fp8_vllm_tp4-ep1-pp2-dpafalse_conc4_mi300x-1"},
	}
	for _, tt := range tests {
		if got := ResultName(&tt.job, tt.node); got != tt.want {
			t.Errorf("ResultName = %q, want %q", got, tt.want)
		}
	}
}

func TestFullSweepIDsAreUniqueAndSafeAsDirectoryNames(t *testing.T) {
	_, jobs := fullJobs(t)
	if len(jobs) != 1323 {
		t.Fatalf("matrix.hcl expands to %d jobs, want 1323", len(jobs))
	}
	safe := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	seen := map[string]bool{}
	for _, j := range jobs {
		if !safe.MatchString(j.ID) || len(j.ID) > 200 {
			t.Errorf("id %q is not a safe directory name", j.ID)
		}
		if seen[j.ID] {
			t.Errorf("id %q twice", j.ID)
		}
		seen[j.ID] = true
		if j.MaxModelLen != j.ISL+j.OSL+256 || j.NumPrompts != 10*j.Conc || j.NumWarmups != 2*j.Conc || j.RangeRatio != 0.8 {
			t.Errorf("job %s: max_model_len %d, prompts %d, warmups %d, range ratio %g", j.ID, j.MaxModelLen, j.NumPrompts, j.NumWarmups, j.RangeRatio)
		}
	}
}

// TestFullSweepPlacesEveryJob: 29 configs x 3 scenarios. Jobs per scenario
// by GPU type, counted from the table in matrix.hcl (20 = tp 1,2,4,8 x 5
// concurrencies, 15 = tp 2,4,8, 5 = tp 8; dsr1 trt bands: fp8 7, fp4 12):
// h100 15+15; h200 20+20+5+7+20+20; b200 4x20+5+7+10+12+20+20;
// mi300x and mi325x 20+5+20; mi355x 20+20+5+10+20.
func TestFullSweepPlacesEveryJob(t *testing.T) {
	inv, jobs := fullJobs(t)
	p, err := Place(jobs, inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != 1323 || len(p.Skipped) != 0 {
		t.Fatalf("placed %d, skipped %d; want 1323 and 0", len(p.Jobs), len(p.Skipped))
	}
	perGPU := map[string]int{}
	for _, j := range p.Jobs {
		perGPU[j.GPU]++
		m, ok := inv.Machine(j.Node)
		if !ok || m.GPU != j.Runner[0] || !contains(j.Candidates, j.Node) {
			t.Errorf("job %s on %q (candidates %v), runner %v", j.ID, j.Node, j.Candidates, j.Runner)
		}
	}
	want := map[string]int{"h100": 3 * 30, "h200": 3 * 92, "b200": 3 * 154, "mi300x": 3 * 45, "mi325x": 3 * 45, "mi355x": 3 * 75}
	if !reflect.DeepEqual(perGPU, want) {
		t.Errorf("jobs per GPU type = %v, want %v", perGPU, want)
	}
	var sum int
	for _, m := range p.Machines {
		sum += m.Jobs
		if m.Busy > p.Makespan {
			t.Errorf("machine %s busy %s beyond the makespan %s", m.Name, m.Busy, p.Makespan)
		}
	}
	if sum != 1323 || len(p.Machines) != 8 {
		t.Errorf("machines %d with %d jobs", len(p.Machines), sum)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestFilters counts matches over matrix.hcl's jobs; expected counts come
// from its table (see TestFullSweepPlacesEveryJob), per scenario x 3.
func TestFilters(t *testing.T) {
	_, jobs := fullJobs(t)
	tests := []struct {
		name string
		only []string
		want int
	}{
		{"no filter keeps everything", nil, 1323},
		{"a glob on config", []string{"config=dsr1-*"}, 3 * 71},
		{"framework", []string{"framework=trt"}, 3 * 126},
		{"one scenario", []string{"seq=1k1k"}, 441},
		{"the same key twice is an OR", []string{"seq=1k1k", "seq=8k1k"}, 882},
		{"model matches the prefix", []string{"model=gptoss"}, 3 * 155},
		{"model matches the full name", []string{"model=openai/*"}, 3 * 155},
		{"gpu before placement matches the runner", []string{"gpu=mi3*"}, 3 * (45 + 45 + 75)},
		{"different keys are an AND", []string{"tp=8", "conc=64", "seq=1k1k"}, 32},
		{"ep", []string{"ep=8"}, 3 * 6},
		{"precision and framework", []string{"precision=fp4", "framework=vllm"}, 3 * 155},
		{"nothing matches", []string{"conc=3"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilters(tt.only)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, j := range jobs {
				if f.Match(j) {
					n++
				}
			}
			if n != tt.want {
				t.Errorf("%v matches %d jobs, want %d", tt.only, n, tt.want)
			}
		})
	}
}

func TestParseFiltersErrors(t *testing.T) {
	tests := []struct {
		arg, want string
	}{
		{"colour=red", `unknown key "colour"; valid keys: config, model, framework, precision, gpu, runner, seq, tp, ep, conc, spec, node`},
		{"tp", "want KEY=GLOB"},
		{"tp=", "want KEY=GLOB"},
		{"config=[", "bad glob"},
	}
	for _, tt := range tests {
		_, err := ParseFilters([]string{tt.arg})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseFilters(%q) = %v, want an error containing %q", tt.arg, err, tt.want)
		}
	}
}

// job makes a job like Expand does.
func job(id, runner string, tp, conc int) *Job {
	return &Job{ID: id, Config: id, Framework: "vllm", Runner: []string{runner}, Seq: "1k1k", ISL: 1024, OSL: 1024,
		TP: tp, EP: 1, PP: 1, Conc: conc, NumPrompts: 10 * conc, NumWarmups: 2 * conc}
}

func TestPlace(t *testing.T) {
	inv, _ := load(t, "testdata/inv.hcl", "../../sweeps/demo.hcl")
	est := Estimate(job("x", "h200", 8, 4))
	estB := Estimate(job("x", "b200", 8, 4))
	estH100 := Estimate(job("x", "h100", 2, 4))
	tests := []struct {
		name         string
		jobs         []*Job
		opts         Options
		wantNodes    []string // job i's node
		wantCands    [][]string
		wantSkipped  int
		wantMakespan time.Duration
	}{
		{
			name:         "equal jobs spread evenly over the whole nodes",
			jobs:         []*Job{job("1", "h200", 8, 4), job("2", "h200", 8, 4), job("3", "h200", 8, 4), job("4", "h200", 8, 4)},
			wantNodes:    []string{"a", "b", "a", "b"},
			wantCands:    [][]string{{"a", "b"}, {"a", "b"}, {"a", "b"}, {"a", "b"}},
			wantMakespan: 2 * est,
		},
		{
			name:      "a small job may use the half node, by label too",
			jobs:      []*Job{job("1", "h200", 4, 4), job("2", "half", 4, 4)},
			wantNodes: []string{"a", "c"},
			wantCands: [][]string{{"a", "b", "c"}, {"c"}},
		},
		{
			name:         "--node pins jobs and skips those that do not fit",
			jobs:         []*Job{job("1", "h200", 8, 4), job("2", "h200", 8, 4), job("3", "b200", 8, 4)},
			opts:         Options{Node: "b"},
			wantNodes:    []string{"b", "b"},
			wantCands:    [][]string{{"b"}, {"b"}},
			wantSkipped:  1,
			wantMakespan: 2 * est,
		},
		{
			name:        "--only node narrows the candidates",
			jobs:        []*Job{job("1", "h200", 4, 4), job("2", "h200", 4, 4), job("3", "b200", 8, 4)},
			opts:        Options{Only: mustFilters(t, "node=[bc]")},
			wantNodes:   []string{"b", "c"},
			wantCands:   [][]string{{"b", "c"}, {"b", "c"}},
			wantSkipped: 1,
		},
		{
			name:        "--only on job keys skips jobs",
			jobs:        []*Job{job("1", "h200", 8, 4), job("2", "h200", 8, 8)},
			opts:        Options{Only: mustFilters(t, "conc=8")},
			wantNodes:   []string{"a"},
			wantCands:   [][]string{{"a", "b"}},
			wantSkipped: 1,
		},
		{
			name:         "a cluster runs max_nodes jobs at once",
			jobs:         []*Job{job("1", "b200", 8, 4), job("2", "b200", 8, 4), job("3", "b200", 8, 4), job("4", "b200", 8, 4)},
			wantNodes:    []string{"s", "s", "s", "s"},
			wantCands:    [][]string{{"s"}, {"s"}, {"s"}, {"s"}},
			wantMakespan: 2 * estB,
		},
		{
			name:         "a packing node runs jobs on disjoint GPUs at once",
			jobs:         []*Job{job("1", "h100", 2, 4), job("2", "h100", 2, 4), job("3", "h100", 2, 4), job("4", "h100", 2, 4)},
			wantNodes:    []string{"p", "p", "p", "p"},
			wantCands:    [][]string{{"p"}, {"p"}, {"p"}, {"p"}},
			wantMakespan: estH100,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Place(tt.jobs, inv, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var nodes []string
			var cands [][]string
			for _, j := range p.Jobs {
				nodes = append(nodes, j.Node)
				cands = append(cands, j.Candidates)
			}
			if !reflect.DeepEqual(nodes, tt.wantNodes) || !reflect.DeepEqual(cands, tt.wantCands) {
				t.Errorf("nodes %v candidates %v; want %v %v", nodes, cands, tt.wantNodes, tt.wantCands)
			}
			if len(p.Skipped) != tt.wantSkipped {
				t.Errorf("skipped %d, want %d", len(p.Skipped), tt.wantSkipped)
			}
			if tt.wantMakespan != 0 && p.Makespan != tt.wantMakespan {
				t.Errorf("makespan %s, want %s", p.Makespan, tt.wantMakespan)
			}
			// Placing again gives the same answer.
			again, err := Place(tt.jobs, inv, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, j := range again.Jobs {
				if j.Node != nodes[i] {
					t.Errorf("second placement moved job %s from %s to %s", j.ID, nodes[i], j.Node)
				}
			}
		})
	}
}

func mustFilters(t *testing.T, args ...string) Filters {
	t.Helper()
	f, err := ParseFilters(args)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPlaceErrors(t *testing.T) {
	inv, _ := load(t, "testdata/inv.hcl", "../../sweeps/demo.hcl")
	t.Run("an unknown --node", func(t *testing.T) {
		_, err := Place([]*Job{job("1", "h200", 8, 4)}, inv, Options{Node: "zz"})
		if err == nil || !strings.Contains(err.Error(), "--node zz") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a job too big for every machine", func(t *testing.T) {
		_, err := Place([]*Job{job("big", "h200", 16, 4), job("ok", "h200", 8, 4)}, inv, Options{})
		if !errors.Is(err, ErrUnplaceable) || !strings.Contains(err.Error(), "big (runner h200, 16 GPUs)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a runner nobody matches", func(t *testing.T) {
		_, err := Place([]*Job{job("1", "mi300x", 8, 4)}, inv, Options{})
		if !errors.Is(err, ErrUnplaceable) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestEstimate(t *testing.T) {
	h200 := job("x", "h200", 8, 4)
	// rounds = (40 + 8) / 4 = 12; prefill = 4 x 1024 / (14000 x 8) s;
	// itl = 18 ms x (1 + 4/128); vLLM starts in 5 minutes.
	work := 12 * (4.0*1024/(14000*8) + 1024*0.018*(1+4.0/128))
	want := 5*time.Minute + time.Duration(work*float64(time.Second)).Round(time.Millisecond)
	if got := Estimate(h200); got != want {
		t.Errorf("Estimate = %s, want %s", got, want)
	}

	sim := job("x", "local", 8, 4)
	sim.Framework = "sim"
	sim.ServerArgs = []string{"--profile", "p", "--time-scale", "0.05"}
	wantSim := 2*time.Second + time.Duration(work*0.05*float64(time.Second)).Round(time.Millisecond)
	if got := Estimate(sim); got != wantSim {
		t.Errorf("sim Estimate = %s, want %s", got, wantSim)
	}
	sim.ServerArgs = []string{"--time-scale=0.5"}
	if got, want := Estimate(sim), 2*time.Second+time.Duration(work*0.5*float64(time.Second)).Round(time.Millisecond); got != want {
		t.Errorf("sim Estimate with --time-scale=0.5 = %s, want %s", got, want)
	}

	// Faster GPUs and more of them finish sooner; longer outputs take longer.
	b200 := job("x", "b200", 8, 4)
	tp2 := job("x", "h200", 2, 4)
	long := job("x", "h200", 8, 4)
	long.OSL = 8192
	if !(Estimate(b200) < Estimate(h200) && Estimate(h200) < Estimate(tp2) && Estimate(h200) < Estimate(long)) {
		t.Errorf("b200 %s, h200 %s, h200 tp2 %s, h200 osl 8k %s", Estimate(b200), Estimate(h200), Estimate(tp2), Estimate(long))
	}
	if got, want := GPUHours(h200), Estimate(h200).Hours()*8; got != want {
		t.Errorf("GPUHours = %g, want %g", got, want)
	}
}

// TestEstimatesNeverGoNegative covers the security issue's negative
// estimates: a float beyond Duration's range converted to any value.
func TestEstimatesNeverGoNegative(t *testing.T) {
	inv, _ := load(t, "testdata/inv.hcl", "../../sweeps/demo.hcl")
	var jobs []*Job
	for i, args := range [][]string{{"--time-scale", "1e300"}, {"--time-scale=1e18"}, nil} {
		j := job(fmt.Sprintf("x%d", i), "h200", 8, 65536)
		j.Framework, j.ServerArgs = "sim", args
		j.OSL, j.NumPrompts = 1<<24, 10000*65536
		if got := Estimate(j); got != MaxEstimate {
			t.Errorf("Estimate with %v = %s, want the cap %s", args, got, MaxEstimate)
		}
		jobs = append(jobs, j)
	}
	// Many capped jobs on one machine add up past Duration's range.
	for i := 0; i < 100; i++ {
		j := *jobs[0]
		j.ID = fmt.Sprintf("y%d", i)
		jobs = append(jobs, &j)
	}
	p, err := Place(jobs, inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Makespan <= 0 || p.GPUHours <= 0 {
		t.Errorf("makespan %s, %g GPU hours: want positive", p.Makespan, p.GPUHours)
	}
	for _, m := range p.Machines {
		if m.Busy <= 0 {
			t.Errorf("machine %s busy %s: want positive", m.Name, m.Busy)
		}
	}
}

func TestDemoSweepPlansOnTheLocalNode(t *testing.T) {
	l := config.NewLoader(nil)
	inv, _ := l.Inventory("testdata/no-such-inventory.hcl", false)
	sw, diags := l.Sweep("../../sweeps/demo.hcl", inv)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	p, err := Place(Expand(sw), inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != 3 || len(p.Machines) != 1 || p.Machines[0].Name != "local" {
		t.Fatalf("placement = %+v", p)
	}
	// About a minute of simulated serving at most, start-up included.
	if p.Makespan <= 0 || p.Makespan > 2*time.Minute {
		t.Errorf("demo makespan %s", p.Makespan)
	}
}

func BenchmarkExpandAndPlaceFull(b *testing.B) {
	inv, sw := load(b, "../../inventory.hcl", "../../sweeps/full.hcl")
	b.ResetTimer()
	for b.Loop() {
		if _, err := Place(Expand(sw), inv, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadFull(b *testing.B) {
	for b.Loop() {
		load(b, "../../inventory.hcl", "../../sweeps/full.hcl")
	}
}
