package main

import (
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
"stop") at a seeded position after min_tokens.`,
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
			return a.runSim(cmd, cfg, net.JoinHostPort(sf.host, strconv.Itoa(sf.port)))
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
	set("jitter", func() { cfg.Jitter = sf.v.Jitter })
	set("stream-interval", func() { cfg.StreamInterval = sf.v.StreamInterval })
	set("mean-output-len", func() { cfg.MeanOutputLen = sf.v.MeanOutputLen })
	set("time-scale", func() { cfg.TimeScale = sf.v.TimeScale })
	set("seed", func() { cfg.Seed = sf.v.Seed })
	set("fail-ratio", func() { cfg.FailRatio = sf.v.FailRatio })
	set("drop-ratio", func() { cfg.DropRatio = sf.v.DropRatio })
	set("startup-delay", func() { cfg.StartupDelay = sf.v.StartupDelay })
	set("exit-after", func() { cfg.ExitAfter = sf.v.ExitAfter })
	var err error
	if cfg.Format, err = sim.ParseFormat(sf.format); err != nil {
		return cfg, usageError{fmt.Errorf("--format: %w", err)}
	}
	if cfg.Timing, err = sim.ParseTiming(sf.timing); err != nil {
		return cfg, usageError{fmt.Errorf("--timing: %w", err)}
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
	f.Float64Var(&sf.v.Jitter, "jitter", sf.v.Jitter, "engine: relative standard deviation of step times (seeded)")
	f.IntVar(&sf.v.StreamInterval, "stream-interval", sf.v.StreamInterval, "tokens per streamed chunk (first and last chunks go out at once)")
	f.IntVar(&sf.v.MeanOutputLen, "mean-output-len", sf.v.MeanOutputLen, "mean answer length when a request does not set ignore_eos")
	f.Float64Var(&sf.v.TimeScale, "time-scale", sf.v.TimeScale, "multiply every modelled duration (0.1: ten times faster)")
	f.Int64Var(&sf.v.Seed, "seed", sf.v.Seed, "seed for ids, jitter, answer lengths and faults")
	f.Float64Var(&sf.v.FailRatio, "fail-ratio", 0, "fault: fraction of requests answered 500")
	f.Float64Var(&sf.v.DropRatio, "drop-ratio", 0, "fault: fraction of requests whose connection drops mid-stream")
	f.DurationVar(&sf.v.StartupDelay, "startup-delay", 0, "fault: /health answers 503 and requests are refused for this long (scaled by --time-scale)")
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
	for _, name := range []string{"tensor-parallel-size", "gpu-memory-utilization", "kv-cache-dtype", "disable-log-requests", "trust-remote-code"} {
		_ = f.MarkHidden(name) // the flags exist: MarkHidden cannot fail
	}
}

func (a *App) runSim(cmd *cobra.Command, cfg sim.Config, addr string) error {
	ctx := cmd.Context()
	srv, err := sim.New(cfg)
	if err != nil {
		return withCode(ExitError, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		return withCode(ExitError, fmt.Errorf("sim: listen on %s: %w", addr, err))
	}
	cfg = srv.Config()
	log := a.logger()
	log.Info("fleet sim listening", "addr", ln.Addr().String(), "format", cfg.Format, "timing", cfg.Timing,
		"model", cfg.ServedModelName, "max_model_len", cfg.MaxModelLen, "time_scale", cfg.TimeScale)

	// Announce readiness the way vLLM (uvicorn) does, once the startup
	// delay is over; launch scripts may wait for this line.
	announced := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(announced)
		select {
		case <-srv.Ready():
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

func writeProfiles(cmd *cobra.Command) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTEP BASE\tPER SEQ\tPREFILL/TOK\tDECODE/1K CTX\tMAX LEN\tSTARTUP\tDESCRIPTION")
	for _, p := range sim.Profiles() {
		c := p.Config
		fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%d\t%v\t%s\n", p.Name, c.StepBase, c.StepPerSeq, c.PrefillPerToken,
			c.DecodePerKToken, c.MaxModelLen, c.StartupDelay.Round(time.Second), p.Description)
	}
	fmt.Fprintln(tw, "\nAll profile figures are synthetic (plausible, not measured).")
	return tw.Flush()
}
