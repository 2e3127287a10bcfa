package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func cachingConfig(f Format) Config {
	cfg := pdCosts()
	cfg.Format, cfg.PrefixCaching = f, true
	return cfg
}

// usageOf returns the usage object of a non-streaming body or of a
// stream's usage chunk.
func usageOf(t *testing.T, body string) map[string]any {
	t.Helper()
	var last map[string]any
	for _, line := range strings.Split(body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			if strings.HasPrefix(line, "{") {
				data = line
			} else {
				continue
			}
		}
		var ev map[string]any
		if json.Unmarshal([]byte(data), &ev) != nil {
			continue
		}
		if u, ok := ev["usage"].(map[string]any); ok {
			last = u
		}
	}
	if last == nil {
		t.Fatalf("no usage in %q", body)
	}
	return last
}

// cachedTokens is usage.prompt_tokens_details.cached_tokens, or -1 when
// the details are absent or null.
func cachedTokens(u map[string]any) int {
	d, ok := u["prompt_tokens_details"].(map[string]any)
	if !ok {
		return -1
	}
	v, ok := d["cached_tokens"].(float64)
	if !ok {
		return -1
	}
	return int(v)
}

func TestCachedTokensOnTheWire(t *testing.T) {
	prompt := strings.Repeat("abcd", 200) // 201 tokens: 12 usable blocks of 16
	history := `{"role":"user","content":"` + strings.Repeat("wxyz", 100) + `"}`
	tests := []struct {
		format Format
		path   string
		body   string
		want   int // cached tokens of the second request
	}{
		{FormatVLLM, "/v1/completions", `{"prompt":"` + prompt + `","max_tokens":4,"ignore_eos":true}`, 192},
		{FormatVLLM, "/v1/completions", `{"prompt":"` + prompt + `","max_tokens":4,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}`, 192},
		{FormatSGLang, "/v1/completions", `{"prompt":"` + prompt + `","max_tokens":4,"ignore_eos":true}`, 192},
		{FormatSGLang, "/v1/completions", `{"prompt":"` + prompt + `","max_tokens":4,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}`, 192},
		{FormatTRT, "/v1/completions", `{"model":"sim","prompt":"` + prompt + `","max_tokens":4,"ignore_eos":true}`, 192},
		// Chat: 1 + 4 + 100 + 3 = 108 tokens, 6 usable blocks.
		{FormatVLLM, "/v1/chat/completions", `{"messages":[` + history + `],"max_completion_tokens":4,"ignore_eos":true}`, 96},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %d", tt.format, tt.path, len(tt.body)), func(t *testing.T) {
			_, url := startServer(t, cachingConfig(tt.format))
			code, first := postJSON(t, url+tt.path, tt.body)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, first)
			}
			if got := cachedTokens(usageOf(t, first)); got != 0 {
				t.Errorf("first request: cached_tokens %d, want 0 (cold cache)", got)
			}
			_, second := postJSON(t, url+tt.path, tt.body)
			if got := cachedTokens(usageOf(t, second)); got != tt.want {
				t.Errorf("second request: cached_tokens %d, want %d", got, tt.want)
			}
		})
	}

	// A new turn of a chat finds its history.
	_, url := startServer(t, cachingConfig(FormatVLLM))
	postJSON(t, url+"/v1/chat/completions", `{"messages":[`+history+`],"max_completion_tokens":4}`)
	_, next := postJSON(t, url+"/v1/chat/completions", `{"messages":[`+history+`,{"role":"assistant","content":"ok"},{"role":"user","content":"more"}],"max_completion_tokens":4}`)
	if got := cachedTokens(usageOf(t, next)); got != 96 {
		t.Errorf("next chat turn: cached_tokens %d, want 96 (its history, before the old assistant header)", got)
	}

	// Without prefix caching vLLM's usage keeps prompt_tokens_details null.
	_, url = startServer(t, pdCosts())
	body := `{"prompt":"` + prompt + `","max_tokens":4}`
	postJSON(t, url+"/v1/completions", body)
	_, plain := postJSON(t, url+"/v1/completions", body)
	if u := usageOf(t, plain); cachedTokens(u) != -1 {
		t.Errorf("without prefix caching usage carries details: %v", u)
	}
}

// metricValue reads one sample from a Prometheus text answer.
func metricValue(t *testing.T, text, sample string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("sample %s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no sample %s in:\n%s", sample, text)
	return 0
}

// idsFrom is a token-id prompt of n distinct ids from start, as JSON.
func idsFrom(start, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strconv.Itoa(start + i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestPrefixCacheMetrics(t *testing.T) {
	cfg := cachingConfig(FormatVLLM)
	cfg.KVCacheTokens, cfg.KVCPUCacheTokens = 256, 4096 // 16 GPU blocks
	_, url := startServer(t, cfg)
	a := `{"prompt":` + idsFrom(1000, 200) + `,"max_tokens":4,"ignore_eos":true}`
	b := `{"prompt":` + idsFrom(5000, 200) + `,"max_tokens":4,"ignore_eos":true}`
	for _, body := range []string{a, b, a} {
		if code, out := postJSON(t, url+"/v1/completions", body); code != http.StatusOK {
			t.Fatalf("status %d: %s", code, out)
		}
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(raw)
	l := `{model_name="sim",role="agg"}`
	src := func(s string) string {
		return `vllm:prompt_tokens_by_source_total{model_name="sim",role="agg",source="` + s + `"}`
	}
	// a (13 blocks) is cached, b (13 blocks) pushes its last 9 prompt
	// blocks to the CPU, and a again finds 3 blocks on the GPU and 9 on
	// the CPU: 48 + 144 of its 200 tokens.
	for _, m := range []struct {
		sample string
		want   float64
	}{
		{"vllm:prompt_tokens_total" + l, 600},
		{"vllm:generation_tokens_total" + l, 12},
		{"vllm:prefix_cache_queries_total" + l, 600},
		{"vllm:prefix_cache_hits_total" + l, 48},
		{"vllm:external_prefix_cache_queries_total" + l, 600},
		{"vllm:external_prefix_cache_hits_total" + l, 144},
		{src("local_cache_hit"), 48},
		{src("external_kv_transfer"), 144},
		{src("local_compute"), 408},
		{"vllm:num_requests_running" + l, 0},
		{"vllm:num_requests_waiting" + l, 0},
		{"vllm:kv_cache_usage_perc" + l, 0},
	} {
		if got := metricValue(t, text, m.sample); got != m.want {
			t.Errorf("%s = %v, want %v", m.sample, got, m.want)
		}
	}
	if got := metricValue(t, text, "vllm:cpu_kv_cache_usage_perc"+l); got <= 0 || got >= 1 {
		t.Errorf("vllm:cpu_kv_cache_usage_perc = %v, want a fraction above 0", got)
	}
	if !strings.Contains(text, "# TYPE vllm:prefix_cache_hits_total counter\n") {
		t.Error("prefix cache hits are not typed as a counter")
	}
}

func TestRequestsBeyondTheContextOrTheCacheAreRefused(t *testing.T) {
	cfg := cachingConfig(FormatVLLM)
	cfg.MaxModelLen, cfg.KVCacheTokens = 1000, 320
	_, url := startServer(t, cfg)
	tests := []struct {
		path, body string
		want       string
	}{
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":995}`, "maximum context length is 1000 tokens"},
		{"/v1/completions", `{"prompt":` + idsFrom(0, 990) + `,"max_tokens":20}`, "maximum context length is 1000 tokens"},
		{"/v1/completions", `{"prompt":` + idsFrom(0, 1000) + `}`, "maximum context length is 1000 tokens"},
		{"/v1/completions", `{"prompt":` + idsFrom(0, 300) + `,"max_tokens":30}`, "tokens of KV cache"},
	}
	for _, tt := range tests {
		code, body := postJSON(t, url+tt.path, tt.body)
		if code != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("%s %.60s: %d %s, want 400 with %q", tt.path, tt.body, code, body, tt.want)
		}
	}
	if code, body := postJSON(t, url+"/v1/completions", `{"prompt":`+idsFrom(0, 300)+`,"max_tokens":20}`); code != http.StatusOK {
		t.Errorf("a request that fits: %d %s", code, body)
	}
}
