package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// topLevel returns the object's keys in order and each value's JSON kind.
func topLevel(t *testing.T, data []byte) ([]string, map[string]string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %v %v", tok, err)
	}
	var keys []string
	kinds := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		k := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		switch s := string(raw); {
		case s == "null":
			kinds[k] = "null"
		case s[0] == '"':
			kinds[k] = "string"
		case s[0] == '[':
			kinds[k] = "array"
		case s[0] == '{':
			kinds[k] = "object"
		case strings.ContainsAny(s, ".eE"):
			kinds[k] = "float"
		default:
			kinds[k] = "int"
		}
	}
	return keys, kinds
}

func sampleResult(detailed bool) *Result {
	cfg := DefaultConfig()
	cfg.Model = "Qwen/Qwen2.5-0.5B-Instruct"
	cfg.MaxConcurrency = 4
	cfg.PercentileMetrics = []string{"ttft", "tpot", "itl", "e2el"}
	cfg.MetricPercentiles = []float64{99, 99.9}
	cfg.Metadata = []KV{{"tp", "8"}, {"conc", "4"}}
	cfg.SaveDetailed = detailed
	cfg.Version = "v0.0.0-test"
	cfg.NumWarmups = 8
	res := computeResult(&cfg, threeRequests(), 0)
	res.Date = "20260101-120000"
	res.BenchmarkStartTimeUnix = 1767268800.5
	res.BenchmarkEndTimeUnix = 1767268800.76
	return res
}

func TestResultJSONHasBenchServingKeysInOrderThenFleetKeys(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleResult(true).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	keys, kinds := topLevel(t, buf.Bytes())
	want := []string{
		"date", "backend", "model_id", "tokenizer_id", "best_of", "num_prompts",
		"tp", "conc", // metadata
		"request_rate", "burstiness", "max_concurrency", "duration", "completed",
		"total_input_tokens", "total_output_tokens", "request_throughput", "request_goodput:",
		"output_throughput", "total_token_throughput",
		"input_lens", "output_lens", "ttfts", "itls", "generated_texts", "errors",
		"mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms", "p99.9_ttft_ms",
		"mean_tpot_ms", "median_tpot_ms", "std_tpot_ms", "p99_tpot_ms", "p99.9_tpot_ms",
		"mean_itl_ms", "median_itl_ms", "std_itl_ms", "p99_itl_ms", "p99.9_itl_ms",
		"mean_e2el_ms", "median_e2el_ms", "std_e2el_ms", "p99_e2el_ms", "p99.9_e2el_ms",
		"failed", "failed_reasons", "peak_concurrent_requests", "peak_output_throughput",
		"output_tokens_estimated", "itl_per_token", "num_warmups",
		"benchmark_start_time_unix", "benchmark_end_time_unix", "fleet_version",
	}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys:\n got %v\nwant %v", keys, want)
	}
	wantKinds := map[string]string{
		"date": "string", "best_of": "int", "num_prompts": "int", "tp": "string",
		"request_rate": "string", "burstiness": "float", "max_concurrency": "int",
		"duration": "float", "completed": "int", "total_input_tokens": "int",
		"request_throughput": "float", "request_goodput:": "null", "output_throughput": "float",
		"itls": "array", "mean_ttft_ms": "float", "std_tpot_ms": "float", "failed": "int",
		"failed_reasons": "array", "itl_per_token": "object", "peak_output_throughput": "float",
	}
	for k, w := range wantKinds {
		if kinds[k] != w {
			t.Errorf("%s is %s, want %s", k, kinds[k], w)
		}
	}
	for _, k := range keys[45:] {
		if strings.HasSuffix(k, "ms") {
			t.Errorf("new key %q ends in ms: InferenceMAX would convert it as a latency", k)
		}
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"request_rate": "inf", "burstiness": 1.0, `)) {
		t.Errorf("not written as Python's json.dump writes it: %.200s", buf.Bytes())
	}
}

func TestResultJSONWithoutDetailOmitsThePerRequestArrays(t *testing.T) {
	var buf bytes.Buffer
	res := sampleResult(false)
	res.MaxConcurrency = 0
	rate := 2.5
	res.RequestRate = rate
	g := 1.5
	res.RequestGoodput = &g
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	keys, kinds := topLevel(t, buf.Bytes())
	for _, k := range keys {
		switch k {
		case "input_lens", "output_lens", "ttfts", "itls", "generated_texts", "errors":
			t.Errorf("%s written without SaveDetailed", k)
		}
	}
	if kinds["max_concurrency"] != "null" || kinds["request_rate"] != "float" || kinds["request_goodput:"] != "float" {
		t.Errorf("max_concurrency %s, request_rate %s, goodput %s", kinds["max_concurrency"], kinds["request_rate"], kinds["request_goodput:"])
	}
}

func TestResultRoundTripsThroughItsFile(t *testing.T) {
	res := sampleResult(true)
	res.Requests = nil
	path := filepath.Join(t.TempDir(), "sub", res.DefaultFilename())
	if err := res.SaveJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, res) {
		a, _ := json.MarshalIndent(res, "", " ")
		b, _ := json.MarshalIndent(back, "", " ")
		t.Fatalf("round trip differs:\nwrote %s\nread  %s", a, b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the result (no temporary left)", len(entries))
	}
}

func TestReadResultReadsBenchServingFiles(t *testing.T) {
	r, err := ReadResult(filepath.Join("testdata", "bench_serving-result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ModelID != "deepseek-ai/DeepSeek-R1-0528" || r.MaxConcurrency != 4 || !math.IsInf(r.RequestRate, 1) || r.TotalTokenThroughput != 315.84 {
		t.Errorf("header fields: %+v", r)
	}
	if !reflect.DeepEqual(r.Metadata, []KV{{"tp", "8"}, {"framework", "vllm"}}) {
		t.Errorf("metadata %v", r.Metadata)
	}
	if r.Failed != 1 {
		t.Errorf("failed %d, want 1 counted from the errors array", r.Failed)
	}
	itl, ok := r.Metric("itl")
	if !ok || itl.Mean != 12 {
		t.Fatalf("itl stats %+v", itl)
	}
	if p, ok := itl.Percentile(99.9); !ok || p != 12.998 {
		t.Errorf("p99.9 itl %v %v", p, ok)
	}
	if r.RequestGoodput != nil || len(r.Detail.ITLs) != 3 {
		t.Errorf("goodput %v, itls %v", r.RequestGoodput, r.Detail.ITLs)
	}
}

func TestDefaultFilenameIsBenchServings(t *testing.T) {
	tests := []struct {
		rate float64
		conc int
		want string
	}{
		{math.Inf(1), 64, "vllm-infqps-concurrency64-DeepSeek-R1-20260101-120000.json"},
		{10, 0, "vllm-10.0qps-DeepSeek-R1-20260101-120000.json"},
		{0.5, 8, "vllm-0.5qps-concurrency8-DeepSeek-R1-20260101-120000.json"},
	}
	for _, tt := range tests {
		r := &Result{Backend: "vllm", ModelID: "deepseek-ai/DeepSeek-R1", Date: "20260101-120000", RequestRate: tt.rate, MaxConcurrency: tt.conc}
		if got := r.DefaultFilename(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestSummaryLooksLikeBenchServings(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleResult(false).WriteSummary(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"============ Serving Benchmark Result ============\n",
		"Successful requests:                     2         \n",
		"Failed requests:                         1         \n",
		"Benchmark duration (s):                  0.26      \n",
		"---------------Time to First Token----------------\n",
		"Mean TTFT (ms):                          150.00    \n",
		"P99.9 E2EL (ms):",
		"HTTP 500: boom",
		strings.Repeat("=", 50) + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
