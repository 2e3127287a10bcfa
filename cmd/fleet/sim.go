package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/fleetbench/fleet/internal/sim"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// simCmd runs the inference-server simulator: an OpenAI-compatible server
// that stands in for vLLM (or SGLang, TRT-LLM) where there is no GPU.
// simFlags are fleet sim's flags: a profile, then the flags that were
// given on top of it.
type simFlags struct {
	host, profile, format, timing string
	port                          int
	listProfiles                  bool
	v                             sim.Config

	// Disaggregated serving and multi-node workers.
	role, advertiseHost, policy, distInitAddr string
	bootstrapPort, nnodes, nodeRank           int
	linkGBps                                  float64
	h2dGBps, d2hGBps                          float64
	noPrefixCaching                           bool
	startupTimeout                            time.Duration
	prefill, decode, agg                      []string
	prefillBootstrapPorts                     []string

	spec simSpecFlags
	// answers is --answers: a file of question -> answer.
	answers string
}

func (a *App) simCmd() *cobra.Command {
	sf := &simFlags{v: sim.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "sim [MODEL]",
		Short: "Run a simulated OpenAI-compatible inference server (vLLM stand-in)",
		Long: `fleet sim serves the OpenAI completions and chat APIs the way vLLM does on the
wire (or SGLang, TensorRT-LLM with --format), with a timing model of a
continuous-batching engine instead of a GPU. It prints "Application startup
complete." on stdout once it serves, like vLLM, and answers /health.

Timing: --timing engine (default) models scheduler steps whose duration grows
with the batch (--max-num-seqs, --max-num-batched-tokens, --step-base,
--step-per-seq, --prefill-per-token, --decode-per-ktoken, --jitter);
--timing fixed gives every request exactly --ttft and --itl. --time-scale
multiplies every modelled duration. --profile loads synthetic numbers for a
GPU/model pair (see --list-profiles); explicit flags override them.

String prompts count one token per 4 bytes plus a BOS token; token-id prompts
count exactly. Without ignore_eos a request may stop early (finish_reason
"stop") at a seeded position after min_tokens.

Prefix caching (engine timing; off unless --enable-prefix-caching,
--kv-cache-tokens or --kv-cpu-cache-tokens is given): prompts become
pseudo-tokens (ids as they are, text 4 bytes a token after a BOS, chat
messages through a fixed template) cut into --kv-block-size blocks keyed by a
chain hash, as vLLM does; a prompt whose leading blocks are cached prefills
only the rest (at least its last token), and usage carries
prompt_tokens_details.cached_tokens. --kv-cache-tokens bounds the GPU KV
(0: unlimited, or the profile's synthetic figure): a sequence holds blocks for
its prompt and whole output while it runs, waits when they do not fit (no
preemption), and cached blocks nobody uses are evicted least recently freed
first (--kv-capacity-tokens, the reservation PD roles use, applies on top
when given). --kv-cpu-cache-tokens adds a CPU tier that evicted blocks are copied
to; a prompt found there waits for prompt tokens x --kv-bytes-per-token at
--kv-h2d-bandwidth (one load at a time) plus --kv-load-latency, then prefills
the rest. --prefill-per-kcontext adds the attention cost of long prompts.
/metrics gives vLLM's vllm:prefix_cache_queries_total/_hits_total,
vllm:external_prefix_cache_*, vllm:prompt_tokens_by_source_total{source},
vllm:kv_cache_usage_perc and vllm:cpu_kv_cache_usage_perc.

Disaggregated prefill/decode (PD) serving, one process per role:
  --role agg       (default) an ordinary server: prefill and decode in one engine.
  --role prefill   prompt work only (chunked prefill, no decode steps). A request
                   with kv_transfer_params {"do_remote_decode":true} (vLLM's proxy
                   phase 1) is answered with one token and kv_transfer_params naming
                   this worker's --bootstrap-port; its KV stays reserved until a
                   decode pulls and releases it there (or --kv-abort-timeout).
                   With --format sglang, a request carrying bootstrap_room is held
                   under that room. Needs --bootstrap-port (and --advertise-host
                   when --host is a wildcard).
  --role decode    takes kv_transfer_params {"do_remote_prefill":true,...} (or SGLang's
                   bootstrap_host/port/room), pulls the KV from the prefill, spends
                   --link-latency + prompt x --kv-bytes-per-token / --link-bandwidth
                   (transfers queue FIFO for the link), then decodes with no prefill
                   chunks in its steps. A dead prefill fails the request (500).
  --role router    an OpenAI-compatible front end for --prefill/--decode workers
                   (vLLM's two-phase proxy flow; SGLang's pair-send with --format
                   sglang) or for --agg workers (plain proxy); --policy round_robin,
                   random or session (pins by X-Session-ID, X-Correlation-ID,
                   X-Dynamo-Session-ID or X-SMG-Routing-Key). GET /health is 200
                   only when every worker's is, with the healthy workers listed as
                   Dynamo-style instances. Worker lists may be space-separated.
Workers also serve GET /metrics (Prometheus) and GET /server_info.

Multi-node workers: --nnodes N --node-rank R --dist-init-addr HOST:PORT. Rank 0
serves HTTP, also listens on PORT (on --host) for the N-1 followers, answers
/health 503 until all joined, and exits 1 when one goes away. Ranks > 0 serve
nothing: they connect to the leader (retrying up to --startup-timeout) and exit
1 when that connection breaks.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sf.listProfiles {
				return writeProfiles(cmd)
			}
			cfg, err := sf.config(cmd.Flags(), args)
			if err != nil {
				return err
			}
			cfg.Logger = slog.New(a.logger())
			return a.runSimRole(cmd, sf, cfg)
		},
	}
	sf.register(cmd.Flags())
	return cmd
}

// config is the simulator's configuration: the profile's (or the
// defaults), with the flags that were given applied on top.
func (sf *simFlags) config(flags *pflag.FlagSet, args []string) (sim.Config, error) {
	cfg := sim.DefaultConfig()
	if sf.profile != "" {
		p, err := sim.Profile(sf.profile)
		if err != nil {
			return cfg, usageError{fmt.Errorf("--profile: %w", err)}
		}
		cfg = p
	}
	set := func(name string, apply func()) {
		if flags.Changed(name) {
			apply()
		}
	}
	if len(args) == 1 {
		cfg.Model = args[0]
	}
	set("model", func() { cfg.Model = sf.v.Model })
	set("served-model-name", func() { cfg.ServedModelName = sf.v.ServedModelName })
	set("max-model-len", func() { cfg.MaxModelLen = sf.v.MaxModelLen })
	set("ttft", func() { cfg.TTFT = sf.v.TTFT })
	set("itl", func() { cfg.ITL = sf.v.ITL })
	set("max-num-seqs", func() { cfg.MaxNumSeqs = sf.v.MaxNumSeqs })
	set("max-num-batched-tokens", func() { cfg.MaxNumBatchedTokens = sf.v.MaxNumBatchedTokens })
	set("step-base", func() { cfg.StepBase = sf.v.StepBase })
	set("step-per-seq", func() { cfg.StepPerSeq = sf.v.StepPerSeq })
	set("prefill-per-token", func() { cfg.PrefillPerToken = sf.v.PrefillPerToken })
	set("decode-per-ktoken", func() { cfg.DecodePerKToken = sf.v.DecodePerKToken })
	set("prefill-per-kcontext", func() { cfg.PrefillPerKContext = sf.v.PrefillPerKContext })
	set("jitter", func() { cfg.Jitter = sf.v.Jitter })
	set("stream-interval", func() { cfg.StreamInterval = sf.v.StreamInterval })
	set("mean-output-len", func() { cfg.MeanOutputLen = sf.v.MeanOutputLen })
	set("time-scale", func() { cfg.TimeScale = sf.v.TimeScale })
	set("seed", func() { cfg.Seed = sf.v.Seed })
	set("fail-ratio", func() { cfg.FailRatio = sf.v.FailRatio })
	set("drop-ratio", func() { cfg.DropRatio = sf.v.DropRatio })
	set("startup-delay", func() { cfg.StartupDelay = sf.v.StartupDelay })
	set("exit-after", func() { cfg.ExitAfter = sf.v.ExitAfter })
	if sf.answers != "" {
		a, err := sim.ReadAnswers(sf.answers)
		if err != nil {
			return cfg, usageError{fmt.Errorf("--answers: %w", err)}
		}
		cfg.Answers = a
	}
	var err error
	if cfg.Format, err = sim.ParseFormat(sf.format); err != nil {
		return cfg, usageError{fmt.Errorf("--format: %w", err)}
	}
	if cfg.Timing, err = sim.ParseTiming(sf.timing); err != nil {
		return cfg, usageError{fmt.Errorf("--timing: %w", err)}
	}
	set("kv-capacity-tokens", func() { cfg.KVCapacityTokens = sf.v.KVCapacityTokens })
	set("kv-bytes-per-token", func() { cfg.KVBytesPerToken = sf.v.KVBytesPerToken })
	set("link-latency", func() { cfg.LinkLatency = sf.v.LinkLatency })
	set("kv-abort-timeout", func() { cfg.KVHoldTimeout = sf.v.KVHoldTimeout })
	set("link-bandwidth", func() { cfg.LinkBandwidth = sf.linkGBps * 1e9 })
	set("enable-prefix-caching", func() { cfg.PrefixCaching = sf.v.PrefixCaching })
	set("kv-block-size", func() { cfg.KVBlockSize = sf.v.KVBlockSize })
	set("block-size", func() { cfg.KVBlockSize = sf.v.KVBlockSize })
	set("kv-cache-tokens", func() { cfg.KVCacheTokens, cfg.PrefixCaching = sf.v.KVCacheTokens, true })
	set("kv-cpu-cache-tokens", func() { cfg.KVCPUCacheTokens, cfg.PrefixCaching = sf.v.KVCPUCacheTokens, true })
	set("kv-h2d-bandwidth", func() { cfg.KVH2DBandwidth = sf.h2dGBps * 1e9 })
	set("kv-d2h-bandwidth", func() { cfg.KVD2HBandwidth = sf.d2hGBps * 1e9 })
	set("kv-load-latency", func() { cfg.KVLoadLatency = sf.v.KVLoadLatency })
	if sf.noPrefixCaching {
		cfg.PrefixCaching = false
	}
	if err := sf.spec.apply(&cfg); err != nil {
		return cfg, err
	}
	if sf.role != "router" {
		if cfg.Role, err = sim.ParseRole(sf.role); err != nil {
			return cfg, usageError{fmt.Errorf("--role: %w", err)}
		}
	}
	if cfg.Role == sim.RolePrefill && sf.bootstrapPort <= 0 {
		return cfg, usageError{errors.New("--role prefill needs --bootstrap-port (where decodes pull KV)")}
	}
	if sf.nnodes < 1 || sf.nodeRank < 0 || sf.nodeRank >= sf.nnodes {
		return cfg, usageError{fmt.Errorf("--node-rank %d with --nnodes %d: want 0 <= rank < nnodes", sf.nodeRank, sf.nnodes)}
	}
	if sf.nnodes > 1 && sf.distInitAddr == "" {
		return cfg, usageError{errors.New("--nnodes above 1 needs --dist-init-addr HOST:PORT (the leader's)")}
	}
	return cfg, nil
}

func (sf *simFlags) register(f *pflag.FlagSet) {
	f.StringVar(&sf.host, "host", "127.0.0.1", "address to listen on")
	f.IntVar(&sf.port, "port", 8000, "port to listen on (0: any free port, logged)")
	f.StringVar(&sf.profile, "profile", "", "load a named GPU/model profile (synthetic numbers; see --list-profiles)")
	f.BoolVar(&sf.listProfiles, "list-profiles", false, "list the named profiles and exit")
	f.StringVar(&sf.format, "format", string(sim.FormatVLLM), "wire format to imitate: vllm, sglang or trt")
	f.StringVar(&sf.timing, "timing", string(sim.TimingEngine), "timing model: engine (continuous batching) or fixed (--ttft, --itl)")
	f.StringVar(&sf.v.Model, "model", sf.v.Model, "model name or path the server pretends to load")
	f.StringVar(&sf.v.ServedModelName, "served-model-name", "", "the model name requests must use (default: --model)")
	f.IntVar(&sf.v.MaxModelLen, "max-model-len", sf.v.MaxModelLen, "context length in tokens")
	f.DurationVar(&sf.v.TTFT, "ttft", sf.v.TTFT, "fixed timing: time to the first chunk")
	f.DurationVar(&sf.v.ITL, "itl", sf.v.ITL, "fixed timing: time between chunks")
	f.IntVar(&sf.v.MaxNumSeqs, "max-num-seqs", sf.v.MaxNumSeqs, "engine: sequences in a batch at most; more wait in a queue")
	f.IntVar(&sf.v.MaxNumBatchedTokens, "max-num-batched-tokens", sf.v.MaxNumBatchedTokens, "engine: token budget of one step (chunked prefill)")
	f.DurationVar(&sf.v.StepBase, "step-base", sf.v.StepBase, "engine: fixed cost of a step")
	f.DurationVar(&sf.v.StepPerSeq, "step-per-seq", sf.v.StepPerSeq, "engine: cost of each sequence in a step")
	f.DurationVar(&sf.v.PrefillPerToken, "prefill-per-token", sf.v.PrefillPerToken, "engine: cost of each prompt token prefilled")
	f.DurationVar(&sf.v.DecodePerKToken, "decode-per-ktoken", sf.v.DecodePerKToken, "engine: cost per 1000 context tokens of the decoding sequences")
	f.DurationVar(&sf.v.PrefillPerKContext, "prefill-per-kcontext", 0, "engine: extra cost of each prompt token prefilled per 1000 tokens of context before it, cached ones included (attention)")
	f.Float64Var(&sf.v.Jitter, "jitter", sf.v.Jitter, "engine: relative standard deviation of step times (seeded)")
	f.IntVar(&sf.v.StreamInterval, "stream-interval", sf.v.StreamInterval, "tokens per streamed chunk (first and last chunks go out at once)")
	f.IntVar(&sf.v.MeanOutputLen, "mean-output-len", sf.v.MeanOutputLen, "mean answer length when a request does not set ignore_eos")
	f.Float64Var(&sf.v.TimeScale, "time-scale", sf.v.TimeScale, "multiply every modelled duration (0.1: ten times faster)")
	f.Int64Var(&sf.v.Seed, "seed", sf.v.Seed, "seed for ids, jitter, answer lengths and faults")
	f.Float64Var(&sf.v.FailRatio, "fail-ratio", 0, "fault: fraction of requests answered 500")
	f.Float64Var(&sf.v.DropRatio, "drop-ratio", 0, "fault: fraction of requests whose connection drops mid-stream")
	f.DurationVar(&sf.v.StartupDelay, "startup-delay", 0, "fault: /health answers 503 and requests are refused for this long (scaled by --time-scale)")
	sf.spec.register(f)
	f.StringVar(&sf.answers, "answers", "", "answer known questions with fixed text: a JSON file of question -> answer (accuracy evals against the simulator; non-streaming requests only)")
	f.IntVar(&sf.v.ExitAfter, "exit-after", 0, "fault: exit (status 1) after this many completed requests, dropping the rest, like a crashed server")
	// vLLM flags a launch script may pass: accepted and ignored, so that one
	// command line serves both.
	var ignoredInt int
	var ignoredFloat float64
	var ignoredString string
	var ignoredBool bool
	f.IntVar(&ignoredInt, "tensor-parallel-size", 1, "ignored (vLLM compatibility)")
	f.Float64Var(&ignoredFloat, "gpu-memory-utilization", 0.9, "ignored (vLLM compatibility)")
	f.StringVar(&ignoredString, "kv-cache-dtype", "auto", "ignored (vLLM compatibility)")
	f.BoolVar(&ignoredBool, "disable-log-requests", false, "ignored (vLLM compatibility)")
	f.BoolVar(&ignoredBool, "trust-remote-code", false, "ignored (vLLM compatibility)")
	f.StringVar(&sf.role, "role", "agg", "what to be: agg (a whole server), prefill, decode (disaggregated workers) or router")
	f.IntVar(&sf.bootstrapPort, "bootstrap-port", 0, "prefill/decode: port of the KV bootstrap endpoint (decodes pull a prefill's KV there)")
	f.StringVar(&sf.advertiseHost, "advertise-host", "", "prefill: the host decodes reach it at, sent as remote_host (default: --host, or this machine's name when --host is a wildcard)")
	f.IntVar(&sf.v.KVCapacityTokens, "kv-capacity-tokens", 0, "engine: tokens of KV the worker holds at once (a prefill's held KV counts; 0: unlimited)")
	f.Int64Var(&sf.v.KVBytesPerToken, "kv-bytes-per-token", 0, "decode: KV bytes per prompt token moved from the prefill; also what CPU-tier loads move (e.g. 327680 for Llama-70B bf16)")
	f.BoolVar(&sf.v.PrefixCaching, "enable-prefix-caching", false, "engine: cache prompt KV blocks and reuse them for prompts with the same prefix (vLLM's flag)")
	f.BoolVar(&sf.noPrefixCaching, "no-enable-prefix-caching", false, "turn prefix caching off (vLLM's flag)")
	f.IntVar(&sf.v.KVBlockSize, "kv-block-size", 16, "prefix caching: tokens per KV block")
	f.IntVar(&sf.v.KVBlockSize, "block-size", 16, "prefix caching: tokens per KV block (vLLM's name for --kv-block-size)")
	f.IntVar(&sf.v.KVCacheTokens, "kv-cache-tokens", 0, "prefix caching: GPU KV capacity in tokens, LRU-evicted (turns prefix caching on; 0: unlimited, or the profile's)")
	f.IntVar(&sf.v.KVCPUCacheTokens, "kv-cpu-cache-tokens", 0, "prefix caching: CPU offload tier capacity in tokens; evicted blocks are copied there (turns prefix caching on)")
	f.Float64Var(&sf.h2dGBps, "kv-h2d-bandwidth", 25, "prefix caching: CPU-to-GPU bandwidth in GB/s for loading cached blocks (one load at a time; scaled by --time-scale)")
	f.Float64Var(&sf.d2hGBps, "kv-d2h-bandwidth", 25, "prefix caching: GPU-to-CPU bandwidth in GB/s of offload copies (counted in /metrics, overlapped with compute)")
	f.DurationVar(&sf.v.KVLoadLatency, "kv-load-latency", 0, "prefix caching: fixed latency of each load from the CPU tier (scaled by --time-scale)")
	f.Float64Var(&sf.linkGBps, "link-bandwidth", 50, "decode: KV link bandwidth in GB/s, shared FIFO by concurrent transfers (transfer times scale with --time-scale)")
	f.DurationVar(&sf.v.LinkLatency, "link-latency", 0, "decode: fixed latency of each KV transfer (scaled by --time-scale)")
	f.DurationVar(&sf.v.KVHoldTimeout, "kv-abort-timeout", 480*time.Second, "prefill: free KV no decode has released after this long")
	f.StringArrayVar(&sf.prefill, "prefill", nil, "router: prefill workers, http://HOST:PORT or HOST:PORT, several separated by spaces or commas (repeatable)")
	f.StringArrayVar(&sf.decode, "decode", nil, "router: decode workers, as --prefill")
	f.StringArrayVar(&sf.agg, "agg", nil, "router: aggregated workers, as --prefill (used when there are no prefill/decode workers)")
	f.StringArrayVar(&sf.prefillBootstrapPorts, "prefill-bootstrap-port", nil, "router, --format sglang: bootstrap ports of the --prefill workers, in order, separated by spaces or commas (default: asked of GET /server_info)")
	f.StringVar(&sf.policy, "policy", string(sim.PolicyRoundRobin), "router: round_robin, random or session (pin by session header)")
	f.IntVar(&sf.nnodes, "nnodes", 1, "nodes of a multi-node worker")
	f.IntVar(&sf.nodeRank, "node-rank", 0, "this process's rank in a multi-node worker (0: the leader, which serves HTTP)")
	f.StringVar(&sf.distInitAddr, "dist-init-addr", "", "multi-node: the leader's HOST:PORT where followers join")
	f.DurationVar(&sf.startupTimeout, "startup-timeout", sim.DefaultJoinTimeout, "multi-node follower: how long to keep trying to reach the leader")
	for _, name := range []string{"tensor-parallel-size", "gpu-memory-utilization", "kv-cache-dtype", "disable-log-requests", "trust-remote-code", "block-size", "no-enable-prefix-caching"} {
		_ = f.MarkHidden(name) // the flags exist: MarkHidden cannot fail
	}
}

// runSim serves a worker on addr until ctx ends; bootLn, when not nil,
// serves its KV bootstrap endpoint (and is closed on return).
func (a *App) runSim(ctx context.Context, cfg sim.Config, addr string, bootLn net.Listener) error {
	srv, err := sim.New(cfg)
	if err != nil {
		if bootLn != nil {
			_ = bootLn.Close()
		}
		return withCode(ExitError, err)
	}
	if bootLn != nil {
		bctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			if err := srv.ServeBootstrap(bctx, bootLn); err != nil {
				a.logger().Error("bootstrap endpoint failed", "err", err)
			}
		}()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		return withCode(ExitError, fmt.Errorf("sim: listen on %s: %w", addr, err))
	}
	cfg = srv.Config()
	log := a.logger()
	log.Info("fleet sim listening", "addr", ln.Addr().String(), "role", cfg.Role, "bootstrap", cfg.BootstrapAddr, "format", cfg.Format, "timing", cfg.Timing,
		"model", cfg.ServedModelName, "max_model_len", cfg.MaxModelLen, "time_scale", cfg.TimeScale,
		"prefix_caching", cfg.PrefixCaching, "kv_cache_tokens", cfg.KVCacheTokens, "kv_cpu_cache_tokens", cfg.KVCPUCacheTokens)
	if cfg.PrefixCaching && cfg.KVCacheTokens > 0 {
		// vLLM's wording: scripts read the KV capacity from this line.
		fmt.Fprintf(a.Stdout, "GPU KV cache size: %s tokens\n", groupThousands(cfg.KVCacheTokens))
	}

	// Announce readiness the way vLLM (uvicorn) does, once the startup
	// delay is over; launch scripts may wait for this line.
	announced := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(announced)
		select {
		case <-srv.Ready():
			if cfg.Joined != nil {
				// A multi-node leader is ready once its followers joined.
				select {
				case <-cfg.Joined:
				case <-stop:
					return
				}
			}
			fmt.Fprintln(a.Stdout, "Application startup complete.")
			if cfg.Format == sim.FormatSGLang {
				fmt.Fprintln(a.Stdout, "The server is fired up and ready to roll!")
			}
		case <-stop:
		}
	}()
	err = srv.Serve(ctx, ln)
	close(stop)
	<-announced
	st := srv.Stats()
	log.Info("fleet sim stopped", "completed", st.Completed, "rejected", st.Rejected, "failed", st.Failed,
		"dropped", st.Dropped, "cancelled", st.Cancelled, "peak_batch", st.PeakBatch)
	if errors.Is(err, sim.ErrExitAfter) {
		return withCode(ExitError, err)
	}
	return err
}

// groupThousands prints n with comma separators, as Python's "{:,}".
func groupThousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func writeProfiles(cmd *cobra.Command) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTEP BASE\tPER SEQ\tPREFILL/TOK\tDECODE/1K CTX\tMAX LEN\tKV CACHE\tSTARTUP\tDESCRIPTION")
	for _, p := range sim.Profiles() {
		c := p.Config
		fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%d\t%d\t%v\t%s\n", p.Name, c.StepBase, c.StepPerSeq, c.PrefillPerToken,
			c.DecodePerKToken, c.MaxModelLen, c.KVCacheTokens, c.StartupDelay.Round(time.Second), p.Description)
	}
	fmt.Fprintln(tw, "\nAll profile figures are synthetic (plausible, not measured).")
	return tw.Flush()
}
