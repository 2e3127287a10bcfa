package matrix

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// good is a valid single-node config; the cases below change one thing.
const good = `k:
  image: img
  model: m
  model-prefix: p
  precision: fp8
  framework: vllm
  runner: h200
  multinode: false
  scenarios:
    fixed-seq-len:
      - isl: 1024
        osl: 1024
        search-space:
          - {tp: 1, conc-list: [1]}
`

// goodMulti is a valid multi-node config.
const goodMulti = `m:
  image: img
  model: m
  model-prefix: p
  precision: fp4
  framework: dynamo-trt
  runner: gb200
  multinode: true
  scenarios:
    fixed-seq-len:
      - isl: 8192
        osl: 1024
        search-space:
          - conc-list: [4]
            prefill: {num-worker: 1, tp: 4, ep: 4, dp-attn: true}
            decode: {num-worker: 1, tp: 8, ep: 8, dp-attn: false}
`

// goodAgentic is a valid single-node agentic config.
const goodAgentic = `a:
  image: img
  model: m
  model-prefix: p
  precision: fp8
  framework: sglang
  runner: cluster:mi355x-amds
  multinode: false
  scenarios:
    agentic-coding:
      - dram-utilization: 0.5
        search-space:
          - {tp: 8, kv-offloading: dram, kv-offload-backend: {name: b}, conc-list: [4]}
`

// goodMultiAgentic is a valid multi-node agentic config.
const goodMultiAgentic = `ma:
  image: img
  model: m
  model-prefix: p
  precision: fp4
  framework: dynamo-vllm
  runner: cluster:gb200-nv
  multinode: true
  scenarios:
    agentic-coding:
      - search-space:
          - prefill: {num-worker: 1, tp: 4, ep: 1, dp-attn: false}
            decode: {num-worker: 1, tp: 8, ep: 8, dp-attn: true}
            conc-list: [4]
`

const goodRunners = `labels:
  h200: [h200-cw_0]
  gb200: [gb200-nv_0]
  cluster:mi355x-amds: [mi355x-amds_0]
  cluster:gb200-nv: [gb200-nv_0]
hardware:
  cluster:mi355x-amds: {available-cpu-dram-mib: 1000, gpus-per-node: 8}
`

// writeCheckout writes a master config and a runner file into a new
// checkout and returns its directory.
func writeCheckout(t *testing.T, master, runners string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "configs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"nvidia-master.yaml": master, "runners.yaml": runners} {
		if err := os.WriteFile(filepath.Join(dir, "configs", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// position is where marker starts in text (1-based line and column).
func position(t *testing.T, text, marker string) (int, int) {
	t.Helper()
	i := strings.Index(text, marker)
	if i < 0 {
		t.Fatalf("marker %q not in the YAML", marker)
	}
	line := strings.Count(text[:i], "\n") + 1
	col := i - strings.LastIndex(text[:i], "\n")
	return line, col
}

func TestLoadGoodConfigs(t *testing.T) {
	for _, text := range []string{good, goodMulti, goodAgentic, goodMultiAgentic} {
		dir := writeCheckout(t, text, goodRunners)
		m, diags := Load(dir, []string{"configs/nvidia-master.yaml"}, "")
		if len(diags) > 0 || m == nil || len(m.Configs) != 1 {
			t.Errorf("Load(%s...): %v", text[:3], diags)
		}
	}
}

func TestLoadSchemaErrors(t *testing.T) {
	rep := func(base, old, new string) string {
		if !strings.Contains(base, old) {
			panic("no " + old)
		}
		return strings.Replace(base, old, new, 1)
	}
	tests := []struct {
		name, yaml, runners string
		marker              string // where the diagnostic points
		want                string
	}{
		{"unknown top key", rep(good, "  model: m\n", "  model: m\n  colour: red\n"), "", "colour:", `has no key "colour"; allowed keys: image, model, model-prefix`},
		{"unknown entry key", rep(good, "conc-list: [1]}", "conc-list: [1], tpp: 2}"), "", "tpp:", `has no key "tpp"`},
		{"kv-p2p-transfer on single-node", rep(good, "  multinode: false\n", "  multinode: false\n  kv-p2p-transfer: nixl\n"), "", "kv-p2p-transfer:", `no key "kv-p2p-transfer"`},
		{"unknown worker key", rep(goodMulti, "tp: 4, ep: 4", "tp: 4, batch-size: 8, ep: 4"), "", "batch-size", `no key "batch-size"; allowed keys: num-worker, tp`},
		{"unknown scenario", rep(good, "    fixed-seq-len:", "    chat:\n      - x\n    fixed-seq-len:"), "", "chat:", `no key "chat"`},
		{"string for int", rep(good, "{tp: 1,", `{tp: "1",`), "", `"1"`, `"tp" must be an integer, not the string "1"`},
		{"float for int", rep(good, "isl: 1024", "isl: 10.5"), "", "10.5", `"isl" must be an integer`},
		{"int for string", rep(good, "precision: fp8", "precision: 8"), "", "8\n", `"precision" must be a string, not the number 8`},
		{"YAML 1.1 boolean for string", rep(good, "model: m", "model: yes"), "", "yes", `"model" must be a string, not the boolean yes`},
		{"string for bool", rep(good, "multinode: false", `multinode: "false"`), "", `"false"`, `"multinode" must be true or false`},
		{"missing model", rep(good, "  model: m\n", ""), "", "image:", `needs "model"`},
		{"missing multinode", rep(good, "  multinode: false\n", ""), "", "image:", `needs "multinode"`},
		{"missing tp", rep(good, "{tp: 1, ", "{"), "", "{conc", `needs "tp"`},
		{"null value", rep(good, "image: img", "image:"), "", "\n  model", `"image" of config "k" is null`},
		{"duplicate key", rep(good, "  model: m\n", "  model: m\n  model: n\n"), "", "model: n", `sets "model" twice (first at line 3)`},
		{"wildcard key", rep(good, "k:", "k*:"), "", "k*", "contains '*'"},
		{"no scenario", rep(good, "    fixed-seq-len:\n      - isl: 1024\n        osl: 1024\n        search-space:\n          - {tp: 1, conc-list: [1]}\n", "    fixed-seq-len: []\n"), "", "fixed-seq-len: []", "at least one scenario"},
		{"conc list and range", rep(good, "conc-list: [1]}", "conc-list: [1], conc-start: 1, conc-end: 2}"), "", "conc-start", "either conc-list or conc-start and conc-end, not both"},
		{"no conc", rep(good, "{tp: 1, conc-list: [1]}", "{tp: 1}"), "", "{tp: 1}", "needs conc-list or both conc-start and conc-end"},
		{"conc-start alone", rep(good, "conc-list: [1]}", "conc-start: 1}"), "", "{tp: 1", "conc-start and conc-end together"},
		{"start above end", rep(good, "conc-list: [1]}", "conc-start: 8, conc-end: 4}"), "", "8,", "conc-start (8) must be <= conc-end (4)"},
		{"zero conc", rep(good, "conc-list: [1]}", "conc-list: [4, 0]}"), "", "0]", "greater than 0, not 0"},
		{"empty conc-list", rep(good, "conc-list: [1]}", "conc-list: []}"), "", "[]}", "must not be an empty list"},
		{"zero pp", rep(good, "{tp: 1,", "{tp: 1, pp: 0,"), "", "0,", `"pp" must be greater than 0`},
		{"tp not divisible by dcp", rep(good, "{tp: 1,", "{tp: 6, dcp-size: 4,"), "", "4,", "tp (6) must be divisible by dcp-size (4)"},
		{"bad spec-decoding", rep(good, "{tp: 1,", "{tp: 1, spec-decoding: eagle,"), "", "eagle", "spec-decoding must be one of mtp, draft_model, none"},
		{"disagg on single-node", rep(good, "  multinode: false\n", "  multinode: false\n  disagg: true\n"), "", "true\n  scen", "needs multinode: true"},
		{"disagg without kv-p2p-transfer", rep(goodMulti, "  multinode: true\n", "  multinode: true\n  disagg: true\n"), "", "true\n  scen", "needs kv-p2p-transfer at the top level or in every search-space entry"},
		{"router twice", rep(rep(good, "  multinode: false\n", "  multinode: false\n  router: {name: r, version: '1'}\n"), "conc-list: [1]}", "conc-list: [1], router: {name: r, version: '1'}}"), "", "router: {name: r, version: '1'}\n", "router at the top level and in a search-space entry (line 15)"},
		{"router without version", rep(good, "  multinode: false\n", "  multinode: false\n  router: {name: r}\n"), "", "{name: r}", `Router needs "version"`},
		{"router version from an image", rep(good, "  multinode: false\n", "  multinode: false\n  router: {name: r, version: 'image:x'}\n"), "", "'image:x'", "not an image reference"},
		{"hardware on one role", rep(goodMulti, "ep: 4, dp-attn: true}", "ep: 4, dp-attn: true, hardware: gb200}"), "", "conc-list: [4]", "hardware must be given for both prefill and decode, or neither"},
		{"worker without ep", rep(goodMulti, "tp: 8, ep: 8, ", "tp: 8, "), "", "{num-worker: 1, tp: 8", `needs "ep"`},
		{"additional-settings not strings", rep(goodMulti, "dp-attn: true}", "dp-attn: true, additional-settings: [{A: 1}]}"), "", "{A: 1}", "Entries of \"additional-settings\" must be strings"},
		{"agentic runner not a cluster", rep(goodAgentic, "runner: cluster:mi355x-amds", "runner: h200"), "", "h200\n", `runner must be a "cluster:<name>" label`},
		{"dram without dram-utilization", rep(goodAgentic, "      - dram-utilization: 0.5\n        search-space:", "      - search-space:"), "", "{tp: 8", "needs dram-utilization"},
		{"dram-utilization above 1", rep(goodAgentic, "0.5", "1.5"), "", "1.5", "dram-utilization must be in (0, 1], not 1.5"},
		{"dram without backend", rep(goodAgentic, "kv-offload-backend: {name: b}, ", ""), "", "{tp: 8", `kv-offload-backend is required when kv-offloading is "dram"`},
		{"backend without offload", rep(goodAgentic, "kv-offloading: dram", "kv-offloading: none"), "", "kv-offload-backend:", "only be set when kv-offloading is not none"},
		{"agentic without kv-offloading", rep(goodAgentic, "kv-offloading: dram, kv-offload-backend: {name: b}, ", ""), "", "{tp: 8", "needs kv-offloading"},
		{"bad kv-offloading", rep(goodAgentic, "kv-offloading: dram", "kv-offloading: ssd"), "", "ssd", "kv-offloading must be one of none, dram"},
		{"backend version from an image", rep(goodAgentic, "{name: b}", "{name: b, version: image:y}"), "", "image:y", "not an image reference"},
		{"trace-source", rep(goodAgentic, "conc-list: [4]}", "conc-list: [4], trace-source: x}"), "", "trace-source", `no key "trace-source"`},
		{"multi-node agentic sets pp", rep(goodMultiAgentic, "            conc-list: [4]\n", "            conc-list: [4]\n            pp: 2\n"), "", "pp: 2", "cannot set pp, dcp-size or pcp-size"},
		{"agentic tp and prefill", rep(goodMultiAgentic, "          - prefill:", "          - tp: 4\n            prefill:"), "", "tp: 4", "either tp or both prefill and decode"},
		{"single-node config with a multi-node agentic entry", rep(rep(goodMultiAgentic, "multinode: true", "multinode: false"), "conc-list: [4]\n", "conc-list: [4]\n            kv-offloading: none\n"), "", "prefill:", "is single-node, so its agentic entries give tp"},
		{"kv-p2p-transfer in a single-node entry", rep(goodAgentic, "conc-list: [4]}", "conc-list: [4], kv-p2p-transfer: nixl}"), "", "{tp: 8", "only valid when multinode: true"},
		{"alias", rep(good, "model: m", "model: &x m\n  framework2: *x"), "", "*x", "aliases"},
		{"YAML syntax", rep(good, "image: img", "image: [img"), "", "", "Invalid YAML"},
		{"not a mapping", "- a\n- b\n", "", "", "must be a YAML mapping"},
		{"runner label empty", good, rep(goodRunners, "h200: [h200-cw_0]", "h200: []"), "[]", "must not be an empty list"},
		{"runner file unknown key", good, goodRunners + "nodes: {}\n", "nodes:", `no key "nodes"; allowed keys: labels, hardware`},
		{"runner hardware incomplete", good, rep(goodRunners, "{available-cpu-dram-mib: 1000, gpus-per-node: 8}", "{available-cpu-dram-mib: 1000}"), "{available", `needs "gpus-per-node"`},
		{"runner file without labels", good, "hardware: {}\n", "hardware", `needs "labels"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runners := tt.runners
			if runners == "" {
				runners = goodRunners
			}
			dir := writeCheckout(t, tt.yaml, runners)
			m, diags := Load(dir, []string{"configs/nvidia-master.yaml"}, "")
			if m != nil || !diags.HasErrors() {
				t.Fatalf("Load succeeded; want %q", tt.want)
			}
			file, text := filepath.Join(dir, "configs", "nvidia-master.yaml"), tt.yaml
			if tt.runners != "" {
				file, text = filepath.Join(dir, "configs", "runners.yaml"), tt.runners
			}
			for _, d := range diags {
				if !strings.Contains(d.Summary+": "+d.Detail, tt.want) {
					continue
				}
				if d.Subject == nil || d.Subject.Filename != file {
					t.Fatalf("diagnostic %q at %v; want in %s", d.Detail, d.Subject, file)
				}
				if tt.marker != "" {
					line, col := position(t, text, tt.marker)
					if d.Subject.Start.Line != line || d.Subject.Start.Column != col {
						t.Errorf("diagnostic %q at %d:%d; want %d:%d", d.Detail, d.Subject.Start.Line, d.Subject.Start.Column, line, col)
					}
				}
				return
			}
			t.Errorf("no diagnostic with %q in:\n%s", tt.want, diagText(diags))
		})
	}
}

func diagText(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.Error() + "\n")
	}
	return b.String()
}

func TestLoadAcrossFiles(t *testing.T) {
	dir := writeCheckout(t, good, goodRunners)
	other := filepath.Join(dir, "configs", "amd-master.yaml")
	if err := os.WriteFile(other, []byte("# first line\n"+good), 0o644); err != nil {
		t.Fatal(err)
	}
	// Defaults: nvidia then amd; the same key in both is refused at its
	// second place.
	_, diags := Load(dir, nil, "")
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, `Config "k" is already defined at `+filepath.Join(dir, "configs", "nvidia-master.yaml")+":1:1") ||
		diags[0].Subject.Filename != other || diags[0].Subject.Start.Line != 2 {
		t.Errorf("duplicate across files: %s", diagText(diags))
	}

	// A runner label missing from the runner file is only a warning, as
	// InferenceX does not check it.
	dir = writeCheckout(t, strings.Replace(good, "runner: h200", "runner: h100", 1), goodRunners)
	m, diags := Load(dir, []string{filepath.Join(dir, "configs", "nvidia-master.yaml")}, filepath.Join(dir, "configs", "runners.yaml"))
	if m == nil || diags.HasErrors() || len(diags) != 1 || !strings.Contains(diags[0].Detail, `runner "h100"`) {
		t.Errorf("unknown label: %s", diagText(diags))
	}

	// Missing files and oversized files are refused.
	if _, diags := Load(dir, []string{"configs/nope.yaml"}, ""); !diags.HasErrors() || !strings.Contains(diags[0].Detail, "nope.yaml") {
		t.Errorf("missing file: %s", diagText(diags))
	}
	big := filepath.Join(dir, "configs", "big.yaml")
	if err := os.WriteFile(big, []byte("k: "+strings.Repeat("x", MaxFileBytes)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, diags := Load(dir, []string{"configs/big.yaml"}, ""); !diags.HasErrors() || diags[0].Summary != "File too large" {
		t.Errorf("big file: %s", diagText(diags))
	}
}
