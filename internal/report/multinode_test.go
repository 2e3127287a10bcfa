package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/topology"
)

// client is a client result at conc whose throughput grows and whose
// interactivity falls with concurrency, by scale.
func client(conc int, scale float64) []byte {
	total := scale * 1000 * float64(conc) / (1 + float64(conc)/32)
	return []byte(fmt.Sprintf(`{"model_id":"m","max_concurrency":%d,"completed":100,"failed":0,
"total_token_throughput":%g,"output_throughput":%g,"median_ttft_ms":%g,"median_tpot_ms":%g,"median_e2el_ms":%g}`,
		conc, total, total/3, 100+10*float64(conc), 10+float64(conc)/4, 1000+40*float64(conc)))
}

// mixedRows are the points of one run: single-node tp8, an aggregated
// multi-node deployment of two tp8 workers and a disaggregated one of a
// tp8 prefill and a tp8 decode worker, each at concurrencies 4, 16, 64.
func mixedRows(t *testing.T, run string) []*results.Row {
	t.Helper()
	meta := func(job string) results.Meta {
		return results.Meta{RunID: run, JobID: job, Node: "h200-0", HW: "h200", Model: "m", Framework: "sglang", Precision: "fp8",
			ISL: 1024, OSL: 1024}
	}
	var rows []*results.Row
	for _, conc := range []int{4, 16, 64} {
		m := meta(fmt.Sprintf("single_tp8_conc%d", conc))
		m.TP, m.Conc = 8, conc
		r, err := results.Aggregate(m, client(conc, 1))
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
		for _, c := range []struct {
			job   string
			shape topology.Shape
			scale float64
		}{
			{"agg", topology.Shape{Prefill: topology.Pool{Workers: 2, TP: 8}}, 2.2},
			{"disagg", topology.Shape{Prefill: topology.Pool{Workers: 1, TP: 8}, Decode: topology.Pool{Workers: 1, TP: 8}, KVTransfer: "nixl"}, 2.6},
		} {
			r, err := results.AggregateMulti(meta(c.job), c.shape, conc, client(conc, c.scale))
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r)
		}
	}
	return rows
}

func TestReportShowsMultiNodeDeploymentsAsTheirOwnSeries(t *testing.T) {
	rows := mixedRows(t, "r")
	rep := Build(Input{Runs: []string{"r"}, Rows: rows, Jobs: []JobStatus{
		{Run: "r", Job: "single_tp8_conc4", HW: "h200", State: "done", Attempts: 1},
		{Run: "r", Job: "agg", HW: "h200", State: "done", Attempts: 1},
		{Run: "r", Job: "disagg", HW: "h200", State: "done", Attempts: 1},
	}})
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden(t, "multinode_report.txt", text.Bytes())

	var labels []string
	for _, c := range rep.charts() {
		if c.name != ChartTputIntvty {
			continue
		}
		for _, s := range c.series {
			labels = append(labels, fmt.Sprintf("%s (%d points)", s.label, len(s.markers)))
		}
	}
	want := "h200 sglang fp8 (3 points), h200 sglang fp8 agg 2x8 (3 points), h200 sglang fp8 p1x8/d1x8 (3 points), h200 frontier (0 points)"
	if got := strings.Join(labels, ", "); got != want {
		t.Errorf("throughput vs interactivity series: %s\nwant %s", got, want)
	}

	var html bytes.Buffer
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	for _, s := range []string{"<th>Shape</th>", "<td>p1x8/d1x8</td>", "<td>agg 2x8</td>", "<td>-</td>",
		`data-label="h200 sglang fp8 p1x8/d1x8"`, `data-label="h200 sglang fp8 agg 2x8"`} {
		if !strings.Contains(h, s) {
			t.Errorf("HTML report lacks %s", s)
		}
	}
}

func TestCompareKeepsDisaggregatedAndAggregatedPointsApart(t *testing.T) {
	a := mixedRows(t, "a")
	b := mixedRows(t, "b")
	// B's disaggregated deployment lost 20% at every concurrency; its
	// job ids are new, so only the configuration (shape included) can
	// pair the points.
	for _, r := range b {
		if r.Shape() == "p1x8/d1x8" {
			r.TputPerGPU *= 0.8
		}
		r.JobID = "b-" + r.JobID
	}
	c := Compare("a", "b", a, b, nil, 0.05)
	if len(c.Configs) != 9 || len(c.OnlyA) != 0 || len(c.OnlyB) != 0 {
		t.Fatalf("compared %d configurations (only A %v, only B %v), want all 9 paired", len(c.Configs), c.OnlyA, c.OnlyB)
	}
	for _, d := range c.Configs {
		if d.Regressed != (d.Shape == "p1x8/d1x8") {
			t.Errorf("%s (shape %q): regressed %t", d.Key, d.Shape, d.Regressed)
		}
		if !strings.Contains(d.Key, d.Shape) {
			t.Errorf("%s does not name its shape %q", d.Key, d.Shape)
		}
	}
	if c.Regressions != 3 {
		t.Errorf("%d regressions, want the 3 disaggregated concurrencies", c.Regressions)
	}

	// Without its aggregated and single-node twins of equal tp, B's
	// disaggregated points find no partner in A's: they are only in B.
	var disaggOnly []*results.Row
	for _, r := range b {
		if r.Shape() == "p1x8/d1x8" {
			disaggOnly = append(disaggOnly, r)
		}
	}
	var notDisagg []*results.Row
	for _, r := range a {
		if r.Shape() != "p1x8/d1x8" {
			notDisagg = append(notDisagg, r)
		}
	}
	c = Compare("a", "b", notDisagg, disaggOnly, nil, 0.05)
	if len(c.Configs) != 0 || len(c.OnlyB) != 3 {
		t.Errorf("disaggregated points paired with other shapes: %+v", c.Configs)
	}

	// One multi-node job of the same id in both runs pairs by
	// concurrency, not all its rows with one.
	c = Compare("a", "b", a, mixedRows(t, "b2"), nil, 0.05)
	for _, d := range c.Configs {
		if d.JobA != d.JobB || d.Regressed || d.Improved {
			t.Errorf("%s paired job %s with %s", d.Key, d.JobA, d.JobB)
		}
	}
	if len(c.Configs) != 9 {
		t.Errorf("%d pairs, want 9", len(c.Configs))
	}
}
