// Package engine runs the jobs of a sweep on machines: it places each job
// on a machine that fits, drives it through the target interface, brings
// the results back, retries what is worth retrying, and journals every
// state change so that a killed controller loses nothing.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/interrupt"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/target"
)

// Options configure a run.
type Options struct {
	// Run is the run directory the jobs' outputs, the journal and the
	// summary go to; the caller created or opened it and closes it.
	Run      *run.Dir
	Retries  int // extra attempts for transient failures
	Backoff  time.Duration
	Timeouts config.Timeouts
	Binaries *agentbin.Finder
	Logger   *log.Logger
	KeepWork bool // keep work directories of successful jobs
	Resume   bool // skip jobs the journal records as done with a valid result
	// SetAsideAfter is how many failures in a row, not caused by the job
	// itself, set a machine aside for the rest of the run.
	SetAsideAfter int
	// OnEvent, when set, sees every state change (for live views).
	OnEvent func(journal.Entry)
	// OnProgress, when set, sees every progress line a running job prints
	// (jobspec.FormatProgress), by job id. It is called from the jobs' log
	// followers, concurrently for different jobs.
	OnProgress func(job string, p jobspec.Progress)
	// InferenceX, when set, is the checkout that jobs carrying an
	// InferenceX row (plan.Job.InferenceX) run their scripts from.
	InferenceX *IXOptions
	// Canary, when enabled, runs one short job per (GPU type, framework,
	// image) before any other, and stops the run with a StopError if one
	// fails for good (canary.go).
	Canary config.Canary
	// FailFast stops the run, as a cancel does but with a StopError, at
	// the first job that fails for good.
	FailFast bool
}

// Engine runs jobs on machines.
type Engine struct {
	machines []*machine.Machine
	opts     Options
	log      *log.Logger
	journal  *journal.Journal

	// orphans are jobs whose cancel failed (the machine was unreachable):
	// they may still hold GPUs, so they are killed again before the next
	// job starts on their machine and once more when the run ends.
	mu      sync.Mutex
	orphans map[string][]target.Handle
	// bg counts the after-work of ended attempts (background.go), which
	// Run waits for before it reaps orphans and returns.
	bg sync.WaitGroup

	ix     ixBundle
	traces traces
	// evalData are the eval datasets the run's jobs ship (eval.go).
	evalData evalDatasets
	// ixThresh is the InferenceX checkout's eval thresholds (ixeval.go).
	ixThresh ixThresholds
	// canaryIDs are the ids of this run's canary jobs.
	canaryIDs map[string]bool
}

// New returns an engine over machines.
func New(machines []*machine.Machine, opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = log.New(os.Stderr)
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 5 * time.Second
	}
	if opts.SetAsideAfter <= 0 {
		opts.SetAsideAfter = 3
	}
	if opts.Timeouts.ServerStart <= 0 {
		opts.Timeouts.ServerStart = 20 * time.Minute
	}
	if opts.Timeouts.Benchmark <= 0 {
		opts.Timeouts.Benchmark = 60 * time.Minute
	}
	if opts.Timeouts.Job <= 0 {
		opts.Timeouts.Job = opts.Timeouts.ServerStart + opts.Timeouts.Benchmark + 10*time.Minute
	}
	if opts.Binaries == nil {
		opts.Binaries = agentbin.NewFinder("")
	}
	return &Engine{machines: machines, opts: opts, log: opts.Logger}
}

// jobState is the engine's book-keeping for one job.
type jobState struct {
	job       *plan.Job
	attempts  int
	notBefore time.Time
	lastNode  string
	reattach  *target.Handle
}

// resultName is the job's result file name on node, without .json:
// InferenceX's for an InferenceX row, fleet's otherwise.
func (js *jobState) resultName(node string) string {
	return plan.ResultName(js.job, node)
}

// machineState tracks what runs on a machine.
type machineState struct {
	m        *machine.Machine
	running  int
	usedGPUs map[int]bool
	usedPort map[int]bool
	failures int // consecutive failures not caused by the job
	aside    bool
}

// slot is a place on a machine: GPUs and a port, and how many of the
// machine's job places it takes (all of them for a node of a group).
type slot struct {
	devices []int
	port    int
	weight  int
}

// fits reports whether j can start on the machine now.
func (ms *machineState) fits(j *plan.Job) bool {
	if ms.aside || ms.running >= ms.m.Capacity() {
		return false
	}
	if ms.m.Packing {
		return ms.m.GPUs-len(ms.usedGPUs) >= j.GPUs()
	}
	return true
}

func (ms *machineState) take(j *plan.Job) slot {
	ms.running++
	s := slot{weight: 1}
	if ms.m.Packing {
		for g := 0; g < ms.m.GPUs && len(s.devices) < j.GPUs(); g++ {
			if !ms.usedGPUs[g] {
				ms.usedGPUs[g] = true
				s.devices = append(s.devices, g)
			}
		}
	}
	for p := 8000; ; p++ {
		if !ms.usedPort[p] {
			ms.usedPort[p] = true
			s.port = p
			break
		}
	}
	return s
}

func (ms *machineState) release(s slot) {
	ms.running -= s.weight
	for _, g := range s.devices {
		delete(ms.usedGPUs, g)
	}
	delete(ms.usedPort, s.port)
}

// attemptResult is what one attempt reports back to the scheduler.
type attemptResult struct {
	js        *jobState
	m         *machine.Machine // where it ran: a machine, or a group of them
	holds     []hold           // the machines and what it took of each
	freed     bool             // holds already given back (scheduler.free)
	state     string           // done, failed, cancelled
	transient bool             // worth retrying
	machine   bool             // the machine, not the job, is to blame
	reason    string
}

// scheduler is one Run's state: what waits, what runs, where.
type scheduler struct {
	e        *Engine
	machines map[string]*machineState
	pending  []*jobState
	running  int
	done     chan attemptResult
	// freed carries the holds of jobs that ended on their machines and
	// are being fetched: their GPUs take the next job meanwhile.
	freed chan freeing
	wg    sync.WaitGroup
	timer *time.Timer
	// halt stops the run early (a failed canary, FailFast) with a StopError.
	halt     context.CancelCauseFunc
	canaries canaryGate
	pack     packer // the placement policy's state (packing.go)
}

// Run executes jobs and returns when every job has ended or ctx is
// cancelled (then running jobs are cancelled on their machines first). The
// summary covers the whole run directory: on a resume, the jobs an earlier
// controller finished too. When the run stops itself (a failed canary,
// FailFast) the error is a *StopError, as if ctx had been cancelled.
func (e *Engine) Run(ctx context.Context, jobs []*plan.Job) (*run.Summary, error) {
	if e.opts.Run == nil {
		return nil, errors.New("engine: no run directory")
	}
	if err := e.checkIXOptions(); err != nil {
		return nil, err
	}
	if err := e.preflight(ctx, jobs); err != nil {
		return nil, err
	}
	jr, err := e.opts.Run.Journal()
	if err != nil {
		return nil, err
	}
	e.journal = jr
	ctx, halt := context.WithCancelCause(ctx)
	defer halt(nil)
	s := &scheduler{e: e, machines: map[string]*machineState{}, done: make(chan attemptResult), freed: make(chan freeing), timer: time.NewTimer(time.Hour), halt: halt}
	defer s.timer.Stop()
	for _, m := range e.machines {
		s.machines[m.Name] = &machineState{m: m, usedGPUs: map[int]bool{}, usedPort: map[int]bool{}}
	}
	if s.pending, err = e.pendingJobs(jobs); err != nil {
		return nil, err
	}
	if err := s.addCanaries(jobs); err != nil {
		return nil, err
	}
	for ctx.Err() == nil || s.running > 0 {
		if ctx.Err() == nil {
			s.dispatch(ctx)
		}
		if s.running == 0 && (len(s.pending) == 0 || ctx.Err() != nil) {
			break
		}
		// Once cancelled, the loop stops dispatching and waits for the
		// running attempts, which cancel their remote work.
		stopping := ctx.Done()
		if ctx.Err() != nil {
			stopping = nil
		}
		select {
		case r := <-s.done:
			s.finished(ctx, r)
		case f := <-s.freed:
			s.free(f.js, f.holds)
		case <-s.timer.C:
		case <-stopping:
		}
	}
	s.wg.Wait()
	e.bg.Wait()
	e.reapOrphans(context.WithoutCancel(ctx), "")
	for _, js := range s.pending {
		e.record(journal.Entry{Job: js.job.ID, State: journal.StateCancelled, Reason: "not started: " + stopReason(ctx)})
	}
	summary, err := e.opts.Run.WriteSummary()
	if err != nil {
		return nil, err
	}
	return summary, runErr(ctx)
}

// pendingJobs is what this run has to do, longest first: on a resume,
// jobs the journal records as done with a readable row are left out, and
// jobs still running are re-attached.
func (e *Engine) pendingJobs(jobs []*plan.Job) ([]*jobState, error) {
	var previous *run.Folder
	if e.opts.Resume {
		entries, err := e.opts.Run.Entries()
		if err != nil {
			return nil, err
		}
		previous = run.Fold(entries)
	}
	var pending []*jobState
	seen := map[string]bool{}
	for _, j := range jobs {
		dir := run.JobDirName(j.ID)
		if seen[dir] {
			return nil, fmt.Errorf("two jobs share the id %q", j.ID)
		}
		seen[dir] = true
		js := &jobState{job: j}
		if prev, ok := previous.Outcome(j.ID); ok {
			if prev.State == journal.StateDone && prev.Result != "" {
				if _, err := results.ReadRows(filepath.Join(e.opts.Run.Path(), filepath.FromSlash(prev.Result))); err == nil {
					e.log.Info("job already done", "job", j.ID, "node", prev.Node)
					continue
				}
			}
			js.attempts = prev.Attempts
			if prev.State == journal.StateRunning || prev.State == journal.StateFetching {
				js.reattach = prev.Handle
			}
		}
		pending = append(pending, js)
	}
	// Longest jobs first: they bound the makespan (packing.go).
	sortLPT(pending)
	queued := make([]journal.Entry, len(pending))
	for i, js := range pending {
		queued[i] = journal.Entry{Job: js.job.ID, Config: js.job.Config, GPU: js.job.GPU, State: journal.StateQueued}
	}
	e.recordAll(queued)
	return pending, nil
}

// dispatch starts every pending job that can start now, and fails those
// that no machine can ever take.
func (s *scheduler) dispatch(ctx context.Context) {
	next := s.choose(time.Now(), func(js *jobState, pl *placement) {
		s.running++
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.done <- s.e.attempt(ctx, js, pl, func() { s.freed <- freeing{js, pl.holds} })
		}()
	})
	if !next.IsZero() {
		s.timer.Reset(time.Until(next))
	}
	if s.running > 0 {
		return
	}
	kept := s.pending[:0]
	for _, js := range s.pending {
		if s.e.placeable(s.machines, js) {
			kept = append(kept, js)
			continue
		}
		reason := "no machine left that fits (candidates: " + strings.Join(js.job.Candidates, ", ") + ")"
		s.e.record(journal.Entry{Job: js.job.ID, Attempt: js.attempts, State: journal.StateFailed, Reason: reason})
		s.ended(ctx, js, journal.StateFailed, reason)
	}
	s.pending = kept
}

// finished books an attempt's end: the machine's failure count, and a
// retry when the failure is worth one.
func (s *scheduler) finished(ctx context.Context, r attemptResult) {
	s.running--
	if !r.freed {
		s.free(r.js, r.holds)
	}
	for _, h := range r.holds {
		ms := h.ms
		if r.machine {
			ms.failures++
			if ms.failures >= s.e.opts.SetAsideAfter && !ms.aside {
				ms.aside = true
				s.e.log.Warn("machine set aside for the rest of the run", "node", ms.m.Name, "failures", ms.failures)
			}
		} else if r.state == journal.StateDone {
			ms.failures = 0
		}
	}
	if r.state != journal.StateFailed || !r.transient || r.js.attempts > s.e.opts.Retries || ctx.Err() != nil {
		s.ended(ctx, r.js, r.state, r.reason)
		return
	}
	r.js.notBefore = time.Now().Add(s.e.opts.Backoff * time.Duration(1<<min(r.js.attempts-1, 6)))
	r.js.lastNode = r.m.Name
	s.e.record(journal.Entry{Job: r.js.job.ID, Attempt: r.js.attempts, Node: r.m.Name, State: journal.StateRetrying, Reason: r.reason})
	s.pending = append(s.pending, r.js)
}

// freeing is a job whose GPUs are free before its attempt has ended.
type freeing struct {
	js    *jobState
	holds []hold
}

// free gives back what js took of its machines.
func (s *scheduler) free(js *jobState, holds []hold) {
	s.pack.ended(js)
	for _, h := range holds {
		h.ms.release(h.slot)
	}
}

// preflight asks every machine that can check ahead (Slurm: partition,
// GPUs per node) whether it will accept the jobs that may land on it, so a
// bad inventory fails the run before anything starts.
func (e *Engine) preflight(ctx context.Context, jobs []*plan.Job) error {
	for _, m := range e.machines {
		pf, ok := m.Target.(target.Preflighter)
		if !ok {
			continue
		}
		seen := map[int]bool{}
		var gpus []int
		for _, j := range jobs {
			// A multi-node job asks each node for all of its GPUs.
			need := j.GPUs()
			if j.Multi != nil {
				need = m.GPUs
			}
			for _, c := range e.candidates(&jobState{job: j}) {
				if c == m.Name && !seen[need] {
					seen[need] = true
					gpus = append(gpus, need)
				}
			}
		}
		if len(gpus) == 0 {
			continue
		}
		sort.Ints(gpus)
		if err := pf.Preflight(ctx, gpus); err != nil {
			return fmt.Errorf("preflight on %s: %w", m.Name, err)
		}
	}
	return nil
}

// addOrphan remembers a job left running after a failed cancel.
func (e *Engine) addOrphan(machine string, h target.Handle) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.orphans == nil {
		e.orphans = map[string][]target.Handle{}
	}
	e.orphans[machine] = append(e.orphans[machine], h)
}

// reapOrphans cancels again the orphans on machine ("" for every machine)
// and keeps those that still cannot be reached.
func (e *Engine) reapOrphans(ctx context.Context, machine string) {
	e.mu.Lock()
	work := map[string][]target.Handle{}
	for m, hs := range e.orphans {
		if machine == "" || m == machine {
			work[m] = hs
			delete(e.orphans, m)
		}
	}
	e.mu.Unlock()
	for m, hs := range work {
		var t target.Target
		for _, mm := range e.machines {
			if mm.Name == m {
				t = mm.Target
			}
		}
		for _, h := range hs {
			cctx, cancel := interrupt.Cleanup(ctx, 30*time.Second)
			err := t.Cancel(cctx, h)
			cancel()
			if err != nil {
				e.log.Error("job may still be running on its machine: kill it by hand", "node", m, "job", h.JobID, "ref", h.Ref, "workdir", h.WorkDir, "err", err)
				e.addOrphan(m, h)
				continue
			}
			e.log.Info("left-over job killed", "node", m, "job", h.JobID, "ref", h.Ref)
		}
	}
}

// Orphans lists jobs that may still run because their machine could not be
// reached to kill them.
func (e *Engine) Orphans() []target.Handle {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []target.Handle
	for _, hs := range e.orphans {
		out = append(out, hs...)
	}
	return out
}

func (e *Engine) candidates(js *jobState) []string {
	if len(js.job.Candidates) > 0 {
		return js.job.Candidates
	}
	if js.job.Node != "" {
		return []string{js.job.Node}
	}
	names := make([]string, len(e.machines))
	for i, m := range e.machines {
		names[i] = m.Name
	}
	return names
}

// placeable reports whether some machine could still take js.
func (e *Engine) placeable(machines map[string]*machineState, js *jobState) bool {
	if js.job.Multi != nil {
		return e.groupPlaceable(machines, js)
	}
	for _, name := range e.candidates(js) {
		if ms := machines[name]; ms != nil && !ms.aside && (!ms.m.Packing || ms.m.GPUs >= js.job.GPUs()) {
			return true
		}
	}
	return false
}

func (e *Engine) record(en journal.Entry) {
	if en.Time.IsZero() {
		en.Time = time.Now().UTC()
	}
	// Every reason passes here on its way to the journal and the board,
	// whatever built it.
	en.Reason = reasonText(en.Reason)
	if err := e.journal.Append(en); err != nil {
		// Losing the journal loses resumability, not results: say so loudly.
		e.log.Error("journal write failed", "err", err)
	}
	if e.opts.OnEvent != nil {
		e.opts.OnEvent(en)
	}
}
