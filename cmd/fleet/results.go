package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetbench/fleet/internal/inferencex/ixresult"
	"github.com/fleetbench/fleet/internal/report"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/store"
	"github.com/fleetbench/fleet/internal/termtext"
)

// openStore opens the results store of a results directory.
func openStore(ctx context.Context, resultsDir string) (*store.Store, error) {
	s, err := store.Open(ctx, store.DefaultPath(resultsDir))
	if err != nil {
		return nil, withCode(ExitError, err)
	}
	return s, nil
}

// resolveRuns turns command-line run names into run ids of the store. A
// name may be a run directory (imported, or refreshed, first), a run of
// resultsDir, or a run the store already holds. With no names, it is the
// latest run, after importing run directories the store has not seen.
func resolveRuns(ctx context.Context, s *store.Store, resultsDir string, names []string) ([]string, error) {
	if len(names) == 0 {
		if err := importNewRunDirs(ctx, s, resultsDir); err != nil {
			return nil, err
		}
		id, err := s.LatestRun(ctx)
		if errors.Is(err, store.ErrNoRun) {
			return nil, withCode(ExitError, fmt.Errorf("no runs in %s: run `fleet sweep` or `fleet results import` first", resultsDir))
		}
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	}
	var ids []string
	for _, name := range names {
		dir := ""
		switch {
		case store.IsRunDir(name):
			dir = name
		case store.IsRunDir(filepath.Join(resultsDir, name)):
			dir = filepath.Join(resultsDir, name)
		}
		if dir != "" {
			// The directory is the truth: a sweep resumed since the last
			// import has more to say.
			stats, err := s.ImportRun(ctx, dir)
			if err != nil {
				return nil, err
			}
			ids = append(ids, stats.RunID)
			continue
		}
		if _, err := s.GetRun(ctx, name); err != nil {
			if errors.Is(err, store.ErrNoRun) {
				return nil, withCode(ExitError, fmt.Errorf("run %q: not in %s and no run directory %s (see `fleet results list`)",
					name, s.Path(), filepath.Join(resultsDir, name)))
			}
			return nil, err
		}
		ids = append(ids, name)
	}
	return ids, nil
}

// importNewRunDirs imports the run directories of resultsDir that the
// store does not hold yet (runs made before the store existed, or by a
// fleet that did not fill it).
func importNewRunDirs(ctx context.Context, s *store.Store, resultsDir string) error {
	entries, err := os.ReadDir(resultsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", resultsDir, err)
	}
	for _, e := range entries {
		dir := filepath.Join(resultsDir, e.Name())
		if !e.IsDir() || !store.IsRunDir(dir) {
			continue
		}
		if _, err := s.GetRun(ctx, e.Name()); err == nil {
			continue
		}
		if _, err := s.ImportRun(ctx, dir); err != nil {
			return err
		}
	}
	return nil
}

// reportInput reads what a report of runs needs from the store.
func (a *App) reportInput(ctx context.Context, s *store.Store, runs []string) (report.Input, error) {
	in := report.Input{Runs: runs}
	rows, err := s.Rows(ctx, runs...)
	if err != nil {
		return in, err
	}
	in.Rows = a.checkedRows(rows)
	jobs, err := s.Jobs(ctx, runs...)
	if err != nil {
		return in, err
	}
	for _, j := range jobs {
		in.Jobs = append(in.Jobs, report.JobStatus{Run: j.RunID, Job: j.ID, HW: j.HW, Node: j.Node, State: j.State,
			Reason: j.Reason, Attempts: j.Attempts})
	}
	return in, nil
}

func (a *App) resultsCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "results",
		Short: "Manage the results store: import, export and list runs",
		Long: `fleet keeps every run's jobs, attempts and results in one SQLite file,
results/fleet.db. Sweeps fill it; ` + "`fleet results import`" + ` adds results made
elsewhere (bench_serving result files, InferenceMAX's aggregated JSON, run
directories). Importing the same thing twice adds nothing: a job is one row
per run, and a file already imported is recognised by its hash.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&dir, "results", "results", "directory that holds run directories and the store (fleet.db)")
	cmd.AddCommand(a.resultsImportCmd(&dir), a.resultsExportCmd(&dir), a.resultsListCmd(&dir))
	return cmd
}

func (a *App) resultsImportCmd(dir *string) *cobra.Command {
	var (
		opts    store.ImportOptions
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "import PATH...",
		Short: "Import bench_serving results, InferenceMAX rows or run directories",
		Long: `Import result files made elsewhere into the store. Each PATH is a file or a
directory (walked; JSON files that are not results are skipped):

  - bench_serving result files (the client's raw JSON, as InferenceMAX and
    vLLM write them). Metadata comes from InferenceMAX's file name pattern
    <model_prefix>_<seq>_<precision>_<framework>_tp<TP>-ep<EP>-dpa<bool>_conc<C>_<node>,
    from metadata keys in the file (tp, framework, precision, hw, ...) and from
    --hw; the GPU type defaults to the runner name's prefix (h200-cw_0: h200).
  - InferenceMAX's aggregated JSON (one row or a list of rows), fleet's own
    row.json files and ` + "`fleet results export --format json|inferencemax`" + ` output.
  - fleet run directories (results/<run-id>), imported whole.

Without --run, client results go into run import-<date the client recorded>,
fleet rows into the run they name. A rerun of the same job replaces the
earlier result instead of adding a row; a file imported before is skipped.`,
		Example: `  fleet results import ~/Downloads/inferencemax-artifacts/
  fleet results import --hw mi355x --run imax-20251012 results_*.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := openStore(ctx, *dir)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.ImportFiles(ctx, args, opts)
			if jsonOut && rep != nil {
				type file struct {
					Path   string `json:"path"`
					Run    string `json:"run,omitempty"`
					Job    string `json:"job,omitempty"`
					Status string `json:"status"`
					Note   string `json:"note,omitempty"`
				}
				out := []file{}
				for _, f := range rep.Files {
					out = append(out, file{f.Path, f.RunID, f.JobID, f.Status, f.Note})
				}
				if werr := writeJSONTo(a.Stdout, out); werr != nil {
					return werr
				}
			} else if rep != nil {
				writeImportReport(a.Stdout, rep)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&opts.RunID, "run", "", "put everything imported into this run")
	cmd.Flags().StringVar(&opts.HW, "hw", "", "GPU type of the imported results (h200, mi300x, ...)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print what happened to each file as JSON")
	return cmd
}

// checkedRows leaves out, with a warning, the rows that fail their check:
// a store filled before imports were checked may hold a NaN or a wrapped
// count, and one such row must not break a report or an export of every
// run.
func (a *App) checkedRows(rows []*results.Row) []*results.Row {
	kept := rows[:0:0]
	for _, r := range rows {
		if err := r.Check(); err != nil {
			a.logger().Warn("row left out: re-import its file or run to fix it", "run", r.RunID, "job", r.JobID, "err", err)
			continue
		}
		kept = append(kept, r)
	}
	return kept
}

// writeImportReport prints what an import did. Paths, ids and notes come
// from the imported files: every cell is sanitised.
func writeImportReport(w io.Writer, rep *store.ImportReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tRUN\tJOB\tPATH\tNOTE")
	runs := map[string]bool{}
	for _, f := range rep.Files {
		if f.RunID != "" && f.Status != store.FileSkipped && f.Status != store.FileDuplicate {
			runs[f.RunID] = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(f.Status), cell(f.RunID), cell(f.JobID), termtext.Line(f.Path, 0), reasonLine(f.Note))
	}
	tw.Flush()
	names := make([]string, 0, len(runs))
	for r := range runs {
		names = append(names, r)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\n%d imported, %d replaced, %d run directories, %d duplicates, %d superseded, %d skipped",
		rep.Count(store.FileImported), rep.Count(store.FileReplaced), rep.Count(store.FileRun),
		rep.Count(store.FileDuplicate), rep.Count(store.FileSuperseded), rep.Count(store.FileSkipped))
	if len(names) > 0 {
		fmt.Fprintf(w, "; runs: %s", termtext.Line(strings.Join(names, ", "), 0))
	}
	fmt.Fprintln(w)
}

func (a *App) resultsExportCmd(dir *string) *cobra.Command {
	var (
		runs   []string
		format string
		output string
	)
	cmd := &cobra.Command{
		Use:   "export [--run RUN]... --format csv|json|inferencemax|inferencex",
		Short: "Export the results of runs (all runs by default)",
		Long: `Write the aggregated results of the jobs that ended done: as CSV (fixed
columns, then every metric), as fleet's JSON rows (InferenceMAX's keys, then
run, job and node), as InferenceMAX's aggregated JSON (its keys only), so
that tools built for InferenceMAX read fleet's results unchanged, or as
InferenceX's (one array of rows with the keys, order and types its
process_result writes: dp_attention "true"/"false", spec_decoding, pp,
power_valid, ...; an imported InferenceX row comes back as it went in).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			write := map[string]func(io.Writer, []*results.Row) error{
				"csv": results.WriteCSV, "json": results.WriteJSON, "inferencemax": results.WriteInferenceMAX,
				"inferencex": ixresult.WriteRows,
			}[format]
			if write == nil {
				return usageError{fmt.Errorf("--format %q: want csv, json, inferencemax or inferencex", format)}
			}
			s, err := openStore(ctx, *dir)
			if err != nil {
				return err
			}
			defer s.Close()
			ids := runs
			if len(runs) > 0 {
				if ids, err = resolveRuns(ctx, s, *dir, runs); err != nil {
					return err
				}
			}
			rows, err := s.Rows(ctx, ids...)
			if err != nil {
				return err
			}
			rows = a.checkedRows(rows)
			w := a.Stdout
			if output != "" && output != "-" {
				f, err := os.Create(output)
				if err != nil {
					return withCode(ExitError, fmt.Errorf("export: %w", err))
				}
				defer f.Close()
				w = f
			}
			if err := write(w, rows); err != nil {
				return err
			}
			if output != "" && output != "-" {
				a.logger().Info("exported", "rows", len(rows), "format", format, "file", output)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&runs, "run", nil, "export this run (repeatable; default every run)")
	cmd.Flags().StringVar(&format, "format", "csv", "csv, json, inferencemax or inferencex")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

func (a *App) resultsListCmd(dir *string) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the runs in the store with their job and result counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := openStore(ctx, *dir)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := importNewRunDirs(ctx, s, *dir); err != nil {
				return err
			}
			runs, err := s.Runs(ctx)
			if err != nil {
				return err
			}
			if jsonOut {
				type run struct {
					ID        string    `json:"id"`
					Source    string    `json:"source"`
					Location  string    `json:"location,omitempty"`
					Sweep     string    `json:"sweep,omitempty"`
					Started   time.Time `json:"started,omitzero"`
					Jobs      int       `json:"jobs"`
					Done      int       `json:"done"`
					Failed    int       `json:"failed"`
					Cancelled int       `json:"cancelled"`
					Rows      int       `json:"rows"`
					Attempts  int       `json:"attempts"`
					HW        []string  `json:"hw"`
				}
				out := []run{}
				for _, r := range runs {
					out = append(out, run{r.ID, r.Source, r.Location, r.Sweep, r.Started, r.Jobs, r.Done, r.Failed, r.Cancelled,
						r.Rows, r.Attempts, append([]string{}, r.HW...)})
				}
				return writeJSONTo(a.Stdout, out)
			}
			if len(runs) == 0 {
				fmt.Fprintf(a.Stdout, "No runs in %s.\n", s.Path())
				return nil
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSOURCE\tSTARTED\tJOBS\tDONE\tFAILED\tROWS\tGPUS")
			for _, r := range runs {
				started := "-"
				if !r.Started.IsZero() {
					started = r.Started.UTC().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", cell(r.ID), cell(r.Source), started, r.Jobs, r.Done, r.Failed, r.Rows,
					cell(strings.Join(r.HW, ",")))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the runs as JSON")
	return cmd
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
