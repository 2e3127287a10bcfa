package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestPlanCommand(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantOut   []string
		wantRe    []string
		wantErr   []string
		wantNoOut bool
	}{
		{
			name:     "a missing named inventory is an error",
			args:     []string{"plan", "../../sweeps/demo.hcl", "--inventory", "../../sweeps/no-inventory.hcl"},
			wantCode: ExitError,
			wantErr:  []string{"Cannot read inventory", "no-inventory.hcl"},
		},
		{
			name:     "the demo sweep",
			args:     []string{"plan", "../../sweeps/demo.hcl"},
			wantCode: ExitOK,
			wantOut: []string{
				"ID ", "CONFIG", "RESULT", "ESTIMATE",
				"sim70b-fp8-local-sim_1k256_tp8-ep1-dpafalse_conc4 ",
				"sim70b_1k256_fp8_sim_tp8-ep1-dpafalse_conc16_local",
				"3 jobs on 1 machine; estimated duration",
			},
		},
		{
			name:     "filters and a pinned node",
			args:     []string{"plan", "../../sweeps/full.hcl", "--inventory", "../../inventory.hcl", "--only", "gpu=h200", "--only", "seq=1k1k", "--node", "h200-2"},
			wantCode: ExitOK,
			wantOut:  []string{"72 jobs on 1 machine, 918 left out by --only/--node"},
			wantRe:   []string{`(?m)^h200-2\s+node\s+h200\s+72\s`},
		},
		{
			name:      "a broken sweep prints diagnostics and exits 1",
			args:      []string{"plan", "../../internal/config/testdata/broken/sweep_too_big.hcl", "--inventory", "../../internal/config/testdata/fleet.hcl"},
			wantCode:  ExitError,
			wantErr:   []string{"sweep_too_big.hcl:16:14: Config fits no machine", "16:       tp   = 8", "have at most 8: h200-1 (8), h200-2 (4)"},
			wantNoOut: true,
		},
		{
			name:      "an unknown filter key lists the valid ones",
			args:      []string{"plan", "../../sweeps/demo.hcl", "--only", "colour=red"},
			wantCode:  ExitError,
			wantErr:   []string{`unknown key "colour"; valid keys: config, model, framework, precision, gpu, runner, seq, tp, ep, conc, spec, node`},
			wantNoOut: true,
		},
		{
			name:      "an undeclared --var is an error",
			args:      []string{"plan", "../../sweeps/full.hcl", "--inventory", "../../inventory.hcl", "--var", "conc_ned=16"},
			wantCode:  ExitError,
			wantErr:   []string{`no loaded file declares variable "conc_ned". Did you mean "conc_end"?`},
			wantNoOut: true,
		},
		{
			name:     "filters that match nothing",
			args:     []string{"plan", "../../sweeps/demo.hcl", "--only", "conc=5"},
			wantCode: ExitError,
			wantErr:  []string{"no job of 3 matches the filters (--only conc=5)"},
		},
		{
			name:     "an unknown node",
			args:     []string{"plan", "../../sweeps/demo.hcl", "--node", "nowhere"},
			wantCode: ExitError,
			wantErr:  []string{"--node nowhere: no node or cluster with GPUs has that name; machines: local"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runFleet(t, nil, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, re := range tt.wantRe {
				if !regexp.MustCompile(re).MatchString(stdout) {
					t.Errorf("stdout does not match %s:\n%s", re, stdout)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tt.wantNoOut && stdout != "" {
				t.Errorf("stdout should be empty:\n%s", stdout)
			}
		})
	}
}

func TestPlanJSON(t *testing.T) {
	tests := []struct {
		name     string
		vars     []string
		wantJobs int
	}{
		{"the full matrix", nil, 990},
		// Bands clipped to conc 4..16: 3 concurrencies per whole band, the
		// bands that start at 32 or 64 drop out (see full.hcl).
		{"narrowed by a variable", []string{"--var", "conc_end=16"}, 549},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"plan", "../../sweeps/full.hcl", "--inventory", "../../inventory.hcl", "--json"}, tt.vars...)
			code, stdout, stderr := runFleet(t, nil, args...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got struct {
				Inventory string `json:"inventory"`
				Jobs      []struct {
					ID         string   `json:"id"`
					Node       string   `json:"node"`
					GPU        string   `json:"gpu"`
					GPUs       int      `json:"gpus"`
					Candidates []string `json:"candidates"`
					ResultName string   `json:"result_name"`
					EstimateS  float64  `json:"estimate_s"`
				} `json:"jobs"`
				Machines []struct {
					Node  string  `json:"node"`
					Jobs  int     `json:"jobs"`
					BusyS float64 `json:"busy_s"`
				} `json:"machines"`
				TotalJobs int     `json:"total_jobs"`
				MakespanS float64 `json:"makespan_s"`
				GPUHours  float64 `json:"gpu_hours"`
			}
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, stdout)
			}
			if got.TotalJobs != tt.wantJobs || len(got.Jobs) != tt.wantJobs || got.Inventory != "../../inventory.hcl" {
				t.Fatalf("total %d, %d jobs, inventory %q; want %d", got.TotalJobs, len(got.Jobs), got.Inventory, tt.wantJobs)
			}
			perNode := map[string]int{}
			for _, j := range got.Jobs {
				perNode[j.Node]++
				if j.Node == "" || j.GPU == "" || j.GPUs < 1 || j.EstimateS <= 0 || !strings.HasSuffix(j.ResultName, "_"+j.Node) {
					t.Errorf("job %+v", j)
				}
			}
			var busiest float64
			for _, m := range got.Machines {
				if perNode[m.Node] != m.Jobs {
					t.Errorf("machine %s: %d jobs listed, %d placed", m.Node, m.Jobs, perNode[m.Node])
				}
				busiest = max(busiest, m.BusyS)
			}
			if len(got.Machines) != 8 || got.MakespanS != busiest || got.GPUHours <= 0 {
				t.Errorf("%d machines, makespan %g (busiest %g), %g GPU hours", len(got.Machines), got.MakespanS, busiest, got.GPUHours)
			}
		})
	}
}

func TestPlanReadsTheDefaultInventoryOfTheWorkingDirectory(t *testing.T) {
	sweep, err := filepath.Abs("../../sweeps/demo.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	inv := "node \"local\" {\n  gpu  = \"sim\"\n  gpus = 4\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "inventory.hcl"), []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	// The demo asks for tp 8; this machine now has 4 GPUs.
	code, _, stderr := runFleet(t, nil, "plan", sweep)
	if code != ExitError || !strings.Contains(stderr, "Config fits no machine") || !strings.Contains(stderr, "local (4)") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
}

// An agentic job's plan says what it replays and its offload, and
// --json carries the whole spec, the trace resolved against the sweep.
func TestPlanShowsAgenticJobs(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inv.hcl")
	sweep := filepath.Join(dir, "s.hcl")
	for path, src := range map[string]string{
		inv:                                "node \"g1\" {\n  host = \"10.0.0.1\"\n  gpu  = \"h200\"\n}\n",
		filepath.Join(dir, "traces.jsonl"): "{}\n",
		sweep: `config "cc" {
  image        = "img"
  model        = "org/m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = "h200"
  agentic "agentic" {
    trace = "traces.jsonl"
    search {
      tp                 = 8
      conc               = [4]
      kv_offloading      = "dram"
      kv_offload_backend = "lmcache"
      dram_gb            = 200
    }
  }
}
`,
	} {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runFleet(t, nil, "plan", sweep, "-i", inv)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"cc_agentic_tp8-ep1-dpafalse-agentic-kvdram-lmcache-200gb_conc4",
		"agentic replay of trace " + filepath.Join(dir, "traces.jsonl") + " for 3600s, 10 warm-up requests per lane; KV offload to 200 GB of DRAM by lmcache"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = runFleet(t, nil, "plan", sweep, "-i", inv, "--json")
	if code != ExitOK {
		t.Fatalf("--json: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `"kv_offload_backend": "lmcache"`) || !strings.Contains(stdout, `"duration_s": 3600`) {
		t.Errorf("plan --json lacks the agentic spec:\n%s", stdout)
	}
}
