package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/engine"
	"github.com/fleetbench/fleet/internal/live"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/report"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/ssh"
	"github.com/fleetbench/fleet/internal/sweep"
	"github.com/fleetbench/fleet/internal/termtext"
	"github.com/fleetbench/fleet/sweeps"
)

// planFlags are the flags shared by commands that read an inventory and a
// sweep and select jobs from it.
type planFlags struct {
	inventory string
	only      []string
	node      string
	vars      []string
	maxJobs   int
	ix        ixFlags
}

// ixFlags select jobs from an InferenceX checkout: the checkout and its
// generator's own selections.
type ixFlags struct {
	dir          string
	configFiles  []string
	runnerConfig string
	configKeys   []string
	singleNode   bool
	multiNode    bool
	noEvals      bool
	evalsOnly    bool
	allEvals     bool
	client       string
}

func (f *ixFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "inferencex", "", "expand the master configs of this InferenceX checkout into jobs, as its generator does")
	fl.StringArrayVar(&f.configFiles, "config-file", nil, "with --inferencex: master config file, relative to the checkout (default configs/nvidia-master.yaml and configs/amd-master.yaml); repeatable")
	fl.StringVar(&f.runnerConfig, "runner-config", "", "with --inferencex: runner labels file (default configs/runners.yaml)")
	fl.StringArrayVar(&f.configKeys, "config-key", nil, "with --inferencex: keep only these config keys (globs * and ?); repeatable")
	fl.BoolVar(&f.singleNode, "single-node", false, "with --inferencex: only single-node configs")
	fl.BoolVar(&f.multiNode, "multi-node", false, "with --inferencex: only multi-node configs")
	fl.BoolVar(&f.noEvals, "no-evals", false, "with --inferencex: mark no job for an accuracy eval")
	fl.BoolVar(&f.evalsOnly, "evals-only", false, "only the eval jobs, which eval without a benchmark: the sweep's eval blocks (as with only = true) and, with --inferencex, InferenceX's eval-only selection")
	fl.BoolVar(&f.allEvals, "all-evals", false, "with --inferencex: evals on every eligible job, eval jobs only")
	fl.StringVar(&f.client, "client", "", "with --inferencex: the benchmark client, inferencex (the checkout's) or fleet (fleet bench, same flags); default the sweep's, else inferencex")
}

// apply puts the flags into a sweep's InferenceX source, creating one when
// the sweep has none. Without --inferencex only the selections change,
// and only when the sweep has an inferencex block.
func (f *ixFlags) apply(sw *config.Sweep) error {
	n := 0
	for _, b := range []bool{f.noEvals, f.evalsOnly, f.allEvals} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usageError{errors.New("--no-evals, --evals-only and --all-evals exclude each other")}
	}
	if f.client != "" && !slices.Contains(config.IXClients, f.client) {
		return usageError{fmt.Errorf("--client %q: want one of %s", f.client, strings.Join(config.IXClients, ", "))}
	}
	if f.evalsOnly && evalOnlyBlocks(sw) && sw.InferenceX == nil && f.dir == "" {
		n-- // the sweep's own eval blocks took it
	}
	src := sw.InferenceX
	if f.dir != "" {
		if src == nil {
			src = &config.InferenceXSource{Client: "inferencex", Nodes: "both", Evals: "default"}
		}
		// A flag's path is the user's, relative to the working directory.
		abs, err := filepath.Abs(config.ExpandHome(f.dir))
		if err != nil {
			return fmt.Errorf("--inferencex %s: %w", f.dir, err)
		}
		src.Dir = abs
		sw.InferenceX = src
	}
	if src == nil {
		if len(f.configFiles) > 0 || f.runnerConfig != "" || len(f.configKeys) > 0 || f.singleNode || f.multiNode || n > 0 || f.client != "" {
			return usageError{errors.New("--config-file, --runner-config, --config-key, --single-node, --multi-node, the eval flags and --client select InferenceX jobs: give --inferencex DIR (or a sweep with an inferencex block; --evals-only also takes the sweep's eval blocks)")}
		}
		return nil
	}
	if len(f.configFiles) > 0 {
		src.ConfigFiles = f.configFiles
	}
	if f.runnerConfig != "" {
		src.RunnerConfig = f.runnerConfig
	}
	if len(f.configKeys) > 0 {
		src.ConfigKeys = f.configKeys
	}
	switch {
	case f.singleNode && !f.multiNode:
		src.Nodes = "single"
	case f.multiNode && !f.singleNode:
		src.Nodes = "multi"
	case f.multiNode && f.singleNode:
		src.Nodes = "both"
	}
	switch {
	case f.noEvals:
		src.Evals = "none"
	case f.evalsOnly:
		src.Evals = "only"
	case f.allEvals:
		src.Evals = "all"
	}
	if f.client != "" {
		src.Client = f.client
	}
	return nil
}

func (f *planFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.inventory, "inventory", "i", "", "inventory file, HCL or JSON (default inventory.hcl when it exists, else this machine only)")
	cmd.Flags().StringArrayVar(&f.only, "only", nil, "run only jobs matching key=glob (config, model, framework, precision, gpu, runner, seq, tp, ep, conc, spec, node); repeatable")
	cmd.Flags().StringVar(&f.node, "node", "", "pin every job to this node or cluster")
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable declared in the files: NAME=VALUE; repeatable")
	cmd.Flags().IntVar(&f.maxJobs, "max-jobs", config.DefaultMaxJobs, "refuse a sweep that makes more jobs than this")
	f.ix.register(cmd)
}

// load reads the inventory and the sweep (src: given in memory, the
// embedded demo), expands, filters and places the jobs. Diagnostics go to
// stderr; the error then is errSilent. Cancelling ctx ends it at once.
func (a *App) load(ctx context.Context, f *planFlags, sweepPath string, src []byte) (*config.Inventory, *config.Sweep, []*plan.Job, error) {
	filters, err := plan.ParseFilters(f.only)
	if err != nil {
		return nil, nil, nil, err
	}
	type loaded struct {
		inv  *config.Inventory
		sw   *config.Sweep
		jobs []*plan.Job
	}
	l, err := untilCancelled(ctx, "reading the sweep", func() (loaded, error) {
		c, err := a.loadConfigSource(sweepPath, src, f)
		if err != nil {
			return loaded{}, err
		}
		placement, err := plan.Place(c.jobs, c.inv, plan.Options{Node: f.node, Only: filters})
		if err != nil {
			return loaded{}, err
		}
		if err := plan.SetFingerprints(placement.Jobs); err != nil {
			return loaded{}, err
		}
		a.warnUnplaced(placement.Unplaced)
		return loaded{c.inv, c.sw, placement.Jobs}, nil
	})
	return l.inv, l.sw, l.jobs, err
}

// warnUnplaced says which InferenceX jobs a sweep leaves out and why, one
// line per reason with a count and the first few jobs.
func (a *App) warnUnplaced(jobs []*plan.Job) {
	if len(jobs) == 0 {
		return
	}
	var order []string
	byWhy := map[string][]string{}
	for _, j := range jobs {
		if _, ok := byWhy[j.Why]; !ok {
			order = append(order, j.Why)
		}
		byWhy[j.Why] = append(byWhy[j.Why], j.ID)
	}
	fmt.Fprintf(a.Stderr, "fleet: skipping %s of the InferenceX checkout (`fleet plan` lists them):\n", plural(len(jobs), "job"))
	for _, why := range order {
		ids := byWhy[why]
		more := ""
		if len(ids) > 3 {
			more = fmt.Sprintf(" and %d more", len(ids)-3)
			ids = ids[:3]
		}
		fmt.Fprintf(a.Stderr, "  %d: %s (%s%s)\n", len(byWhy[why]), cell(why), cell(strings.Join(ids, ", ")), more)
	}
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
	incr        incrementalFlags
	compareLast bool
	threshold   string
	canary      bool
	failFast    bool
	onFinish    []string // the sweep's on_finish hook
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
whole process trees), fetches their logs, and exits 130; so do SIGTERM,
SIGHUP (the terminal closed) and a closed stdout or stderr. A second Ctrl-C
gives the remote jobs a few seconds more to stop, then exits and lists any
job still running with the command that stops it; a third exits at once. --resume RUN finishes an interrupted run: jobs with a
complete result are skipped, jobs still running are re-attached.
--rerun-failed RUN runs again only the jobs of RUN that failed.

--only-changed runs only the jobs whose recipe fingerprint has no successful
result at their concurrency in the results store (--max-age: none from a
run started within that age); the others' rows are copied into the new run,
marked as reused. --compare-last compares the run's results with the last
results of the same recipes, as fleet compare does, and exits 4 on a
regression.`,
		Example: `  fleet sweep                                  # the demo, on this machine
  fleet sweep sweeps/full.hcl -i inventory.hcl --only gpu=h200 --only seq=1k1k
  fleet sweep sweeps/full.hcl --resume 20261129-101500-full
  fleet sweep sweeps/full.hcl --rerun-failed 20261129-101500-full
  fleet sweep sweeps/full.hcl --only-changed --max-age 7d --compare-last`,
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
	o.incr.register(cmd)
	cmd.Flags().BoolVar(&o.compareLast, "compare-last", false, "after the run, compare its results with the last results of the same recipes in the store, as fleet compare does; exit 4 on a regression")
	cmd.Flags().StringVar(&o.threshold, "threshold", "5%", "with --compare-last: noise threshold, as fleet compare's")
	cmd.Flags().BoolVar(&o.canary, "canary", false, "first run one short canary job per GPU type, framework and image; if one fails, stop (exit 3) before any other job starts")
	cmd.Flags().BoolVar(&o.failFast, "fail-fast", false, "stop the sweep at the first job that fails for good: cancel running jobs, start no more (exit 3)")
	return cmd
}

// runSweep loads, places and runs a sweep, then prints its summary.
func (a *App) runSweep(ctx context.Context, o *sweepOptions) error {
	since, err := o.incr.since(time.Now())
	if err != nil {
		return err
	}
	if o.incr.onlyChanged && (o.resume != "" || o.rerunFailed != "") {
		return usageError{errors.New("--only-changed starts a new run: it excludes --resume and --rerun-failed")}
	}
	threshold, err := report.ParseThreshold(o.threshold)
	if err != nil {
		return usageError{fmt.Errorf("--threshold: %w", err)}
	}
	so, err := a.sweepSetup(ctx, o)
	if err != nil {
		return err
	}
	allJobs := so.Jobs
	var reused []reusedJob
	if o.incr.onlyChanged {
		if so.Jobs, reused, err = findUnchanged(ctx, o.dir, so.Jobs, since); err != nil {
			return withCode(ExitError, err)
		}
		if len(so.Jobs) == 0 {
			fmt.Fprintf(a.Stdout, "Nothing changed: every one of the %s has a stored result of its recipe; no run started (`fleet plan --only-changed` lists them).\n", plural(len(allJobs), "job"))
			return nil
		}
		if len(reused) > 0 {
			fmt.Fprintf(a.Stderr, "fleet: --only-changed: reusing the stored results of %d of %s, running %d\n", len(reused), plural(len(allJobs), "job"), len(so.Jobs))
		}
	}
	sw, err := sweep.Open(*so)
	switch {
	case errors.Is(err, sweep.ErrNothingToRerun):
		fmt.Fprintf(a.Stdout, "Run %s has no failed job to rerun.\n", so.RunID)
		return nil
	case errors.Is(err, sweep.ErrNoJobs):
		return withCode(ExitError, err)
	case err != nil:
		return withCode(ExitError, err)
	}
	defer sw.Close()
	runID, runDir := sw.Dir().ID(), sw.Dir().Path()
	if err := writeReused(sw.Dir(), reused); err != nil {
		return withCode(ExitError, err)
	}
	logFile, err := os.OpenFile(filepath.Join(runDir, run.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open run log: %w", err)
	}
	defer logFile.Close()
	// On a terminal a live board replaces the log lines, which go to the
	// run's fleet.log; elsewhere log lines go to both.
	lg := a.loggerTo(io.MultiWriter(a.Stderr, logFile))
	var hooks sweep.Hooks
	stopBoard := func() {}
	if isTerminal(a.Stderr) && a.logFormat == "" && !o.jsonOut {
		lg = a.loggerTo(logFile)
		board := live.New(len(sw.Jobs()), sw.Parallelism(), nil)
		hooks = sweep.Hooks{OnEvent: board.Observe, OnProgress: board.ObserveProgress}
		stopBoard = drawBoard(ctx, a.Stderr, board)
	}
	res, runErr := sw.Run(ctx, lg, hooks)
	// The board's last frame is drawn once, before the summary.
	stopBoard()
	if res == nil {
		return runErr
	}
	if err := a.printSweepResult(res, o.jsonOut, so.Inventory); err != nil {
		return err
	}
	cancelled := errors.Is(runErr, context.Canceled) || ctx.Err() != nil
	var cmp *report.Comparison
	if o.compareLast && !cancelled && runErr == nil {
		// With --json the summary owns stdout; the comparison goes to
		// stderr.
		w := a.Stdout
		if o.jsonOut {
			w = a.Stderr
		}
		if cmp, err = a.compareLast(ctx, w, o.dir, runID, allJobs, threshold); err != nil {
			return err
		}
	}
	end := func() error {
		switch {
		case cancelled:
			return withCode(ExitCancelled, errors.New("sweep cancelled; finish it with --resume "+runID))
		case isStopped(runErr):
			return stoppedError(runErr, runID)
		case runErr != nil:
			return runErr
		case res.Summary.Failed > 0:
			// Failed jobs (exit 3) say more than a regression (4) they may
			// also make.
			return withCode(ExitFailed, fmt.Errorf("%d of %d jobs failed (see %s)", res.Summary.Failed, len(res.Summary.Jobs), filepath.Join(runDir, run.SummaryFile)))
		case cmp != nil && cmp.Regressed():
			return withCode(ExitRegressed, fmt.Errorf("%d regression(s) beyond %s against the last results of the same recipes", cmp.Regressions, o.threshold))
		}
		return nil
	}()
	var environ []string
	if a.Environ != nil {
		environ = a.Environ()
	}
	runOnFinish(ctx, lg, o.onFinish, environ, res.Summary, exitCode(ctx, end))
	return end
}

// sweepSetup turns the flags into what a sweep needs: the run to create or
// continue, the loaded and placed config, and the machines' options.
func (a *App) sweepSetup(ctx context.Context, o *sweepOptions) (*sweep.Options, error) {
	if o.resume != "" && o.rerunFailed != "" {
		return nil, usageError{errors.New("--resume and --rerun-failed exclude each other")}
	}
	so := &sweep.Options{ResultsDir: o.dir, RunID: o.runID, SweepPath: o.sweepPath, InventoryPath: o.plan.inventory,
		KeepWork: o.keepWork, Binaries: agentbin.NewFinder(o.agentDir), Version: version(),
		Machines: machine.Options{SSH: a.sshOptions(&sshFlags{knownHosts: o.knownHosts, connectTimeout: ssh.DefaultConnectTimeout}), Getenv: a.Getenv}}
	switch {
	case o.resume != "":
		so.Mode, so.RunID = sweep.Resume, o.resume
	case o.rerunFailed != "":
		so.Mode, so.RunID = sweep.RerunFailed, o.rerunFailed
	}
	if so.RunID != "" {
		if err := run.CheckID(so.RunID); err != nil {
			return nil, usageError{err}
		}
	}
	so.SweepName = "demo"
	switch {
	case o.sweepPath == "" && o.plan.ix.dir != "":
		so.SweepName = "inferencex"
	case o.sweepPath == "":
		so.SweepPath, so.SweepSource = "demo.hcl", sweeps.Demo
	default:
		so.SweepName = strings.TrimSuffix(filepath.Base(o.sweepPath), filepath.Ext(o.sweepPath))
	}
	inv, sw, jobs, err := a.load(ctx, &o.plan, so.SweepPath, so.SweepSource)
	if err != nil {
		return nil, err
	}
	so.Inventory, so.Jobs, so.Timeouts, so.Retries = inv, jobs, sw.Timeouts, sw.Retries
	if src := sw.InferenceX; src != nil {
		so.InferenceX = &engine.IXOptions{Dir: plan.IXDir(sw, src), Client: src.Client}
	}
	if o.retries >= 0 {
		so.Retries = o.retries
	}
	o.applyCanary(so, sw)
	o.onFinish = sw.OnFinish
	return so, nil
}

// printSweepResult prints the summary (as JSON with --json) and warns of
// jobs that may still run.
func (a *App) printSweepResult(res *sweep.Result, jsonOut bool, inv *config.Inventory) error {
	if jsonOut {
		enc := json.NewEncoder(a.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res.Summary); err != nil {
			return err
		}
	} else {
		printSummary(a.Stdout, res.Summary)
	}
	printOrphans(a.Stderr, inv, res.Summary.RunID, res.Orphans)
	return nil
}

// drawBoard redraws the board every second until the returned stop is
// called, which draws the last frame.
func drawBoard(ctx context.Context, w io.Writer, b *live.Board) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.Render(w)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			b.Render(w)
		})
	}
}

// printSummary prints a run's outcome for a person. Everything in it but
// the counts may come from a node or a copied run directory, so every
// string passes through termtext.
func printSummary(w io.Writer, s *run.Summary) {
	fmt.Fprintf(w, "\nRun %s: %d jobs, %d done, %d failed. Results in %s\n\n", cell(s.RunID), len(s.Jobs), s.Done, s.Failed, termtext.Line(s.RunDir, 0))
	if len(s.Rows) > 0 {
		results.WriteTable(w, s.Rows)
		fmt.Fprintf(w, "\nCharts and an HTML report: fleet report %s\n", cell(s.RunID))
	}
	if failed := s.NotDone(); len(failed) > 0 {
		fmt.Fprintln(w, "\nNot done:")
		for _, o := range failed {
			fmt.Fprintf(w, "  %s  %s on %s after %d attempt(s): %s\n", cell(o.Job), cell(o.State), dashIfEmpty(cell(o.Node)), o.Attempts, reasonLine(o.Reason))
		}
	}
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// maxCell bounds an id, a node name or a state shown in a line or table.
const maxCell = 256

// cell makes a short value from a journal, a node or a file safe to print
// in a line or a table cell.
func cell(s string) string { return termtext.Line(s, maxCell) }

// reasonLine makes a failure reason safe to print on one line; the engine
// bounds the reasons it journals to the same length.
func reasonLine(s string) string { return termtext.Line(s, engine.MaxReason) }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
