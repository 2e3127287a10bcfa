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
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/engine"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/live"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/store"
	"github.com/fleetbench/fleet/sweeps"
)

// planFlags are the flags shared by commands that read an inventory and a
// sweep and select jobs from it.
type planFlags struct {
	inventory string
	only      []string
	node      string
	vars      []string
}

func (f *planFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.inventory, "inventory", "i", "", "inventory file, HCL or JSON (default inventory.hcl when it exists, else this machine only)")
	cmd.Flags().StringArrayVar(&f.only, "only", nil, "run only jobs matching key=glob (config, model, framework, precision, gpu, seq, tp, ep, conc, node); repeatable")
	cmd.Flags().StringVar(&f.node, "node", "", "pin every job to this node or cluster")
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable declared in the files: NAME=VALUE; repeatable")
}

// load reads the inventory and the sweep, expands, filters and places the
// jobs. Diagnostics go to stderr; the error then is errSilent.
func (a *App) load(f *planFlags, sweepPath string) (*config.Inventory, *config.Sweep, []*plan.Job, error) {
	inv, sw, err := a.loadConfig(sweepPath, f)
	if err != nil {
		return nil, nil, nil, err
	}
	filters, err := plan.ParseFilters(f.only)
	if err != nil {
		return nil, nil, nil, err
	}
	placement, err := plan.Place(plan.Expand(sw), inv, plan.Options{Node: f.node, Only: filters})
	if err != nil {
		return nil, nil, nil, err
	}
	return inv, sw, placement.Jobs, nil
}

// sweepOptions are the settings of one sweep run.
type sweepOptions struct {
	plan        planFlags
	sweepPath   string // "" runs the embedded demo
	runID       string
	resume      string
	rerunFailed string
	dir         string
	retries     int
	keepWork    bool
	agentDir    string
	knownHosts  string
	jsonOut     bool
}

func (o *sweepOptions) register(cmd *cobra.Command) {
	o.plan.register(cmd)
	cmd.Flags().StringVar(&o.runID, "run-id", "", "name of the run directory (default <time>-<sweep name>)")
	cmd.Flags().StringVar(&o.dir, "results", "results", "directory that holds run directories")
	cmd.Flags().IntVar(&o.retries, "retries", -1, "extra attempts for transient failures (default: the sweep's settings, else 2)")
	cmd.Flags().BoolVar(&o.keepWork, "keep-work", false, "keep the work directories of successful jobs on the machines")
	cmd.Flags().StringVar(&o.agentDir, "agent-dir", "", "directory with fleet-<os>-<arch> binaries for machines unlike this one")
	cmd.Flags().StringVar(&o.knownHosts, "known-hosts", "", "known_hosts file to check SSH host keys against (default ~/.ssh/known_hosts)")
	cmd.Flags().BoolVar(&o.jsonOut, "json", false, "print the summary as JSON on stdout")
}

func (a *App) sweepCmd() *cobra.Command {
	var o sweepOptions
	cmd := &cobra.Command{
		Use:   "sweep [SWEEP]",
		Short: "Run a sweep of benchmark jobs across the inventory's machines",
		Long: `Run every job of a sweep file on the machines of the inventory and bring the
results back into results/<run-id>/: the client's raw JSON, server and
client logs, InferenceMAX's aggregated row per job, a journal of every
state change, and a summary table.

Without SWEEP, runs the embedded demo sweep (sweeps/demo.hcl) on this
machine against fleet's simulator: no GPU, network or setup needed.

On a terminal a live board shows job counts, each machine's job and phase,
and the time left; log lines go to results/<run-id>/fleet.log (and to the
screen too when --log-format is given or the output is not a terminal).

Ctrl-C stops dispatching, cancels running jobs on their machines (their
whole process trees), fetches their logs, and exits 130; a second Ctrl-C
exits at once. --resume RUN finishes an interrupted run: jobs with a
complete result are skipped, jobs still running are re-attached.
--rerun-failed RUN runs again only the jobs of RUN that failed.`,
		Example: `  fleet sweep                                  # the demo, on this machine
  fleet sweep sweeps/full.hcl -i inventory.hcl --only gpu=h200 --only seq=1k1k
  fleet sweep sweeps/full.hcl --resume 20261129-101500-full
  fleet sweep sweeps/full.hcl --rerun-failed 20261129-101500-full`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.sweepPath = args[0]
			}
			return a.runSweep(cmd.Context(), &o)
		},
	}
	o.register(cmd)
	cmd.Flags().StringVar(&o.resume, "resume", "", "resume run RUN: skip jobs already done, re-attach to running ones, run the rest")
	cmd.Flags().StringVar(&o.rerunFailed, "rerun-failed", "", "run again the jobs of run RUN that failed or were cancelled, in the same run directory")
	return cmd
}

// runSweep loads, places and runs a sweep, then prints its summary.
func (a *App) runSweep(ctx context.Context, o *sweepOptions) error {
	if o.resume != "" && o.rerunFailed != "" {
		return usageError{errors.New("--resume and --rerun-failed exclude each other")}
	}
	continuing := o.resume
	if o.rerunFailed != "" {
		continuing = o.rerunFailed
	}
	if continuing != "" {
		o.runID = continuing
	}
	name := "demo"
	if o.sweepPath != "" {
		name = strings.TrimSuffix(filepath.Base(o.sweepPath), filepath.Ext(o.sweepPath))
	}
	if o.runID == "" {
		o.runID = time.Now().Format("20060102-150405") + "-" + name
	}
	runDir := filepath.Join(o.dir, o.runID)
	var previous map[string]journal.Entry
	if continuing != "" {
		entries, err := journal.Read(filepath.Join(runDir, "journal.jsonl"))
		if err != nil || len(entries) == 0 {
			return withCode(ExitError, fmt.Errorf("run %s: no journal in %s (%v)", continuing, runDir, err))
		}
		previous = journal.Last(entries)
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("create run directory: %w", err)
	}
	sweepPath := o.sweepPath
	if sweepPath == "" {
		// The embedded demo is written into the run directory, so
		// diagnostics and provenance point at a real file.
		sweepPath = filepath.Join(runDir, "demo.hcl")
		if err := os.WriteFile(sweepPath, sweeps.Demo, 0o644); err != nil {
			return err
		}
	}
	inv, sw, jobs, err := a.load(&o.plan, sweepPath)
	if err != nil {
		return err
	}
	if o.rerunFailed != "" {
		var again []*plan.Job
		for _, j := range jobs {
			if e, ok := previous[j.ID]; ok && (e.State == journal.StateFailed || e.State == journal.StateCancelled) {
				again = append(again, j)
			}
		}
		if len(again) == 0 {
			fmt.Fprintf(a.Stdout, "Run %s has no failed job to rerun.\n", o.runID)
			return nil
		}
		jobs = again
	}
	if len(jobs) == 0 {
		return withCode(ExitError, errors.New("no job matches: check --only and --node against `fleet plan`"))
	}
	retries := o.retries
	if retries < 0 {
		retries = sw.Retries
	}
	logFile, err := os.OpenFile(filepath.Join(runDir, "fleet.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open run log: %w", err)
	}
	defer logFile.Close()
	names := usedMachines(jobs)
	// On a terminal a live board replaces the log lines, which go to the
	// run's fleet.log; elsewhere log lines go to both.
	var board *live.Board
	lg := a.loggerTo(io.MultiWriter(a.Stderr, logFile))
	if isTerminal(a.Stderr) && a.logFormat == "" && !o.jsonOut {
		lg = a.loggerTo(logFile)
		board = live.New(len(jobs), parallelism(inv, names), nil)
	}
	a.knownHosts = o.knownHosts
	machines, err := a.buildMachines(ctx, inv, names)
	if err != nil {
		return err
	}
	defer closeMachines(machines)
	if err := writeRunInfo(runDir, o.runID, sweepPath, o.plan.inventory, len(jobs)); err != nil {
		return err
	}
	lg.Info("sweep starting", "run", o.runID, "jobs", len(jobs), "machines", strings.Join(names, ","), "dir", runDir)
	// Results also go into the embedded store (results/fleet.db) as jobs
	// finish, so reports and comparisons see them at once.
	st, err := store.Open(ctx, store.DefaultPath(o.dir))
	if err != nil {
		return fmt.Errorf("open results store: %w", err)
	}
	defer st.Close()
	configOf := map[string]string{}
	for _, j := range jobs {
		configOf[j.ID] = j.Config
	}
	onEvent := func(e journal.Entry) {
		ev := store.Event{Time: e.Time, Job: e.Job, Config: configOf[e.Job], Attempt: e.Attempt, Node: e.Node, State: e.State, Reason: e.Reason}
		if e.Exit != nil {
			code := e.Exit.Code
			ev.ExitCode = &code
		}
		if e.Result != "" {
			ev.RowFile = filepath.Join(runDir, e.Result)
		}
		if err := st.JobEvent(context.WithoutCancel(ctx), o.runID, ev); err != nil {
			lg.Warn("results store not updated", "err", err)
		}
	}
	if board != nil {
		feed := onEvent
		onEvent = func(e journal.Entry) { feed(e); board.Observe(e) }
		stopBoard := drawBoard(ctx, a.Stderr, board)
		defer stopBoard()
	}
	eng := engine.New(machines, engine.Options{
		OnEvent:  onEvent,
		RunID:    o.runID,
		RunDir:   runDir,
		Retries:  retries,
		Timeouts: sw.Timeouts,
		Binaries: agentbin.NewFinder(o.agentDir),
		Logger:   lg,
		KeepWork: o.keepWork,
		Resume:   continuing != "",
	})
	summary, runErr := eng.Run(ctx, jobs)
	if summary == nil {
		return runErr
	}
	// The run directory is the record of truth; importing it makes the
	// store agree with it whatever the live feed missed.
	if _, err := st.ImportRun(context.WithoutCancel(ctx), runDir); err != nil {
		lg.Warn("results store import failed", "err", err)
	}
	if o.jsonOut {
		enc := json.NewEncoder(a.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(summaryJSON(runDir, summary)); err != nil {
			return err
		}
	} else {
		printSummary(a.Stdout, runDir, summary)
	}
	for _, h := range eng.Orphans() {
		fmt.Fprintf(a.Stderr, "WARNING: job %s may still be running on %s (unreachable when cancelled): process group %s in %s\n", h.JobID, h.Target, h.Ref, h.WorkDir)
	}
	switch {
	case errors.Is(runErr, context.Canceled) || ctx.Err() != nil:
		return withCode(ExitCancelled, errors.New("sweep cancelled; finish it with --resume "+o.runID))
	case runErr != nil:
		return runErr
	case summary.Failed() > 0:
		return withCode(ExitFailed, fmt.Errorf("%d of %d jobs failed (see %s)", summary.Failed(), len(summary.Outcomes), filepath.Join(runDir, "summary.json")))
	}
	return nil
}

// drawBoard redraws the board every second until the returned stop is called.
func drawBoard(ctx context.Context, w io.Writer, b *live.Board) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			b.Render(w)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
		b.Render(w)
	}
}

// parallelism is how many jobs the machines can run at once.
func parallelism(inv *config.Inventory, names []string) int {
	n := 0
	for _, name := range names {
		if m, ok := inv.Machine(name); ok {
			n += max(m.Slots, 1)
		}
	}
	return max(n, 1)
}

// usedMachines lists the machines any job may run on, sorted.
func usedMachines(jobs []*plan.Job) []string {
	set := map[string]bool{}
	for _, j := range jobs {
		for _, c := range j.Candidates {
			set[c] = true
		}
		if len(j.Candidates) == 0 && j.Node != "" {
			set[j.Node] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func writeRunInfo(runDir, runID, sweep, inventory string, jobs int) error {
	info := map[string]any{
		"run_id": runID, "sweep": sweep, "inventory": inventory, "jobs": jobs,
		"started": time.Now().UTC().Format(time.RFC3339), "fleet_version": version(),
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	return os.WriteFile(filepath.Join(runDir, "run.json"), b, 0o644)
}

func summaryJSON(runDir string, s *engine.Summary) any {
	type job struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		Node     string `json:"node,omitempty"`
		Attempts int    `json:"attempts"`
		Reason   string `json:"reason,omitempty"`
	}
	out := struct {
		RunID  string         `json:"run_id"`
		RunDir string         `json:"run_dir"`
		Done   int            `json:"done"`
		Failed int            `json:"failed"`
		Jobs   []job          `json:"jobs"`
		Rows   []*results.Row `json:"rows"`
	}{RunID: s.RunID, RunDir: runDir, Failed: s.Failed(), Rows: s.Rows}
	for _, o := range s.Outcomes {
		out.Jobs = append(out.Jobs, job{o.Job.ID, o.State, o.Node, o.Attempts, o.Reason})
	}
	out.Done = len(s.Outcomes) - out.Failed
	return out
}

func printSummary(w io.Writer, runDir string, s *engine.Summary) {
	fmt.Fprintf(w, "\nRun %s: %d jobs, %d done, %d failed. Results in %s\n\n", s.RunID, len(s.Outcomes), len(s.Outcomes)-s.Failed(), s.Failed(), runDir)
	if len(s.Rows) > 0 {
		results.WriteTable(w, s.Rows)
		fmt.Fprintf(w, "\nCharts and an HTML report: fleet report %s\n", s.RunID)
	}
	var failed []*engine.Outcome
	for _, o := range s.Outcomes {
		if o.State != journal.StateDone {
			failed = append(failed, o)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintln(w, "\nNot done:")
		for _, o := range failed {
			fmt.Fprintf(w, "  %s  %s on %s after %d attempt(s): %s\n", o.Job.ID, o.State, dashIfEmpty(o.Node), o.Attempts, o.Reason)
		}
	}
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
