package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// agenticSweep is a config with one agentic block whose body is body,
// for framework fw.
func agenticSweep(fw, body string) string {
	return `
config "ag" {
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "` + fw + `"
  image        = "img"
  runner       = "h200"
  agentic "cc" {
` + body + `
  }
}
`
}

func TestAgenticBlock(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "traces.jsonl"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := agenticSweep("sglang", `
    trace    = "traces.jsonl"
    duration = "1200s"
    block_size = 64
    search {
      tp   = 8
      conc = [4, 8]
    }
    search {
      tp                 = 8
      conc               = [4]
      kv_offloading      = "dram"
      kv_offload_backend = "hicache"
      dram_gb            = 100
    }
    search {
      prefill {
        workers = 1
        tp      = 8
      }
      conc = [2, 4]
    }`)
	path := filepath.Join(dir, "s.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	l := NewLoader(nil)
	l.SetMaxJobs(6)
	sw := mustSweep(t, l, path, nil)
	sc := sw.Configs[0].Scenarios[0]
	if sc.Agentic == nil {
		t.Fatal("agentic block decoded without its Agentic settings")
	}
	ag := sc.Agentic
	if ag.Trace != "traces.jsonl" || ag.Duration != 1200*time.Second || ag.BlockSize != 64 || ag.WarmupPerLane != DefaultWarmupPerLane {
		t.Errorf("agentic settings %+v", ag)
	}
	if got, want := ag.TracePath(path), filepath.Join(dir, "traces.jsonl"); got != want {
		t.Errorf("TracePath = %s, want %s", got, want)
	}
	var got []Offload
	for _, s := range sc.Search {
		if s.Offload == nil {
			t.Fatalf("an agentic band without offload settings: %+v", s)
		}
		o := s.Offload
		got = append(got, Offload{Mode: o.Mode, Backend: o.Backend, DramGB: o.DramGB})
	}
	want := []Offload{{Mode: "none"}, {Mode: "dram", Backend: "hicache", DramGB: 100}, {Mode: "none"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("offload %+v, want %+v", got, want)
	}
	if sc.Search[2].Multi == nil {
		t.Error("the multi-node agentic band has no shape")
	}
	// 2 + 1 + 2 (a multi-node agentic band is one job per concurrency):
	// a limit of 4 refuses it.
	l = NewLoader(nil)
	l.SetMaxJobs(4)
	if _, diags := l.Sweep(path, nil); !strings.Contains(diagLines(diags), "makes 5 jobs") {
		t.Errorf("five agentic jobs against a limit of 4: %s", diagLines(diags))
	}
}

func TestAgenticBlockDefaultsAndDataset(t *testing.T) {
	l := NewLoader(nil)
	sw := mustSweep(t, l, writeFile(t, "s.hcl", agenticSweep("vllm", `
    dataset = "semianalysisai/cc-traces-weka-062126-256k"
    search {
      tp   = 4
      conc = [16]
    }`)), nil)
	ag := sw.Configs[0].Scenarios[0].Agentic
	if ag.Dataset != "semianalysisai/cc-traces-weka-062126-256k" || ag.Duration != DefaultAgenticDuration || ag.BlockSize != 0 || ag.TracePath("x/s.hcl") != "" {
		t.Errorf("defaults %+v", ag)
	}
}

func TestAgenticBlockRefusals(t *testing.T) {
	band := func(extra string) string {
		return "    dataset = \"a/b\"\n    search {\n      tp = 8\n      conc = [4]\n" + extra + "\n    }"
	}
	tests := []struct {
		name, fw, body string
		line           int    // where the diagnostic points
		want           string // in its text
	}{
		{"missing trace file", "vllm", "    trace = \"nope.jsonl\"\n    search {\n      tp = 8\n      conc = [4]\n    }", 10, "nope.jsonl: no such file"},
		{"no source", "vllm", "    search {\n      tp = 8\n      conc = [4]\n    }", 9, "needs trace"},
		{"both sources", "vllm", "    trace = \"t\"\n    dataset = \"a/b\"\n    search {\n      tp = 8\n      conc = [4]\n    }", 11, "either trace"},
		{"short duration", "vllm", "    duration = \"30s\"\n" + band(""), 10, "under 1m0s"},
		{"unknown backend", "vllm", band(`      kv_offloading = "dram"
      kv_offload_backend = "hicash"
      dram_gb = 10`), 15, `Did you mean "hicache"`},
		{"backend of another framework", "vllm", band(`      kv_offloading = "dram"
      kv_offload_backend = "hicache"
      dram_gb = 10`), 15, `framework "vllm", which has no "hicache"`},
		{"dram without GB", "trt", band(`      kv_offloading = "dram"
      kv_offload_backend = "native"`), 11, "needs dram_gb"},
		{"backend without dram", "vllm", band(`      kv_offload_backend = "lmcache"`), 14, `for kv_offloading = "dram"`},
		{"isl in an agentic block", "vllm", "    isl = 10\n" + band(""), 10, "Unsupported argument"},
		{"offload in a fixed scenario", "vllm", "", 0, "Unsupported argument"},
		{"two bands of one point", "vllm", band("") + "\n" + strings.Replace(band(""), "    dataset = \"a/b\"\n", "", 1), 16, "Duplicate job"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := agenticSweep(tt.fw, tt.body)
			if tt.body == "" {
				src = strings.Replace(agenticSweep(tt.fw, ""), `agentic "cc" {`, `scenario "1k1k" {
    isl = 1
    osl = 1
    search {
      tp = 8
      conc = [1]
      kv_offloading = "none"
    }`, 1)
			}
			_, diags := NewLoader(nil).Sweep(writeFile(t, "s.hcl", src), nil)
			text := diagLines(diags)
			if !diags.HasErrors() || !strings.Contains(text, tt.want) {
				t.Fatalf("want an error with %q, got:\n%s", tt.want, text)
			}
			if tt.line > 0 {
				found := false
				for _, d := range diags {
					if d.Subject != nil && d.Subject.Start.Line == tt.line && strings.Contains(d.Summary+": "+d.Detail, tt.want) {
						found = true
					}
				}
				if !found {
					t.Errorf("no diagnostic at line %d with %q:\n%s", tt.line, tt.want, text)
				}
			}
		})
	}
}
