// Package bench is fleet's benchmark client: it sends bench_serving's
// random-dataset traffic to an OpenAI-compatible inference server, measures
// TTFT, TPOT, ITL and E2EL exactly as bench_serving defines them, and writes
// a result file that tools reading bench_serving's read unchanged.
package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Backend names the server kind, which decides the request body.
type Backend string

// Backends, named as bench_serving names them.
const (
	BackendVLLM       Backend = "vllm"
	BackendSGLang     Backend = "sglang"
	BackendTRT        Backend = "trt"
	BackendOpenAI     Backend = "openai"
	BackendOpenAIChat Backend = "openai-chat"
)

// Backends lists the accepted backends.
func Backends() []Backend {
	return []Backend{BackendVLLM, BackendSGLang, BackendTRT, BackendOpenAI, BackendOpenAIChat}
}

// Chat reports whether the backend uses chat completions.
func (b Backend) Chat() bool { return b == BackendOpenAIChat }

// DefaultEndpoint is the API path the backend is sent to by default.
func (b Backend) DefaultEndpoint() string {
	if b.Chat() {
		return "/v1/chat/completions"
	}
	return "/v1/completions"
}

// trtAccepted lists the request fields trtllm-serve's completions request
// accepts; it rejects every other field with a 400, so --extra-body keys are
// checked against it before a run rather than failing every request.
var trtAccepted = []string{
	"model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs",
	"max_tokens", "n", "presence_penalty", "seed", "stop", "stream", "stream_options",
	"suffix", "temperature", "top_p", "user", "use_beam_search", "top_k", "top_p_min",
	"min_p", "repetition_penalty", "length_penalty", "early_stopping", "stop_token_ids",
	"include_stop_str_in_output", "ignore_eos", "min_tokens", "skip_special_tokens",
	"spaces_between_special_tokens", "truncate_prompt_tokens", "return_context_logits",
	"return_generation_logits", "add_special_tokens", "response_format", "lora_request",
	"disaggregated_params", "messages", "max_completion_tokens", "tools", "tool_choice",
	"chat_template", "chat_template_kwargs", "documents",
}

// SLO is one goodput objective: a request is good when every metric is at
// most its objective.
type SLO struct {
	Metric string  // ttft, tpot or e2el
	MS     float64 // milliseconds
}

// KV is one --metadata entry; the result keeps their order.
type KV struct{ Key, Value string }

// Config is one benchmark run.
type Config struct {
	BaseURL  string // scheme://host:port, no trailing path
	Endpoint string // default per backend
	Backend  Backend
	Model    string // model_id in the result
	// ServedModelName is sent as "model" when set (else Model).
	ServedModelName string
	Tokenizer       string // recorded only (tokenizer_id)
	APIKey          string // sent as a bearer token; never logged or saved

	// Dataset, when nil, is the random dataset drawn from Random.
	Dataset Dataset
	Random  RandomConfig

	NumPrompts     int
	MaxConcurrency int     // 0: no limit
	RequestRate    float64 // requests/s; +Inf releases all at once
	Burstiness     float64 // gamma shape; 1 = Poisson
	NumWarmups     int
	Seed           int64
	IgnoreEOS      bool
	// ChatTemplate frames prompts as a chat turn (--use-chat-template,
	// --dsv4); none by default.
	ChatTemplate ChatTemplate
	// Profile asks the server to profile the measured requests: POST
	// {base}/start_profile after the warmups, {base}/stop_profile after
	// the last request (the server must have been started with profiling
	// enabled). Either call failing does not fail the run.
	Profile bool
	// SpecMetrics reads the server's speculative decoding counters from
	// GET {base}/metrics before and after the measured requests and
	// records the acceptance length (specdecode.go).
	SpecMetrics bool

	PercentileMetrics []string  // subset of ttft, tpot, itl, e2el
	MetricPercentiles []float64 // e.g. 99, 99.9
	Goodput           []SLO
	Metadata          []KV
	// ExtraBody is a JSON object whose members are added to (and override)
	// every request body.
	ExtraBody json.RawMessage

	// SaveDetailed keeps the per-request arrays (input_lens ... errors,
	// generated texts) in the result, as bench_serving's --save-detailed.
	SaveDetailed bool
	// NewConnectionPerRequest opens a connection per request as the Python
	// client does; by default connections are kept alive and reused.
	NewConnectionPerRequest bool
	// ReadyTimeout, when positive, waits up to that long for GET /health
	// (or /v1/models) to answer 200 before the run.
	ReadyTimeout time.Duration
	// RequestTimeout bounds each request; 0: no limit.
	RequestTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a response's headers;
	// 0: no limit (RequestTimeout still applies).
	ResponseHeaderTimeout time.Duration

	// Version is recorded as fleet_version.
	Version string

	// OnProgress, when set, is called every ProgressEvery (5s by default)
	// during the measured run, and once more when it ends.
	OnProgress    func(Progress)
	ProgressEvery time.Duration
}

// Progress is how far the measured run has come.
type Progress struct {
	Done, Total, Failed int
	OutputTokens        int64         // streamed so far
	TokensPerSec        float64       // output tokens per second since the last report
	Elapsed             time.Duration // since the measured run started
}

// DefaultRequestTimeout bounds one request when nothing else does.
// bench_serving allows 6 hours; a request that runs an hour generates
// thousands of tokens at a handful of tokens per second, which no
// benchmark worth measuring does, while a hung server holds every
// connection of the run for the whole limit. `fleet job` replaces it with
// the job's benchmark timeout, which no request may outlive anyway.
const DefaultRequestTimeout = time.Hour

// DefaultResponseHeaderTimeout bounds the wait for a response's headers.
// vLLM, SGLang and trtllm-serve send them once they have accepted the
// request, before it waits in the scheduler's queue or its prefill runs,
// so even at very high concurrency they come in seconds; ten minutes
// leaves room for an API server whose event loop is saturated by
// tokenising thousands of long prompts, and still frees a connection to a
// server that accepted it and went silent long before the request timeout.
// A server that sends its headers only with the first token needs more at
// huge concurrency (--response-header-timeout 0 switches the limit off).
const DefaultResponseHeaderTimeout = 10 * time.Minute

// DefaultConfig returns bench_serving's defaults, and fleet's limits on
// what a server may make the client wait for.
func DefaultConfig() Config {
	return Config{
		RequestTimeout:        DefaultRequestTimeout,
		ResponseHeaderTimeout: DefaultResponseHeaderTimeout,
		Backend:               BackendVLLM,
		NumPrompts:            1000,
		RequestRate:           math.Inf(1),
		Burstiness:            1,
		Random:                RandomConfig{InputLen: 1024, OutputLen: 128, RangeRatio: 1, VocabSize: DefaultVocabSize},
		PercentileMetrics:     []string{"ttft", "tpot", "itl"},
		MetricPercentiles:     []float64{99},
	}
}

// metricNames is the order bench_serving writes metrics in, whatever the
// order of --percentile-metrics.
var metricNames = []string{"ttft", "tpot", "itl", "e2el"}

// validate checks the configuration and fills in defaults.
func (c *Config) validate() error {
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, errors.New("no base URL"))
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base URL %q: want http(s)://host[:port]", c.BaseURL))
	}
	if !slices.Contains(Backends(), c.Backend) {
		errs = append(errs, fmt.Errorf("backend %q: want one of %v", c.Backend, Backends()))
	}
	if err := c.ChatTemplate.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ChatTemplate == ChatTemplateDSV4 && c.Dataset == nil && c.Random.InputLen < DSV4FrameTokens {
		errs = append(errs, fmt.Errorf("input length %d: the DeepSeek-V4 chat frame alone takes %d tokens", c.Random.InputLen, DSV4FrameTokens))
	}
	if c.Endpoint == "" {
		c.Endpoint = c.DefaultEndpoint()
	}
	if !strings.HasPrefix(c.Endpoint, "/") {
		errs = append(errs, fmt.Errorf("endpoint %q: want a path starting with /", c.Endpoint))
	}
	if c.Model == "" {
		errs = append(errs, errors.New("no model"))
	}
	if c.Dataset == nil && c.NumPrompts < 1 {
		errs = append(errs, fmt.Errorf("%d prompts: want at least 1", c.NumPrompts))
	}
	if c.MaxConcurrency < 0 {
		errs = append(errs, fmt.Errorf("max concurrency %d: want 0 (no limit) or more", c.MaxConcurrency))
	}
	if !(c.RequestRate > 0) {
		errs = append(errs, fmt.Errorf("request rate %v: want a positive number or inf", c.RequestRate))
	}
	if !(c.Burstiness > 0) || math.IsInf(c.Burstiness, 0) {
		errs = append(errs, fmt.Errorf("burstiness %v: want a positive number", c.Burstiness))
	}
	if c.NumWarmups < 0 {
		errs = append(errs, fmt.Errorf("%d warmups: want 0 or more", c.NumWarmups))
	}
	for _, m := range c.PercentileMetrics {
		if !slices.Contains(metricNames, m) {
			errs = append(errs, fmt.Errorf("percentile metric %q: want ttft, tpot, itl or e2el", m))
		}
	}
	for _, p := range c.MetricPercentiles {
		if !(p >= 0 && p <= 100) {
			errs = append(errs, fmt.Errorf("percentile %v: want 0..100", p))
		}
	}
	for _, s := range c.Goodput {
		if s.Metric != "ttft" && s.Metric != "tpot" && s.Metric != "e2el" {
			errs = append(errs, fmt.Errorf("goodput objective %q: want ttft, tpot or e2el", s.Metric))
		}
		if !(s.MS >= 0) {
			errs = append(errs, fmt.Errorf("goodput objective %s:%v: want a non-negative number of ms", s.Metric, s.MS))
		}
	}
	for _, kv := range c.Metadata {
		if reservedKey(kv.Key) {
			errs = append(errs, fmt.Errorf("metadata key %q: the result already has that key", kv.Key))
		}
	}
	if _, err := c.extraBody(); err != nil {
		errs = append(errs, err)
	}
	if c.RequestTimeout < 0 || c.ReadyTimeout < 0 || c.ResponseHeaderTimeout < 0 {
		errs = append(errs, errors.New("negative timeout"))
	}
	return errors.Join(errs...)
}

// extraBody parses ExtraBody into sorted members, and checks them against
// what a strict backend accepts.
func (c *Config) extraBody() ([]member, error) {
	if len(c.ExtraBody) == 0 {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(c.ExtraBody, &m); err != nil {
		return nil, fmt.Errorf("extra body %s: want a JSON object: %w", c.ExtraBody, err)
	}
	out := make([]member, 0, len(m))
	for k, v := range m {
		if c.Backend == BackendTRT && !slices.Contains(trtAccepted, k) {
			return nil, fmt.Errorf("extra body key %q: trtllm-serve rejects unknown request fields (it accepts %s)", k, strings.Join(trtAccepted, ", "))
		}
		b, err := json.Marshal(v) // compacts and validates
		if err != nil {
			return nil, fmt.Errorf("extra body key %q: %w", k, err)
		}
		out = append(out, member{key: k, value: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

type member struct {
	key   string
	value []byte
}

// reservedKey reports whether a result file has key of its own, so that
// metadata may not use it.
func reservedKey(key string) bool {
	switch key {
	case "date", "backend", "model_id", "tokenizer_id", "best_of", "num_prompts",
		"request_rate", "burstiness", "max_concurrency", "duration", "completed",
		"total_input_tokens", "total_output_tokens", "request_throughput",
		"request_goodput:", "output_throughput", "total_token_throughput",
		"input_lens", "output_lens", "ttfts", "itls", "generated_texts", "errors",
		"failed", "failed_reasons", "peak_concurrent_requests", "peak_output_throughput",
		"output_tokens_estimated", "itl_per_token", "num_warmups",
		"benchmark_start_time_unix", "benchmark_end_time_unix", "fleet_version":
		return true
	}
	return metricKey.MatchString(key)
}
