package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// writeFile puts src in a temporary file called name and returns its path.
func writeFile(t *testing.T, name, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustInventory(t *testing.T, l *Loader, path string) *Inventory {
	t.Helper()
	inv, diags := l.Inventory(path, true)
	if len(diags) > 0 {
		t.Fatalf("inventory %s: %s", path, diagLines(diags))
	}
	return inv
}

func mustSweep(t *testing.T, l *Loader, path string, inv *Inventory) *Sweep {
	t.Helper()
	sw, diags := l.Sweep(path, inv)
	if len(diags) > 0 {
		t.Fatalf("sweep %s: %s", path, diagLines(diags))
	}
	return sw
}

func TestShippedFilesLoadWithoutDiagnostics(t *testing.T) {
	l := NewLoader(nil)
	inv := mustInventory(t, l, "../../inventory.hcl")
	var gpus []string
	for _, m := range inv.Machines() {
		gpus = append(gpus, m.Name+"="+m.GPU)
	}
	want := "local=sim h100-1=h100 h200-1=h200 h200-2=h200 b200-1=b200 mi300x-1=mi300x mi325x-1=mi325x mi355x-1=mi355x sim-1=sim sim-2=sim b200-slurm=b200"
	if got := strings.Join(gpus, " "); got != want {
		t.Errorf("machines:\n got %s\nwant %s", got, want)
	}
	if c := inv.Cluster("b200-slurm"); c == nil || c.Container != "pyxis" || c.MaxNodes != 4 || c.Login != "b200-login" {
		t.Errorf("cluster b200-slurm = %+v", c)
	}
	if n := inv.Node("h200-1"); n == nil || !reflect.DeepEqual(n.Jump, []string{"bastion"}) || !reflect.DeepEqual(n.EnvFrom, []string{"HF_TOKEN"}) || n.User != "bench" {
		t.Errorf("node h200-1 = %+v", n)
	}

	full := mustSweep(t, l, "../../sweeps/full.hcl", inv)
	if len(full.Configs) != 29 {
		t.Errorf("full.hcl has %d configs, want 29", len(full.Configs))
	}
	for _, c := range full.Configs {
		if len(c.Scenarios) != 3 {
			t.Errorf("config %s has %d scenarios, want 3", c.Key, len(c.Scenarios))
		}
	}

	demo := mustSweep(t, l, "../../sweeps/demo.hcl", inv)
	if len(demo.Configs) != 1 {
		t.Fatalf("demo.hcl has %d configs, want 1", len(demo.Configs))
	}
	c := demo.Configs[0]
	if c.Framework != "sim" || c.Image != "" || !reflect.DeepEqual(c.Runner, []string{"local"}) ||
		c.Client.PromptsPerConc != 4 || c.Client.WarmupsPerConc != 1 ||
		!reflect.DeepEqual(c.Scenarios[0].Search[0].Conc, []int{4, 8, 16}) {
		t.Errorf("demo config = %+v, scenario %+v", c, c.Scenarios[0].Search[0])
	}
}

// stripRanges clears source positions, which differ between an HCL file
// and its JSON twin by nature.
func stripRanges(inv *Inventory) *Inventory {
	out := &Inventory{}
	for _, n := range inv.Nodes {
		c := *n
		c.Range, c.jumpRange = hcl.Range{}, hcl.Range{}
		out.Nodes = append(out.Nodes, &c)
	}
	for _, cl := range inv.Clusters {
		c := *cl
		c.Range, c.loginRange = hcl.Range{}, hcl.Range{}
		out.Clusters = append(out.Clusters, &c)
	}
	return out
}

func TestJSONInventoryDecodesLikeItsHCLTwin(t *testing.T) {
	l := NewLoader(nil)
	fromHCL := stripRanges(mustInventory(t, l, "testdata/fleet.hcl"))
	fromJSON := stripRanges(mustInventory(t, l, "testdata/fleet.json"))
	if len(fromHCL.Nodes) != 5 || len(fromHCL.Clusters) != 1 {
		t.Fatalf("fleet.hcl: %d nodes, %d clusters; want 5 and 1", len(fromHCL.Nodes), len(fromHCL.Clusters))
	}
	if !reflect.DeepEqual(fromHCL, fromJSON) {
		for i := range fromHCL.Nodes {
			t.Logf("hcl  %+v\njson %+v", *fromHCL.Nodes[i], *fromJSON.Nodes[i])
		}
		t.Fatal("the JSON twin decodes differently")
	}
	n := fromHCL.Nodes[3] // h200-2
	want := Node{Name: "h200-2", Host: "10.0.0.12", Port: 2222, User: "bench", Jump: []string{"bastion", "relay@10.0.0.1:22"},
		GPU: "h200", GPUs: 4, Labels: []string{"nvidia", "hopper", "small"}, Runtime: "enroot", Packing: true}
	if !reflect.DeepEqual(*n, want) {
		t.Errorf("h200-2:\n got %+v\nwant %+v", *n, want)
	}
}

func TestInventoryDefaults(t *testing.T) {
	t.Run("a missing default inventory means only the local node", func(t *testing.T) {
		l := NewLoader(nil)
		inv, diags := l.Inventory(filepath.Join(t.TempDir(), DefaultInventory), false)
		if len(diags) > 0 {
			t.Fatal(diags)
		}
		if len(inv.Nodes) != 1 || len(inv.Clusters) != 0 || !reflect.DeepEqual(*inv.Nodes[0], *DefaultLocal()) {
			t.Fatalf("inventory = %+v", inv)
		}
		if n := inv.Nodes[0]; n.Name != "local" || n.GPU != "sim" || n.GPUs != 8 || n.Host != "" {
			t.Errorf("local = %+v", n)
		}
	})
	t.Run("a missing named inventory is an error", func(t *testing.T) {
		l := NewLoader(nil)
		_, diags := l.Inventory(filepath.Join(t.TempDir(), "nope.hcl"), true)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), "nope.hcl") {
			t.Fatalf("diags = %v", diags)
		}
	})
	t.Run("node local without host overrides the built-in one", func(t *testing.T) {
		l := NewLoader(nil)
		inv := mustInventory(t, l, writeFile(t, "inv.hcl", `
node "a" {
  host = "10.0.0.1"
  gpu  = "h100"
}
node "local" {
  gpu    = "h100"
  gpus   = 2
  labels = ["desk"]
}
`))
		if len(inv.Nodes) != 2 || inv.Nodes[1].Name != "local" {
			t.Fatalf("nodes = %+v", inv.Nodes)
		}
		if l := inv.Nodes[1]; l.GPU != "h100" || l.GPUs != 2 || l.Runtime != "none" || l.Port != 0 {
			t.Errorf("local = %+v", l)
		}
		if a := inv.Nodes[0]; a.Port != 22 || a.GPUs != 8 || a.Runtime != "docker" {
			t.Errorf("defaults of node a = %+v", a)
		}
	})
	t.Run("a node without gpu carries no jobs", func(t *testing.T) {
		l := NewLoader(nil)
		inv := mustInventory(t, l, writeFile(t, "inv.hcl", `node "bastion" { host = "b" }`))
		if _, ok := inv.Machine("bastion"); ok || inv.Node("bastion") == nil {
			t.Errorf("bastion: machine %v, node %v", ok, inv.Node("bastion"))
		}
	})
}

func TestVariablesLocalsAndFunctions(t *testing.T) {
	src := `
variable "gpu" {
  default = "h100"
}
variable "gpus" {
  default = 8
}
variable "labels" {
  default = ["a"]
}
variable "packing" {
  default = false
}
locals {
  # declared before what they use: evaluated in dependency order
  name   = format("%s-%d", local.prefix, local.index)
  index  = max(1, 3) + 1
  prefix = upper(var.gpu)
  fallback = try(local.missing, "ok")
  can_it   = can(local.missing)
}
node "n" {
  host    = join(".", [lower(local.name), local.fallback])
  gpu     = var.gpu
  gpus    = var.gpus
  labels  = concat(var.labels, [tostring(local.can_it)], [for i in range(2) : "l${i}"])
  packing = var.packing
}
`
	tests := []struct {
		name        string
		vars        map[string]string
		wantHost    string
		wantGPU     string
		wantGPUs    int
		wantLabels  []string
		wantPacking bool
	}{
		{"defaults", nil, "h100-4.ok", "h100", 8, []string{"a", "false", "l0", "l1"}, false},
		{"--var overrides a string and the locals built on it", map[string]string{"gpu": "b200"}, "b200-4.ok", "b200", 8, []string{"a", "false", "l0", "l1"}, false},
		{"--var converts to the default's type", map[string]string{"gpus": "4", "packing": "true"}, "h100-4.ok", "h100", 4, []string{"a", "false", "l0", "l1"}, true},
		{"--var parses a list as an expression", map[string]string{"labels": `["x", "y"]`}, "h100-4.ok", "h100", 8, []string{"x", "y", "false", "l0", "l1"}, false},
	}
	path := writeFile(t, "inv.hcl", src)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoader(tt.vars)
			inv := mustInventory(t, l, path)
			n := inv.Node("n")
			if n.Host != tt.wantHost || n.GPU != tt.wantGPU || n.GPUs != tt.wantGPUs || !reflect.DeepEqual(n.Labels, tt.wantLabels) || n.Packing != tt.wantPacking {
				t.Errorf("node = host %q gpu %q gpus %d labels %q packing %v", n.Host, n.GPU, n.GPUs, n.Labels, n.Packing)
			}
			if d := l.CheckVars(); len(d) > 0 {
				t.Errorf("CheckVars: %v", d)
			}
		})
	}
}

func TestCheckVarsReportsUndeclared(t *testing.T) {
	l := NewLoader(map[string]string{"gpuz": "b200"})
	mustInventory(t, l, writeFile(t, "inv.hcl", `
variable "gpus" {
  default = 8
}
node "n" {
  host = "h"
  gpus = var.gpus
  gpu  = "h100"
}
`))
	diags := l.CheckVars()
	if len(diags) != 1 || diags[0].Detail != `--var gpuz is set, but no loaded file declares variable "gpuz". Did you mean "gpus"?` {
		t.Fatalf("diags = %s", diagLines(diags))
	}
}

func TestParseVars(t *testing.T) {
	tests := []struct {
		args    []string
		want    map[string]string
		wantErr bool
	}{
		{[]string{"a=1", "b=x=y", "c="}, map[string]string{"a": "1", "b": "x=y", "c": ""}, false},
		{[]string{"novalue"}, nil, true},
		{[]string{"1bad=2"}, nil, true},
	}
	for _, tt := range tests {
		got, err := ParseVars(tt.args)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("ParseVars(%q) = %v, %v", tt.args, got, err)
		}
	}
}

func TestSweepDefaultsMergesAndDoubling(t *testing.T) {
	l := NewLoader(nil)
	sw := mustSweep(t, l, writeFile(t, "s.hcl", `
config "a" {
  image        = "img"
  model        = "org/model"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "vllm"
  runner       = ["h200", "b200"]
  client {
    prompts_per_conc = 20
  }
  scenario "1k1k" {
    isl = 1024
    osl = 1024
    search {
      tp         = 4
      conc_start = 4
      conc_end   = 48
    }
    search {
      tp         = 8
      ep         = 8
      dp_attn    = true
      conc_start = 64
      conc_end   = 64
    }
  }
}

# The top-level client block applies to configs declared before it, too.
client {
  range_ratio      = 0.5
  warmups_per_conc = 3
  extra_args       = ["--seed", "1"]
}
`), nil)
	if sw.Retries != DefaultRetries || sw.Timeouts != DefaultTimeouts() {
		t.Errorf("settings defaults: retries %d, timeouts %+v", sw.Retries, sw.Timeouts)
	}
	c := sw.Configs[0]
	wantClient := Client{RangeRatio: 0.5, PromptsPerConc: 20, WarmupsPerConc: 3, Percentiles: []float64{90, 99, 99.9}, ExtraArgs: []string{"--seed", "1"}}
	if !reflect.DeepEqual(c.Client, wantClient) {
		t.Errorf("merged client:\n got %+v\nwant %+v", c.Client, wantClient)
	}
	if sw.Client.PromptsPerConc != 10 {
		t.Errorf("the config's client leaked into the top level: %+v", sw.Client)
	}
	s := c.Scenarios[0].Search
	if !reflect.DeepEqual(s[0].Conc, []int{4, 8, 16, 32}) || s[0].EP != 1 || s[0].PP != 1 || s[0].DPAttn {
		t.Errorf("band 0 = %+v", s[0])
	}
	if !reflect.DeepEqual(s[1].Conc, []int{64}) || s[1].EP != 8 || !s[1].DPAttn {
		t.Errorf("band 1 = %+v", s[1])
	}
}

func TestSettings(t *testing.T) {
	l := NewLoader(nil)
	sw := mustSweep(t, l, writeFile(t, "s.hcl", `
settings {
  retries = 0
  timeouts {
    server_start = "90s"
    benchmark    = "1h"
    job          = "1h30m"
  }
}
config "a" {
  image        = ""
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sim"
  runner       = "local"
  scenario "s" {
    isl = 10
    osl = 10
    search {
      tp   = 1
      conc = [1]
    }
  }
}
`), nil)
	want := Timeouts{ServerStart: 90 * time.Second, Benchmark: time.Hour, Job: 90 * time.Minute}
	if sw.Retries != 0 || sw.Timeouts != want {
		t.Errorf("retries %d timeouts %+v", sw.Retries, sw.Timeouts)
	}
}

func TestLooksSecret(t *testing.T) {
	tests := map[string]bool{
		"HF_TOKEN": true, "hf_token": true, "GITHUB_TOKEN": true, "AWS_SECRET_ACCESS_KEY": true, "OPENAI_API_KEY": true,
		"DB_PASSWORD": true, "MY_SECRET_THING": true,
		"NCCL_DEBUG": false, "HF_HOME": false, "TOKENIZERS_PARALLELISM": false, "KEYBOARD": false, "CUDA_VISIBLE_DEVICES": false,
	}
	for name, want := range tests {
		if got := looksSecret(name); got != want {
			t.Errorf("looksSecret(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestMachinesMatchByNameGPUAndLabel(t *testing.T) {
	l := NewLoader(nil)
	inv := mustInventory(t, l, "testdata/fleet.hcl")
	tests := []struct {
		runner string
		want   []string
	}{
		{"h200", []string{"h200-1", "h200-2"}},
		{"small", []string{"h200-2"}},
		{"hopper", []string{"h200-1", "h200-2"}},
		{"b200", []string{"b200-slurm"}},
		{"b200-slurm", []string{"b200-slurm"}},
		{"local", []string{"local"}},
		{"sim", []string{"local"}},
		{"bastion", nil}, // no GPUs: never a machine for jobs
		{"nothing", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, m := range inv.Machines() {
			if m.Matches(tt.runner) {
				got = append(got, m.Name)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("runner %q selects %v, want %v", tt.runner, got, tt.want)
		}
	}
}

func TestDynamicNodeBlocks(t *testing.T) {
	l := NewLoader(map[string]string{"count": "3"})
	inv := mustInventory(t, l, writeFile(t, "inv.hcl", `
variable "count" {
  default = 2
}
dynamic "node" {
  for_each = range(var.count)
  labels   = [format("h100-%d", node.value + 1)]
  content {
    host = "10.0.0.${node.value + 1}"
    gpu  = "h100"
  }
}
`))
	var names []string
	for _, n := range inv.Nodes {
		names = append(names, n.Name+"@"+n.Host)
	}
	if got := strings.Join(names, " "); got != "local@ h100-1@10.0.0.1 h100-2@10.0.0.2 h100-3@10.0.0.3" {
		t.Errorf("nodes = %s", got)
	}
}
