package ixresult

import (
	"math"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/energy"
	"github.com/fleetbench/fleet/internal/results"
)

// PowerInput is the GPU telemetry of one single-node run.
type PowerInput struct {
	// CSV is the GPU metrics file (gpu_metrics.csv): a header naming a
	// timestamp column (the first containing "time"), a power column (the
	// first containing "power" but not limit, cap, max or min) and a GPU
	// id column (named index, gpu, gpu_id, gpu_index, card or device).
	// Timestamps are nvidia-smi's YYYY/MM/DD HH:MM:SS[.f] or ISO 8601
	// without a zone in Location, ISO 8601 with one, or epoch seconds or
	// milliseconds. internal/energy reads it: power in milliwatts (a
	// header or cell saying mW) counts as milliwatts, where InferenceX's
	// reader would take the number for watts (nvidia-smi writes watts).
	CSV []byte
	// Source names the file in the sidecar's telemetry_source.
	Source string
	// ExpectedGPUs is how many GPUs the file must show; 0 means the job's
	// (tp x pp x pcp, or prefill + decode GPUs).
	ExpectedGPUs int
	// Location is the zone of timestamps without one; nil is local time,
	// as nvidia-smi writes them on the machine that ran the job.
	Location *time.Location
}

// Power validation rules (aggregate_power's), as internal/energy applies
// them.
const (
	// MaxSampleGap is the longest gap between one GPU's samples inside the
	// benchmark window, in seconds.
	MaxSampleGap = energy.MaxSampleGap
	// IntegrationMethod names how energy is computed, in the sidecar.
	IntegrationMethod = energy.IntegrationMethod
)

// Reason codes of an invalid power measurement, in the sidecar's reasons.
const (
	ReasonInvalidBenchmarkResult   = energy.ReasonInvalidBenchmarkResult
	ReasonInvalidBenchmarkWindow   = energy.ReasonInvalidBenchmarkWindow
	ReasonDurationMismatch         = energy.ReasonDurationMismatch
	ReasonInvalidQueryCount        = energy.ReasonInvalidQueryCount
	ReasonInvalidInputTokenCount   = energy.ReasonInvalidInputTokenCount
	ReasonInvalidOutputTokenCount  = energy.ReasonInvalidOutputTokenCount
	ReasonInvalidExpectedGPUCount  = energy.ReasonInvalidExpectedGPUCount
	ReasonTelemetryFileMissing     = energy.ReasonTelemetryFileMissing
	ReasonTelemetryFileEmpty       = energy.ReasonTelemetryFileEmpty
	ReasonTelemetryFileUnreadable  = energy.ReasonTelemetryFileUnreadable
	ReasonTimestampColumnMissing   = energy.ReasonTimestampColumnMissing
	ReasonPowerColumnMissing       = energy.ReasonPowerColumnMissing
	ReasonGPUIdentityColumnMissing = energy.ReasonGPUIdentityColumnMissing
	ReasonInvalidTimestampSample   = energy.ReasonInvalidTimestampSample
	ReasonInvalidPowerSample       = energy.ReasonInvalidPowerSample
	ReasonGPUIdentityMissing       = energy.ReasonGPUIdentityMissing
	ReasonNoUsableSamples          = energy.ReasonNoUsableSamples
	ReasonGPUCountMismatch         = energy.ReasonGPUCountMismatch
	ReasonInsufficientSamples      = energy.ReasonInsufficientSamples
	ReasonWindowNotBracketed       = energy.ReasonWindowNotBracketed
	ReasonSamplingGapExceeded      = energy.ReasonSamplingGapExceeded
	ReasonAggregateUnwritable      = "aggregate_result_unwritable"
)

// validation is the outcome of checking and integrating one run's power.
type validation struct {
	*energy.Measurement
	metrics         *object // unrounded; nil unless valid
	source          string
	benchmarkResult string
}

func (v *validation) add(reason string) {
	for _, r := range v.Reasons {
		if r == reason {
			return
		}
	}
	v.Reasons = append(v.Reasons, reason)
}

// validatePower checks the client's window and counts, then the
// telemetry, and computes the metrics when everything holds.
func validatePower(raw []byte, power *PowerInput, expected int) *validation {
	var tel []energy.Telemetry
	v := &validation{}
	if power != nil {
		v.source = power.Source
		tel = append(tel, energy.Telemetry{CSV: power.CSV, Location: power.Location})
	}
	if v.source == "" {
		v.source = "gpu_metrics.csv"
	}
	v.Measurement = energy.Measure(raw, expected, tel...)
	mt, ok := v.Metrics()
	if !ok {
		return v
	}
	m := newObject()
	m.set(results.KeyAvgPowerW, mt.AvgPowerW)
	m.set(results.KeyAvgTotalPowerW, mt.AvgTotalPowerW)
	m.set(results.KeyEnergyJ, mt.EnergyJ)
	m.set(results.KeyJoulesPerQuery, mt.JoulesPerQuery)
	m.set(results.KeyJoulesPerInTok, mt.JoulesPerInputToken)
	m.set(results.KeyJoulesPerOutTok, mt.JoulesPerOutputToken)
	m.set(results.KeyJoulesPerTotalTok, mt.JoulesPerTotalToken)
	v.metrics = m
	return v
}

// patch adds the power keys to the aggregated row as aggregate_power
// does: the schema version and validity always, the metrics (watts and
// joules to 3 decimals, ratios to 6) only when valid.
func (v *validation) patch(d *object) error {
	d.set(results.KeyPowerSchemaVersion, PowerMetricSchemaVersion)
	if v.metrics == nil {
		d.set(results.KeyPowerValid, 0)
		return nil
	}
	for _, k := range v.metrics.keys {
		if f := v.metrics.vals[k].(float64); math.IsNaN(f) || math.IsInf(f, 0) {
			v.add(ReasonAggregateUnwritable)
			v.metrics = nil
			d.set(results.KeyPowerValid, 0)
			return nil
		}
	}
	d.set(results.KeyPowerValid, 1)
	for _, k := range v.metrics.keys {
		places := 6
		if strings.HasSuffix(k, "_w") || strings.HasSuffix(k, "_j") {
			places = 3
		}
		d.set(k, pyRound(v.metrics.vals[k].(float64), places))
	}
	return nil
}

// sidecar is the power validation file's content.
func (v *validation) sidecar() *object {
	o := newObject()
	o.set("schema_version", 1)
	o.set("power_valid", len(v.Reasons) == 0 && v.metrics != nil)
	reasons := make([]any, len(v.Reasons))
	for i, r := range v.Reasons {
		reasons[i] = r
	}
	o.set("reasons", reasons)
	o.set("telemetry_source", v.source)
	o.set("benchmark_result", v.benchmarkResult)
	if w := v.Window; w != nil {
		bw := newObject()
		bw.set("start_time_unix", w.Start)
		bw.set("end_time_unix", w.End)
		bw.set("reported_duration_s", w.Duration)
		bw.set("integration_duration_s", w.End-w.Start)
		bw.set("completed", w.Completed)
		bw.set("total_input_tokens", w.InputTokens)
		bw.set("total_output_tokens", w.OutputTokens)
		o.set("benchmark_window", bw)
	} else {
		o.set("benchmark_window", nil)
	}
	o.set("integration_method", IntegrationMethod)
	o.set("expected_gpu_count", v.Expected)
	o.set("observed_gpu_count", len(v.IDs))
	ids := make([]any, len(v.IDs))
	counts, gaps, energies, issues := newObject(), newObject(), newObject(), newObject()
	for i, id := range v.IDs {
		ids[i] = id
		if n, ok := v.Samples[id]; ok {
			counts.set(id, n)
		}
		if g, ok := v.MaxGap[id]; ok {
			gaps.set(id, g)
		}
		if e, ok := v.Energy[id]; ok {
			energies.set(id, e)
		}
		if is, ok := v.Issues[id]; ok {
			l := make([]any, len(is))
			for j, s := range is {
				l[j] = s
			}
			issues.set(id, l)
		}
	}
	o.set("observed_gpu_ids", ids)
	o.set("per_gpu_sample_counts", counts)
	o.set("per_gpu_max_sample_gap_s", gaps)
	o.set("per_gpu_energy_j", energies)
	o.set("device_issues", issues)
	// The AMD energy-accumulator cross-check is advisory and needs the
	// snapshot files beside the CSV; fleet does not make it.
	o.set("accumulator_check", nil)
	metrics := newObject()
	if v.metrics != nil {
		for _, k := range v.metrics.keys {
			metrics.set(k, pyRound(v.metrics.vals[k].(float64), 6))
		}
	}
	o.set("metrics", metrics)
	return o
}
