package report

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/results"
)

// Keys and names of the agentic part of a report.
const (
	keyP90TTFT      = "p90_ttft"
	keyITL          = "median_itl"
	keyP90Intvty    = "p90_intvty"
	ChartAgentic    = "agentic_tput_vs_intvty"
	agenticKVNone   = "none"
	agenticSeriesID = "a"
)

// AgenticOffload is a row's KV offload as a label: "none", or
// "dram/<backend>" (with the DRAM it had, "dram/hicache 1199 GB").
func AgenticOffload(r *results.Row) string {
	var mode string
	_ = json.Unmarshal(r.Extra["kv_offloading"], &mode)
	if mode == "" || mode == agenticKVNone {
		return agenticKVNone
	}
	var backend struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(r.Extra["kv_offload_backend"], &backend)
	label := mode
	if backend.Name != "" {
		label += "/" + backend.Name
	}
	if gb, ok := r.Metrics["allocated_cpu_dram_gb"]; ok && gb > 0 {
		label += " " + strconv.FormatFloat(gb, 'f', -1, 64) + " GB"
	}
	return label
}

// AgenticPoint is one agentic run (one concurrency) as the report shows
// it. Times are in seconds, rates are fractions; a value the row lacks is
// null.
type AgenticPoint struct {
	Run              string   `json:"run,omitempty"`
	JobID            string   `json:"job_id"`
	HW               string   `json:"hw"`
	Framework        string   `json:"framework"`
	Precision        string   `json:"precision"`
	TP               int      `json:"tp"`
	EP               int      `json:"ep"`
	DPAttention      bool     `json:"dp_attention"`
	Shape            string   `json:"shape,omitempty"`
	Offload          string   `json:"kv_offload"`
	Conc             int      `json:"conc"`
	TputPerGPU       float64  `json:"tput_per_gpu"`
	OutputTputPerGPU float64  `json:"output_tput_per_gpu"`
	MedianTTFT       *float64 `json:"median_ttft"`
	P90TTFT          *float64 `json:"p90_ttft"`
	MedianITL        *float64 `json:"median_itl"`
	Interactivity    *float64 `json:"median_intvty"`
	TheoreticalHit   *float64 `json:"theoretical_cache_hit_rate"`
	ServerHit        *float64 `json:"server_cache_hit_rate"`
}

func metricPtr(r *results.Row, k string) *float64 {
	if v, ok := r.Metrics[k]; ok && finiteF(v) {
		return &v
	}
	return nil
}

func agenticPoint(r *results.Row, multi bool) AgenticPoint {
	p := AgenticPoint{JobID: r.JobID, HW: r.HW, Framework: r.Framework, Precision: r.Precision, TP: r.TP, EP: r.EP,
		DPAttention: r.DPAttention, Shape: r.Shape(), Offload: AgenticOffload(r), Conc: r.Conc, TputPerGPU: r.TputPerGPU,
		OutputTputPerGPU: r.OutputTputPerGPU, MedianTTFT: metricPtr(r, keyTTFT), P90TTFT: metricPtr(r, keyP90TTFT),
		MedianITL: metricPtr(r, keyITL), Interactivity: metricPtr(r, keyIntvty), TheoreticalHit: metricPtr(r, results.KeyTheoHitRate),
		ServerHit: metricPtr(r, results.KeyServerHit)}
	if multi {
		p.Run = r.RunID
	}
	return p
}

// splitAgentic separates agentic rows (flattened) from the others: they
// replay traces, so their throughput and interactivity compare with each
// other only, never with fixed-length runs' frontiers.
func splitAgentic(rows []*results.Row) (fixed, agentic []*results.Row) {
	for _, r := range rows {
		if !results.IsAgentic(r) {
			fixed = append(fixed, r)
			continue
		}
		c := *r
		c.Metrics = make(map[string]float64, len(r.Metrics))
		for k, v := range r.Metrics {
			c.Metrics[k] = v
		}
		// A row whose nested metrics do not decode keeps what it has.
		_ = results.FlattenAgentic(&c)
		agentic = append(agentic, &c)
	}
	return fixed, agentic
}

// agenticGroups are the agentic chart's series: one per (run, GPU,
// framework, precision, shape, offload), in the rows' order.
func (rep *Report) agenticGroups() [][]*results.Row {
	var order []string
	by := map[string][]*results.Row{}
	for _, r := range rep.agentic {
		k := agenticLabel(r, len(rep.Runs) > 1)
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	out := make([][]*results.Row, len(order))
	for i, k := range order {
		out[i] = by[k]
	}
	return out
}

func agenticLabel(r *results.Row, multi bool) string {
	l := strings.Join(nonEmpty(r.HW, r.Framework, r.Precision, r.Shape()), " ") + " · kv " + AgenticOffload(r)
	if multi {
		l = r.RunID + ": " + l
	}
	return l
}

// hitRate is the cache hit rate shown beside an agentic point: the
// server's when it reported one, else the trace's theoretical one.
func hitRate(r *results.Row) (float64, string) {
	if v, ok := r.Metrics[results.KeyServerHit]; ok && finiteF(v) {
		return v, "server"
	}
	if v, ok := r.Metrics[results.KeyTheoHitRate]; ok && finiteF(v) {
		return v, "theoretical"
	}
	return math.NaN(), ""
}

// hitLabel is the label drawn beside an agentic point: "hit 87%"
// (the server's rate) or "hit 91% (theor.)", "" when the row has neither.
func hitLabel(r *results.Row) string {
	v, src := hitRate(r)
	if src == "" {
		return ""
	}
	s := "hit " + strconv.FormatFloat(100*v, 'f', 0, 64) + "%"
	if src == "theoretical" {
		s += " (theor.)"
	}
	return s
}

// agenticTip is an agentic point's tooltip.
func agenticTip(label string, r *results.Row) string {
	f := func(v float64, scale float64, prec int) string {
		if !finiteF(v) {
			return "-"
		}
		return strconv.FormatFloat(v*scale, 'f', prec, 64)
	}
	return fmt.Sprintf("%s\ntp%d ep%d · conc %d\nthroughput/GPU %s tok/s · output %s tok/s\ninteractivity %s tok/s/user\nTTFT p50 %s ms · p90 %s ms · ITL %s ms\ncache hit: server %s%% · theoretical %s%%\n%s",
		label, r.TP, r.EP, r.Conc, f(r.TputPerGPU, 1, 1), f(r.OutputTputPerGPU, 1, 1), f(metric(r, keyIntvty), 1, 1),
		f(metric(r, keyTTFT), 1000, 1), f(metric(r, keyP90TTFT), 1000, 1), f(metric(r, keyITL), 1000, 2),
		f(metric(r, results.KeyServerHit), 100, 1), f(metric(r, results.KeyTheoHitRate), 100, 1), r.JobID)
}

// agenticChart is throughput per GPU against median interactivity for
// the agentic runs, one line per series through its concurrencies, the
// cache hit rate beside each point; nil without agentic rows.
func (rep *Report) agenticChart() *chart {
	if len(rep.agentic) == 0 {
		return nil
	}
	c := &chart{name: ChartAgentic, title: "Agentic: throughput per GPU vs interactivity (cache hit rate beside each point)",
		xlabel: "Median interactivity (tok/s/user)", ylabel: "Throughput per GPU (tok/s)", tipFn: agenticTip, labelFn: hitLabel}
	for i, rows := range rep.agenticGroups() {
		fam := families[i%len(families)]
		s := chartSeries{key: fmt.Sprintf("%s%d", agenticSeriesID, i), label: agenticLabel(rows[0], len(rep.Runs) > 1),
			color: hexColor(fam[1]), shape: i / len(families)}
		for _, r := range rows {
			s.markers = appendFinite(s.markers, metric(r, keyIntvty), r.TputPerGPU, r)
		}
		// Concurrency order: interactivity falls as it rises.
		line := append([]chartPoint(nil), s.markers...)
		sort.SliceStable(line, func(a, b int) bool { return line[a].row.Conc < line[b].row.Conc })
		s.lines = [][]chartPoint{line}
		c.series = append(c.series, s)
	}
	c.bounds()
	return c
}
