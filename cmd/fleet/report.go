package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/report"
	"github.com/fleetbench/fleet/internal/run"
)

func (a *App) reportCmd() *cobra.Command {
	var (
		dir     string
		out     string
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "report [RUN...]",
		Short: "Summarise runs: tables, Pareto frontiers, charts and an HTML report",
		Long: `Report on one or more runs (default: the latest run in the store): the
summary table, the Pareto frontier of throughput per GPU against median
interactivity per (GPU, framework, precision) and per GPU over all its
configurations, and the success rate per GPU type with failure reasons.

It writes into --out (default results/<run>/report): report.html, one
self-contained page that opens offline (charts with tooltips and series
toggles, sortable tables); report.json; report.txt; and the charts as PNG and
SVG: tput_vs_intvty (with frontier lines), tput_vs_e2el and ttft_vs_conc.

A RUN is a run id in the store, a run directory under --results or a path
to one (imported first).`,
		Example: `  fleet report
  fleet report 20261129-101500-full --out /tmp/report
  fleet report run-a run-b --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := openStore(ctx, dir)
			if err != nil {
				return err
			}
			defer s.Close()
			runs, err := resolveRuns(ctx, s, dir, args)
			if err != nil {
				return err
			}
			in, err := a.reportInput(ctx, s, runs)
			if err != nil {
				return err
			}
			rep := report.Build(in)
			// The default directory is named after the runs; a store filled
			// before imports checked run ids may hold one like "../../x".
			for _, id := range runs {
				if err := run.CheckID(id); err != nil && out == "" {
					return withCode(ExitError, fmt.Errorf("report: %w; pass --out DIR, or delete and re-import that run", err))
				}
			}
			if out == "" {
				out = filepath.Join(dir, runs[0], "report")
				if len(runs) > 1 {
					out = filepath.Join(dir, "reports", strings.Join(runs, "+"))
				}
			}
			paths, err := rep.WriteFiles(out)
			if err != nil {
				return withCode(ExitError, err)
			}
			if jsonOut {
				if err := rep.WriteJSON(a.Stdout); err != nil {
					return err
				}
			} else {
				if err := rep.WriteText(a.Stdout); err != nil {
					return err
				}
				fmt.Fprintf(a.Stdout, "\nReport: %s (%d files in %s)\n", paths[0], len(paths), out)
			}
			a.logger().Debug("report written", "dir", out, "files", len(paths))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "results", "results", "directory that holds run directories and the store (fleet.db)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "directory to write the report into (default results/<run>/report)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the report as JSON on stdout")
	return cmd
}
