package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
)

// cloneRows copies rows into run, metrics included, so a test can plant
// changes without touching the originals.
func cloneRows(rows []*results.Row, run string) []*results.Row {
	out := make([]*results.Row, len(rows))
	for i, r := range rows {
		c := *r
		c.RunID = run
		c.Metrics = map[string]float64{}
		for k, v := range r.Metrics {
			c.Metrics[k] = v
		}
		out[i] = &c
	}
	return out
}

func TestCompare(t *testing.T) {
	in := fixtureInput(t)
	base := in.Rows
	find := func(rows []*results.Row, job string) *results.Row {
		for _, r := range rows {
			if r.JobID == job {
				return r
			}
		}
		t.Fatalf("no row %s", job)
		return nil
	}
	const target = "llama70b-fp8-h200-sglang_1k1k_tp8-ep1-dpafalse_conc16"
	const other = "llama70b-fp8-mi300x-vllm_1k1k_tp8-ep1-dpafalse_conc8"
	cases := []struct {
		name        string
		plant       func(b []*results.Row) []*results.Row
		jobsB       []JobStatus
		regressions int
		improved    int
		lost        int
		regressedOn string
	}{
		{name: "identical runs: nothing to report", plant: func(b []*results.Row) []*results.Row { return b }},
		{name: "throughput 10% lower is a regression", plant: func(b []*results.Row) []*results.Row {
			find(b, target).TputPerGPU *= 0.90
			return b
		}, regressions: 1, regressedOn: "tput_per_gpu"},
		{name: "TTFT 12% higher is a regression", plant: func(b []*results.Row) []*results.Row {
			find(b, target).Metrics[keyTTFT] *= 1.12
			return b
		}, regressions: 1, regressedOn: keyTTFT},
		{name: "changes within the threshold are noise", plant: func(b []*results.Row) []*results.Row {
			r := find(b, target)
			r.TputPerGPU *= 0.97
			r.Metrics[keyTTFT] *= 1.04
			r.Metrics[keyE2EL] *= 1.05 // exactly at the threshold
			return b
		}},
		{name: "faster is an improvement, not a regression", plant: func(b []*results.Row) []*results.Row {
			find(b, other).TputPerGPU *= 1.2
			find(b, other).Metrics[keyTPOT] *= 0.8
			return b
		}, improved: 1},
		{name: "a config that failed in B is lost, and counts", plant: func(b []*results.Row) []*results.Row {
			var out []*results.Row
			for _, r := range b {
				if r.JobID != target {
					out = append(out, r)
				}
			}
			return out
		}, jobsB: []JobStatus{{Job: target, State: "failed", Reason: "server exited before it became healthy"}}, regressions: 1, lost: 1},
		{name: "rows with other job ids match by configuration", plant: func(b []*results.Row) []*results.Row {
			for _, r := range b {
				r.JobID = "imported-" + r.JobID
			}
			find(b, "imported-"+target).TputPerGPU *= 0.5
			return b
		}, regressions: 1, regressedOn: "tput_per_gpu"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.plant(cloneRows(base, "B"))
			cmp := Compare("A", "B", base, b, c.jobsB, 0.05)
			if cmp.Regressions != c.regressions || cmp.Improvements != c.improved || len(cmp.Lost) != c.lost {
				t.Fatalf("regressions %d improvements %d lost %d; want %d %d %d", cmp.Regressions, cmp.Improvements, len(cmp.Lost),
					c.regressions, c.improved, c.lost)
			}
			if want := len(base) - c.lost; len(cmp.Configs) != want || len(cmp.OnlyA) != 0 || len(cmp.OnlyB) != 0 {
				t.Fatalf("%d configs matched (only A %v, only B %v), want %d", len(cmp.Configs), cmp.OnlyA, cmp.OnlyB, want)
			}
			if c.regressedOn != "" {
				var found bool
				for _, d := range cmp.Configs {
					for _, dl := range d.Deltas {
						if dl.Regressed {
							found = dl.Metric == c.regressedOn && strings.HasSuffix(d.JobA, target)
						}
					}
				}
				if !found {
					t.Errorf("regression not flagged on %s of %s", c.regressedOn, target)
				}
			}
			var text bytes.Buffer
			if err := cmp.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(text.String(), "REGRESSED"); got != c.regressions-c.lost {
				t.Errorf("text marks %d configs REGRESSED, want %d:\n%s", got, c.regressions-c.lost, text.String())
			}
		})
	}
}

func TestParseThreshold(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"5%", 0.05, true},
		{"5", 0.05, true},
		{" 2.5 % ", 0.025, true},
		{"0", 0, true},
		{"-1%", 0, false},
		{"five", 0, false},
	}
	for _, c := range cases {
		got, err := ParseThreshold(c.in)
		if (err == nil) != c.ok || c.ok && (got-c.want > 1e-12 || c.want-got > 1e-12) {
			t.Errorf("ParseThreshold(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestConfigKeysTellInferenceXConfigurationsApart(t *testing.T) {
	base := func(extra map[string]string, metrics map[string]float64) *results.Row {
		r := &results.Row{HW: "h200", Model: "m", Framework: "sglang", Precision: "fp8", ISL: 8192, OSL: 1024, TP: 8, EP: 1, Conc: 4,
			Metrics: metrics, Extra: map[string]json.RawMessage{}}
		for k, v := range extra {
			r.Extra[k] = json.RawMessage(v)
		}
		return r
	}
	fleet := base(nil, nil)
	if got, want := configKey(fleet), "h200 m sglang fp8 8192/1024 tp8-ep1-dpafalse conc4"; got != want {
		t.Errorf("fleet's own row: %q, want %q", got, want)
	}
	keys := map[string]string{}
	for name, r := range map[string]*results.Row{
		"fleet":      fleet,
		"spec none":  base(map[string]string{"spec_decoding": `"none"`}, map[string]float64{"pp": 1, "dcp_size": 1, "pcp_size": 1}),
		"spec mtp":   base(map[string]string{"spec_decoding": `"mtp"`}, nil),
		"dcp 4":      base(nil, map[string]float64{"dcp_size": 4}),
		"pp 2":       base(nil, map[string]float64{"pp": 2}),
		"multi 1p1d": base(nil, map[string]float64{"prefill_num_workers": 1, "prefill_tp": 4, "decode_num_workers": 1, "decode_tp": 8}),
		"multi 1p2d": base(nil, map[string]float64{"prefill_num_workers": 1, "prefill_tp": 4, "decode_num_workers": 2, "decode_tp": 8}),
	} {
		keys[name] = configKey(r)
	}
	if keys["fleet"] != keys["spec none"] {
		t.Errorf("a row without speculative decoding keys like fleet's own: %q vs %q", keys["spec none"], keys["fleet"])
	}
	seen := map[string]string{}
	for name, k := range keys {
		if name == "spec none" {
			continue
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("%s and %s share the key %q", name, prev, k)
		}
		seen[k] = name
	}
}

// A row run B reused from an earlier run (fleet sweep --only-changed) is
// compared like the others, and named as reused in the text and JSON.
func TestCompareMarksReusedRows(t *testing.T) {
	in := fixtureInput(t)
	b := cloneRows(in.Rows, "runB")
	b[0].Extra = nil
	b[0].MarkReused(results.Reuse{Run: "run-old", Job: b[0].JobID})
	c := Compare("runA", "runB", in.Rows, b, nil, 0.05)
	var reused int
	for _, d := range c.Configs {
		if d.ReusedB == "run-old" {
			reused++
		}
	}
	if reused != 1 {
		t.Fatalf("%d configurations marked reused, want 1", reused)
	}
	var text bytes.Buffer
	if err := c.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "(B reused from run-old)") {
		t.Errorf("text does not mark the reused row:\n%s", text.String())
	}
}
