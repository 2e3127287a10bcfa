package results

import (
	"encoding/json"
	"fmt"
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
	KeyTheoHitRate = "theoretical_cache_hit_rate"
	KeyServerHit   = "server_cache_hit_rate"
	KeyGPUHitRate  = "gpu_cache_hit_rate"
	KeyCPUHitRate  = "cpu_cache_hit_rate"
)

// IsAgentic says whether a row is an agentic trace-replay row.
func IsAgentic(r *Row) bool {
	var s string
	_ = json.Unmarshal(r.Extra["scenario_type"], &s)
	return s == ScenarioAgentic
}

// ParseAgenticRow reads one aggregated agentic row (the JSON InferenceX's
// agentic aggregation, or fleet bench's replay, writes) into a checked
// results.Row with its report columns filled in (FlattenAgentic).
func ParseAgenticRow(b []byte) (*Row, error) {
	var r Row
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
func FlattenAgentic(r *Row) error {
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
			r.Metrics[KeyGPUHitRate] = *v
		}
		if v := s.Cache.CPU; v != nil {
			r.Metrics[KeyCPUHitRate] = *v
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
