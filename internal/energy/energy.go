// Package energy measures the GPU energy of one benchmark: it reads the
// GPU monitor's samples (one CSV per node), integrates each GPU's power
// over the client's benchmark window by trapezoids, and says whether the
// measurement holds (InferenceX's rule: every GPU of the job seen,
// sampled often enough and on both sides of the window). Both fleet's own
// rows and the InferenceX rows (internal/inferencex/ixresult) use it.
package energy

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Validation rules.
const (
	// MaxSampleGap is the longest gap between one GPU's samples inside the
	// benchmark window, in seconds: a longer one leaves the energy unknown.
	MaxSampleGap = 3.0
	// IntegrationMethod names how energy is computed.
	IntegrationMethod = "per_device_trapezoidal_with_linear_boundary_interpolation"
)

// Reason codes of an invalid measurement, as InferenceX's power sidecar
// spells them.
const (
	ReasonInvalidBenchmarkResult   = "invalid_benchmark_result"
	ReasonInvalidBenchmarkWindow   = "invalid_benchmark_window"
	ReasonDurationMismatch         = "benchmark_duration_mismatch"
	ReasonInvalidQueryCount        = "invalid_successful_query_count"
	ReasonInvalidInputTokenCount   = "invalid_input_token_count"
	ReasonInvalidOutputTokenCount  = "invalid_output_token_count"
	ReasonInvalidExpectedGPUCount  = "invalid_expected_gpu_count"
	ReasonTelemetryFileMissing     = "telemetry_file_missing"
	ReasonTelemetryFileEmpty       = "telemetry_file_empty"
	ReasonTelemetryFileUnreadable  = "telemetry_file_unreadable"
	ReasonTimestampColumnMissing   = "timestamp_column_missing"
	ReasonPowerColumnMissing       = "power_column_missing"
	ReasonGPUIdentityColumnMissing = "gpu_identity_column_missing"
	ReasonInvalidTimestampSample   = "invalid_timestamp_sample"
	ReasonInvalidPowerSample       = "invalid_power_sample"
	ReasonGPUIdentityMissing       = "gpu_identity_missing"
	ReasonNoUsableSamples          = "no_usable_power_samples"
	ReasonGPUCountMismatch         = "expected_gpu_count_mismatch"
	ReasonInsufficientSamples      = "insufficient_power_samples"
	ReasonWindowNotBracketed       = "benchmark_window_not_bracketed"
	ReasonSamplingGapExceeded      = "sampling_gap_exceeded"
)

// Window is the client's benchmark window and the counts energy is
// divided by, as its result file records them.
type Window struct {
	Start, End float64 // benchmark_start_time_unix, benchmark_end_time_unix
	Duration   float64 // the client's own duration, s
	Completed  int
	// InputTokens and OutputTokens are the client's total_input_tokens
	// and total_output_tokens.
	InputTokens, OutputTokens int
}

// Telemetry is one node's GPU monitor file.
type Telemetry struct {
	// CSV is the file: a header naming a timestamp column (the first
	// containing "time"), a power column (the first containing "power"
	// but not limit, cap, max or min) and a GPU id column (named index,
	// gpu, gpu_id, gpu_index, card or device). Timestamps are
	// nvidia-smi's YYYY/MM/DD HH:MM:SS[.f] or ISO 8601 without a zone in
	// Location, ISO 8601 with one, or epoch seconds or milliseconds.
	// Power is the cell's first number, in watts unless the column's
	// header or the cell says mW.
	CSV []byte
	// Missing says the node left no file (telemetry_file_missing).
	Missing bool
	// Node prefixes the node's GPU ids ("node/index") when a job spans
	// several nodes, so that each node's GPU 0 counts once; "" for one.
	Node string
	// Location is the zone of timestamps without one; nil is local time.
	Location *time.Location
}

// Measurement is the outcome of checking and integrating one benchmark's
// GPU power.
type Measurement struct {
	Window   *Window // nil when the client's window is unusable
	Expected int     // GPUs the telemetry must show
	// Reasons are the codes of what failed, in the order found; none
	// when the measurement is valid.
	Reasons []string
	IDs     []string // the GPUs seen, in order
	// Per GPU: samples within MaxSampleGap of the window, the longest gap
	// between them, the energy integrated (J), the highest power in the
	// window (W) and what was wrong with it.
	Samples map[string]int
	MaxGap  map[string]float64
	Energy  map[string]float64
	Peak    map[string]float64
	Issues  map[string][]string
	// InWindow counts the samples of all GPUs inside the window.
	InWindow int
}

// Valid says whether the measurement holds.
func (m *Measurement) Valid() bool { return len(m.Reasons) == 0 && m.Window != nil }

func (m *Measurement) add(reason string) {
	for _, r := range m.Reasons {
		if r == reason {
			return
		}
	}
	m.Reasons = append(m.Reasons, reason)
}

// Metrics are a valid measurement's figures.
type Metrics struct {
	EnergyJ        float64 // all GPUs, over the window
	AvgPowerW      float64 // per GPU
	AvgTotalPowerW float64 // all GPUs
	PeakPowerW     float64 // the highest one GPU drew in the window
	// Energy divided by the client's counts.
	JoulesPerQuery       float64
	JoulesPerInputToken  float64
	JoulesPerOutputToken float64
	JoulesPerTotalToken  float64
}

// Metrics computes the figures; false when the measurement is invalid.
func (m *Measurement) Metrics() (Metrics, bool) {
	if !m.Valid() || len(m.IDs) == 0 {
		return Metrics{}, false
	}
	var total, peak float64
	for _, id := range m.IDs {
		total += m.Energy[id] // in GPU order, as a plain sum
		peak = math.Max(peak, m.Peak[id])
	}
	w := m.Window
	dur := w.End - w.Start
	return Metrics{
		EnergyJ:              total,
		AvgPowerW:            total / dur / float64(len(m.IDs)),
		AvgTotalPowerW:       total / dur,
		PeakPowerW:           peak,
		JoulesPerQuery:       total / float64(w.Completed),
		JoulesPerInputToken:  total / float64(w.InputTokens),
		JoulesPerOutputToken: total / float64(w.OutputTokens),
		JoulesPerTotalToken:  total / float64(w.InputTokens+w.OutputTokens),
	}, true
}

// Measure checks the client's result (its window and counts), then reads
// every node's telemetry and integrates each GPU over the window.
// expected is how many GPUs the files must show together: the job's. No
// telemetry at all is telemetry_file_missing.
func Measure(result []byte, expected int, tel ...Telemetry) *Measurement {
	m := &Measurement{Expected: expected, Samples: map[string]int{}, MaxGap: map[string]float64{},
		Energy: map[string]float64{}, Peak: map[string]float64{}, Issues: map[string][]string{}}
	m.Window = m.readWindow(result)
	if m.Window == nil {
		return m
	}
	m.integrate(tel)
	return m
}

// readWindow reads the client's benchmark window and the denominators;
// nil when the window itself is unusable.
func (m *Measurement) readWindow(raw []byte) *Window {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(raw, &c); err != nil {
		m.add(ReasonInvalidBenchmarkResult)
		return nil
	}
	num := func(k string) (float64, bool) {
		var f float64
		s := strings.TrimSpace(string(c[k]))
		if s == "" || s == "true" || s == "false" || json.Unmarshal(c[k], &f) != nil {
			return 0, false
		}
		return f, true
	}
	start, ok1 := num("benchmark_start_time_unix")
	end, ok2 := num("benchmark_end_time_unix")
	dur, ok3 := num("duration")
	if !ok1 || !ok2 || !ok3 || end <= start || dur <= 0 {
		m.add(ReasonInvalidBenchmarkWindow)
		return nil
	}
	w := &Window{Start: start, End: end, Duration: dur}
	span := end - start
	if math.Abs(dur-span) > math.Max(0.5, span*0.01) {
		m.add(ReasonDurationMismatch)
	}
	count := func(k, reason string) int {
		n, ok := jsonInt(c[k])
		if !ok || n <= 0 {
			m.add(reason)
			return 0
		}
		return n
	}
	w.Completed = count("completed", ReasonInvalidQueryCount)
	w.InputTokens = count("total_input_tokens", ReasonInvalidInputTokenCount)
	w.OutputTokens = count("total_output_tokens", ReasonInvalidOutputTokenCount)
	return w
}

// jsonInt reads an integer literal the way Python's json does: a number
// without fraction or exponent (1.0 is a float there).
func jsonInt(v json.RawMessage) (int, bool) {
	s := strings.TrimSpace(string(v))
	if s == "" || strings.ContainsAny(s, ".eE") {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
