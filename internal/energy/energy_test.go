package energy

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// start is the client result's benchmark_start_time_unix; its window is
// 10 s long.
const start = 1700000000.0

// client is a client result with the window [start, start+10] and 40
// requests of 1024 input and 256 output tokens.
func client(set ...string) []byte {
	kv := map[string]string{"benchmark_start_time_unix": "1700000000.0", "benchmark_end_time_unix": "1700000010.0",
		"duration": "10.0", "completed": "40", "total_input_tokens": "40960", "total_output_tokens": "10240"}
	for i := 0; i+1 < len(set); i += 2 {
		kv[set[i]] = set[i+1]
	}
	var parts []string
	for k, v := range kv {
		if v != "" {
			parts = append(parts, fmt.Sprintf("%q: %s", k, v))
		}
	}
	return []byte("{" + strings.Join(parts, ", ") + "}")
}

// samples writes a CSV of header and one row per second from the window
// start + from to + to, each GPU drawing power(t) (t from the window
// start), the cell written by cell.
func samples(header string, gpus int, from, to float64, power func(t float64) float64, cell string) string {
	var b strings.Builder
	b.WriteString(header + "\n")
	for t := from; t <= to; t++ {
		ts := time.Unix(0, int64((start+t)*1e9)).UTC().Format("2006/01/02 15:04:05.000")
		for g := 0; g < gpus; g++ {
			fmt.Fprintf(&b, "%s, %d, "+cell+"\n", ts, g, power(t))
		}
	}
	return b.String()
}

const smiHeader = "timestamp, index, power.draw [W]"

func constant(w float64) func(float64) float64 { return func(float64) float64 { return w } }

func recorded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMeasure(t *testing.T) {
	ramp := func(t float64) float64 { return 100 + 10*t } // 1500 J over 10 s, 200 W at the end
	one := func(csv string) []Telemetry { return []Telemetry{{CSV: []byte(csv), Location: time.UTC}} }
	for _, c := range []struct {
		name     string
		result   []byte
		expected int
		tel      []Telemetry
		reasons  []string
		energy   float64 // all GPUs, when valid
		avg      float64 // per GPU
		peak     float64
		perOut   float64 // J per output token
		inWindow int
	}{
		{name: "recorded: 300 W on 2 GPUs for 10 s, samples outside the window", result: client(), expected: 2,
			tel:    []Telemetry{{CSV: recorded(t, "const300_2gpu.csv"), Location: time.UTC}},
			energy: 6000, avg: 300, peak: 300, perOut: 6000.0 / 10240, inWindow: 20},
		{name: "a ramp 100 + 10 W/s", result: client(), expected: 1, tel: one(samples(smiHeader, 1, -2, 12, ramp, "%.2f W")),
			energy: 1500, avg: 150, peak: 200, perOut: 1500.0 / 10240, inWindow: 11},
		{name: "milliwatts named by the header", result: client(), expected: 2,
			tel:    one(samples("timestamp, gpu, power [mW]", 2, -1, 11, constant(300000), "%.0f")),
			energy: 6000, avg: 300, peak: 300, perOut: 6000.0 / 10240, inWindow: 22},
		{name: "milliwatts named by the cell", result: client(), expected: 2,
			tel:    one(samples(smiHeader, 2, -1, 11, constant(300000), "%.0f mW")),
			energy: 6000, avg: 300, peak: 300, perOut: 6000.0 / 10240, inWindow: 22},
		{name: "two nodes of 2 GPUs each add up", result: client(), expected: 4,
			tel: []Telemetry{{CSV: recorded(t, "const300_2gpu.csv"), Node: "0", Location: time.UTC},
				{CSV: []byte(samples(smiHeader, 2, -1, 11, constant(100), "%.2f W")), Node: "1", Location: time.UTC}},
			energy: 8000, avg: 200, peak: 300, perOut: 8000.0 / 10240, inWindow: 42},
		{name: "a node's zone: the same text an hour later in UTC+1", result: client(), expected: 2,
			tel: []Telemetry{{CSV: []byte(strings.ReplaceAll(string(recorded(t, "const300_2gpu.csv")), " 22:", " 23:")),
				Location: time.FixedZone("", 3600)}},
			energy: 6000, avg: 300, peak: 300, perOut: 6000.0 / 10240, inWindow: 20},
		{name: "fewer GPUs seen than the job has", result: client(), expected: 4,
			tel: []Telemetry{{CSV: recorded(t, "const300_2gpu.csv"), Location: time.UTC}}, reasons: []string{ReasonGPUCountMismatch}},
		{name: "a node without its file", result: client(), expected: 4,
			tel:     []Telemetry{{CSV: recorded(t, "const300_2gpu.csv"), Node: "0", Location: time.UTC}, {Missing: true, Node: "1"}},
			reasons: []string{ReasonTelemetryFileMissing}},
		{name: "no samples in the window", result: client(), expected: 1,
			tel: one(samples(smiHeader, 1, -100, -60, ramp, "%.2f W")), reasons: []string{ReasonNoUsableSamples}},
		{name: "the zone unknown: samples an hour off", result: client(), expected: 2,
			tel:     []Telemetry{{CSV: recorded(t, "const300_2gpu.csv"), Location: time.FixedZone("", 3600)}},
			reasons: []string{ReasonNoUsableSamples}},
		{name: "samples 5 s apart", result: client(), expected: 1,
			tel:     one(strings.Join(strings.Split(samples(smiHeader, 1, -5, 15, ramp, "%.2f W"), "\n")[0:1], "\n") + "\n" + everyFifth(ramp)),
			reasons: []string{ReasonSamplingGapExceeded}},
		{name: "N/A power in the window", result: client(), expected: 1,
			tel: one(samples(smiHeader, 1, -1, 11, ramp, "%.2f W") + "2023/11/14 22:13:25.000, 0, [N/A]\n"), reasons: []string{ReasonInvalidPowerSample}},
		{name: "no telemetry", result: client(), expected: 1, reasons: []string{ReasonTelemetryFileMissing}},
		{name: "no window in the result", result: client("benchmark_end_time_unix", ""), expected: 2,
			tel: []Telemetry{{CSV: recorded(t, "const300_2gpu.csv"), Location: time.UTC}}, reasons: []string{ReasonInvalidBenchmarkWindow}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := Measure(c.result, c.expected, c.tel...)
			if !reflect.DeepEqual(m.Reasons, c.reasons) {
				t.Fatalf("reasons %q, want %q", m.Reasons, c.reasons)
			}
			mt, ok := m.Metrics()
			if ok != (c.reasons == nil) || ok != m.Valid() {
				t.Fatalf("metrics ok %v, valid %v, want %v", ok, m.Valid(), c.reasons == nil)
			}
			if !ok {
				return
			}
			for _, f := range []struct {
				name      string
				got, want float64
			}{{"energy", mt.EnergyJ, c.energy}, {"avg power", mt.AvgPowerW, c.avg}, {"peak", mt.PeakPowerW, c.peak},
				{"J per output token", mt.JoulesPerOutputToken, c.perOut},
				{"J per total token", mt.JoulesPerTotalToken, c.energy / (40960 + 10240)}} {
				if math.Abs(f.got-f.want) > 1e-9*math.Max(1, f.want) {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
			if m.InWindow != c.inWindow {
				t.Errorf("samples in the window %d, want %d", m.InWindow, c.inWindow)
			}
		})
	}
}

// everyFifth is GPU 0's power every 5 s around the window.
func everyFifth(power func(float64) float64) string {
	var b strings.Builder
	for t := -5.0; t <= 15; t += 5 {
		ts := time.Unix(0, int64((start+t)*1e9)).UTC().Format("2006/01/02 15:04:05.000")
		fmt.Fprintf(&b, "%s, 0, %.2f W\n", ts, power(t))
	}
	return b.String()
}

func TestParsePower(t *testing.T) {
	for _, c := range []struct {
		in    string
		milli bool
		want  float64
		ok    bool
	}{
		{"412.34 W", false, 412.34, true},
		{"412.34", false, 412.34, true},
		{"412340 mW", false, 412.34, true},
		{"412340", true, 412.34, true},
		{"[N/A]", false, 0, false},
		{"N/A", false, 0, false},
		{"[Not Supported]", false, 0, false},
	} {
		got, ok := parsePower(c.in, c.milli)
		if math.Abs(got-c.want) > 1e-9 || ok != c.ok {
			t.Errorf("parsePower(%q, %v) = %v, %v; want %v, %v", c.in, c.milli, got, ok, c.want, c.ok)
		}
	}
}

func TestParseTimestampLocalTime(t *testing.T) {
	// nvidia-smi writes the wall clock of the machine: the same text is an
	// hour earlier in UTC+1.
	plus1 := time.FixedZone("X", 3600)
	for _, c := range []struct {
		in   string
		loc  *time.Location
		want float64
		ok   bool
	}{
		{"2023/11/14 22:13:20", time.UTC, 1700000000, true},
		{"2023/11/14 23:13:20.25", plus1, 1700000000.25, true},
		{"2023-11-14T23:13:20", plus1, 1700000000, true},
		{"2023-11-14T23:13:20+01:00", time.UTC, 1700000000, true},
		{"1700000000500", time.UTC, 1700000000.5, true},
		{"2023/11/14 22:13:20.1234567", time.UTC, 0, false}, // more than microseconds
		{"[N/A]", time.UTC, 0, false},
	} {
		got, ok := parseTimestamp(c.in, c.loc)
		if got != c.want || ok != c.ok {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
