package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// multiNodeFiles writes an inventory and a sweep of one multi-node band.
func multiNodeFiles(t *testing.T, inventory, runner, band string) (inv, sweep string) {
	t.Helper()
	dir := t.TempDir()
	inv, sweep = filepath.Join(dir, "inventory.hcl"), filepath.Join(dir, "sweep.hcl")
	src := `
config "pd" {
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sim"
  runner       = "` + runner + `"
  scenario "1k1k" {
    isl = 1024
    osl = 1024
    search {
` + band + `
      conc = [4, 8]
    }
  }
}
`
	for p, text := range map[string]string{inv: inventory, sweep: src} {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return inv, sweep
}

const groupOfThree = `
node "n1" {
  host = "10.0.0.1"
  gpu  = "h200"
}
node "n2" {
  host = "10.0.0.2"
  gpu  = "h200"
}
node "n3" {
  host = "10.0.0.3"
  gpu  = "h200"
}
node "login" { host = "10.0.0.9" }
cluster "gb" {
  login         = "login"
  gpu           = "gb200"
  gpus_per_node = 4
  max_nodes     = 8
}
`

func TestPlanPrintsMultiNodeLayouts(t *testing.T) {
	tests := []struct {
		name, runner, band string
		want               string // the lines under the job's line
	}{
		{
			name:   "a group of SSH nodes, by name",
			runner: "h200",
			band: `
      kv_transfer = "mooncake"
      prefill {
        workers = 1
        tp      = 8
      }
      decode {
        workers = 2
        tp      = 8
        ep      = 8
        dp_attn = true
      }
      router { policy = "session" }`,
			want: `  3 nodes of 8 GPUs, 24 GPUs in use: 1 prefill worker of tp 8; 2 decode workers of tp 8, ep 8, dp-attention; KV over mooncake; router session
    node 0 n1: router-0, prefill-0 [GPU 0-7]
    node 1 n2: decode-0 [GPU 0-7]
    node 2 n3: decode-1 [GPU 0-7]
`,
		},
		{
			name:   "a Slurm cluster of 4-GPU nodes: small workers share a node, a large one spans two",
			runner: "gb200",
			band: `
      prefill {
        workers = 2
        tp      = 2
      }
      decode {
        workers = 1
        tp      = 4
        pp      = 2
      }`,
			want: `  3 nodes of 4 GPUs, 12 GPUs in use: 2 prefill workers of tp 2; 1 decode worker of tp 4 x pp 2; router round_robin
    node 0: router-0, prefill-0 [GPU 0-1], prefill-1 [GPU 2-3]
    node 1: decode-0 [GPU 0-3]
    node 2: decode-0-node1 [GPU 0-3]
`,
		},
		{
			name:   "aggregated",
			runner: "h200",
			band: `
      prefill {
        workers = 3
        tp      = 2
      }`,
			want: `  1 node of 8 GPUs, 6 GPUs in use: 3 aggregated workers of tp 2; router round_robin
    node 0 n1: router-0, agg-0 [GPU 0-1], agg-1 [GPU 2-3], agg-2 [GPU 4-5]
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, sweep := multiNodeFiles(t, groupOfThree, tt.runner, tt.band)
			code, stdout, stderr := runFleet(t, nil, "plan", sweep, "-i", inv)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			lines := strings.SplitAfter(stdout, "\n")
			if len(lines) < 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], "pd_1k1k_") {
				t.Fatalf("no job table:\n%s", stdout)
			}
			var got strings.Builder
			for _, l := range lines[2:] {
				if !strings.HasPrefix(l, "  ") {
					break
				}
				got.WriteString(l)
			}
			if got.String() != tt.want {
				t.Errorf("layout:\n%s\nwant:\n%s\nin:\n%s", got.String(), tt.want, stdout)
			}
			// The layout lines stand outside the table: its columns line
			// up above and below them.
			if col := strings.Index(lines[0], "CONFIG"); col < 0 || !strings.HasPrefix(lines[1][col:], "pd ") {
				t.Errorf("the job table's columns do not line up:\n%s", stdout)
			}
		})
	}
}

func TestPlanJSONLayout(t *testing.T) {
	inv, sweep := multiNodeFiles(t, groupOfThree, "h200", `
      prefill {
        workers = 1
        tp      = 4
      }
      decode {
        workers = 1
        tp      = 8
      }`)
	code, stdout, stderr := runFleet(t, nil, "plan", sweep, "-i", inv, "--json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	type process struct {
		Role    string `json:"role"`
		Worker  int    `json:"worker"`
		Devices []int  `json:"devices"`
	}
	var got struct {
		Jobs []struct {
			ID       string `json:"id"`
			GPUs     int    `json:"gpus"`
			ConcList []int  `json:"conc_list"`
			Multi    *struct {
				Prefill struct{ Workers, TP int } `json:"prefill"`
			} `json:"multi"`
			Layout *struct {
				GPUsPerNode int `json:"gpus_per_node"`
				Nodes       []struct {
					Rank      int       `json:"rank"`
					GPUs      int       `json:"gpus"`
					Processes []process `json:"processes"`
				} `json:"nodes"`
				Machines []string `json:"machines"`
			} `json:"layout"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(got.Jobs) != 1 {
		t.Fatalf("%d jobs", len(got.Jobs))
	}
	j := got.Jobs[0]
	if j.GPUs != 12 || len(j.ConcList) != 2 || j.Multi == nil || j.Multi.Prefill.TP != 4 {
		t.Errorf("job %+v", j)
	}
	l := j.Layout
	if l == nil || l.GPUsPerNode != 8 || len(l.Nodes) != 2 || strings.Join(l.Machines, ",") != "n1,n2" {
		t.Fatalf("layout %+v", l)
	}
	n0, n1 := l.Nodes[0], l.Nodes[1]
	if n0.Rank != 0 || n0.GPUs != 4 || len(n0.Processes) != 2 || n0.Processes[0].Role != "router" || n0.Processes[1].Role != "prefill" ||
		len(n0.Processes[1].Devices) != 4 || n0.Processes[1].Devices[3] != 3 {
		t.Errorf("node 0 %+v", n0)
	}
	if n1.Rank != 1 || n1.GPUs != 8 || len(n1.Processes) != 1 || n1.Processes[0].Role != "decode" || len(n1.Processes[0].Devices) != 8 {
		t.Errorf("node 1 %+v", n1)
	}

	// A single-node job has no layout.
	code, stdout, _ = runFleet(t, nil, "plan", "../../sweeps/demo.hcl", "--json")
	if code != ExitOK || strings.Contains(stdout, `"layout"`) || strings.Contains(stdout, `"multi"`) {
		t.Errorf("the demo's single-node jobs: exit %d, a layout or shape in\n%s", code, stdout)
	}
}

// TestReadmeShowsTheDisaggregatedPlan: the README's disaggregated example
// is sweeps/disagg-sim.hcl as shipped, and what it says `fleet plan`
// prints for it is what fleet plan prints (TestReadme runs the command
// but checks only its totals).
func TestReadmeShowsTheDisaggregatedPlan(t *testing.T) {
	src, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseMarkdown(string(src))
	if err != nil {
		t.Fatal(err)
	}
	sweep, err := os.ReadFile("../../sweeps/disagg-sim.hcl")
	if err != nil {
		t.Fatal(err)
	}
	var hcl, shown, cmd string
	for _, b := range blocks {
		if b.section != "Multi-node and disaggregated configs" {
			continue
		}
		switch {
		case b.fenced && b.lang == "hcl":
			hcl = b.text
		case b.fenced && b.lang == "text":
			shown = b.text
		case !b.fenced:
			cmd = strings.TrimSpace(b.text)
		}
	}
	if hcl == "" || shown == "" || cmd != "fleet plan sweeps/disagg-sim.hcl" {
		t.Fatalf("README section: config %t, output %t, command %q", hcl != "", shown != "", cmd)
	}
	if !strings.Contains(string(sweep), hcl) {
		t.Errorf("the README's config is not an excerpt of sweeps/disagg-sim.hcl:\n%s", hcl)
	}
	t.Chdir("../..") // where the README's commands run, with its inventory.hcl
	code, stdout, stderr := runFleet(t, nil, strings.Fields(cmd)[1:]...)
	if code != ExitOK {
		t.Fatalf("%s: exit %d: %s", cmd, code, stderr)
	}
	if stdout != shown+"\n" {
		t.Errorf("the README shows:\n%s\n%s prints:\n%s", shown, cmd, stdout)
	}
}
