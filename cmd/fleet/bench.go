package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleetbench/fleet/internal/agentic"
	"github.com/fleetbench/fleet/internal/atomicfile"
	"github.com/fleetbench/fleet/internal/bench"
	"github.com/fleetbench/fleet/internal/bench/benchflags"
	"github.com/fleetbench/fleet/internal/termtext"
)

// benchCmd is `fleet bench`: bench_serving's flags, fleet's client.
func (a *App) benchCmd() *cobra.Command {
	fl := benchflags.Defaults()
	fl.AllowAgentic = true
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
result is written first) or when every warmup request failed.

Agentic trace replay (AIPerf's agentic replay, InferenceX's AgentX):
  --dataset-name cc-traces --dataset-path DIR_OR_JSONL, or
  --dataset-name mooncake-trace --dataset-path FILE [--isl-block-size 512]
replays recorded coding-agent sessions: --max-concurrency lanes each hold
one session tree (root agent and subagents) until it drains, turns keep
their recorded gaps, for --benchmark-duration seconds after the warmup.
Prompts are synthesized from the traces' hash ids: text messages to
/v1/chat/completions (the default), token ids when --backend names a
completions server or --endpoint another path. The summary goes to stdout;
with --save-result or --result-filename the InferenceX aggregated row is
written (--result-dir), with --save-records the per-request records too.
The row's deployment facts come from --metadata (hw=... tp=8
framework=vllm kv_offloading=dram ...). Exit status 3 when a root warmup
request failed or --failed-request-threshold cancelled the run (the row is
written first).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fl.Finish(cmd.Flags(), args); err != nil {
				return usageError{err}
			}
			if fl.IsAgentic() {
				return a.runAgentic(cmd, fl)
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

// runAgentic is `fleet bench --dataset-name cc-traces|mooncake-trace`:
// the trace replay, its summary on stdout and, when asked, InferenceX's
// aggregated row (and the per-request records) in the result directory.
func (a *App) runAgentic(cmd *cobra.Command, fl *benchflags.Flags) error {
	af := &fl.Agentic
	cfg := af.Config
	if a.Getenv != nil {
		cfg.APIKey = a.Getenv("OPENAI_API_KEY")
	}
	log := a.logger()
	trees, err := agentic.LoadTrees(fl.Dataset, af.Path, af.BlockSize)
	if err != nil {
		return usageError{err}
	}
	ctx := cmd.Context()
	if t := fl.Config.ReadyTimeout; t > 0 {
		if err := bench.WaitReady(ctx, &http.Client{Transport: &http.Transport{}}, strings.TrimRight(cfg.BaseURL, "/"), t); err != nil {
			return err
		}
	}
	log.Info("agentic replay starting", "url", cfg.BaseURL+cfg.Endpoint, "model", cfg.Model, "dataset", fl.Dataset,
		"sessions", len(trees), "lanes", cfg.Concurrency, "duration", cfg.Duration, "warmup_per_lane", cfg.WarmupRequestsPerLane)
	res, warning, runErr := agentic.RunWithMetrics(ctx, cfg, trees, af.ServerMetrics)
	if runErr != nil && res == nil {
		if errors.Is(runErr, agentic.ErrWarmupFailed) {
			return withCode(ExitFailed, runErr)
		}
		return runErr
	}
	if warning != nil {
		log.Warn("server metrics incomplete", "error", termtext.Text(warning.Error()))
	}
	var b strings.Builder
	if err := res.WriteSummary(&b); err != nil {
		return fmt.Errorf("print summary: %w", err)
	}
	if _, err := fmt.Fprint(cmd.OutOrStdout(), termtext.Text(b.String())); err != nil {
		return fmt.Errorf("print summary: %w", err)
	}
	if fl.SaveResult || fl.ResultFilename != "" || af.SaveRecords {
		if err := saveAgentic(log, fl, res); err != nil {
			return err
		}
	}
	if runErr != nil {
		return withCode(ExitFailed, runErr)
	}
	return nil
}

// saveAgentic writes the aggregated row and, with --save-records, the
// records and the per-session and per-turn aggregates beside it.
func saveAgentic(log *log.Logger, fl *benchflags.Flags, res *agentic.Result) error {
	name := fl.ResultFilename
	if name == "" {
		model := strings.ReplaceAll(fl.Agentic.Row.Model, "/", "_")
		name = fmt.Sprintf("agentic-%s-conc%d-%s.json", model, res.Concurrency, res.StartTime.Format("20060102-150405"))
	}
	if fl.ResultDir != "" {
		if err := os.MkdirAll(fl.ResultDir, 0o755); err != nil {
			return fmt.Errorf("result directory: %w", err)
		}
		name = filepath.Join(fl.ResultDir, name)
	}
	row, err := res.AggregatedRow(fl.Agentic.Row)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(name, append(row, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	log.Info("result saved", "file", name)
	if fl.Agentic.SaveRecords {
		rec := strings.TrimSuffix(name, ".json") + ".records.jsonl"
		var b strings.Builder
		if err := res.WriteRecords(&b); err != nil {
			return err
		}
		if err := atomicfile.WriteBytes(rec, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write records: %w", err)
		}
		log.Info("records saved", "file", rec)
		detail := strings.TrimSuffix(name, ".json") + ".sessions.json"
		b.Reset()
		if err := res.WriteDetail(&b); err != nil {
			return err
		}
		if err := atomicfile.WriteBytes(detail, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write session aggregates: %w", err)
		}
		log.Info("per-session and per-turn aggregates saved", "file", detail)
	}
	return nil
}
