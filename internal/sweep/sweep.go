// Package sweep runs a sweep's placed jobs as one run: it creates the run
// directory (or takes an interrupted one up again), chooses what to run,
// opens the machines, drives the engine, and keeps the results store in
// step with the run directory. The command line only parses flags, loads
// the config and prints.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/engine"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/store"
	"github.com/fleetbench/fleet/internal/target"
)

// Mode says whether a sweep starts a run or continues one.
type Mode int

// Modes.
const (
	New         Mode = iota // a new run directory
	Resume                  // finish an interrupted run: skip done jobs, re-attach running ones
	RerunFailed             // run again the jobs of a run that failed or were cancelled
)

// Options describe one sweep run.
type Options struct {
	ResultsDir string
	// RunID names the run to create (New; empty: from the time and
	// SweepName) or the run to continue.
	RunID     string
	Mode      Mode
	SweepName string
	// SweepPath and InventoryPath are recorded in run.json. When
	// SweepSource is set (the embedded demo), it is written into the run
	// directory under SweepPath's base name, and run.json points there.
	SweepPath     string
	SweepSource   []byte
	InventoryPath string

	Inventory *config.Inventory
	Jobs      []*plan.Job // placed jobs matching the filters
	Retries   int
	Timeouts  config.Timeouts
	KeepWork  bool
	Binaries  *agentbin.Finder
	Machines  machine.Options
	Version   string
	// InferenceX is set when jobs come from an InferenceX checkout.
	InferenceX *engine.IXOptions
	Canary     config.Canary // engine.Options.Canary
	FailFast   bool          // engine.Options.FailFast
}

// ErrNothingToRerun says a rerun found no failed job in its run.
var ErrNothingToRerun = errors.New("no failed job to rerun")

// ErrNoJobs says the filters left nothing to run.
var ErrNoJobs = errors.New("no job matches: check --only and --node against `fleet plan`")

// Sweep is a run directory taken for a sweep, holding its lock, with the
// jobs chosen to run in it.
type Sweep struct {
	o    Options
	dir  *run.Dir
	jobs []*plan.Job
}

// Open creates the run directory, or locks the run to continue and
// chooses its jobs. Nothing has run yet; Close releases the run.
func Open(o Options) (*Sweep, error) {
	if len(o.Jobs) == 0 {
		return nil, ErrNoJobs
	}
	if o.Mode == New {
		return create(o)
	}
	d, err := run.Open(o.ResultsDir, o.RunID)
	if err != nil {
		return nil, err
	}
	s := &Sweep{o: o, dir: d, jobs: o.Jobs}
	mode := "resume"
	if o.Mode == RerunFailed {
		mode = "rerun-failed"
		if s.jobs, err = failedJobs(d, o.Jobs); err != nil || len(s.jobs) == 0 {
			d.Close()
			if err == nil {
				err = fmt.Errorf("run %s: %w", o.RunID, ErrNothingToRerun)
			}
			return nil, err
		}
	}
	if err := d.Continued(mode, len(s.jobs)); err != nil {
		d.Close()
		return nil, err
	}
	return s, nil
}

func create(o Options) (*Sweep, error) {
	if o.RunID == "" {
		o.RunID = run.NewID(time.Now(), o.SweepName)
	}
	info := run.Info{RunID: o.RunID, Sweep: o.SweepPath, Inventory: o.InventoryPath, Jobs: len(o.Jobs), FleetVersion: o.Version}
	if o.SweepSource != nil {
		info.Sweep = filepath.Join(o.ResultsDir, o.RunID, filepath.Base(o.SweepPath))
	}
	d, err := run.Create(o.ResultsDir, info)
	if err != nil {
		return nil, err
	}
	if o.SweepSource != nil {
		// The embedded sweep is kept with the run, so its provenance is a
		// real file.
		if err := os.WriteFile(info.Sweep, o.SweepSource, 0o644); err != nil {
			d.Close()
			return nil, fmt.Errorf("run %s: keep the sweep file: %w", o.RunID, err)
		}
	}
	return &Sweep{o: o, dir: d, jobs: o.Jobs}, nil
}

// failedJobs picks the jobs whose outcome in the run is failed or
// cancelled.
func failedJobs(d *run.Dir, jobs []*plan.Job) ([]*plan.Job, error) {
	entries, err := d.Entries()
	if err != nil {
		return nil, err
	}
	prev := run.Fold(entries)
	var again []*plan.Job
	for _, j := range jobs {
		if o, ok := prev.Outcome(j.ID); ok && (o.State == journal.StateFailed || o.State == journal.StateCancelled) {
			again = append(again, j)
		}
	}
	return again, nil
}

// Dir returns the run directory.
func (s *Sweep) Dir() *run.Dir { return s.dir }

// Jobs returns the jobs this sweep runs.
func (s *Sweep) Jobs() []*plan.Job { return s.jobs }

// Machines lists the machines the jobs may run on, sorted.
func (s *Sweep) Machines() []string {
	set := map[string]bool{}
	for _, j := range s.jobs {
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

// Parallelism is how many jobs the sweep's machines run at once.
func (s *Sweep) Parallelism() int {
	n := 0
	for _, name := range s.Machines() {
		if m, ok := s.o.Inventory.Machine(name); ok {
			n += machine.Capacity(m)
		}
	}
	return max(n, 1)
}

// Close releases the run directory.
func (s *Sweep) Close() error { return s.dir.Close() }

// Result is how a sweep ended.
type Result struct {
	Summary *run.Summary
	// Orphans are jobs that may still run: their machine could not be
	// reached to kill them.
	Orphans []target.Handle
}

// Hooks let a live view follow a sweep.
type Hooks struct {
	OnEvent    func(journal.Entry)                  // every job state change
	OnProgress func(job string, p jobspec.Progress) // a running job's progress reports
}

// Run runs the jobs. lg logs the run's progress; the hooks see state
// changes and progress. The results store under ResultsDir follows the run
// directory as jobs end. The error is ctx's when the run was cancelled; a
// summary comes back whenever the engine ran.
func (s *Sweep) Run(ctx context.Context, lg *log.Logger, hooks Hooks) (*Result, error) {
	machines, err := machine.OpenAll(ctx, s.o.Inventory, s.Machines(), s.o.Machines)
	if err != nil {
		return nil, err
	}
	defer machine.CloseAll(machines)
	lg.Info("sweep starting", "run", s.dir.ID(), "jobs", len(s.jobs), "machines", len(machines), "dir", s.dir.Path())
	st, err := store.Open(ctx, store.DefaultPath(s.o.ResultsDir))
	if err != nil {
		return nil, fmt.Errorf("open results store: %w", err)
	}
	defer st.Close()
	idx := startIndexer(context.WithoutCancel(ctx), st, s.dir.Path(), lg)
	eng := engine.New(machines, engine.Options{
		OnEvent: func(e journal.Entry) {
			if run.Final(e.State) || e.State == journal.StateRetrying {
				idx.poke()
			}
			if hooks.OnEvent != nil {
				hooks.OnEvent(e)
			}
		},
		OnProgress: hooks.OnProgress,
		Run:        s.dir,
		Retries:    s.o.Retries,
		Timeouts:   s.o.Timeouts,
		Binaries:   s.o.Binaries,
		Logger:     lg,
		KeepWork:   s.o.KeepWork,
		InferenceX: s.o.InferenceX,
		Resume:     s.o.Mode != New,
		Canary:     s.o.Canary,
		FailFast:   s.o.FailFast,
	})
	summary, runErr := eng.Run(ctx, s.jobs)
	// The run directory is the record of truth; the last index makes the
	// store agree with it.
	idx.stop()
	if summary == nil {
		return nil, runErr
	}
	return &Result{Summary: summary, Orphans: eng.Orphans()}, runErr
}

// indexer re-indexes the run directory in the store when jobs end, at
// most every indexEvery, so a report made mid-sweep sees finished jobs.
type indexer struct {
	wake chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup
}

const indexEvery = 3 * time.Second

func startIndexer(ctx context.Context, st *store.Store, dir string, lg *log.Logger) *indexer {
	ix := &indexer{wake: make(chan struct{}, 1), quit: make(chan struct{})}
	index := func() {
		if _, err := st.ImportRun(ctx, dir); err != nil {
			lg.Warn("results store not updated", "err", err)
		}
	}
	ix.wg.Add(1)
	go func() {
		defer ix.wg.Done()
		defer index()
		for {
			select {
			case <-ix.quit:
				return
			case <-ix.wake:
			}
			index()
			select {
			case <-ix.quit:
				return
			case <-time.After(indexEvery):
			}
		}
	}()
	return ix
}

func (ix *indexer) poke() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

func (ix *indexer) stop() {
	close(ix.quit)
	ix.wg.Wait()
}
