package benchflags

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/fleetbench/fleet/internal/bench"
)

// parse runs args through fresh Defaults, as `fleet bench` does.
func parse(args []string) (*Flags, error) {
	f := Defaults()
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	return f, f.Finish(fs, fs.Args())
}

// TestInferenceXClientFlags: every flag InferenceX's benchmark_lib.sh
// run_benchmark_serving hands its client parses with the client's meaning.
func TestInferenceXClientFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, f *Flags)
		err   string
	}{
		{name: "--base-url", args: []string{"--base-url", "http://0.0.0.0:8888"}, check: func(t *testing.T, f *Flags) {
			if f.Config.BaseURL != "http://0.0.0.0:8888" {
				t.Errorf("base URL %q", f.Config.BaseURL)
			}
		}},
		{name: "--backend vllm sends to completions", args: []string{"--backend", "vllm"}, check: func(t *testing.T, f *Flags) {
			if f.Config.Backend != bench.BackendVLLM || f.Config.Endpoint != "/v1/completions" {
				t.Errorf("backend %q endpoint %q", f.Config.Backend, f.Config.Endpoint)
			}
		}},
		{name: "--backend openai sends to completions", args: []string{"--backend", "openai"}, check: func(t *testing.T, f *Flags) {
			if f.Config.Backend != bench.BackendOpenAI || f.Config.Endpoint != "/v1/completions" {
				t.Errorf("backend %q endpoint %q", f.Config.Backend, f.Config.Endpoint)
			}
		}},
		{name: "--backend openai-chat --endpoint", args: []string{"--backend", "openai-chat", "--endpoint", "/v1/chat/completions"}, check: func(t *testing.T, f *Flags) {
			if f.Config.Backend != bench.BackendOpenAIChat || f.Config.Endpoint != "/v1/chat/completions" {
				t.Errorf("backend %q endpoint %q", f.Config.Backend, f.Config.Endpoint)
			}
		}},
		{name: "--dataset-name random", args: []string{"--dataset-name", "random"}, check: func(t *testing.T, f *Flags) {}},
		{name: "--dataset-name sharegpt is refused", args: []string{"--dataset-name", "sharegpt"}, err: "--dataset-name"},
		{name: "the random lengths", args: []string{"--random-input-len", "8192", "--random-output-len", "1024", "--random-range-ratio", "0.8"}, check: func(t *testing.T, f *Flags) {
			if r := f.Config.Random; r.InputLen != 8192 || r.OutputLen != 1024 || r.RangeRatio != 0.8 {
				t.Errorf("random %+v", r)
			}
		}},
		{name: "--num-prompts --max-concurrency --num-warmups", args: []string{"--num-prompts", "640", "--max-concurrency", "64", "--num-warmups", "128"}, check: func(t *testing.T, f *Flags) {
			if c := f.Config; c.NumPrompts != 640 || c.MaxConcurrency != 64 || c.NumWarmups != 128 {
				t.Errorf("prompts %d conc %d warmups %d", c.NumPrompts, c.MaxConcurrency, c.NumWarmups)
			}
		}},
		{name: "--request-rate inf", args: []string{"--request-rate", "inf"}, check: func(t *testing.T, f *Flags) {
			if !math.IsInf(f.Config.RequestRate, 1) {
				t.Errorf("rate %v", f.Config.RequestRate)
			}
		}},
		{name: "--ignore-eos", args: []string{"--ignore-eos"}, check: func(t *testing.T, f *Flags) {
			if !f.Config.IgnoreEOS {
				t.Error("ignore_eos not set")
			}
		}},
		{name: "--percentile-metrics", args: []string{"--percentile-metrics", "ttft,tpot,itl,e2el"}, check: func(t *testing.T, f *Flags) {
			if !slices.Equal(f.Config.PercentileMetrics, []string{"ttft", "tpot", "itl", "e2el"}) {
				t.Errorf("metrics %v", f.Config.PercentileMetrics)
			}
		}},
		{name: "--metric-percentiles", args: []string{"--metric-percentiles", "50,99"}, check: func(t *testing.T, f *Flags) {
			if !slices.Equal(f.Config.MetricPercentiles, []float64{50, 99}) {
				t.Errorf("percentiles %v", f.Config.MetricPercentiles)
			}
		}},
		{name: "--save-result --result-dir --result-filename", args: []string{"--save-result", "--result-dir", "/workspace/", "--result-filename", "rf.json"}, check: func(t *testing.T, f *Flags) {
			if !f.SaveResult || f.ResultDir != "/workspace/" || f.ResultFilename != "rf.json" {
				t.Errorf("save %v dir %q name %q", f.SaveResult, f.ResultDir, f.ResultFilename)
			}
		}},
		{name: "--trust-remote-code is accepted and changes nothing", args: []string{"--trust-remote-code"}, check: func(t *testing.T, f *Flags) {
			if !f.TrustRemoteCode || f.Config.ChatTemplate != bench.ChatTemplateNone || f.Config.Endpoint != "/v1/completions" {
				t.Errorf("trust %v template %q endpoint %q", f.TrustRemoteCode, f.Config.ChatTemplate, f.Config.Endpoint)
			}
		}},
		{name: "--tokenizer is recorded", args: []string{"--tokenizer", "deepseek-ai/DeepSeek-V4"}, check: func(t *testing.T, f *Flags) {
			if f.Config.Tokenizer != "deepseek-ai/DeepSeek-V4" {
				t.Errorf("tokenizer %q", f.Config.Tokenizer)
			}
		}},
		{name: "--tokenizer-mode deepseek_v4", args: []string{"--tokenizer-mode", "deepseek_v4"}, check: func(t *testing.T, f *Flags) {
			if f.TokenizerMode != "deepseek_v4" {
				t.Errorf("mode %q", f.TokenizerMode)
			}
		}},
		{name: "--tokenizer-mode outside the client's choices", args: []string{"--tokenizer-mode", "fast"}, err: `--tokenizer-mode "fast"`},
		{name: "--use-chat-template sends chat turns to chat completions", args: []string{"--use-chat-template"}, check: func(t *testing.T, f *Flags) {
			if f.Config.ChatTemplate != bench.ChatTemplateServer || f.Config.Endpoint != "/v1/chat/completions" || f.Config.Backend != bench.BackendVLLM {
				t.Errorf("template %q endpoint %q backend %q", f.Config.ChatTemplate, f.Config.Endpoint, f.Config.Backend)
			}
		}},
		{name: "--use-chat-template keeps an endpoint given", args: []string{"--use-chat-template", "--endpoint", "/v2/chat"}, check: func(t *testing.T, f *Flags) {
			if f.Config.Endpoint != "/v2/chat" {
				t.Errorf("endpoint %q", f.Config.Endpoint)
			}
		}},
		{name: "--dsv4 frames prompts itself and keeps completions", args: []string{"--use-chat-template", "--dsv4"}, check: func(t *testing.T, f *Flags) {
			if f.Config.ChatTemplate != bench.ChatTemplateDSV4 || f.Config.Endpoint != "/v1/completions" {
				t.Errorf("template %q endpoint %q", f.Config.ChatTemplate, f.Config.Endpoint)
			}
		}},
		{name: "--dsv4 without --use-chat-template", args: []string{"--dsv4"}, err: "--dsv4 requires --use-chat-template"},
		{name: "--profile", args: []string{"--profile"}, check: func(t *testing.T, f *Flags) {
			if !f.Config.Profile {
				t.Error("profile not set")
			}
		}},
		{name: "--disable-tqdm", args: []string{"--disable-tqdm"}, check: func(t *testing.T, f *Flags) {
			if !f.DisableTqdm {
				t.Error("not recorded")
			}
		}},
		{name: "no flags: InferenceX's client's percentiles", check: func(t *testing.T, f *Flags) {
			if !slices.Equal(f.Config.PercentileMetrics, []string{"ttft", "tpot", "itl", "e2el"}) ||
				!slices.Equal(f.Config.MetricPercentiles, []float64{90, 99, 99.9}) ||
				f.Config.ChatTemplate != bench.ChatTemplateNone || f.Config.Profile || f.TokenizerMode != "auto" {
				t.Errorf("defaults %+v", f)
			}
		}},
		{name: "a flag the lib keeps to itself is refused", args: []string{"--server-pid", "42"}, err: "--server-pid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parse(append([]string{"--model", "m"}, tt.args...))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f)
		})
	}
}
