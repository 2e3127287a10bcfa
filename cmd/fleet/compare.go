package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/report"
)

func (a *App) compareCmd() *cobra.Command {
	var (
		dir       string
		threshold string
		jsonOut   bool
	)
	cmd := &cobra.Command{
		Use:   "compare RUN_A RUN_B",
		Short: "Compare two runs config by config; exit 4 on a regression",
		Long: `Compare run B against run A (the baseline): configurations are matched by
job id, else by GPU, model, framework, precision, lengths, parallelism and
concurrency. For each, the change of throughput per GPU and of the median
TTFT, TPOT, interactivity and end-to-end latency is shown; a change for the
worse beyond --threshold is a regression (lower throughput or interactivity,
higher latency), and so is a configuration that produced a result in A and
failed in B.

Exit codes: 0 no regression, 4 a regression beyond the threshold (for
nightly jobs), 1 the runs share no configuration or cannot be read.`,
		Example: `  fleet compare 20261128-nightly 20261129-nightly
  fleet compare baseline candidate --threshold 3% --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			th, err := report.ParseThreshold(threshold)
			if err != nil {
				return usageError{fmt.Errorf("--threshold: %w", err)}
			}
			s, err := openStore(ctx, dir)
			if err != nil {
				return err
			}
			defer s.Close()
			runs, err := resolveRuns(ctx, s, dir, args)
			if err != nil {
				return err
			}
			a1, err := a.reportInput(ctx, s, runs[:1])
			if err != nil {
				return err
			}
			b1, err := a.reportInput(ctx, s, runs[1:])
			if err != nil {
				return err
			}
			c := report.Compare(runs[0], runs[1], a1.Rows, b1.Rows, b1.Jobs, th)
			if jsonOut {
				err = c.WriteJSON(a.Stdout)
			} else {
				err = c.WriteText(a.Stdout)
			}
			if err != nil {
				return err
			}
			switch {
			case len(c.Configs) == 0 && len(c.Lost) == 0:
				return withCode(ExitError, fmt.Errorf("runs %s and %s share no configuration", runs[0], runs[1]))
			case c.Regressed():
				return withCode(ExitRegressed, fmt.Errorf("%d regression(s) beyond %s", c.Regressions, threshold))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "results", "results", "directory that holds run directories and the store (fleet.db)")
	cmd.Flags().StringVar(&threshold, "threshold", "5%", "noise threshold: changes smaller than this are not regressions")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the comparison as JSON on stdout")
	return cmd
}
