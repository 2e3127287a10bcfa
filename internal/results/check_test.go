package results

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestAggregateRefusesNumbersARowCannotHold(t *testing.T) {
	for _, tc := range []struct {
		name, result, field string
	}{
		{"a throughput beyond any GPU", `{"total_token_throughput":1e300,"output_throughput":1}`, "tput_per_gpu"},
		{"a negative throughput", `{"total_token_throughput":-5,"output_throughput":0}`, "tput_per_gpu"},
		{"an infinite input throughput", `{"total_token_throughput":1.7e308,"output_throughput":-1.7e308}`, "tput_per_gpu"},
		{"a completed count that would wrap", `{"total_token_throughput":1,"completed":9.3e18}`, "completed"},
		{"a negative failed count", `{"total_token_throughput":1,"failed":-1}`, "failed"},
		{"a fractional count", `{"total_token_throughput":1,"completed":1.5}`, "completed"},
		{"an interactivity that overflows", `{"total_token_throughput":1,"median_tpot_ms":1e-320}`, "median_intvty"},
		{"a latency beyond reason", `{"total_token_throughput":1,"median_ttft_ms":1e300}`, "median_ttft"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Aggregate(Meta{HW: "h200", TP: 1}, []byte(tc.result))
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Aggregate = %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

func TestParseRowRefusesWrappedAndNegativeCounts(t *testing.T) {
	for _, tc := range []struct{ name, row, field string }{
		{"a wrapped tp", `{"hw":"h200","tp":-9223372036854775808,"tput_per_gpu":1}`, "tp"},
		{"a negative concurrency", `{"hw":"h200","tp":8,"conc":-4,"tput_per_gpu":1}`, "conc"},
		{"a huge sequence length", `{"hw":"h200","tp":8,"isl":9000000000,"tput_per_gpu":1}`, "isl"},
		{"a huge metric", `{"hw":"h200","tp":8,"tput_per_gpu":1,"median_e2el":1e200}`, "median_e2el"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseRow([]byte(tc.row)); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("ParseRow = %v, want an error naming %s", err, tc.field)
			}
		})
	}
	if _, err := ParseRow([]byte(`{"hw":"h200","tp":8,"ep":1,"conc":4,"tput_per_gpu":100,"median_ttft":0.05}`)); err != nil {
		t.Fatalf("a plain row is refused: %v", err)
	}
}

func TestARowStoredWithNonFiniteNumbersStillEncodes(t *testing.T) {
	bad := &Row{HW: "h200", TP: 8, TputPerGPU: math.Inf(1), InputTputPerGPU: math.NaN(), Metrics: map[string]float64{"median_ttft": math.Inf(-1), "p99_ttft": 0.2}}
	good := &Row{HW: "h200", TP: 8, TputPerGPU: 10, Metrics: map[string]float64{}}
	var b bytes.Buffer
	if err := WriteJSON(&b, []*Row{bad, good}); err != nil {
		t.Fatalf("WriteJSON of a store holding one bad row: %v", err)
	}
	var back []map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0]["tput_per_gpu"] != nil || back[0]["p99_ttft"] != 0.2 || back[1]["tput_per_gpu"] != 10.0 {
		t.Fatalf("rows = %v", back)
	}
	b.Reset()
	if err := WriteInferenceMAX(&b, []*Row{bad, good}); err != nil {
		t.Fatalf("WriteInferenceMAX: %v", err)
	}
	b.Reset()
	if err := WriteCSV(&b, []*Row{bad}); err != nil || strings.Contains(b.String(), "Inf") || strings.Contains(b.String(), "NaN") {
		t.Fatalf("WriteCSV = %v:\n%s", err, b.String())
	}
}

func TestCSVNeutralisesFormulasInTextButNotNumbers(t *testing.T) {
	row := &Row{RunID: "r", JobID: "=HYPERLINK(\"http://x\")", Node: "+n", HW: "@h200", Model: "-2+3", Framework: "\tvllm",
		Precision: "\rfp8", Image: "img=1", TP: 8, InputTputPerGPU: -12.5, TputPerGPU: 3,
		Metrics: map[string]float64{"=cmd": 1, "median_ttft": -0.5}}
	var b bytes.Buffer
	if err := WriteCSV(&b, []*Row{row}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cell := map[string]string{}
	for i, name := range recs[0] {
		cell[name] = recs[1][i]
	}
	for _, tc := range []struct{ col, want string }{
		{"job_id", "'=HYPERLINK(\"http://x\")"},
		{"node", "'+n"},
		{"hw", "'@h200"},
		{"model", "'-2+3"},
		{"framework", "'\tvllm"},
		{"precision", "'\rfp8"},
		{"image", "img=1"},
		{"run_id", "r"},
		{"input_tput_per_gpu", "-12.5"},
		{"median_ttft", "-0.5"},
		{"'=cmd", "1"},
	} {
		if got, ok := cell[tc.col]; !ok || got != tc.want {
			t.Errorf("column %q = %q (present %t), want %q", tc.col, got, ok, tc.want)
		}
	}
}

// FuzzParse feeds arbitrary bytes to both ways a result enters fleet: an
// aggregated row and a client result file. Neither may panic, and nothing
// either accepts may hold a number a row cannot.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"hw":"h200","tp":8,"ep":1,"conc":4,"tput_per_gpu":100,"median_ttft":0.05}`))
	f.Add([]byte(clientResult))
	f.Add([]byte(`{"total_token_throughput":1.7e308,"output_throughput":-1.7e308,"completed":1e19}`))
	f.Add([]byte(`{"tp":-1,"tput_per_gpu":1e400}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseRow(b); err == nil {
			mustHold(t, r)
		}
		if r, err := Aggregate(Meta{HW: "h200", TP: 8}, b); err == nil {
			mustHold(t, r)
		}
	})
}

func mustHold(t *testing.T, r *Row) {
	t.Helper()
	if err := r.Check(); err != nil {
		t.Fatalf("accepted a row that fails its check: %v", err)
	}
	for _, v := range append([]float64{r.TputPerGPU, r.OutputTputPerGPU, r.InputTputPerGPU}, valuesOf(r.Metrics)...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("accepted a non-finite number: %+v", r)
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("an accepted row does not encode: %v", err)
	}
}

func valuesOf(m map[string]float64) []float64 {
	var out []float64
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestTableShowsNoEscapeSequenceFromARow(t *testing.T) {
	var b bytes.Buffer
	WriteTable(&b, []*Row{{HW: "h200\x1b]0;pwned\x07\x1b[2J", Framework: "vllm\x9b2J", Precision: "fp8\ttab", TP: 8}})
	if out := b.String(); strings.ContainsAny(out, "\x1b\x07\u009b") || !strings.Contains(out, "h200") {
		t.Fatalf("table:\n%q", out)
	}
}
