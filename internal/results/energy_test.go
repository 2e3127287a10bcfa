package results

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/energy"
)

// measured is a measurement of 300 W on each of gpus GPUs, sampled every
// second from 2 s before the window [0, 10] to 2 s after it, with the
// job expecting want GPUs.
func measured(t *testing.T, gpus, want int) *energy.Measurement {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp, index, power.draw [W]\n")
	for s := -2; s <= 12; s++ {
		for g := 0; g < gpus; g++ {
			b.WriteString(time.Unix(int64(1700000000+s), 0).UTC().Format("2006/01/02 15:04:05.000") + ", " + string(rune('0'+g)) + ", 300.00 W\n")
		}
	}
	client := []byte(`{"benchmark_start_time_unix": 1700000000.0, "benchmark_end_time_unix": 1700000010.0, "duration": 10.0,
		"completed": 10, "total_input_tokens": 4000, "total_output_tokens": 2000}`)
	return energy.Measure(client, want, energy.Telemetry{CSV: []byte(b.String()), Location: time.UTC})
}

func TestSetEnergy(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		r := &Row{HW: "h200", TP: 2, EP: 1, Conc: 4, Metrics: map[string]float64{"median_ttft": 0.1}}
		r.SetEnergy(measured(t, 2, 2))
		want := map[string]float64{KeyPowerValid: 1, KeyEnergyJ: 6000, KeyAvgPowerW: 300, KeyAvgTotalPowerW: 600, KeyPeakPowerW: 300,
			KeyJoulesPerQuery: 600, KeyJoulesPerInTok: 1.5, KeyJoulesPerOutTok: 3, KeyJoulesPerTotalTok: 1, KeyPowerSamples: 22,
			KeyPowerWindowStart: 1700000000, KeyPowerWindowEnd: 1700000010, "median_ttft": 0.1}
		if !reflect.DeepEqual(r.Metrics, want) {
			t.Errorf("metrics\n got %v\nwant %v", r.Metrics, want)
		}
		if !r.PowerValid() || r.PowerReasons() == nil || len(r.PowerReasons()) != 0 {
			t.Errorf("valid %v, reasons %q", r.PowerValid(), r.PowerReasons())
		}
		// The row goes through JSON (the store, row.json) as it was.
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"power_reasons":[]`) || !strings.Contains(string(b), `"joules_per_output_token":3`) {
			t.Errorf("JSON %s", b)
		}
		var back Row
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !back.PowerValid() || back.Metrics[KeyEnergyJ] != 6000 || back.PowerReasons() == nil {
			t.Errorf("read back: %+v", back)
		}
	})
	t.Run("fewer GPUs seen than the job has", func(t *testing.T) {
		r := &Row{Metrics: map[string]float64{KeyEnergyJ: 1}} // a stale figure goes
		r.SetEnergy(measured(t, 1, 2))
		if r.PowerValid() || r.Metrics[KeyPowerValid] != 0 {
			t.Errorf("valid with one GPU of two")
		}
		if got := r.PowerReasons(); !reflect.DeepEqual(got, []string{energy.ReasonGPUCountMismatch}) {
			t.Errorf("reasons %q", got)
		}
		for _, k := range []string{KeyEnergyJ, KeyAvgPowerW, KeyJoulesPerOutTok, KeyPeakPowerW} {
			if _, ok := r.Metrics[k]; ok {
				t.Errorf("%s set on invalid power", k)
			}
		}
		if r.Metrics[KeyPowerWindowEnd] != 1700000010 || r.Metrics[KeyPowerSamples] != 11 {
			t.Errorf("window and samples: %v", r.Metrics)
		}
	})
}

func TestSetEnergyDetailKeepsInferenceXFigures(t *testing.T) {
	// InferenceX's processing rounded the figures; the detail adds the
	// rest and leaves them be.
	r := &Row{Metrics: map[string]float64{KeyPowerValid: 1, KeyEnergyJ: 6000.001, KeyJoulesPerOutTok: 3.000001}}
	r.SetEnergyDetail(measured(t, 2, 2))
	want := map[string]float64{KeyPowerValid: 1, KeyEnergyJ: 6000.001, KeyJoulesPerOutTok: 3.000001, KeyPeakPowerW: 300,
		KeyPowerSamples: 22, KeyPowerWindowStart: 1700000000, KeyPowerWindowEnd: 1700000010}
	if !reflect.DeepEqual(r.Metrics, want) {
		t.Errorf("metrics\n got %v\nwant %v", r.Metrics, want)
	}
	r.SetEnergyDetail(measured(t, 2, 4))
	if _, ok := r.Metrics[KeyPeakPowerW]; ok || !reflect.DeepEqual(r.PowerReasons(), []string{energy.ReasonGPUCountMismatch}) {
		t.Errorf("invalid detail: peak kept %v, reasons %q", ok, r.PowerReasons())
	}
}

func TestWriteTableEnergyColumns(t *testing.T) {
	valid := &Row{HW: "h200", Framework: "vllm", TP: 2, EP: 1, Conc: 4, Metrics: map[string]float64{}}
	valid.SetEnergy(measured(t, 2, 2))
	invalid := &Row{HW: "h200", Framework: "vllm", TP: 2, EP: 1, Conc: 8, Metrics: map[string]float64{}}
	invalid.SetEnergy(measured(t, 1, 2))
	for _, c := range []struct {
		name string
		rows []*Row
		want []string // lines holding these, in order; nil: no energy column
	}{
		{name: "a valid row shows the columns, an invalid one dashes", rows: []*Row{valid, invalid},
			want: []string{"J/OUT-TOK  W/GPU", "3.0000  300.0", "-      -"}},
		{name: "no valid row: no columns", rows: []*Row{invalid}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteTable(&b, c.rows); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if c.want == nil {
				if strings.Contains(out, "J/OUT-TOK") {
					t.Errorf("energy column without valid power:\n%s", out)
				}
				return
			}
			lines := strings.Split(out, "\n")
			for i, w := range c.want {
				if i >= len(lines) || !strings.Contains(lines[i], w) {
					t.Errorf("line %d lacks %q:\n%s", i, w, out)
				}
			}
		})
	}
}
