package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/journal"
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
			run := ""
			if len(args) == 1 {
				run = args[0]
			} else {
				latest, err := latestRun(dir)
				if err != nil {
					return err
				}
				run = latest
			}
			entries, err := journal.Read(filepath.Join(dir, run, "journal.jsonl"))
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return fmt.Errorf("run %s: no journal in %s", run, filepath.Join(dir, run))
			}
			type jobStatus struct {
				Job      string    `json:"job"`
				State    string    `json:"state"`
				Node     string    `json:"node,omitempty"`
				Attempts int       `json:"attempts"`
				Since    time.Time `json:"since"`
				Reason   string    `json:"reason,omitempty"`
			}
			last := journal.Last(entries)
			var jobs []jobStatus
			counts := map[string]int{}
			for id, e := range last {
				jobs = append(jobs, jobStatus{id, e.State, e.Node, e.Attempt, e.Time, e.Reason})
				counts[e.State]++
			}
			sort.Slice(jobs, func(i, j int) bool { return jobs[i].Job < jobs[j].Job })
			if jsonOut {
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"run_id": run, "counts": counts, "jobs": jobs})
			}
			fmt.Fprintf(a.Stdout, "Run %s: %d jobs:", run, len(jobs))
			for _, s := range []string{journal.StateDone, journal.StateRunning, journal.StatePreparing, journal.StateFetching, journal.StateQueued, journal.StateRetrying, journal.StateFailed, journal.StateCancelled} {
				if counts[s] > 0 {
					fmt.Fprintf(a.Stdout, " %d %s", counts[s], s)
				}
			}
			fmt.Fprintln(a.Stdout)
			tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tSTATE\tNODE\tATTEMPTS\tSINCE\tREASON")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", j.Job, j.State, dashIfEmpty(j.Node), j.Attempts, j.Since.Local().Format("15:04:05"), j.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dir, "results", "results", "directory that holds run directories")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// latestRun returns the most recently modified run directory under dir.
func latestRun(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("no runs in %s: %w", dir, err)
	}
	var best string
	var bestTime time.Time
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name(), "journal.jsonl"))
		if err != nil {
			continue
		}
		if st.ModTime().After(bestTime) {
			best, bestTime = e.Name(), st.ModTime()
		}
	}
	if best == "" {
		return "", fmt.Errorf("no runs in %s", dir)
	}
	return best, nil
}
