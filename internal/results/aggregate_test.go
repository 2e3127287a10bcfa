package results

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

const clientResult = `{"date":"20261129-101010","backend":"vllm","model_id":"m","max_concurrency":64,
"completed":640,"failed":2,"total_token_throughput":16000,"output_throughput":8000,
"mean_ttft_ms":120,"median_ttft_ms":100,"p99_ttft_ms":400,"median_tpot_ms":20,"mean_tpot_ms":25,
"median_e2el_ms":21000,"std_itl_ms":null}`

func TestAggregateComputesInferenceMAXColumns(t *testing.T) {
	r, err := Aggregate(Meta{HW: "h200", TP: 8, Conc: 64, Model: "m", Framework: "vllm", Precision: "fp8", ISL: 1024, OSL: 1024}, []byte(clientResult))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"tput_per_gpu", r.TputPerGPU, 2000},
		{"output_tput_per_gpu", r.OutputTputPerGPU, 1000},
		{"input_tput_per_gpu", r.InputTputPerGPU, 1000},
		{"median_ttft in seconds", r.Metrics["median_ttft"], 0.1},
		{"p99_ttft in seconds", r.Metrics["p99_ttft"], 0.4},
		{"median_intvty = 1000/median_tpot_ms", r.Metrics["median_intvty"], 50},
		{"mean_intvty", r.Metrics["mean_intvty"], 40},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, ok := r.Metrics["std_itl"]; ok {
		t.Errorf("null metric should be absent")
	}
	if r.EP != 1 || r.Failed != 2 || r.Completed != 640 {
		t.Errorf("ep=%d failed=%d completed=%d", r.EP, r.Failed, r.Completed)
	}
}

func TestRowJSONKeepsInferenceMAXKeysFirstAndRoundTrips(t *testing.T) {
	r, err := Aggregate(Meta{HW: "h200", TP: 8, Conc: 64, JobID: "j"}, []byte(clientResult))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, `{"hw":"h200","tp":8,"ep":1,"dp_attention":false,"conc":64,`) {
		t.Errorf("unexpected key order: %s", s)
	}
	if i, j := strings.Index(s, `"median_ttft"`), strings.Index(s, `"job_id"`); i < 0 || j < i {
		t.Errorf("metrics should come before fleet's columns: %s", s)
	}
	var back Row
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Metrics["median_ttft"] != 0.1 || back.TputPerGPU != 2000 || back.JobID != "j" {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestAggregateRejectsFilesThatAreNotClientResults(t *testing.T) {
	if _, err := Aggregate(Meta{TP: 1}, []byte(`{"hello":1}`)); err == nil {
		t.Fatal("accepted a file without throughput")
	}
	if _, err := Aggregate(Meta{TP: 1}, []byte(`not json`)); err == nil {
		t.Fatal("accepted garbage")
	}
}

func TestWriteTable(t *testing.T) {
	r, _ := Aggregate(Meta{HW: "h200", TP: 8, Conc: 64, Framework: "vllm", Precision: "fp8", ISL: 1024, OSL: 1024}, []byte(clientResult))
	var buf bytes.Buffer
	if err := WriteTable(&buf, []*Row{r}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want header + 1 row, got %q", buf.String())
	}
	for _, want := range []string{"h200", "vllm", "fp8", "1024/1024", "100.0", "20.00", "21.00", "2000.0", "50.0"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
}

func TestRowKeepsExtraKeys(t *testing.T) {
	for _, c := range []struct {
		name, in string
		dpa      bool
	}{
		{"2026: dp_attention a string", `{"hw":"b200","conc":4,"model":"m","infmax_model_prefix":"dsr1","spec_decoding":"mtp","disagg":false,
			"recipe_fingerprint":"","router":{"name":"r","version":"1"},"is_multinode":false,"tp":8,"pp":1,"ep":8,"dp_attention":"true",
			"tput_per_gpu":1,"output_tput_per_gpu":0.5,"input_tput_per_gpu":0.5,"median_ttft":0.1,"power_valid":0,"gone":null}`, true},
		{"2025: dp_attention a bool", `{"hw":"h200-nb","conc":4,"model":"m","tp":8,"ep":1,"dp_attention":false,
			"tput_per_gpu":1,"output_tput_per_gpu":0.5,"input_tput_per_gpu":0.5,"median_ttft":0.1}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r Row
			if err := json.Unmarshal([]byte(c.in), &r); err != nil {
				t.Fatal(err)
			}
			if r.DPAttention != c.dpa {
				t.Errorf("DPAttention %v, want %v", r.DPAttention, c.dpa)
			}
			out, err := json.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			var in, back map[string]any
			if err := json.Unmarshal([]byte(c.in), &in); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatal(err)
			}
			for k, v := range in {
				if k == "dp_attention" {
					continue // fleet's own JSON writes the bool
				}
				if !equalJSON(back[k], v) {
					t.Errorf("%s: %#v back as %#v", k, v, back[k])
				}
			}
			if _, ok := r.Metrics["gone"]; ok {
				t.Error("a null became a metric")
			}
		})
	}
	var r Row
	if err := json.Unmarshal([]byte(`{"dp_attention":"maybe"}`), &r); err == nil {
		t.Error(`dp_attention "maybe" was read`)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
