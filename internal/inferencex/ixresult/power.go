package ixresult

import (
	"bytes"
	"encoding/csv"
	"encoding/json"

	"io"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PowerInput is the GPU telemetry of one single-node run.
type PowerInput struct {
	// CSV is the GPU metrics file (gpu_metrics.csv): a header naming a
	// timestamp column (the first containing "time"), a power column (the
	// first containing "power" but not limit, cap, max or min) and a GPU
	// id column (named index, gpu, gpu_id, gpu_index, card or device).
	// Timestamps are nvidia-smi's YYYY/MM/DD HH:MM:SS[.f] or ISO 8601
	// without a zone in Location, ISO 8601 with one, or epoch seconds or
	// milliseconds.
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

// Power validation rules (aggregate_power's).
const (
	// MaxSampleGap is the longest gap between one GPU's samples inside the
	// benchmark window, in seconds.
	MaxSampleGap = 3.0
	// IntegrationMethod names how energy is computed, in the sidecar.
	IntegrationMethod = "per_device_trapezoidal_with_linear_boundary_interpolation"
)

// Reason codes of an invalid power measurement, in the sidecar's reasons.
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
	ReasonAggregateUnwritable      = "aggregate_result_unwritable"
)

// window is the client's benchmark window and the counts energy is
// divided by.
type window struct {
	start, end, duration           float64
	completed, inTokens, outTokens int
}

// validation is the outcome of checking and integrating one run's power.
type validation struct {
	reasons         []string
	win             *window
	expected        int
	ids             []string
	samples         map[string]int
	maxGap          map[string]float64
	energy          map[string]float64
	issues          map[string][]string
	metrics         *object // unrounded; nil unless valid
	source          string
	benchmarkResult string
}

func (v *validation) add(reason string) {
	for _, r := range v.reasons {
		if r == reason {
			return
		}
	}
	v.reasons = append(v.reasons, reason)
}

// validatePower checks the client's window and counts, then the
// telemetry, and computes the metrics when everything holds.
func validatePower(raw []byte, power *PowerInput, expected int) *validation {
	v := &validation{expected: expected, samples: map[string]int{}, maxGap: map[string]float64{},
		energy: map[string]float64{}, issues: map[string][]string{}}
	if power != nil {
		v.source = power.Source
	}
	if v.source == "" {
		v.source = "gpu_metrics.csv"
	}
	v.win = readWindow(raw, v)
	if v.win == nil {
		return v
	}
	v.integrate(power)
	if len(v.reasons) > 0 {
		return v
	}
	var total float64
	for _, id := range v.ids {
		total += v.energy[id] // in GPU order, as a plain sum
	}
	w := v.win
	dur := w.end - w.start
	m := newObject()
	m.set("avg_power_w", total/dur/float64(len(v.ids)))
	m.set("avg_total_gpu_power_w", total/dur)
	m.set("total_gpu_energy_j", total)
	m.set("joules_per_successful_query", total/float64(w.completed))
	m.set("joules_per_input_token", total/float64(w.inTokens))
	m.set("joules_per_output_token", total/float64(w.outTokens))
	m.set("joules_per_total_token", total/float64(w.inTokens+w.outTokens))
	v.metrics = m
	return v
}

// readWindow reads the client's benchmark window and the denominators;
// nil when the window itself is unusable.
func readWindow(raw []byte, v *validation) *window {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(raw, &c); err != nil {
		v.add(ReasonInvalidBenchmarkResult)
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
		v.add(ReasonInvalidBenchmarkWindow)
		return nil
	}
	w := &window{start: start, end: end, duration: dur}
	span := end - start
	if math.Abs(dur-span) > math.Max(0.5, span*0.01) {
		v.add(ReasonDurationMismatch)
	}
	count := func(k, reason string) int {
		n, ok := jsonInt(c[k])
		if !ok || n <= 0 {
			v.add(reason)
			return 0
		}
		return n
	}
	w.completed = count("completed", ReasonInvalidQueryCount)
	w.inTokens = count("total_input_tokens", ReasonInvalidInputTokenCount)
	w.outTokens = count("total_output_tokens", ReasonInvalidOutputTokenCount)
	return w
}

var (
	numberRE   = regexp.MustCompile(`-?\d+(?:\.\d+)?`)
	epochRE    = regexp.MustCompile(`^-?\d+(?:\.\d+)?$`)
	slashRE    = regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$`)
	gpuIDColRE = regexp.MustCompile(`(?i)^(index|gpu|gpu_id|gpu_index|card|device)$`)
	powerExcl  = regexp.MustCompile(`(?i)limit|cap|max|min`)
)

// columns finds the timestamp, power and GPU id columns of a header.
func columns(header []string) (ts, pw, gpu int) {
	ts, pw, gpu = -1, -1, -1
	for i, h := range header {
		l := strings.ToLower(h)
		if ts < 0 && strings.Contains(l, "time") {
			ts = i
		}
		if pw < 0 && strings.Contains(l, "power") && !powerExcl.MatchString(h) {
			pw = i
		}
		if gpu < 0 && gpuIDColRE.MatchString(strings.TrimSpace(h)) {
			gpu = i
		}
	}
	return ts, pw, gpu
}

// integrate reads the telemetry and integrates every GPU over the window.
func (v *validation) integrate(power *PowerInput) {
	w := v.win
	if v.expected <= 0 {
		v.add(ReasonInvalidExpectedGPUCount)
	}
	if power == nil {
		v.add(ReasonTelemetryFileMissing)
		return
	}
	if len(power.CSV) == 0 {
		v.add(ReasonTelemetryFileEmpty)
		return
	}
	loc := power.Location
	if loc == nil {
		loc = time.Local
	}
	r := csv.NewReader(bytes.NewReader(power.CSV))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.LazyQuotes = true
	header, err := r.Read()
	if err == io.EOF {
		header = nil // blank lines only: no columns to find
	} else if err != nil {
		v.add(ReasonTelemetryFileUnreadable)
		return
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	tsCol, pwCol, gpuCol := columns(header)
	if tsCol < 0 {
		v.add(ReasonTimestampColumnMissing)
	}
	if pwCol < 0 {
		v.add(ReasonPowerColumnMissing)
	}
	if gpuCol < 0 {
		v.add(ReasonGPUIdentityColumnMissing)
	}
	if tsCol < 0 || pwCol < 0 || gpuCol < 0 {
		return
	}
	// A header naming a column twice keeps the later cell, as a dict does.
	last := map[string]int{}
	for i, h := range header {
		last[h] = i
	}
	tsCol, pwCol, gpuCol = last[header[tsCol]], last[header[pwCol]], last[header[gpuCol]]
	cell := func(rec []string, i int) string {
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	raw := map[string]map[float64][]float64{}
	missingID := false
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			v.add(ReasonTelemetryFileUnreadable)
			return
		}
		ts, ok := parseTimestamp(cell(rec, tsCol), loc)
		if !ok {
			v.add(ReasonInvalidTimestampSample)
			continue
		}
		// Rows well outside the window (warmup, evals) cannot matter.
		if ts < w.start-MaxSampleGap || ts > w.end+MaxSampleGap {
			continue
		}
		pw, ok := parsePower(cell(rec, pwCol))
		if !ok || pw < 0 {
			v.add(ReasonInvalidPowerSample)
			continue
		}
		id := cell(rec, gpuCol)
		if id == "" {
			missingID = true
			continue
		}
		if raw[id] == nil {
			raw[id] = map[float64][]float64{}
		}
		raw[id][ts] = append(raw[id][ts], pw)
	}
	if missingID {
		v.add(ReasonGPUIdentityMissing)
	}
	if len(raw) == 0 {
		v.add(ReasonNoUsableSamples)
		return
	}
	for id := range raw {
		v.ids = append(v.ids, id)
	}
	sort.Slice(v.ids, func(a, b int) bool { return gpuLess(v.ids[a], v.ids[b]) })
	if v.expected > 0 && len(v.ids) != v.expected {
		v.add(ReasonGPUCountMismatch)
	}
	for _, id := range v.ids {
		s := averaged(raw[id])
		v.samples[id] = len(s)
		var issue string
		switch {
		case len(s) < 2:
			issue = ReasonInsufficientSamples
		case s[0].t > w.start || s[len(s)-1].t < w.end:
			issue = ReasonWindowNotBracketed
		default:
			gap := maxGap(s, w.start, w.end)
			v.maxGap[id] = gap
			if gap > MaxSampleGap {
				issue = ReasonSamplingGapExceeded
			}
			v.energy[id] = energy(s, w.start, w.end)
		}
		if issue != "" {
			v.issues[id] = []string{issue}
			v.add(issue)
		}
	}
}

type sample struct{ t, w float64 }

// averaged turns one GPU's readings into time-ordered samples, readings
// that share a timestamp averaged (some tools stamp coarser than they
// sample). The mean is exact, then rounded once.
func averaged(byTime map[float64][]float64) []sample {
	s := make([]sample, 0, len(byTime))
	for t, ws := range byTime {
		var sum big.Rat
		for _, w := range ws {
			var x big.Rat
			x.SetFloat64(w)
			sum.Add(&sum, &x)
		}
		sum.Quo(&sum, new(big.Rat).SetInt64(int64(len(ws))))
		m, _ := sum.Float64()
		s = append(s, sample{t, m})
	}
	sort.Slice(s, func(a, b int) bool { return s[a].t < s[b].t })
	return s
}

// maxGap is the largest gap between consecutive samples from the last one
// at or before start to the first one at or after end.
func maxGap(s []sample, start, end float64) float64 {
	left := sort.Search(len(s), func(i int) bool { return s[i].t > start }) - 1
	right := sort.Search(len(s), func(i int) bool { return s[i].t >= end })
	gap := 0.0
	for i := max(left, 0); i < right && i+1 < len(s); i++ {
		gap = math.Max(gap, s[i+1].t-s[i].t)
	}
	return gap
}

// at is the power at t, linearly interpolated between the samples around
// it (s brackets t).
func at(s []sample, t float64) float64 {
	i := sort.Search(len(s), func(i int) bool { return s[i].t >= t })
	if i < len(s) && math.Abs(s[i].t-t) <= 1e-9 {
		return s[i].w
	}
	l, r := s[i-1], s[i]
	return l.w + (t-l.t)/(r.t-l.t)*(r.w-l.w)
}

// energy integrates one GPU's power over [start, end] by trapezoids, the
// ends interpolated.
func energy(s []sample, start, end float64) float64 {
	pts := []sample{{start, at(s, start)}}
	for _, x := range s {
		if x.t > start && x.t < end {
			pts = append(pts, x)
		}
	}
	pts = append(pts, sample{end, at(s, end)})
	e := 0.0
	for i := 1; i < len(pts); i++ {
		e += (pts[i].t - pts[i-1].t) * (pts[i-1].w + pts[i].w) / 2
	}
	return e
}

// gpuLess orders numeric GPU ids by number, before any other id.
func gpuLess(a, b string) bool {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	da, db := ea == nil && isDigits(a), eb == nil && isDigits(b)
	switch {
	case da && db:
		return na < nb
	case da != db:
		return da
	}
	return a < b
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// parsePower reads the first number of a power cell ("412.34 W"); [N/A]
// and cells without a number are no reading.
func parsePower(s string) (float64, bool) {
	switch strings.ToLower(s) {
	case "", "[n/a]", "n/a", "na":
		return 0, false
	}
	m := numberRE.FindString(s)
	if m == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(m, 64)
	return f, err == nil && !math.IsInf(f, 0)
}

var isoLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseTimestamp reads a telemetry timestamp as Unix seconds, to the
// microsecond as Python's datetime keeps it.
func parseTimestamp(s string, loc *time.Location) (float64, bool) {
	if s == "" {
		return 0, false
	}
	if epochRE.MatchString(s) {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(n, 0) {
			return 0, false
		}
		if n > 1e12 {
			return n / 1000, true // epoch milliseconds
		}
		return n, true
	}
	// A time without a zone: whole seconds in loc plus the microseconds.
	naive := func(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond()/1000)/1e6 }
	if slashRE.MatchString(s) {
		t, err := time.ParseInLocation("2006/01/02 15:04:05", s, loc)
		if err != nil {
			return 0, false
		}
		return naive(t), true
	}
	iso := s
	if strings.Contains(iso, " ") && !strings.Contains(iso, "T") {
		iso = strings.Replace(iso, " ", "T", 1)
	}
	for _, l := range isoLayouts {
		t, err := time.ParseInLocation(l, iso, loc)
		if err != nil {
			continue
		}
		if strings.HasSuffix(l, "Z07:00") {
			// With a zone: the exact microsecond count, divided once.
			return float64(t.Unix()*1e6+int64(t.Nanosecond()/1000)) / 1e6, true
		}
		return naive(t), true
	}
	return 0, false
}

// patch adds the power keys to the aggregated row as aggregate_power
// does: the schema version and validity always, the metrics (watts and
// joules to 3 decimals, ratios to 6) only when valid.
func (v *validation) patch(d *object) error {
	d.set("power_metric_schema_version", PowerMetricSchemaVersion)
	if v.metrics == nil {
		d.set("power_valid", 0)
		return nil
	}
	for _, k := range v.metrics.keys {
		if f := v.metrics.vals[k].(float64); math.IsNaN(f) || math.IsInf(f, 0) {
			v.add(ReasonAggregateUnwritable)
			v.metrics = nil
			d.set("power_valid", 0)
			return nil
		}
	}
	d.set("power_valid", 1)
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
	o.set("power_valid", len(v.reasons) == 0 && v.metrics != nil)
	reasons := make([]any, len(v.reasons))
	for i, r := range v.reasons {
		reasons[i] = r
	}
	o.set("reasons", reasons)
	o.set("telemetry_source", v.source)
	o.set("benchmark_result", v.benchmarkResult)
	if w := v.win; w != nil {
		bw := newObject()
		bw.set("start_time_unix", w.start)
		bw.set("end_time_unix", w.end)
		bw.set("reported_duration_s", w.duration)
		bw.set("integration_duration_s", w.end-w.start)
		bw.set("completed", w.completed)
		bw.set("total_input_tokens", w.inTokens)
		bw.set("total_output_tokens", w.outTokens)
		o.set("benchmark_window", bw)
	} else {
		o.set("benchmark_window", nil)
	}
	o.set("integration_method", IntegrationMethod)
	o.set("expected_gpu_count", v.expected)
	o.set("observed_gpu_count", len(v.ids))
	ids := make([]any, len(v.ids))
	counts, gaps, energies, issues := newObject(), newObject(), newObject(), newObject()
	for i, id := range v.ids {
		ids[i] = id
		if n, ok := v.samples[id]; ok {
			counts.set(id, n)
		}
		if g, ok := v.maxGap[id]; ok {
			gaps.set(id, g)
		}
		if e, ok := v.energy[id]; ok {
			energies.set(id, e)
		}
		if is, ok := v.issues[id]; ok {
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
