package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleetbench/fleet/internal/bench"
	"github.com/fleetbench/fleet/internal/bench/benchflags"
	"github.com/fleetbench/fleet/internal/termtext"
)

// benchCmd is `fleet bench`: bench_serving's flags, fleet's client.
func (a *App) benchCmd() *cobra.Command {
	fl := benchflags.Defaults()
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

fleet bench takes the command line InferenceX's scripts give their client
(utils/bench_serving/benchmark_serving.py), with its defaults (percentiles
90, 99 and 99.9 of ttft, tpot, itl and e2el):
  --use-chat-template  prompts go as one user message to /v1/chat/completions
                       (unless --endpoint says otherwise), where the server
                       applies the model's chat template; the Python client
                       renders the template itself and sends text to
                       /v1/completions. The server adds the template's tokens
                       to each prompt (the Python client subtracts them first).
  --dsv4               (needs --use-chat-template) each prompt is framed as
                       DeepSeek-V4's user turn in thinking mode, as text on
                       the backend's own endpoint; prompt lengths are drawn 4
                       tokens shorter, as the Python client does.
  --profile            POST /start_profile after the warmups, /stop_profile
                       after the run; a failed call is a warning.
  --trust-remote-code, --tokenizer-mode, --disable-tqdm
                       accepted, no effect: fleet runs no tokenizer.

Exit status 3 when more than --max-failure-ratio of the requests failed (the
result is written first) or when every warmup request failed.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fl.Finish(cmd.Flags(), args); err != nil {
				return usageError{err}
			}
			cfg := fl.Config
			if a.Getenv != nil {
				cfg.APIKey = a.Getenv("OPENAI_API_KEY")
			}
			cfg.Version = version()

			var progress *os.File
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				progress = f
			}
			log := a.logger()
			log.Info("benchmark starting", "url", cfg.BaseURL+cfg.Endpoint, "backend", cfg.Backend, "model", cfg.Model,
				"prompts", cfg.NumPrompts, "concurrency", cfg.MaxConcurrency, "rate", fl.Rate, "warmups", cfg.NumWarmups)
			var res *bench.Result
			var err error
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
			for _, e := range res.ProfileErrors {
				log.Warn("profiler call failed; the run went on without it", "error", termtext.Text(e))
			}
			if err := writeBenchSummary(cmd.OutOrStdout(), res); err != nil {
				return fmt.Errorf("print summary: %w", err)
			}
			if fl.SaveResult {
				name := fl.ResultFilename
				if name == "" {
					name = res.DefaultFilename()
				}
				if fl.ResultDir != "" {
					name = filepath.Join(fl.ResultDir, name)
				}
				if err := res.SaveJSON(name); err != nil {
					return err
				}
				log.Info("result saved", "file", name)
			}
			if ratio := res.FailureRatio(); ratio > fl.MaxFailureRatio {
				return withCode(ExitFailed, tooManyFailed(res, fl.MaxFailureRatio))
			}
			return nil
		},
	}
	fl.Register(cmd.Flags())
	return cmd
}

// writeBenchSummary prints bench_serving's summary. Its failure lines
// quote what the server answered, so the whole text is sanitised on its
// way to the terminal.
func writeBenchSummary(w io.Writer, res *bench.Result) error {
	var b strings.Builder
	if err := res.WriteSummary(&b); err != nil {
		return err
	}
	_, err := io.WriteString(w, termtext.Text(b.String()))
	return err
}

// tooManyFailed says that more requests failed than allowed, with an
// example of why. The example is what the server answered: one sanitised
// line, as it ends up on a terminal.
func tooManyFailed(res *bench.Result, allowed float64) error {
	reason := ""
	if len(res.FailedReasons) > 0 {
		reason = ": " + reasonLine(res.FailedReasons[0].Example)
	}
	return fmt.Errorf("%d of %d requests failed (%.1f%%, over the %.1f%% allowed)%s",
		res.Failed, res.Failed+res.Completed, 100*res.FailureRatio(), 100*allowed, reason)
}
