package promtext_test

import (
	"strings"
	"testing"

	"github.com/fleetbench/fleet/internal/promtext"
)

// The exposition as Python's prometheus_client writes it (vLLM, SGLang):
// counters under name_total with a _created sample, label values holding
// spaces, braces, commas and escaped quotes, a histogram beside them.
const exposition = `# HELP vllm:prompt_tokens Prompt tokens.
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{engine="0",model_name="a {b}, c"} 100.0
vllm:prompt_tokens_total{engine="1",model_name="a \"q\" c"} 50.0
vllm:prompt_tokens_created{engine="0"} 1.7e9
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0"} 3
vllm:num_requests_running{engine="1"} 4 1700000000000
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="1.0"} 2
vllm:e2e_request_latency_seconds_bucket{le="+Inf"} 3
vllm:e2e_request_latency_seconds_sum 2.5
vllm:e2e_request_latency_seconds_count 3
sglang:spec_accept_length{tp_rank="0"} 2.5
`

func TestParseSumsFamiliesOverLabels(t *testing.T) {
	m, err := promtext.Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want float64
		ok   bool
	}{
		{"vllm:prompt_tokens", 150, true},
		{"vllm:num_requests_running", 7, true},
		{"sglang:spec_accept_length", 2.5, true},
		{"vllm:generation_tokens", 0, false},
	} {
		got, ok := m.Sum(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Sum(%s) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	s := m.Family("vllm:prompt_tokens")
	if len(s) != 2 || s[0].Labels["model_name"] == "" {
		t.Errorf("samples %+v, want two with their labels", s)
	}
	for _, x := range s {
		if x.Labels["engine"] == "1" && x.Labels["model_name"] != `a "q" c` {
			t.Errorf("escaped label read as %q", x.Labels["model_name"])
		}
	}
}

func TestParseReportsMalformedInputAndKeepsWhatCameBefore(t *testing.T) {
	m, err := promtext.Parse(strings.NewReader("good 1\nbad{unclosed 3\nlater 2\n"))
	if err == nil {
		t.Fatal("no error for a malformed line")
	}
	if v, ok := m.Sum("good"); !ok || v != 1 {
		t.Errorf("the line before the bad one: %v, %v", v, ok)
	}
}
