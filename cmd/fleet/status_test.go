package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
)

func TestStatusSaysWhichConcurrenciesAMultiNodeJobMeasured(t *testing.T) {
	multi := func(conc int) *results.Row {
		return &results.Row{JobID: "disagg", HW: "h200", TP: 8, Conc: conc, TputPerGPU: 1,
			Metrics: map[string]float64{"prefill_num_workers": 1, "prefill_tp": 8, "decode_num_workers": 1, "decode_tp": 8, "num_decode_gpu": 8},
			Extra:   map[string]json.RawMessage{"is_multinode": json.RawMessage("true")}}
	}
	s := &run.Summary{RunID: "r", Done: 2, Counts: map[string]int{journal.StateDone: 2},
		Jobs: []run.Outcome{{Job: "disagg", State: journal.StateDone, Node: "n0", Attempts: 1}, {Job: "single", State: journal.StateDone, Node: "n1", Attempts: 1}},
		Rows: []*results.Row{multi(4), multi(16), {JobID: "single", HW: "h200", TP: 8, Conc: 4, TputPerGPU: 1}}}
	var buf bytes.Buffer
	if err := printStatus(&buf, s); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	var disagg, single string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "disagg"):
			disagg = l
		case strings.HasPrefix(l, "single"):
			single = l
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(disagg), "p1x8/d1x8 conc 4 16") {
		t.Errorf("multi-node job's line %q: want its shape and concurrencies", disagg)
	}
	if strings.Contains(single, "conc") {
		t.Errorf("a single-node job's line %q says more than before", single)
	}
}
