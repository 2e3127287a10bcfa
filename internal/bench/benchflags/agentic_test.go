package benchflags

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/fleetbench/fleet/internal/agentic"
)

func parseAgentic(t *testing.T, allow bool, args ...string) (*Flags, error) {
	t.Helper()
	f := Defaults()
	f.AllowAgentic = allow
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse(append([]string{"--model", "org/M"}, args...)); err != nil {
		return f, err
	}
	return f, f.Finish(fs, fs.Args())
}

func TestAgenticFlags(t *testing.T) {
	base := []string{"--dataset-name", "cc-traces", "--dataset-path", "traces.jsonl", "--max-concurrency", "8"}
	tests := []struct {
		name  string
		allow bool
		args  []string
		check func(t *testing.T, f *Flags)
		err   string
	}{
		{name: "defaults are InferenceX's", allow: true, args: base, check: func(t *testing.T, f *Flags) {
			c := f.Agentic.Config
			if c.Concurrency != 8 || c.Endpoint != "/v1/chat/completions" || c.StartMinRatio != 0.25 || c.StartMaxRatio != 0.75 ||
				c.TreeIdleCap != 300*time.Second || c.SystemIdleCap != 10*time.Second || c.FailedRequestThreshold != 0.1 ||
				c.Model != "org/M" || c.BaseURL != "http://127.0.0.1:8000" {
				t.Errorf("config %+v", c)
			}
			if f.Agentic.Row.Conc != 8 || f.Agentic.Row.Dataset != "cc-traces" {
				t.Errorf("row %+v", f.Agentic.Row)
			}
		}},
		{name: "AIPerf's flags", allow: true, args: append(base, "--benchmark-duration", "60", "--seed", "42", "--warmup-requests-per-lane", "10",
			"--trajectory-start-min-ratio", "0.1", "--trajectory-start-max-ratio", "0.9", "--trace-idle-gap-cap-seconds", "30",
			"--failed-request-threshold", "0.2", "--use-server-token-count", "--server-metrics", "http://a/metrics,http://b/metrics"),
			check: func(t *testing.T, f *Flags) {
				c := f.Agentic.Config
				if c.Duration != time.Minute || c.Seed != 42 || c.WarmupRequestsPerLane != 10 || c.StartMinRatio != 0.1 || c.StartMaxRatio != 0.9 ||
					c.TreeIdleCap != 30*time.Second || c.FailedRequestThreshold != 0.2 || !c.UseServerTokenCount || len(f.Agentic.ServerMetrics) != 2 {
					t.Errorf("config %+v, server metrics %v", c, f.Agentic.ServerMetrics)
				}
			}},
		{name: "a completions backend gets token ids", allow: true, args: append(base, "--backend", "vllm"), check: func(t *testing.T, f *Flags) {
			if f.Agentic.Config.Endpoint != "/v1/completions" {
				t.Errorf("endpoint %s", f.Agentic.Config.Endpoint)
			}
		}},
		{name: "row facts from metadata", allow: true, args: append(base, "--metadata", "hw=h200", "tp=8", "kv_offloading=dram", "kv_offload_backend=vllm-simple",
			"prefill_tp=4", "prefill_num_workers=2", "decode_tp=8"), check: func(t *testing.T, f *Flags) {
			r := f.Agentic.Row
			if r.HW != "h200" || r.TP != 8 || r.KVOffloading != "dram" || r.KVOffloadBackend == nil || r.KVOffloadBackend.Name != "vllm-simple" ||
				r.Prefill == nil || r.Prefill.NumWorkers != 2 || r.Decode == nil || r.Decode.TP != 8 {
				t.Errorf("row %+v", r)
			}
		}},
		{name: "mooncake block size", allow: true, args: []string{"--dataset-name", "mooncake-trace", "--dataset-path", "m.jsonl", "--max-concurrency", "2"},
			check: func(t *testing.T, f *Flags) {
				if f.Agentic.BlockSize != agentic.DefaultMooncakeBlockSize {
					t.Errorf("block size %d", f.Agentic.BlockSize)
				}
			}},
		{name: "no path", allow: true, args: []string{"--dataset-name", "cc-traces", "--max-concurrency", "8"}, err: "--dataset-path"},
		{name: "no lanes", allow: true, args: []string{"--dataset-name", "cc-traces", "--dataset-path", "x"}, err: "--max-concurrency"},
		{name: "bad ratios", allow: true, args: append(base, "--trajectory-start-min-ratio", "0.8", "--trajectory-start-max-ratio", "0.2"), err: "trajectory"},
		{name: "no duration", allow: true, args: append(base, "--benchmark-duration", "0"), err: "--benchmark-duration"},
		{name: "unknown row key", allow: true, args: append(base, "--metadata", "colour=blue"), err: "colour"},
		{name: "half a multi-node row", allow: true, args: append(base, "--metadata", "prefill_tp=4"), err: "both prefill"},
		{name: "callers that cannot replay refuse it", args: base, err: "agentic trace replay"},
		{name: "unknown dataset", allow: true, args: []string{"--dataset-name", "sharegpt"}, err: "want random, cc-traces or mooncake-trace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseAgentic(t, tt.allow, tt.args...)
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

func TestRandomDatasetIsUnchangedByTheAgenticFlags(t *testing.T) {
	f, err := parseAgentic(t, true, "--num-prompts", "5")
	if err != nil {
		t.Fatal(err)
	}
	if f.IsAgentic() || f.Config.Endpoint != "/v1/completions" || f.Config.NumPrompts != 5 {
		t.Errorf("flags %+v", f)
	}
}
