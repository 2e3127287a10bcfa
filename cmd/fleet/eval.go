package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/evals"
	"github.com/fleetbench/fleet/internal/results"
)

// evalCmd is `fleet eval`: the built-in accuracy eval against a running
// server, as a job runs it after its benchmark.
func (a *App) evalCmd() *cobra.Command {
	var (
		cfg                  evals.Config
		dataset, thresholds  string
		modelPrefix, samples string
		jsonOut              bool
	)
	cmd := &cobra.Command{
		Use:   "eval --base-url URL --model MODEL --dataset FILE [flags]",
		Short: "Score a running server's accuracy on a GSM8K-style dataset (the sweeps' built-in eval)",
		Long: `fleet eval asks an OpenAI-compatible server the questions of a JSONL
dataset ({"question": ..., "answer": "... #### 42"} per line), few-shot,
and scores exact matches of the final number, as a sweep's eval block with
runner = "builtin" does (README "Accuracy evals"). With --thresholds (an
InferenceX thresholds file) and --model-prefix, a score under its
threshold exits 3.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.BaseURL == "" || cfg.Model == "" || dataset == "" {
				return usageError{errors.New("--base-url, --model and --dataset are required")}
			}
			ex, err := evals.ReadDataset(dataset)
			if err != nil {
				return err
			}
			var th *evals.Thresholds
			if thresholds != "" {
				b, err := os.ReadFile(thresholds)
				if err != nil {
					return err
				}
				if th, err = evals.ParseThresholds(b); err != nil {
					return fmt.Errorf("%s: %w", thresholds, err)
				}
			}
			cfg.Examples = ex
			cfg.APIKey = a.Getenv("OPENAI_API_KEY")
			if samples != "" {
				f, err := os.Create(samples)
				if err != nil {
					return err
				}
				defer f.Close()
				cfg.Samples = f
			}
			o, err := evals.Run(cmd.Context(), cfg, nil)
			if err != nil {
				return err
			}
			s := o.Score(cfg.Task, max(cfg.Concurrency, 1))
			if th != nil {
				s.Judge(th.For(modelPrefix, cfg.Task))
			}
			if jsonOut {
				b, _ := json.MarshalIndent([]results.EvalScore{s}, "", "  ")
				fmt.Fprintln(a.Stdout, string(b))
			} else {
				verdict := ""
				if s.Passed != nil {
					verdict = fmt.Sprintf("; threshold %.4g: passed", *s.Threshold)
					if !*s.Passed {
						verdict = fmt.Sprintf("; threshold %.4g: FAILED", *s.Threshold)
					}
				}
				fmt.Fprintf(a.Stdout, "%s: exact_match %.4f (%d of %d right, %d without a reply)%s\n", cfg.Task, s.Score, o.Correct, o.N, o.Failed, verdict)
			}
			if s.Failed() {
				return errSilent{ExitFailed}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.BaseURL, "base-url", "", "the server, such as http://127.0.0.1:8000")
	f.StringVar(&cfg.Model, "model", "", "the model name requests use")
	f.StringVar(&dataset, "dataset", "", "JSONL file of {\"question\", \"answer\"} lines (GSM8K's format)")
	f.StringVar(&cfg.Task, "task", "gsm8k", "the task's name, for the score and its threshold")
	f.IntVar(&cfg.Shots, "shots", 5, "the dataset's first N lines are the prompt's worked examples")
	f.IntVar(&cfg.Limit, "limit", 0, "questions to ask after the shots (0: all)")
	f.IntVar(&cfg.Concurrency, "concurrency", 16, "requests in flight at most")
	f.IntVar(&cfg.MaxTokens, "max-tokens", 512, "tokens per reply at most")
	f.BoolVar(&cfg.Chat, "chat", false, "ask /v1/chat/completions rather than /v1/completions")
	f.StringVar(&thresholds, "thresholds", "", "an InferenceX thresholds file (YAML or JSON): exit 3 under the task's threshold")
	f.StringVar(&modelPrefix, "model-prefix", "", "with --thresholds: the model prefix whose thresholds apply")
	f.StringVar(&samples, "samples", "", "write each question's expected and extracted answer to this JSONL file")
	f.BoolVar(&jsonOut, "json", false, "print the score as JSON (a list of one row eval score)")
	return cmd
}
