// Package benchflags defines bench_serving's command-line flags on a
// bench.Config, once: `fleet bench` parses a command line with them, and
// `fleet job` parses a sweep's client extra_args with the same definitions
// over the job's own settings.
package benchflags

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/fleetbench/fleet/internal/agentic"
	"github.com/fleetbench/fleet/internal/bench"
)

// Flags is a benchmark configuration as flags see it: the Config, and the
// flags that are text until Finish reads them or that say what to do with
// the result.
type Flags struct {
	Config bench.Config

	Host              string
	Port              int
	Rate              string // "inf" or requests per second
	Dataset           string
	PercentileMetrics string // comma-separated
	MetricPercentiles string // comma-separated
	Goodput           []string
	Metadata          []string
	ExtraBody         string

	SaveResult      bool
	ResultDir       string
	ResultFilename  string
	MaxFailureRatio float64

	// UseChatTemplate and DSV4 decide Config.ChatTemplate in Finish.
	UseChatTemplate bool
	DSV4            bool
	// TrustRemoteCode, TokenizerMode and DisableTqdm are accepted for
	// InferenceX's client's command line; they change nothing (fleet runs
	// no tokenizer code and draws its progress only on a terminal).
	TrustRemoteCode bool
	TokenizerMode   string
	DisableTqdm     bool

	// AllowAgentic lets --dataset-name name an agentic trace replay
	// (cc-traces, mooncake-trace); callers that cannot run one leave it
	// off, and Finish rejects those datasets.
	AllowAgentic bool
	Agentic      AgenticFlags
}

// tokenizerModes are the values InferenceX's client accepts for
// --tokenizer-mode; fleet checks the value and otherwise ignores it.
var tokenizerModes = []string{"auto", "slow", "mistral", "custom", "deepseek_v4"}

// Defaults returns the defaults of InferenceX's client (its
// utils/bench_serving/benchmark_serving.py), which fleet bench stands in
// for: every metric, at the 90th, 99th and 99.9th percentiles, since
// InferenceX's scripts name neither and its tools read p90 and p99.9.
func Defaults() *Flags {
	cfg := bench.DefaultConfig()
	return &Flags{
		Config:            cfg,
		Host:              "127.0.0.1",
		Port:              8000,
		Rate:              "inf",
		Dataset:           "random",
		PercentileMetrics: "ttft,tpot,itl,e2el",
		MetricPercentiles: "90,99,99.9",
		MaxFailureRatio:   0.05,
		TokenizerMode:     "auto",
		Agentic:           defaultAgentic(),
	}
}

// Register defines the flags on fs. Each flag's default is f's current
// value, so flags set over a prepared Flags change only what they name.
func (f *Flags) Register(fs *pflag.FlagSet) {
	c := &f.Config
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "server base URL, e.g. http://127.0.0.1:8000 (instead of --host/--port)")
	fs.StringVar(&f.Host, "host", f.Host, "server host")
	fs.IntVar(&f.Port, "port", f.Port, "server port")
	fs.StringVar(&c.Endpoint, "endpoint", c.Endpoint, "API path (default /v1/completions; /v1/chat/completions for openai-chat or --use-chat-template)")
	fs.StringVar((*string)(&c.Backend), "backend", string(c.Backend), "server kind: vllm, sglang, trt, openai, openai-chat (decides the request body)")
	fs.StringVar(&c.Model, "model", c.Model, "model name (recorded as model_id; sent unless --served-model-name)")
	fs.StringVar(&c.ServedModelName, "served-model-name", c.ServedModelName, "model name to send in requests")
	fs.StringVar(&c.Tokenizer, "tokenizer", c.Tokenizer, "tokenizer name, recorded only as tokenizer_id (default --model); fleet sends token ids and loads no tokenizer")
	fs.StringVar(&f.TokenizerMode, "tokenizer-mode", f.TokenizerMode, "accepted and checked ("+strings.Join(tokenizerModes, ", ")+"); no effect: fleet loads no tokenizer")
	fs.BoolVar(&f.TrustRemoteCode, "trust-remote-code", f.TrustRemoteCode, "accepted; no effect: fleet runs no tokenizer code")
	fs.BoolVar(&f.UseChatTemplate, "use-chat-template", f.UseChatTemplate, "send each prompt as a chat turn: one user message to the chat completions endpoint, so the server applies the model's chat template (fleet has no tokenizer to render it itself)")
	fs.BoolVar(&f.DSV4, "dsv4", f.DSV4, "with --use-chat-template: frame each prompt as DeepSeek-V4's user turn in thinking mode, rendered by fleet as text, prompt lengths 4 tokens shorter so the framed prompt has the target length")
	fs.BoolVar(&c.Profile, "profile", c.Profile, "POST /start_profile after the warmups and /stop_profile after the run (the server must have profiling enabled); a failed call is reported, not fatal")
	fs.BoolVar(&c.SpecMetrics, "spec-metrics", c.SpecMetrics, "read the server's speculative decoding counters (vLLM's vllm:spec_decode_*) from /metrics before and after the run and report the acceptance length (1 + accepted / drafts) as spec_accept_length")
	fs.BoolVar(&f.DisableTqdm, "disable-tqdm", f.DisableTqdm, "accepted; no effect: the progress line is drawn only on a terminal")
	fs.StringVar(&f.Dataset, "dataset-name", f.Dataset, "dataset: random, or an agentic trace replay: cc-traces, mooncake-trace (with --dataset-path)")
	fs.IntVar(&c.Random.InputLen, "random-input-len", c.Random.InputLen, "input length in tokens (after the prefix)")
	fs.IntVar(&c.Random.OutputLen, "random-output-len", c.Random.OutputLen, "output length (max_tokens)")
	fs.Float64Var(&c.Random.RangeRatio, "random-range-ratio", c.Random.RangeRatio, "lengths are uniform in [floor(len*ratio), len]")
	fs.IntVar(&c.Random.PrefixLen, "random-prefix-len", c.Random.PrefixLen, "shared prefix tokens before every prompt")
	fs.IntVar(&c.Random.VocabSize, "vocab-size", c.Random.VocabSize, "token ids are drawn below this (32000 fits every current model)")
	fs.IntVar(&c.NumPrompts, "num-prompts", c.NumPrompts, "number of measured requests")
	fs.IntVar(&c.MaxConcurrency, "max-concurrency", c.MaxConcurrency, "most requests in flight (0: no limit)")
	fs.StringVar(&f.Rate, "request-rate", f.Rate, "requests per second, or inf to release all at once")
	fs.Float64Var(&c.Burstiness, "burstiness", c.Burstiness, "gamma shape of the arrival gaps (1: Poisson)")
	fs.IntVar(&c.NumWarmups, "num-warmups", c.NumWarmups, "warmup requests (copies of the first prompt), not measured")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "random seed")
	fs.BoolVar(&c.IgnoreEOS, "ignore-eos", c.IgnoreEOS, "send ignore_eos so every request generates its full length")
	fs.StringVar(&f.PercentileMetrics, "percentile-metrics", f.PercentileMetrics, "metrics to report: ttft, tpot, itl, e2el (comma-separated)")
	fs.StringVar(&f.MetricPercentiles, "metric-percentiles", f.MetricPercentiles, "percentiles to report (comma-separated, e.g. 50,90,99.9)")
	fs.StringSliceVar(&f.Goodput, "goodput", f.Goodput, "goodput objectives metric:ms (ttft, tpot, e2el)")
	fs.BoolVar(&f.SaveResult, "save-result", f.SaveResult, "write the result JSON")
	fs.BoolVar(&c.SaveDetailed, "save-detailed", c.SaveDetailed, "also write per-request arrays (input_lens, output_lens, ttfts, itls, generated_texts, errors); implies --save-result")
	fs.StringVar(&f.ResultDir, "result-dir", f.ResultDir, "directory for the result file (default: current directory)")
	fs.StringVar(&f.ResultFilename, "result-filename", f.ResultFilename, "result file name (default {backend}-{rate}qps[-concurrency{C}]-{model}-{date}.json)")
	fs.StringSliceVar(&f.Metadata, "metadata", f.Metadata, "key=value pairs recorded in the result")
	fs.StringVar(&f.ExtraBody, "extra-body", f.ExtraBody, "JSON object merged into every request body")
	fs.Float64Var(&f.MaxFailureRatio, "max-failure-ratio", f.MaxFailureRatio, "exit 3 when more than this share of requests failed")
	fs.BoolVar(&c.NewConnectionPerRequest, "new-connection-per-request", c.NewConnectionPerRequest, "open a connection per request as the Python client does (default: keep-alive reuse)")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", c.ReadyTimeout, "wait up to this long for GET /health (or /v1/models) to answer 200 first (0: do not wait)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "limit for one request, queueing and streaming included (0: none; bench_serving allows 6h; fleet job uses the job's benchmark timeout)")
	fs.DurationVar(&c.ResponseHeaderTimeout, "response-header-timeout", c.ResponseHeaderTimeout, "limit for the wait for a response's headers, which vLLM, SGLang and trtllm-serve send before the request queues (0: none)")
	f.Agentic.register(fs)
}

// Finish reads the text flags into f.Config after fs parsed a command
// line; args are the words left over, which belong to --metadata (k=v) or
// --goodput (metric:ms) as bench_serving's nargs flags take them. Every
// error is the caller's input's fault (a usage error).
func (f *Flags) Finish(fs *pflag.FlagSet, args []string) error {
	for _, arg := range args {
		switch {
		case strings.Contains(arg, "=") && fs.Changed("metadata"):
			f.Metadata = append(f.Metadata, arg)
		case strings.Contains(arg, ":") && fs.Changed("goodput"):
			f.Goodput = append(f.Goodput, arg)
		default:
			return fmt.Errorf("unexpected argument %q", arg)
		}
	}
	cfg := &f.Config
	if cfg.Model == "" {
		return errors.New("--model is required")
	}
	switch {
	case f.Dataset == "random":
	case f.IsAgentic() && f.AllowAgentic:
	case f.IsAgentic():
		return fmt.Errorf("--dataset-name %q: an agentic trace replay runs with fleet bench, not here", f.Dataset)
	default:
		return fmt.Errorf("--dataset-name %q: want random, %s or %s", f.Dataset, agentic.DatasetCCTraces, agentic.DatasetMooncake)
	}
	var err error
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + joinHostPort(f.Host, f.Port)
	}
	if cfg.RequestRate, err = parseRate(f.Rate); err != nil {
		return err
	}
	cfg.PercentileMetrics = splitList(f.PercentileMetrics)
	if cfg.MetricPercentiles, err = parsePercentiles(f.MetricPercentiles); err != nil {
		return err
	}
	if cfg.Goodput, err = parseGoodput(f.Goodput); err != nil {
		return err
	}
	if cfg.Metadata, err = parseMetadata(f.Metadata); err != nil {
		return err
	}
	if f.ExtraBody != "" {
		cfg.ExtraBody = json.RawMessage(f.ExtraBody)
	}
	if err := share("max-failure-ratio", f.MaxFailureRatio); err != nil {
		return err
	}
	if !slices.Contains(tokenizerModes, f.TokenizerMode) {
		return fmt.Errorf("--tokenizer-mode %q: want one of %s", f.TokenizerMode, strings.Join(tokenizerModes, ", "))
	}
	switch {
	case f.DSV4 && !f.UseChatTemplate:
		return errors.New("--dsv4 requires --use-chat-template")
	case f.DSV4:
		cfg.ChatTemplate = bench.ChatTemplateDSV4
	case f.UseChatTemplate:
		cfg.ChatTemplate = bench.ChatTemplateServer
	}
	f.SaveResult = f.SaveResult || cfg.SaveDetailed
	if cfg.Endpoint == "" {
		cfg.Endpoint = cfg.DefaultEndpoint()
	}
	if f.IsAgentic() {
		return f.finishAgentic(fs)
	}
	return nil
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func parseRate(s string) (float64, error) {
	if strings.EqualFold(s, "inf") {
		return math.Inf(1), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) {
		return 0, fmt.Errorf("--request-rate %q: want a positive number or inf", s)
	}
	return v, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parsePercentiles(s string) ([]float64, error) {
	var out []float64
	for _, p := range splitList(s) {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || v > 100 {
			return nil, fmt.Errorf("--metric-percentiles %q: want numbers 0..100", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseGoodput(items []string) ([]bench.SLO, error) {
	var out []bench.SLO
	for _, it := range items {
		name, val, ok := strings.Cut(it, ":")
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil || v < 0 || (name != "ttft" && name != "tpot" && name != "e2el") {
			return nil, fmt.Errorf("--goodput %q: want ttft:MS, tpot:MS or e2el:MS", it)
		}
		out = append(out, bench.SLO{Metric: name, MS: v})
	}
	return out, nil
}

func parseMetadata(items []string) ([]bench.KV, error) {
	var out []bench.KV
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--metadata %q: want KEY=VALUE", it)
		}
		out = append(out, bench.KV{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	return out, nil
}
