package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/topology"
)

func TestMultiNodeBands(t *testing.T) {
	const head = `
config "pd" {
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sim"
  runner       = "b200-slurm"
  scenario "1k1k" {
    isl = 1024
    osl = 1024
`
	tests := []struct {
		name  string
		band  string
		want  topology.Shape
		conc  []int
		count int // jobs the loader counts for the band
	}{
		{
			name: "disaggregated, every key",
			band: `search {
      kv_transfer = "nixl"
      prefill {
        workers = 2
        tp      = 4
        ep      = 4
        dp_attn = true
        nodes   = 1
      }
      decode {
        workers = 1
        tp      = 4
        pp      = 2
      }
      router { policy = "session" }
      conc_start = 4
      conc_end   = 16
    }`,
			want: topology.Shape{
				Prefill:    topology.Pool{Workers: 2, TP: 4, EP: 4, PP: 1, DPAttn: true, Nodes: 1},
				Decode:     topology.Pool{Workers: 1, TP: 4, EP: 1, PP: 2},
				Router:     topology.Router{Policy: "session"},
				KVTransfer: "nixl",
			},
			conc:  []int{4, 8, 16},
			count: 1,
		},
		{
			name: "aggregated: no decode block",
			band: `search {
      prefill {
        workers = 2
        tp      = 8
      }
      conc = [64, 8]
    }`,
			want:  topology.Shape{Prefill: topology.Pool{Workers: 2, TP: 8, EP: 1, PP: 1}, Router: topology.Router{Policy: "round_robin"}},
			conc:  []int{64, 8},
			count: 1,
		},
		{
			name: "aggregated: decode workers = 0",
			band: `search {
      prefill {
        workers = 1
        tp      = 16
      }
      decode { workers = 0 }
      conc = [1]
    }`,
			want:  topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 16, EP: 1, PP: 1}, Router: topology.Router{Policy: "round_robin"}},
			conc:  []int{1},
			count: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoader(nil)
			inv := mustInventory(t, l, "testdata/fleet.hcl")
			path := writeFile(t, "s.hcl", head+"    "+tt.band+"\n  }\n}\n")
			sw := mustSweep(t, l, path, inv)
			s := sw.Configs[0].Scenarios[0].Search[0]
			if s.Multi == nil {
				t.Fatalf("band has no shape: %+v", s)
			}
			if !reflect.DeepEqual(*s.Multi, tt.want) {
				t.Errorf("shape:\n got %+v\nwant %+v", *s.Multi, tt.want)
			}
			if !reflect.DeepEqual(s.Conc, tt.conc) {
				t.Errorf("conc = %v, want %v", s.Conc, tt.conc)
			}
			if s.TP != 0 {
				t.Errorf("a multi-node band has tp %d of its own", s.TP)
			}
		})
	}
}

// A multi-node band is one job however long its list: the job limit
// counts it once.
func TestMultiNodeBandCountsOneJob(t *testing.T) {
	l := NewLoader(nil)
	l.SetMaxJobs(2)
	band := `
    search {
      prefill {
        workers = 1
        tp      = 8
      }
      decode {
        workers = 1
        tp      = 8
      }
      conc = [1, 2, 4, 8, 16]
    }`
	src := `
config "pd" {
  model        = "m"
  model_prefix = "m"
  precision    = "fp8"
  framework    = "sim"
  runner       = "b200-slurm"
  scenario "1k1k" {
    isl = 1024
    osl = 1024` + band + strings.Replace(band, "[1, 2, 4, 8, 16]", "[32]", 1) + `
  }
}
`
	if _, diags := l.Sweep(writeFile(t, "s.hcl", src), nil); diags.HasErrors() {
		t.Fatalf("two multi-node bands of a limit of 2 jobs: %s", diagLines(diags))
	}
	src = strings.Replace(src, "  }\n}\n", strings.Replace(band, "[1, 2, 4, 8, 16]", "[64]", 1)+"\n  }\n}\n", 1)
	_, diags := l.Sweep(writeFile(t, "s.hcl", src), nil)
	if !diags.HasErrors() || !strings.Contains(diagLines(diags), "makes 3 jobs") {
		t.Errorf("three bands against a limit of 2: %s", diagLines(diags))
	}
}
