package ixresult

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// winStart is the client fixture's benchmark_start_time_unix; its window
// is 10 s long.
const winStart = 1700000000.0

// smi writes one nvidia-smi row per (offset from the window start, GPU,
// power cell), in UTC.
func smi(rows ...string) string {
	var b strings.Builder
	b.WriteString("timestamp, index, power.draw [W], power.limit [W]\n")
	for _, r := range rows {
		var off float64
		var id, pw string
		parts := strings.SplitN(r, " ", 3)
		fmt.Sscan(parts[0], &off)
		id, pw = parts[1], parts[2]
		ts := time.Unix(0, int64((winStart+off)*1e9)).UTC().Format("2006/01/02 15:04:05.000")
		fmt.Fprintf(&b, "%s, %s, %s, 700.00 W\n", ts, id, pw)
	}
	return b.String()
}

// linear is one GPU's samples of 110 + 10 W/s (100 W one second before
// the window), which trapezoids integrate exactly: 1600 J over 10 s.
func linear(id string, offsets ...float64) []string {
	var rows []string
	for _, o := range offsets {
		rows = append(rows, fmt.Sprintf("%g %s %.2f W", o, id, 110+10*o))
	}
	return rows
}

func clientWith(t testing.TB, set map[string]string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/client_single.json")
	if err != nil {
		t.Fatal(err)
	}
	c, order, err := decodeClient(raw)
	if err != nil {
		t.Fatal(err)
	}
	o := newObject()
	for _, k := range order {
		o.set(k, c[k])
	}
	for k, v := range set {
		if v == "" {
			delete(o.vals, k)
			for i, kk := range o.keys {
				if kk == k {
					o.keys = append(o.keys[:i], o.keys[i+1:]...)
					break
				}
			}
			continue
		}
		o.set(k, json.RawMessage(v))
	}
	b, err := o.encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type powerCase struct {
	name     string
	client   map[string]string // client keys replaced ("" removes one)
	csv      *string           // nil: no telemetry file
	expected int               // GPUs the file must show
	reasons  []string
	energy   map[string]float64 // per GPU, when integrated
	metrics  map[string]float64 // rounded, when valid
}

func str(s string) *string { return &s }

func fixtureCSV(t testing.TB) *string {
	b, err := os.ReadFile("testdata/gpu_metrics.csv")
	if err != nil {
		t.Fatal(err)
	}
	return str(string(b))
}

func powerCases(t testing.TB) []powerCase {
	every := []float64{-1, 2, 5, 8, 11} // 3 s apart: the longest gap allowed
	one := strings.Join(linear("0", every...), "\x00")
	rows := func(s string) []string { return strings.Split(s, "\x00") }
	return []powerCase{
		{name: "fixture: 100 W flat and a 200+10 W/s ramp, two GPUs", csv: fixtureCSV(t), expected: 2,
			energy: map[string]float64{"0": 1000, "1": 2500},
			metrics: map[string]float64{"avg_power_w": 175, "avg_total_gpu_power_w": 350, "total_gpu_energy_j": 3500,
				"joules_per_successful_query": 87.5, "joules_per_input_token": 0.085449, "joules_per_output_token": 0.341797,
				"joules_per_total_token": 0.068359}},
		{name: "window edges interpolated between samples 3 s apart; a 6-decimal tie rounds to even", csv: str(smi(rows(one)...)), expected: 1,
			energy: map[string]float64{"0": 1600},
			metrics: map[string]float64{"avg_power_w": 160, "avg_total_gpu_power_w": 160, "total_gpu_energy_j": 1600,
				"joules_per_successful_query": 40, "joules_per_input_token": 0.039062, "joules_per_output_token": 0.15625,
				"joules_per_total_token": 0.03125}},
		{name: "duplicate timestamps averaged", expected: 1, energy: map[string]float64{"0": 1000},
			csv: str(smi("-1 0 90 W", "-1 0 110 W", "1 0 100 W", "3 0 100 W", "5 0 100 W", "7 0 100 W", "9 0 100 W", "11 0 95 W", "11 0 105 W")),
			metrics: map[string]float64{"avg_power_w": 100, "avg_total_gpu_power_w": 100, "total_gpu_energy_j": 1000,
				"joules_per_successful_query": 25, "joules_per_input_token": 0.024414, "joules_per_output_token": 0.097656,
				"joules_per_total_token": 0.019531}},
		{name: "epoch milliseconds", expected: 1, energy: map[string]float64{"0": 1600},
			csv: str("time_ms,gpu,power_w\n1699999999000,0,100\n1700000002000,0,130\n1700000005000,0,160\n1700000008000,0,190\n1700000011000,0,220\n"),
			metrics: map[string]float64{"avg_power_w": 160, "avg_total_gpu_power_w": 160, "total_gpu_energy_j": 1600,
				"joules_per_successful_query": 40, "joules_per_input_token": 0.039062, "joules_per_output_token": 0.15625,
				"joules_per_total_token": 0.03125}},
		{name: "ISO 8601 with and without a zone, epoch seconds", expected: 1, energy: map[string]float64{"0": 1600},
			csv: str("Timestamp,Card,Socket Power\n2023-11-14T22:13:19Z,0,100 W\n2023-11-14 22:13:22.000,0,130\n1700000005,0,160\n" +
				"2023-11-14T23:13:28+01:00,0,190\n2023-11-14T22:13:31.000000,0,220\n"),
			metrics: map[string]float64{"avg_power_w": 160, "avg_total_gpu_power_w": 160, "total_gpu_energy_j": 1600,
				"joules_per_successful_query": 40, "joules_per_input_token": 0.039062, "joules_per_output_token": 0.15625,
				"joules_per_total_token": 0.03125}},
		{name: "no telemetry file", expected: 2, reasons: []string{ReasonTelemetryFileMissing}},
		{name: "empty telemetry file", csv: str(""), expected: 2, reasons: []string{ReasonTelemetryFileEmpty}},
		{name: "blank lines only", csv: str("\n\n"), expected: 1,
			reasons: []string{ReasonTimestampColumnMissing, ReasonPowerColumnMissing, ReasonGPUIdentityColumnMissing}},
		{name: "no timestamp column", csv: str("index,power.draw [W]\n0,100\n"), expected: 1, reasons: []string{ReasonTimestampColumnMissing}},
		{name: "only a power limit column", csv: str("timestamp,index,power.limit [W],power.max_limit\n1700000000,0,700\n"), expected: 1,
			reasons: []string{ReasonPowerColumnMissing}},
		{name: "no GPU id column", csv: str("timestamp,uuid,power.draw [W]\n1700000000,GPU-1,100\n"), expected: 1,
			reasons: []string{ReasonGPUIdentityColumnMissing}},
		{name: "an unparseable timestamp", csv: str(smi(rows(one)...) + "yesterday, 0, 100 W\n"), expected: 1,
			energy: map[string]float64{"0": 1600}, reasons: []string{ReasonInvalidTimestampSample}},
		{name: "an [N/A] and a negative power in the window", csv: str(smi(append(rows(one), "4 0 [N/A]", "6 0 -5 W")...)), expected: 1,
			energy: map[string]float64{"0": 1600}, reasons: []string{ReasonInvalidPowerSample}},
		{name: "an [N/A] long before the window does not count", csv: str(smi(append(rows(one), "-60 0 [N/A]")...)), expected: 1,
			energy: map[string]float64{"0": 1600}, metrics: map[string]float64{"avg_power_w": 160, "avg_total_gpu_power_w": 160,
				"total_gpu_energy_j": 1600, "joules_per_successful_query": 40, "joules_per_input_token": 0.039062,
				"joules_per_output_token": 0.15625, "joules_per_total_token": 0.03125}},
		{name: "a row without GPU id", csv: str(strings.Replace(smi(append(rows(one), "5 X 160 W")...), ", X,", ", ,", 1)),
			expected: 1, energy: map[string]float64{"0": 1600}, reasons: []string{ReasonGPUIdentityMissing}},
		{name: "every sample far outside the window", csv: str(smi("-100 0 100 W", "-99 0 100 W")), expected: 1,
			reasons: []string{ReasonNoUsableSamples}},
		{name: "fewer GPUs than the job has", csv: str(smi(rows(one)...)), expected: 2, energy: map[string]float64{"0": 1600},
			reasons: []string{ReasonGPUCountMismatch}},
		{name: "one sample", csv: str(smi("5 0 100 W")), expected: 1, reasons: []string{ReasonInsufficientSamples}},
		{name: "window start not bracketed", csv: str(smi(linear("0", 0.5, 3, 6, 9, 11)...)), expected: 1,
			reasons: []string{ReasonWindowNotBracketed}},
		{name: "window end not bracketed", csv: str(smi(linear("0", -1, 2, 5, 8, 9.5)...)), expected: 1,
			reasons: []string{ReasonWindowNotBracketed}},
		{name: "a 3.5 s gap", csv: str(smi(linear("0", -1, 2, 5.5, 8, 11)...)), expected: 1, energy: map[string]float64{"0": 1600},
			reasons: []string{ReasonSamplingGapExceeded}},
		{name: "no window end", client: map[string]string{"benchmark_end_time_unix": ""}, csv: fixtureCSV(t), expected: 2,
			reasons: []string{ReasonInvalidBenchmarkWindow}},
		{name: "window end before its start", client: map[string]string{"benchmark_end_time_unix": "1699999999.0"}, csv: fixtureCSV(t),
			expected: 2, reasons: []string{ReasonInvalidBenchmarkWindow}},
		{name: "duration a boolean", client: map[string]string{"duration": "true"}, csv: fixtureCSV(t), expected: 2,
			reasons: []string{ReasonInvalidBenchmarkWindow}},
		{name: "duration 0.4 s off a 10 s window is within 0.5 s", client: map[string]string{"duration": "10.4"}, csv: fixtureCSV(t),
			expected: 2, energy: map[string]float64{"0": 1000, "1": 2500},
			metrics: map[string]float64{"avg_power_w": 175, "avg_total_gpu_power_w": 350, "total_gpu_energy_j": 3500,
				"joules_per_successful_query": 87.5, "joules_per_input_token": 0.085449, "joules_per_output_token": 0.341797,
				"joules_per_total_token": 0.068359}},
		{name: "duration 0.6 s off", client: map[string]string{"duration": "10.6"}, csv: fixtureCSV(t), expected: 2,
			energy: map[string]float64{"0": 1000, "1": 2500}, reasons: []string{ReasonDurationMismatch}},
		{name: "bad denominators", client: map[string]string{"completed": "0", "total_input_tokens": "40960.0", "total_output_tokens": ""},
			csv: fixtureCSV(t), expected: 2, energy: map[string]float64{"0": 1000, "1": 2500},
			reasons: []string{ReasonInvalidQueryCount, ReasonInvalidInputTokenCount, ReasonInvalidOutputTokenCount}},
		{name: "expected GPU count not positive", csv: fixtureCSV(t), expected: -1, energy: map[string]float64{"0": 1000, "1": 2500},
			reasons: []string{ReasonInvalidExpectedGPUCount}},
	}
}

func TestPower(t *testing.T) {
	p := Params{RunnerType: "b200", Framework: "vllm", Precision: "fp8", SpecDecoding: "none", ResultFilename: "rf", ISL: 1024, OSL: 1024,
		ModelPrefix: "dsr1", TP: 2, EP: 1, DPAttention: "false"}
	for _, c := range powerCases(t) {
		t.Run(c.name, func(t *testing.T) {
			var in *PowerInput
			if c.csv != nil {
				in = &PowerInput{CSV: []byte(*c.csv), ExpectedGPUs: c.expected, Location: time.UTC, Source: "gpu_metrics.csv"}
			} else {
				p.TP = c.expected
			}
			agg, val, err := Process(p, clientWith(t, c.client), in)
			if err != nil {
				t.Fatal(err)
			}
			var a map[string]any
			var v struct {
				Valid    bool               `json:"power_valid"`
				Reasons  []string           `json:"reasons"`
				Energy   map[string]float64 `json:"per_gpu_energy_j"`
				Metrics  map[string]float64 `json:"metrics"`
				Expected int                `json:"expected_gpu_count"`
			}
			if err := json.Unmarshal(agg, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(val, &v); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v.Reasons, append([]string{}, c.reasons...)) {
				t.Errorf("reasons %q, want %q", v.Reasons, c.reasons)
			}
			if len(c.energy) > 0 && !reflect.DeepEqual(v.Energy, c.energy) {
				t.Errorf("per-GPU energy %v, want %v", v.Energy, c.energy)
			}
			if a["power_metric_schema_version"] != 2.0 {
				t.Errorf("power_metric_schema_version %v", a["power_metric_schema_version"])
			}
			valid := len(c.reasons) == 0
			if want := map[bool]float64{true: 1, false: 0}[valid]; a["power_valid"] != want || v.Valid != valid {
				t.Errorf("power_valid %v in the row and %v in the sidecar, want %v", a["power_valid"], v.Valid, valid)
			}
			for _, k := range []string{"avg_power_w", "avg_total_gpu_power_w", "total_gpu_energy_j", "joules_per_successful_query",
				"joules_per_input_token", "joules_per_output_token", "joules_per_total_token"} {
				got, ok := a[k]
				if !valid {
					if ok {
						t.Errorf("%s = %v in the row of invalid power", k, got)
					}
					continue
				}
				if got != c.metrics[k] || v.Metrics[k] != c.metrics[k] {
					t.Errorf("%s = %v (sidecar %v), want %v", k, got, v.Metrics[k], c.metrics[k])
				}
			}
		})
	}
}
