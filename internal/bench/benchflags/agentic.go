package benchflags

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/fleetbench/fleet/internal/agentic"
	"github.com/fleetbench/fleet/internal/bench"
)

// AgenticFlags are the flags of an agentic trace replay (--dataset-name
// cc-traces or mooncake-trace), AIPerf's names where it has them.
type AgenticFlags struct {
	Path                  string
	DurationSeconds       float64
	WarmupRequestsPerLane int
	StartMinRatio         float64
	StartMaxRatio         float64
	TreeIdleCapSeconds    float64
	SystemIdleCapSeconds  float64
	FailedThreshold       float64
	UseServerTokenCount   bool
	ServerMetrics         []string
	SaveRecords           bool
	BlockSize             int

	// Config and Row are what Finish makes of the flags.
	Config agentic.Config
	Row    agentic.RowMeta
}

func defaultAgentic() AgenticFlags {
	d := agentic.DefaultConfig()
	return AgenticFlags{
		DurationSeconds:      d.Duration.Seconds(),
		StartMinRatio:        d.StartMinRatio,
		StartMaxRatio:        d.StartMaxRatio,
		TreeIdleCapSeconds:   d.TreeIdleCap.Seconds(),
		SystemIdleCapSeconds: d.SystemIdleCap.Seconds(),
		FailedThreshold:      d.FailedRequestThreshold,
		BlockSize:            agentic.DefaultMooncakeBlockSize,
	}
}

func (a *AgenticFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&a.Path, "dataset-path", a.Path, "cc-traces: a directory of trace .json files or a traces.jsonl; mooncake-trace: a JSONL file")
	fs.Float64Var(&a.DurationSeconds, "benchmark-duration", a.DurationSeconds, "agentic replay: seconds of profiling; no request starts after it, requests in flight finish")
	fs.IntVar(&a.WarmupRequestsPerLane, "warmup-requests-per-lane", a.WarmupRequestsPerLane, "agentic replay: one-token requests advancing each initial lane after its start point, not measured")
	fs.Float64Var(&a.StartMinRatio, "trajectory-start-min-ratio", a.StartMinRatio, "agentic replay: each initial lane starts at a turn drawn in [min, max] of its session's turns (0 and 0: turn 0)")
	fs.Float64Var(&a.StartMaxRatio, "trajectory-start-max-ratio", a.StartMaxRatio, "agentic replay: see --trajectory-start-min-ratio")
	fs.Float64Var(&a.TreeIdleCapSeconds, "trace-idle-gap-cap-seconds", a.TreeIdleCapSeconds, "agentic replay: a session tree with nothing in flight sends its next request at most this long after it went idle (0: no cap)")
	fs.Float64Var(&a.SystemIdleCapSeconds, "system-idle-gap-cap-seconds", a.SystemIdleCapSeconds, "agentic replay: with nothing in flight anywhere, the next request fires at most this long later (0: no cap)")
	fs.Float64Var(&a.FailedThreshold, "failed-request-threshold", a.FailedThreshold, "agentic replay: cancel the run (exit 3) when more than this share of requests failed (0: never)")
	fs.BoolVar(&a.UseServerTokenCount, "use-server-token-count", a.UseServerTokenCount, "agentic replay: input and output lengths from the server's usage, not the trace")
	fs.StringSliceVar(&a.ServerMetrics, "server-metrics", a.ServerMetrics, "agentic replay: Prometheus /metrics URLs to read over the profiling window (vLLM names) for the row's server_metrics")
	fs.BoolVar(&a.SaveRecords, "save-records", a.SaveRecords, "agentic replay: also write every request's record (<result>.records.jsonl) and per-session and per-turn aggregates (<result>.sessions.json) beside the result")
	fs.IntVar(&a.BlockSize, "isl-block-size", a.BlockSize, "mooncake-trace: tokens per hash id")
}

// Agentic reports whether the flags ask for an agentic trace replay.
func (f *Flags) IsAgentic() bool {
	return f.Dataset == agentic.DatasetCCTraces || f.Dataset == agentic.DatasetMooncake
}

func seconds(name string, v float64) (time.Duration, error) {
	if !(v >= 0) || v > 1e9 {
		return 0, fmt.Errorf("--%s %v: want seconds, 0 or more", name, v)
	}
	return time.Duration(v * float64(time.Second)), nil
}

// finishAgentic builds the replay's configuration and the row's
// deployment facts (from --metadata) after Finish read the shared flags.
func (f *Flags) finishAgentic(fs *pflag.FlagSet) error {
	a := &f.Agentic
	c := &f.Config
	if a.Path == "" {
		return fmt.Errorf("--dataset-name %s needs --dataset-path", f.Dataset)
	}
	if c.MaxConcurrency < 1 {
		return fmt.Errorf("--dataset-name %s needs --max-concurrency: the number of session lanes", f.Dataset)
	}
	cfg := agentic.DefaultConfig()
	cfg.BaseURL, cfg.Model, cfg.Concurrency, cfg.Seed = c.BaseURL, c.Model, c.MaxConcurrency, c.Seed
	if c.ServedModelName != "" {
		cfg.Model = c.ServedModelName
	}
	cfg.RequestTimeout = c.RequestTimeout
	cfg.Endpoint = c.Endpoint
	if !fs.Changed("endpoint") {
		// AgentX sends chat; a backend named as a completions server gets
		// token ids.
		cfg.Endpoint = "/v1/chat/completions"
		if fs.Changed("backend") && !c.Backend.Chat() {
			cfg.Endpoint = "/v1/completions"
		}
	}
	var err error
	var errs []error
	if cfg.Duration, err = seconds("benchmark-duration", a.DurationSeconds); err != nil || cfg.Duration == 0 {
		errs = append(errs, fmt.Errorf("--benchmark-duration %v: want a positive number of seconds", a.DurationSeconds))
	}
	if cfg.TreeIdleCap, err = seconds("trace-idle-gap-cap-seconds", a.TreeIdleCapSeconds); err != nil {
		errs = append(errs, err)
	}
	if cfg.SystemIdleCap, err = seconds("system-idle-gap-cap-seconds", a.SystemIdleCapSeconds); err != nil {
		errs = append(errs, err)
	}
	if !(a.StartMinRatio >= 0 && a.StartMinRatio <= a.StartMaxRatio && a.StartMaxRatio <= 1) {
		errs = append(errs, fmt.Errorf("--trajectory-start-min-ratio %v, --trajectory-start-max-ratio %v: want 0 <= min <= max <= 1", a.StartMinRatio, a.StartMaxRatio))
	}
	// errors.Join drops the nil errors of the checks that pass.
	errs = append(errs, atLeast("warmup-requests-per-lane", a.WarmupRequestsPerLane, 0),
		share("failed-request-threshold", a.FailedThreshold), atLeast("isl-block-size", a.BlockSize, 1))
	cfg.StartMinRatio, cfg.StartMaxRatio = a.StartMinRatio, a.StartMaxRatio
	cfg.WarmupRequestsPerLane = a.WarmupRequestsPerLane
	cfg.FailedRequestThreshold = a.FailedThreshold
	cfg.UseServerTokenCount = a.UseServerTokenCount
	a.Config = cfg
	if a.Row, err = rowMeta(c.Metadata); err != nil {
		errs = append(errs, err)
	}
	a.Row.Conc, a.Row.Model, a.Row.Dataset = c.MaxConcurrency, c.Model, f.Dataset
	return errors.Join(errs...)
}

// rowKeys are the --metadata keys an agentic row takes (its deployment
// facts, which the client cannot know).
var rowKeys = []string{"hw", "image", "recipe_fingerprint", "infmax_model_prefix", "framework", "precision", "spec_decoding",
	"disagg", "tp", "ep", "pp", "dcp_size", "pcp_size", "dp_attention", "kv_offloading", "kv_offload_backend",
	"kv_offload_backend_version", "allocated_cpu_dram_gb", "gpus", "router", "router_version", "kv_p2p_transfer",
	"kv_cache_pool_tokens", "prefill_*, decode_* (num_workers, tp, pp, ep, dcp_size, pcp_size, dp_attention, hw)"}

// rowMeta reads the agentic row's deployment facts from --metadata.
func rowMeta(kvs []bench.KV) (agentic.RowMeta, error) {
	var m agentic.RowMeta
	var errs []error
	atoi := func(k, v string) int {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("--metadata %s=%s: want a whole number", k, v))
		}
		return n
	}
	flag := func(k, v string) bool {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("--metadata %s=%s: want true or false", k, v))
		}
		return b
	}
	role := func(r **agentic.Role) *agentic.Role {
		if *r == nil {
			*r = &agentic.Role{}
		}
		return *r
	}
	for _, kv := range kvs {
		k, v := kv.Key, kv.Value
		if side, field, ok := strings.Cut(k, "_"); ok && (side == "prefill" || side == "decode") {
			r := role(&m.Prefill)
			if side == "decode" {
				r = role(&m.Decode)
			}
			switch field {
			case "num_workers":
				r.NumWorkers = atoi(k, v)
			case "tp":
				r.TP = atoi(k, v)
			case "pp":
				r.PP = atoi(k, v)
			case "ep":
				r.EP = atoi(k, v)
			case "dcp_size":
				r.DCPSize = atoi(k, v)
			case "pcp_size":
				r.PCPSize = atoi(k, v)
			case "dp_attention":
				r.DPAttention = flag(k, v)
			case "hw":
				r.HW = v
			default:
				errs = append(errs, fmt.Errorf("--metadata %s: no such row field", k))
			}
			continue
		}
		switch k {
		case "hw":
			m.HW = v
		case "image":
			m.Image = v
		case "recipe_fingerprint":
			m.RecipeFingerprint = v
		case "infmax_model_prefix":
			m.ModelPrefix = v
		case "framework":
			m.Framework = v
		case "precision":
			m.Precision = v
		case "spec_decoding":
			m.SpecDecoding = v
		case "disagg":
			m.Disagg = flag(k, v)
		case "tp":
			m.TP = atoi(k, v)
		case "ep":
			m.EP = atoi(k, v)
		case "pp":
			m.PP = atoi(k, v)
		case "dcp_size":
			m.DCPSize = atoi(k, v)
		case "pcp_size":
			m.PCPSize = atoi(k, v)
		case "dp_attention":
			m.DPAttention = flag(k, v)
		case "kv_offloading":
			m.KVOffloading = v
		case "kv_offload_backend":
			if m.KVOffloadBackend == nil {
				m.KVOffloadBackend = &agentic.NameVersion{}
			}
			m.KVOffloadBackend.Name = v
		case "kv_offload_backend_version":
			if m.KVOffloadBackend == nil {
				m.KVOffloadBackend = &agentic.NameVersion{}
			}
			m.KVOffloadBackend.Version = v
		case "allocated_cpu_dram_gb":
			g, err := strconv.ParseFloat(v, 64)
			if err != nil || g < 0 {
				errs = append(errs, fmt.Errorf("--metadata %s=%s: want a number", k, v))
			}
			m.AllocatedCPUDRAMGB = g
		case "gpus":
			m.GPUs = atoi(k, v)
		case "router":
			if m.Router == nil {
				m.Router = &agentic.NameVersion{}
			}
			m.Router.Name = v
		case "router_version":
			if m.Router == nil {
				m.Router = &agentic.NameVersion{}
			}
			m.Router.Version = v
		case "kv_p2p_transfer":
			m.KVP2PTransfer = v
		case "kv_cache_pool_tokens":
			m.KVCachePoolTokens = atoi(k, v)
		default:
			errs = append(errs, fmt.Errorf("--metadata %s: an agentic row takes %s", k, strings.Join(rowKeys, ", ")))
		}
	}
	if (m.Prefill == nil) != (m.Decode == nil) {
		errs = append(errs, errors.New("--metadata: a multi-node row needs both prefill_* and decode_* keys"))
	}
	if m.KVOffloadBackend != nil && m.KVOffloadBackend.Name == "" {
		errs = append(errs, errors.New("--metadata kv_offload_backend_version without kv_offload_backend"))
	}
	return m, errors.Join(errs...)
}
