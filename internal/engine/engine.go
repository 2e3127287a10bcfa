// Package engine runs the jobs of a sweep on machines: it places each job
// on a machine that fits, drives it through the target interface, brings
// the results back, retries what is worth retrying, and journals every
// state change so that a killed controller loses nothing.
package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/results"
	"github.com/fleetbench/fleet/internal/target"
)

// Machine is one node or cluster jobs can run on.
type Machine struct {
	Name    string
	GPU     string
	GPUs    int
	Runtime string
	HFCache string
	// Packing lets several jobs share the machine on disjoint GPUs.
	Packing bool
	// Slots caps how many jobs run at once (a Slurm cluster's max_nodes);
	// 0 means one unless packing.
	Slots   int
	Env     map[string]string
	Secrets map[string]string
	Target  target.Target
}

// Options configure a run.
type Options struct {
	RunID    string
	RunDir   string // results/<run-id>
	Retries  int    // extra attempts for transient failures
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
}

// Outcome is how one job ended.
type Outcome struct {
	Job      *plan.Job
	State    string // done, failed, cancelled
	Node     string
	Attempts int
	Reason   string
	Row      *results.Row
}

// Summary is what a run produced.
type Summary struct {
	RunID    string
	Outcomes []*Outcome
	Rows     []*results.Row
}

// Failed counts jobs that did not end done.
func (s *Summary) Failed() int {
	n := 0
	for _, o := range s.Outcomes {
		if o.State != journal.StateDone {
			n++
		}
	}
	return n
}

// Engine runs jobs on machines.
type Engine struct {
	machines []*Machine
	opts     Options
	log      *log.Logger
	journal  *journal.Journal

	// orphans are jobs whose cancel failed (the machine was unreachable):
	// they may still hold GPUs, so they are killed again before the next
	// job starts on their machine and once more when the run ends.
	mu      sync.Mutex
	orphans map[string][]target.Handle
}

// New returns an engine over machines.
func New(machines []*Machine, opts Options) *Engine {
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
	dir       string // safe directory name from the job id
	attempts  int
	notBefore time.Time
	lastNode  string
	reattach  *target.Handle
}

func (js *jobState) resultName(node string) string { return plan.ResultName(js.job, node) }

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// dirName turns a job id into one path element.
func dirName(id string) string {
	s := strings.Trim(unsafeChars.ReplaceAllString(id, "_"), "_.")
	if s == "" {
		s = "job"
	}
	return s
}

// machineState tracks what runs on a machine.
type machineState struct {
	m        *Machine
	running  int
	usedGPUs map[int]bool
	usedPort map[int]bool
	failures int // consecutive failures not caused by the job
	aside    bool
}

// slot is a place on a machine: GPUs and a port.
type slot struct {
	devices []int
	port    int
}

func (ms *machineState) capacity() int {
	if ms.m.Slots > 0 {
		return ms.m.Slots
	}
	if ms.m.Packing {
		return max(ms.m.GPUs, 1)
	}
	return 1
}

// fits reports whether j can start on the machine now.
func (ms *machineState) fits(j *plan.Job) bool {
	if ms.aside || ms.running >= ms.capacity() {
		return false
	}
	if ms.m.Packing && ms.m.Slots == 0 {
		return ms.m.GPUs-len(ms.usedGPUs) >= j.GPUs()
	}
	return true
}

func (ms *machineState) take(j *plan.Job) slot {
	ms.running++
	var s slot
	if ms.m.Packing && ms.m.Slots == 0 {
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
	ms.running--
	for _, g := range s.devices {
		delete(ms.usedGPUs, g)
	}
	delete(ms.usedPort, s.port)
}

// attemptResult is what one attempt reports back to the scheduler.
type attemptResult struct {
	js        *jobState
	ms        *machineState
	slot      slot
	state     string // done, failed, cancelled
	transient bool   // worth retrying
	machine   bool   // the machine, not the job, is to blame
	reason    string
	row       *results.Row
}

// Run executes jobs and returns when every job has ended or ctx is
// cancelled (then running jobs are cancelled on their machines first).
func (e *Engine) Run(ctx context.Context, jobs []*plan.Job) (*Summary, error) {
	if err := os.MkdirAll(filepath.Join(e.opts.RunDir, "jobs"), 0o755); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	if err := e.preflight(ctx, jobs); err != nil {
		return nil, err
	}
	jpath := filepath.Join(e.opts.RunDir, "journal.jsonl")
	var previous map[string]journal.Entry
	if e.opts.Resume {
		entries, err := journal.Read(jpath)
		if err != nil {
			return nil, fmt.Errorf("read journal %s: %w", jpath, err)
		}
		previous = journal.Last(entries)
	}
	jr, err := journal.Open(jpath)
	if err != nil {
		return nil, err
	}
	defer jr.Close()
	e.journal = jr

	machines := map[string]*machineState{}
	for _, m := range e.machines {
		machines[m.Name] = &machineState{m: m, usedGPUs: map[int]bool{}, usedPort: map[int]bool{}}
	}
	summary := &Summary{RunID: e.opts.RunID}
	outcomes := map[*jobState]*Outcome{}
	var pending []*jobState
	seen := map[string]bool{}
	for _, j := range jobs {
		js := &jobState{job: j, dir: dirName(j.ID)}
		if seen[js.dir] {
			return nil, fmt.Errorf("two jobs share the id %q", j.ID)
		}
		seen[js.dir] = true
		o := &Outcome{Job: j, State: journal.StateQueued}
		outcomes[js] = o
		summary.Outcomes = append(summary.Outcomes, o)
		if prev, ok := previous[j.ID]; ok {
			if prev.State == journal.StateDone && prev.Result != "" {
				if row, err := results.ReadRow(filepath.Join(e.opts.RunDir, prev.Result)); err == nil {
					o.State, o.Node, o.Attempts, o.Row = journal.StateDone, prev.Node, prev.Attempt, row
					e.log.Info("job already done", "job", j.ID, "node", prev.Node)
					continue
				}
			}
			js.attempts = prev.Attempt
			if prev.State == journal.StateRunning && prev.Handle != nil {
				h := *prev.Handle
				js.reattach = &h
			}
		}
		pending = append(pending, js)
	}
	// Longest jobs first: they bound the makespan.
	sort.SliceStable(pending, func(a, b int) bool { return cost(pending[a].job) > cost(pending[b].job) })
	for _, js := range pending {
		e.record(journal.Entry{Job: js.job.ID, State: journal.StateQueued})
	}

	done := make(chan attemptResult)
	running := 0
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		// Dispatch everything that can start now.
		if ctx.Err() == nil {
			now := time.Now()
			var next time.Time
			kept := pending[:0]
			for _, js := range pending {
				if js.notBefore.After(now) {
					if next.IsZero() || js.notBefore.Before(next) {
						next = js.notBefore
					}
					kept = append(kept, js)
					continue
				}
				ms := e.pick(machines, js)
				if ms == nil {
					kept = append(kept, js)
					continue
				}
				s := ms.take(js.job)
				running++
				wg.Add(1)
				go func() {
					defer wg.Done()
					done <- e.attempt(ctx, js, ms, s)
				}()
			}
			pending = kept
			if !next.IsZero() {
				timer.Reset(time.Until(next))
			}
			// Jobs that no machine can ever take.
			if running == 0 {
				kept := pending[:0]
				for _, js := range pending {
					if e.placeable(machines, js) {
						kept = append(kept, js)
						continue
					}
					o := outcomes[js]
					o.State, o.Attempts = journal.StateFailed, js.attempts
					o.Reason = "no machine left that fits (candidates: " + strings.Join(js.job.Candidates, ", ") + ")"
					e.record(journal.Entry{Job: js.job.ID, State: journal.StateFailed, Reason: o.Reason})
				}
				pending = kept
			}
		}
		if running == 0 && (len(pending) == 0 || ctx.Err() != nil) {
			break
		}
		select {
		case r := <-done:
			running--
			r.ms.release(r.slot)
			o := outcomes[r.js]
			o.Node, o.Attempts, o.Reason, o.Row = r.ms.m.Name, r.js.attempts, r.reason, r.row
			if r.machine {
				r.ms.failures++
				if r.ms.failures >= e.opts.SetAsideAfter && !r.ms.aside {
					r.ms.aside = true
					e.log.Warn("machine set aside for the rest of the run", "node", r.ms.m.Name, "failures", r.ms.failures)
				}
			} else if r.state == journal.StateDone {
				r.ms.failures = 0
			}
			if r.state == journal.StateFailed && r.transient && r.js.attempts <= e.opts.Retries && ctx.Err() == nil {
				r.js.notBefore = time.Now().Add(e.opts.Backoff * time.Duration(1<<min(r.js.attempts-1, 6)))
				r.js.lastNode = r.ms.m.Name
				e.record(journal.Entry{Job: r.js.job.ID, Attempt: r.js.attempts, Node: r.ms.m.Name, State: journal.StateRetrying, Reason: r.reason})
				pending = append(pending, r.js)
				o.State = journal.StateQueued
				continue
			}
			o.State = r.state
		case <-timer.C:
		case <-ctx.Done():
			// Fall through: the loop stops dispatching and waits for the
			// running attempts, which cancel their remote work.
		}
	}
	wg.Wait()
	e.reapOrphans(context.WithoutCancel(ctx), "")
	for _, js := range pending {
		o := outcomes[js]
		if o.State == journal.StateQueued {
			o.State, o.Reason = journal.StateCancelled, "not started: run cancelled"
			e.record(journal.Entry{Job: js.job.ID, State: journal.StateCancelled, Reason: o.Reason})
		}
	}
	for _, o := range summary.Outcomes {
		if o.Row != nil {
			summary.Rows = append(summary.Rows, o.Row)
		}
	}
	results.SortRows(summary.Rows)
	if err := writeSummary(e.opts.RunDir, summary); err != nil {
		return summary, err
	}
	if ctx.Err() != nil {
		return summary, ctx.Err()
	}
	return summary, nil
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
			js := &jobState{job: j}
			for _, c := range e.candidates(js) {
				if c == m.Name && !seen[j.GPUs()] {
					seen[j.GPUs()] = true
					gpus = append(gpus, j.GPUs())
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
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
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

// pick chooses a machine for js among its candidates, preferring one other
// than where it last failed.
func (e *Engine) pick(machines map[string]*machineState, js *jobState) *machineState {
	if js.reattach != nil {
		if ms := machines[js.reattach.Target]; ms != nil && ms.fits(js.job) {
			return ms
		}
		return nil
	}
	var fallback *machineState
	for _, name := range e.candidates(js) {
		ms := machines[name]
		if ms == nil || !ms.fits(js.job) {
			continue
		}
		if name == js.lastNode {
			fallback = ms
			continue
		}
		return ms
	}
	return fallback
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
	for _, name := range e.candidates(js) {
		if ms := machines[name]; ms != nil && !ms.aside && (!ms.m.Packing || ms.m.GPUs >= js.job.GPUs()) {
			return true
		}
	}
	return false
}

// cost is a rough relative duration used to start long jobs first.
func cost(j *plan.Job) float64 {
	rounds := float64(j.NumPrompts+j.NumWarmups) / float64(max(j.Conc, 1))
	return rounds * float64(j.ISL/8+j.OSL) * float64(max(j.GPUs(), 1))
}

func (e *Engine) record(en journal.Entry) {
	if en.Time.IsZero() {
		en.Time = time.Now().UTC()
	}
	if err := e.journal.Append(en); err != nil {
		// Losing the journal loses resumability, not results: say so loudly.
		e.log.Error("journal write failed", "err", err)
	}
	if e.opts.OnEvent != nil {
		e.opts.OnEvent(en)
	}
}
