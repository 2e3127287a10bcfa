package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/run"
)

func (a *App) statusCmd() *cobra.Command {
	var (
		dir     string
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "status [RUN]",
		Short: "Show what happened to every job of a run (default: the latest)",
		Long: `Show a run's jobs as its journal records them: state, machine, attempts,
and the reason of every failure. Works while the run is going on (from
another shell) and after it ended or was killed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
				if err := run.CheckID(id); err != nil {
					return usageError{err}
				}
			} else {
				latest, err := run.Latest(dir)
				if err != nil {
					return withCode(ExitError, err)
				}
				id = latest
			}
			rec, err := run.Load(filepath.Join(dir, id))
			if err != nil {
				return withCode(ExitError, err)
			}
			if len(rec.Outcomes) == 0 {
				return withCode(ExitError, fmt.Errorf("run %s: no job recorded yet in %s", id, rec.Dir))
			}
			s := rec.Summary()
			if jsonOut {
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			return printStatus(a.Stdout, s)
		},
	}
	cmd.Flags().StringVar(&dir, "results", "results", "directory that holds run directories")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// printStatus prints a run's jobs as a table.
func printStatus(w io.Writer, s *run.Summary) error {
	fmt.Fprintf(w, "Run %s: %d jobs:", cell(s.RunID), len(s.Jobs))
	for _, st := range []string{journal.StateDone, journal.StateRunning, journal.StatePreparing, journal.StateFetching, journal.StateQueued, journal.StateRetrying, journal.StateFailed, journal.StateCancelled} {
		if s.Counts[st] > 0 {
			fmt.Fprintf(w, " %d %s", s.Counts[st], st)
		}
	}
	fmt.Fprintln(w)
	// A multi-node job measures several concurrencies on one deployment:
	// its line says which, and the shape they ran on.
	concs, shapes := map[string][]string{}, map[string]string{}
	for _, r := range s.Rows {
		concs[r.JobID] = append(concs[r.JobID], strconv.Itoa(r.Conc))
		shapes[r.JobID] = r.Shape()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tNODE\tATTEMPTS\tSINCE\tPROGRESS OR REASON")
	for _, o := range s.Jobs {
		since := "-"
		if !o.Since.IsZero() {
			since = o.Since.Local().Format("15:04:05")
		}
		// The reason and the progress quote the node: one sanitised line.
		detail := reasonLine(o.Reason)
		if o.Progress != nil {
			detail = cell(o.Progress.String())
		}
		if c := concs[o.Job]; detail == "" && (len(c) > 1 || shapes[o.Job] != "") {
			detail = cell(strings.TrimSpace(fmt.Sprintf("%s conc %s", shapes[o.Job], strings.Join(c, " "))))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", cell(o.Job), cell(o.State), dashIfEmpty(cell(o.Node)), o.Attempts, since, detail)
	}
	return tw.Flush()
}
