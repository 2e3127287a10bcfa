package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ixInventory is an inventory with two h200 nodes and nothing else, for
// planning the miniature checkout.
func ixInventory(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "inventory.hcl")
	os.WriteFile(p, []byte(`
node "h1" {
  host = "10.0.0.1"
  gpu  = "h200"
}
node "h2" {
  host   = "10.0.0.2"
  gpu    = "h200"
  labels = ["h200-nb"]
}
`), 0o644)
	return p
}

func TestPlanInferenceXListsEveryJobAndWhyNoMachineTakesSome(t *testing.T) {
	inv := ixInventory(t)
	code, stdout, stderr := runFleet(t, nil, "plan", "--inferencex", ixFixture, "-i", inv, "--json")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var p struct {
		Jobs []struct {
			ID, Node, Why string
			InferenceX    map[string]any `json:"inferencex"`
			ResultName    string         `json:"result_name"`
		}
		Unplaced []struct {
			ID, Why    string
			InferenceX map[string]any `json:"inferencex"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatal(err)
	}
	// Every row of the generator appears once, placed or not; here the
	// h200 jobs are placed (the fixture's qwen3.5 h200 config too).
	total := len(p.Jobs) + len(p.Unplaced)
	code, matrixOut, stderr := runFleet(t, nil, "inferencex", "matrix", ixFixture)
	if code != ExitOK {
		t.Fatalf("matrix: exit %d\n%s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(matrixOut), &rows); err != nil {
		t.Fatal(err)
	}
	if total != len(rows) || len(rows) == 0 {
		t.Fatalf("plan has %d jobs (%d placed), the matrix %d rows", total, len(p.Jobs), len(rows))
	}
	seen := map[string]int{}
	for _, r := range rows {
		b, _ := json.Marshal(r)
		seen[string(b)]++
	}
	for _, j := range p.Jobs {
		b, _ := json.Marshal(j.InferenceX)
		seen[string(b)]--
		if j.Node != "h1" && j.Node != "h2" {
			t.Errorf("%s placed on %q", j.ID, j.Node)
		}
		if !strings.HasSuffix(j.ResultName, "_"+j.Node) || !strings.Contains(j.ResultName, "-pp1-dcp") {
			t.Errorf("%s: result name %q is not InferenceX's on its node", j.ID, j.ResultName)
		}
	}
	for _, j := range p.Unplaced {
		b, _ := json.Marshal(j.InferenceX)
		seen[string(b)]--
		if j.Why == "" {
			t.Errorf("%s: not placed without a reason", j.ID)
		}
	}
	for row, n := range seen {
		if n != 0 {
			t.Errorf("row %s: plan and matrix differ by %d", row, n)
		}
	}
	tiny := 0
	for _, j := range p.Jobs {
		if strings.HasPrefix(j.ID, "tiny-fp8-h200-sglang_") {
			tiny++
		}
	}
	if tiny != ixTinyJobs {
		t.Errorf("%d tiny jobs placed, want %d", tiny, ixTinyJobs)
	}

	// The text plan names what it leaves out, and why.
	code, stdout, _ = runFleet(t, nil, "plan", "--inferencex", ixFixture, "-i", inv, "--only", "spec=mtp", "--single-node")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"NOT PLACED", "no machine in the inventory for runner b200", "tiny-fp8-h200-sglang_256-32_tp2-ep1-dpafalse-spec-mtp_conc2", "spec-mtp_conc2_h"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "spec-none") || strings.Contains(stdout, "multi-node job") {
		t.Errorf("--only spec=mtp --single-node kept other jobs:\n%s", stdout)
	}
}

func TestInferenceXSweepBlockAndFlags(t *testing.T) {
	dir := t.TempDir()
	abs, _ := filepath.Abs(ixFixture)
	sweep := filepath.Join(dir, "ix.hcl")
	os.WriteFile(sweep, []byte(`inferencex {
  dir         = "`+abs+`"
  config_keys = ["tiny-*"]
}
`), 0o644)
	inv := ixInventory(t)
	code, stdout, stderr := runFleet(t, nil, "plan", sweep, "-i", inv, "--json")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var p struct{ Jobs, Unplaced []struct{ ID string } }
	json.Unmarshal([]byte(stdout), &p)
	if len(p.Jobs) != ixTinyJobs || len(p.Unplaced) != 0 {
		t.Fatalf("config_keys = [tiny-*]: %d placed, %d not, want %d and 0", len(p.Jobs), len(p.Unplaced), ixTinyJobs)
	}
	// A broken master config: the error points into the YAML.
	broken := filepath.Join(dir, "broken")
	os.MkdirAll(filepath.Join(broken, "configs"), 0o755)
	runners, _ := os.ReadFile(filepath.Join(ixFixture, "configs", "runners.yaml"))
	os.WriteFile(filepath.Join(broken, "configs", "runners.yaml"), runners, 0o644)
	os.WriteFile(filepath.Join(broken, "configs", "nvidia-master.yaml"), []byte(`x-fp8-h200-sglang:
  image: i
  model: m
  model-prefix: x
  precision: fp8
  framework: sglang
  runner: h200
  multinode: false
  colour: blue
  scenarios:
    fixed-seq-len:
      - {isl: 1024, osl: 1024, search-space: [{tp: 8, conc-list: [4]}]}
`), 0o644)
	code, _, stderr = runFleet(t, nil, "plan", "--inferencex", broken, "--config-file", "configs/nvidia-master.yaml", "-i", inv)
	if code != ExitError {
		t.Fatalf("exit %d, want %d\n%s", code, ExitError, stderr)
	}
	for _, want := range []string{"nvidia-master.yaml:9:3", "colour", "colour: blue"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("diagnostic lacks %q:\n%s", want, stderr)
		}
	}
}

func TestInferenceXConvertWritesASweepThatPlans(t *testing.T) {
	code, stdout, stderr := runFleet(t, nil, "inferencex", "convert", ixFixture)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "fleet inferencex convert") || !strings.Contains(stdout, `config "tiny-fp8-h200-sglang"`) ||
		!strings.Contains(stdout, "spec-decoding mtp; fleet's launchers do not set up speculative decoding") {
		t.Fatalf("convert output:\n%s", stdout)
	}
	sweep := filepath.Join(t.TempDir(), "full.hcl")
	os.WriteFile(sweep, []byte(stdout), 0o644)
	inv := filepath.Join(t.TempDir(), "inventory.hcl")
	os.WriteFile(inv, []byte(`
node "h" {
  host = "10.0.0.1"
  gpu  = "h200"
}
node "b" {
  host = "10.0.0.2"
  gpu  = "b200"
}
node "m" {
  host = "10.0.0.3"
  gpu  = "mi355x"
}
`), 0o644)
	code, stdout, stderr = runFleet(t, nil, "plan", sweep, "-i", inv, "--only", "config=tiny-*")
	if code != ExitOK {
		t.Fatalf("plan of the converted sweep: exit %d\n%s", code, stderr)
	}
	// fleet's own launchers have no speculative decoding: the MTP band
	// is left out (and said so in the file), the rest plans.
	if !strings.Contains(stdout, "3 jobs on 1 machine") {
		t.Errorf("the converted tiny config does not make its 3 jobs without MTP:\n%s", stdout)
	}
}

func TestSweepSaysWhichInferenceXJobsItSkipsAndWhy(t *testing.T) {
	dir := t.TempDir()
	// Only multi-node and agentic rows: no machine of the inventory (two
	// h200 nodes) takes the multi-node ones, fleet runs no agentic row
	// yet, and it says so before anything starts.
	code, stdout, stderr := runFleet(t, nil, "sweep", "--inferencex", ixFixture, "--multi-node", "-i", ixInventory(t),
		"--results", filepath.Join(dir, "results"), "--log-format", "logfmt")
	if code != ExitError {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitError, stdout, stderr)
	}
	for _, want := range []string{"skipping", "no machine in the inventory for runner gb200", "agentic trace-replay row", "no job matches"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "results")); len(entries) > 0 {
		t.Errorf("a sweep with nothing to run left %v", entries)
	}
}
