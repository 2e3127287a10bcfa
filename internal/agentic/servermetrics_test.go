package agentic

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// vllmMetrics is a vLLM /metrics page after `step` units of work.
func vllmMetrics(step int) string {
	return fmt.Sprintf(`# HELP vllm:prefix_cache_queries_total Prefix cache queries.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} %d
vllm:prefix_cache_queries_created{engine="0",model_name="m"} 1.7e9
vllm:prefix_cache_hits_total{engine="0",model_name="m"} %d
vllm:external_prefix_cache_queries_total{engine="0",model_name="m"} %d
vllm:external_prefix_cache_hits_total{engine="0",model_name="m"} %d
vllm:prompt_tokens_total{engine="0",model_name="m"} %d
vllm:generation_tokens_total{engine="0",model_name="m"} %d
vllm:kv_cache_usage_perc{engine="0",model_name="m"} %g
vllm:num_requests_running{engine="0",model_name="m"} %d
vllm:num_requests_waiting{engine="0",model_name="m"} 0
`, 1000*step, 600*step, 400*step, 100*step, 1000*step, 50*step, 0.1*float64(step), step)
}

func TestParseMetricsSumsFamilies(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`vllm:prompt_tokens_by_source_total{source="local_cache_hit",engine="0"} 30
vllm:prompt_tokens_by_source_total{source="local_cache_hit",engine="1"} 10
vllm:prompt_tokens_by_source_total{source="local_compute",engine="0"} 60
vllm:num_requests_running 3 1700000000000
garbage line
`))
	// The garbage line is reported; what came before it counts.
	if err == nil {
		t.Error("no error for the garbage line")
	}
	for k, want := range map[string]float64{
		"vllm:prompt_tokens_by_source":                  100,
		"vllm:prompt_tokens_by_source{local_cache_hit}": 40,
		"vllm:prompt_tokens_by_source{local_compute}":   60,
		"vllm:num_requests_running":                     3,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	sm := &ServerMetrics{Counters: map[string]float64{}}
	for _, c := range counters {
		if v, ok := m[c]; ok {
			sm.Counters[c] = v
		}
	}
	// By source when present: 40 of 100 tokens from the GPU cache.
	if gpu, ext, all, ok := sm.CacheHitRates(); !ok || gpu != 0.4 || ext != 0 || all != 0.4 {
		t.Errorf("rates %v %v %v %v", gpu, ext, all, ok)
	}
}

func TestScraperReportsDeltasOverTheWindow(t *testing.T) {
	var step atomic.Int32
	step.Store(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, vllmMetrics(int(step.Load())))
	}))
	defer srv.Close()
	s := NewScraper([]string{srv.URL + "/metrics"}, time.Hour)
	s.Begin(context.Background())
	step.Store(5) // three units of work during the window
	m, err := s.End(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{
		mPrefixQueries: 3000, mPrefixHits: 1800, mExtQueries: 1200, mExtHits: 300, mPromptTokens: 3000, mGenTokens: 150,
	} {
		if m.Counters[k] != want {
			t.Errorf("%s delta %v, want %v", k, m.Counters[k], want)
		}
	}
	if m.Gauges[mKVUsage] != 0.5 || m.Gauges[mRunning] != 5 {
		t.Errorf("gauges %v: want the highest KV usage 0.5 and 5 running", m.Gauges)
	}
	gpu, ext, all, ok := m.CacheHitRates()
	if !ok || gpu != 0.6 || ext != 0.25 || all != 0.7 { // (1800+300)/3000
		t.Errorf("rates gpu %v external %v overall %v", gpu, ext, all)
	}
	res := &Result{Concurrency: 1, Prompts: "text", Server: m, Records: handRecords()}
	res.Stats = computeStats(res.Records, 0, 3*time.Second)
	row, err := res.AggregatedRow(RowMeta{TP: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"present": true`, `"adapter": "vllm"`, `"gpu_cache_hit_rate": 0.6`, `"prefix_cache_hits": 1800`,
		`"external_cache_hit_rate": 0.25`, `"gpu_usage_pct": 0.5`, `"prompt_total": 3000`} {
		if !strings.Contains(string(row), want) {
			t.Errorf("row lacks %s", want)
		}
	}
}

func TestScraperReportsAnUnreachableEndpoint(t *testing.T) {
	s := NewScraper([]string{"http://127.0.0.1:1/metrics"}, time.Hour)
	s.Begin(context.Background())
	if _, err := s.End(context.Background()); err == nil {
		t.Error("no error for an endpoint that does not answer")
	}
}
