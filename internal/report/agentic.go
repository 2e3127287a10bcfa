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

// Agentic rows are InferenceX's aggregated agentic rows (its AgentX
// aggregation, scenario_type "agentic-coding"): the job's columns at the
// top level and the numbers nested under request_metrics and
// server_metrics. results.Row keeps the nested objects as they came
// (Row.Extra); FlattenAgentic copies what the report shows into the
// row's own columns and metrics, so that one row reads the same whether
// it was just parsed or came back from the store.

// ScenarioAgentic is an agentic row's scenario_type.
const ScenarioAgentic = "agentic-coding"

// Metric keys FlattenAgentic sets (seconds for times, fractions for
// rates, tokens/s/user for interactivity).
const (
	keyP90TTFT      = "p90_ttft"
	keyITL          = "median_itl"
	keyP90Intvty    = "p90_intvty"
	KeyTheoHitRate  = "theoretical_cache_hit_rate"
	KeyServerHit    = "server_cache_hit_rate"
	keyGPUHitRate   = "gpu_cache_hit_rate"
	keyCPUHitRate   = "cpu_cache_hit_rate"
	ChartAgentic    = "agentic_tput_vs_intvty"
	agenticKVNone   = "none"
	agenticSeriesID = "a"
)

// IsAgentic says whether a row is an agentic trace-replay row.
func IsAgentic(r *results.Row) bool {
	var s string
	_ = json.Unmarshal(r.Extra["scenario_type"], &s)
	return s == ScenarioAgentic
}

// ParseAgenticRow reads one aggregated agentic row (the JSON InferenceX's
// agentic aggregation, or fleet bench's replay, writes) into a checked
// results.Row with its report columns filled in (FlattenAgentic).
func ParseAgenticRow(b []byte) (*results.Row, error) {
	var r results.Row
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("agentic row: %w", err)
	}
	if !IsAgentic(&r) {
		return nil, fmt.Errorf("agentic row: scenario_type is not %q", ScenarioAgentic)
	}
	if _, ok := r.Extra["request_metrics"]; !ok {
		return nil, fmt.Errorf("agentic row: no request_metrics")
	}
	if err := FlattenAgentic(&r); err != nil {
		return nil, err
	}
	if err := r.Check(); err != nil {
		return nil, fmt.Errorf("agentic row: %w", err)
	}
	return &r, nil
}

// stat is one latency distribution of request_metrics.latency.
type stat struct {
	Mean, P50, P90 *float64
}

type agenticMetrics struct {
	Latency map[string]stat `json:"latency"`
	Tokens  struct {
		Input        *float64 `json:"input"`
		OutputActual *float64 `json:"output_actual"`
	} `json:"tokens"`
	Throughput struct {
		PerGPU struct {
			Total  *float64 `json:"total_tput_tps"`
			Output *float64 `json:"output_tput_tps"`
			Input  *float64 `json:"input_tput_tps"`
		} `json:"per_gpu"`
	} `json:"throughput"`
	Cache struct {
		Theoretical *float64 `json:"theoretical_cache_hit_rate"`
	} `json:"cache"`
}

type serverMetrics struct {
	Cache struct {
		Overall  *float64 `json:"overall_cache_hit_rate"`
		GPU      *float64 `json:"gpu_cache_hit_rate"`
		CPU      *float64 `json:"cpu_cache_hit_rate"`
		Frontend *float64 `json:"frontend_cache_hit_rate"`
	} `json:"cache"`
}

// FlattenAgentic fills an agentic row's throughputs per GPU from
// request_metrics.throughput.per_gpu, and its metrics: median_ttft,
// p90_ttft, median_itl, median_tpot, median_e2el, median_intvty and
// p90_intvty (request_metrics.latency, seconds), the theoretical cache
// hit rate (request_metrics.cache) and the server's (server_metrics.cache:
// overall, else GPU, else the frontend's), with the GPU and CPU tiers'.
// Completed and Failed come from num_requests_successful and _total.
// What the nested objects lack is left as it is, so flattening a row
// twice, or one the store gave back, changes nothing.
func FlattenAgentic(r *results.Row) error {
	if r.Metrics == nil {
		r.Metrics = map[string]float64{}
	}
	if raw, ok := r.Extra["request_metrics"]; ok && string(raw) != "null" {
		var m agenticMetrics
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("agentic row: request_metrics: %w", err)
		}
		set := func(dst *float64, v *float64) {
			if v != nil {
				*dst = *v
			}
		}
		set(&r.TputPerGPU, m.Throughput.PerGPU.Total)
		set(&r.OutputTputPerGPU, m.Throughput.PerGPU.Output)
		set(&r.InputTputPerGPU, m.Throughput.PerGPU.Input)
		put := func(k string, v *float64) {
			if v != nil {
				r.Metrics[k] = *v
			}
		}
		for name, s := range map[string]string{"ttft": "ttft", "itl": "itl", "tpot": "tpot", "e2el": "e2el", "intvty": "intvty"} {
			st := m.Latency[s]
			put("median_"+name, st.P50)
			put("mean_"+name, st.Mean)
			put("p90_"+name, st.P90)
		}
		put(KeyTheoHitRate, m.Cache.Theoretical)
	}
	if raw, ok := r.Extra["server_metrics"]; ok && string(raw) != "null" {
		var s serverMetrics
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("agentic row: server_metrics: %w", err)
		}
		for _, v := range []*float64{s.Cache.Overall, s.Cache.GPU, s.Cache.Frontend} {
			if v != nil {
				r.Metrics[KeyServerHit] = *v
				break
			}
		}
		if v := s.Cache.GPU; v != nil {
			r.Metrics[keyGPUHitRate] = *v
		}
		if v := s.Cache.CPU; v != nil {
			r.Metrics[keyCPUHitRate] = *v
		}
	}
	if done, total := int(r.Metrics["num_requests_successful"]), int(r.Metrics["num_requests_total"]); done > 0 || total > 0 {
		r.Completed = done
		if total > done {
			r.Failed = total - done
		}
	}
	return nil
}

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
		MedianITL: metricPtr(r, keyITL), Interactivity: metricPtr(r, keyIntvty), TheoreticalHit: metricPtr(r, KeyTheoHitRate),
		ServerHit: metricPtr(r, KeyServerHit)}
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
		if !IsAgentic(r) {
			fixed = append(fixed, r)
			continue
		}
		c := *r
		c.Metrics = make(map[string]float64, len(r.Metrics))
		for k, v := range r.Metrics {
			c.Metrics[k] = v
		}
		// A row whose nested metrics do not decode keeps what it has.
		_ = FlattenAgentic(&c)
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
	if v, ok := r.Metrics[KeyServerHit]; ok && finiteF(v) {
		return v, "server"
	}
	if v, ok := r.Metrics[KeyTheoHitRate]; ok && finiteF(v) {
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
		f(metric(r, KeyServerHit), 100, 1), f(metric(r, KeyTheoHitRate), 100, 1), r.JobID)
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
