package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleetbench/fleet/internal/bench"
)

// benchCmd is `fleet bench`: bench_serving's flags, fleet's client.
func (a *App) benchCmd() *cobra.Command {
	cfg := bench.DefaultConfig()
	var (
		host, rate, dataset, percentileMetrics, metricPercentiles, extraBody string
		resultDir, resultFilename                                            string
		port                                                                 int
		goodput, metadata                                                    []string
		saveResult                                                           bool
		maxFailureRatio                                                      float64
	)
	cmd := &cobra.Command{
		Use:   "bench --model MODEL [flags]",
		Short: "Benchmark an OpenAI-compatible inference server (bench_serving compatible)",
		Long: `fleet bench sends bench_serving's random-dataset traffic to an inference
server (vLLM, SGLang, TensorRT-LLM or any OpenAI-compatible endpoint),
measures TTFT, TPOT, ITL and E2EL as bench_serving defines them, prints
bench_serving's summary and, with --save-result, writes a result file that
tools reading bench_serving's read unchanged.

Prompts are sent as token ids ("prompt": [ids]), so no tokenizer is needed and
the prompt length is exact; ids are drawn below --vocab-size (default 32000,
valid for every current model). The ids differ from the Python client's (a Go
RNG, not numpy's), the lengths' distribution and the formula are the same.
openai-chat cannot take ids: prompts become text of one common word per id.

As in bench_serving, --metadata and --goodput take several space-separated
values (--metadata tp=8 conc=64). The bearer token comes from OPENAI_API_KEY.

Exit status 3 when more than --max-failure-ratio of the requests failed (the
result is written first) or when every warmup request failed.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// bench_serving's nargs flags: trailing words belong to
			// --metadata (k=v) or --goodput (metric:ms).
			for _, arg := range args {
				switch {
				case strings.Contains(arg, "=") && cmd.Flags().Changed("metadata"):
					metadata = append(metadata, arg)
				case strings.Contains(arg, ":") && cmd.Flags().Changed("goodput"):
					goodput = append(goodput, arg)
				default:
					return usageError{fmt.Errorf("unexpected argument %q", arg)}
				}
			}
			if cfg.Model == "" {
				return usageError{errors.New("--model is required")}
			}
			if dataset != "random" {
				return usageError{fmt.Errorf("--dataset-name %q: only random is supported", dataset)}
			}
			var err error
			if cfg.BaseURL == "" {
				cfg.BaseURL = "http://" + joinHostPort(host, port)
			}
			if cfg.RequestRate, err = parseRate(rate); err != nil {
				return usageError{err}
			}
			cfg.PercentileMetrics = splitList(percentileMetrics)
			if cfg.MetricPercentiles, err = parsePercentiles(metricPercentiles); err != nil {
				return usageError{err}
			}
			if cfg.Goodput, err = parseGoodput(goodput); err != nil {
				return usageError{err}
			}
			if cfg.Metadata, err = parseMetadata(metadata); err != nil {
				return usageError{err}
			}
			if extraBody != "" {
				cfg.ExtraBody = json.RawMessage(extraBody)
			}
			if !(maxFailureRatio >= 0 && maxFailureRatio <= 1) {
				return usageError{fmt.Errorf("--max-failure-ratio %v: want 0..1", maxFailureRatio)}
			}
			if a.Getenv != nil {
				cfg.APIKey = a.Getenv("OPENAI_API_KEY")
			}
			cfg.Version = version()
			saveResult = saveResult || cfg.SaveDetailed

			var progress *os.File
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				progress = f
			}
			if cfg.Endpoint == "" {
				cfg.Endpoint = cfg.Backend.DefaultEndpoint()
			}
			log := a.logger()
			log.Info("benchmark starting", "url", cfg.BaseURL+cfg.Endpoint, "backend", cfg.Backend, "model", cfg.Model,
				"prompts", cfg.NumPrompts, "concurrency", cfg.MaxConcurrency, "rate", rate, "warmups", cfg.NumWarmups)
			var res *bench.Result
			if progress != nil {
				res, err = bench.Run(cmd.Context(), cfg, progress)
			} else {
				res, err = bench.Run(cmd.Context(), cfg, nil)
			}
			if err != nil {
				if errors.Is(err, bench.ErrWarmupFailed) {
					return withCode(ExitFailed, err)
				}
				return err
			}
			if err := res.WriteSummary(cmd.OutOrStdout()); err != nil {
				return fmt.Errorf("print summary: %w", err)
			}
			if saveResult {
				name := resultFilename
				if name == "" {
					name = res.DefaultFilename()
				}
				if resultDir != "" {
					name = filepath.Join(resultDir, name)
				}
				if err := res.SaveJSON(name); err != nil {
					return err
				}
				log.Info("result saved", "file", name)
			}
			if ratio := res.FailureRatio(); ratio > maxFailureRatio {
				reason := ""
				if len(res.FailedReasons) > 0 {
					reason = ": " + res.FailedReasons[0].Example
				}
				return withCode(ExitFailed, fmt.Errorf("%d of %d requests failed (%.1f%%, over the %.1f%% allowed)%s",
					res.Failed, res.Failed+res.Completed, 100*ratio, 100*maxFailureRatio, reason))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.BaseURL, "base-url", "", "server base URL, e.g. http://127.0.0.1:8000 (instead of --host/--port)")
	f.StringVar(&host, "host", "127.0.0.1", "server host")
	f.IntVar(&port, "port", 8000, "server port")
	f.StringVar(&cfg.Endpoint, "endpoint", "", "API path (default /v1/completions; /v1/chat/completions for openai-chat)")
	f.StringVar((*string)(&cfg.Backend), "backend", string(bench.BackendVLLM), "server kind: vllm, sglang, trt, openai, openai-chat (decides the request body)")
	f.StringVar(&cfg.Model, "model", "", "model name (recorded as model_id; sent unless --served-model-name)")
	f.StringVar(&cfg.ServedModelName, "served-model-name", "", "model name to send in requests")
	f.StringVar(&cfg.Tokenizer, "tokenizer", "", "tokenizer name, recorded only (default --model)")
	f.StringVar(&dataset, "dataset-name", "random", "dataset: random")
	f.IntVar(&cfg.Random.InputLen, "random-input-len", 1024, "input length in tokens (after the prefix)")
	f.IntVar(&cfg.Random.OutputLen, "random-output-len", 128, "output length (max_tokens)")
	f.Float64Var(&cfg.Random.RangeRatio, "random-range-ratio", 1.0, "lengths are uniform in [floor(len*ratio), len]")
	f.IntVar(&cfg.Random.PrefixLen, "random-prefix-len", 0, "shared prefix tokens before every prompt")
	f.IntVar(&cfg.Random.VocabSize, "vocab-size", bench.DefaultVocabSize, "token ids are drawn below this (32000 fits every current model)")
	f.IntVar(&cfg.NumPrompts, "num-prompts", 1000, "number of measured requests")
	f.IntVar(&cfg.MaxConcurrency, "max-concurrency", 0, "most requests in flight (0: no limit)")
	f.StringVar(&rate, "request-rate", "inf", "requests per second, or inf to release all at once")
	f.Float64Var(&cfg.Burstiness, "burstiness", 1.0, "gamma shape of the arrival gaps (1: Poisson)")
	f.IntVar(&cfg.NumWarmups, "num-warmups", 0, "warmup requests (copies of the first prompt), not measured")
	f.Int64Var(&cfg.Seed, "seed", 0, "random seed")
	f.BoolVar(&cfg.IgnoreEOS, "ignore-eos", false, "send ignore_eos so every request generates its full length")
	f.StringVar(&percentileMetrics, "percentile-metrics", "ttft,tpot,itl", "metrics to report: ttft, tpot, itl, e2el (comma-separated)")
	f.StringVar(&metricPercentiles, "metric-percentiles", "99", "percentiles to report (comma-separated, e.g. 50,90,99.9)")
	f.StringSliceVar(&goodput, "goodput", nil, "goodput objectives metric:ms (ttft, tpot, e2el)")
	f.BoolVar(&saveResult, "save-result", false, "write the result JSON")
	f.BoolVar(&cfg.SaveDetailed, "save-detailed", false, "also write per-request arrays (input_lens, output_lens, ttfts, itls, generated_texts, errors); implies --save-result")
	f.StringVar(&resultDir, "result-dir", "", "directory for the result file (default: current directory)")
	f.StringVar(&resultFilename, "result-filename", "", "result file name (default {backend}-{rate}qps[-concurrency{C}]-{model}-{date}.json)")
	f.StringSliceVar(&metadata, "metadata", nil, "key=value pairs recorded in the result")
	f.StringVar(&extraBody, "extra-body", "", "JSON object merged into every request body")
	f.Float64Var(&maxFailureRatio, "max-failure-ratio", 0.05, "exit 3 when more than this share of requests failed")
	f.BoolVar(&cfg.NewConnectionPerRequest, "new-connection-per-request", false, "open a connection per request as the Python client does (default: keep-alive reuse)")
	f.DurationVar(&cfg.ReadyTimeout, "ready-timeout", 0, "wait up to this long for GET /health (or /v1/models) to answer 200 first (0: do not wait)")
	f.DurationVar(&cfg.RequestTimeout, "request-timeout", 6*time.Hour, "limit for one request (0: none)")
	return cmd
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
