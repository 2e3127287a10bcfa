package run

import (
	"sort"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/target"
)

// Outcome is where one job of a run stands, or how it ended: the one shape
// in which status, the live board, summary.json, `--json` output and the
// results store all see a job.
type Outcome struct {
	Job      string    `json:"job"`
	Config   string    `json:"config,omitempty"`
	GPU      string    `json:"gpu,omitempty"`
	State    string    `json:"state"`
	Node     string    `json:"node,omitempty"`
	Attempts int       `json:"attempts"`
	Since    time.Time `json:"since,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	// Result is the job's aggregated row file, relative to the run
	// directory; only a done job has one.
	Result string `json:"result,omitempty"`
	// ExitCode is the job script's exit status of the latest attempt that
	// ended with one.
	ExitCode *int `json:"exit_code,omitempty"`
	// Progress is the latest progress a running job reported (its phase,
	// requests done, tokens/s), read from its streamed output.
	Progress *jobspec.Progress `json:"progress,omitempty"`
	// Handle finds the job's latest attempt on its machine while it runs
	// (a process group, a Slurm job id); resume re-attaches through it.
	Handle *target.Handle `json:"-"`
}

// Ended reports whether the outcome is final: done, failed or cancelled.
func (o *Outcome) Ended() bool { return Final(o.State) }

// Final reports whether a job in state has ended for good.
func Final(state string) bool {
	switch state {
	case journal.StateDone, journal.StateFailed, journal.StateCancelled:
		return true
	}
	return false
}

// Active reports whether a job in state occupies a machine.
func Active(state string) bool {
	switch state {
	case journal.StatePreparing, journal.StateRunning, journal.StateFetching:
		return true
	}
	return false
}

// Attempt is one try of a job on a machine, as the journal tells it.
type Attempt struct {
	Job      string
	N        int
	Node     string
	State    string // the attempt's last state; retrying is recorded as failed
	Reason   string
	ExitCode *int
	Started  time.Time
	Ended    time.Time
}

// Folder folds journal entries, in order, into job outcomes and attempts.
// The zero value is ready; Apply is not safe for concurrent use.
type Folder struct {
	jobs     map[string]*Outcome
	order    []string
	attempts map[attemptKey]*Attempt
	aorder   []attemptKey
}

type attemptKey struct {
	job string
	n   int
}

// Fold folds a whole journal.
func Fold(entries []journal.Entry) *Folder {
	f := &Folder{}
	for _, e := range entries {
		f.Apply(e)
	}
	return f
}

// Apply folds one entry and returns the job's outcome after it.
func (f *Folder) Apply(e journal.Entry) Outcome {
	if f.jobs == nil {
		f.jobs = map[string]*Outcome{}
		f.attempts = map[attemptKey]*Attempt{}
	}
	o, ok := f.jobs[e.Job]
	if !ok {
		o = &Outcome{Job: e.Job}
		f.jobs[e.Job] = o
		f.order = append(f.order, e.Job)
	}
	if e.Config != "" {
		o.Config = e.Config
	}
	if e.GPU != "" {
		o.GPU = e.GPU
	}
	if e.Node != "" {
		o.Node = e.Node
	}
	o.State, o.Since = e.State, e.Time
	o.Attempts = max(o.Attempts, e.Attempt)
	switch {
	case e.Reason != "":
		o.Reason = e.Reason
	case e.State == journal.StatePreparing || e.State == journal.StateDone:
		// A new attempt starts with a clean slate; a queued or running
		// entry after a retry keeps the reason the job had to try again.
		o.Reason = ""
	}
	if e.Exit != nil {
		c := e.Exit.Code
		o.ExitCode = &c
	}
	if e.Handle != nil {
		h := *e.Handle
		o.Handle = &h
	}
	o.Result = ""
	if e.State == journal.StateDone {
		o.Result = e.Result
	}
	if !Active(e.State) {
		o.Handle = nil
	}
	if e.State == journal.StatePreparing || !Active(e.State) {
		o.Progress = nil
	}
	f.applyAttempt(e)
	return *o
}

func (f *Folder) applyAttempt(e journal.Entry) {
	if e.Attempt <= 0 {
		return
	}
	k := attemptKey{e.Job, e.Attempt}
	a, ok := f.attempts[k]
	if !ok {
		a = &Attempt{Job: e.Job, N: e.Attempt, Started: e.Time}
		f.attempts[k] = a
		f.aorder = append(f.aorder, k)
	}
	if e.Node != "" {
		a.Node = e.Node
	}
	a.State = e.State
	if e.State == journal.StateRetrying {
		a.State = journal.StateFailed
	}
	if e.Reason != "" {
		a.Reason = e.Reason
	}
	if e.Exit != nil {
		c := e.Exit.Code
		a.ExitCode = &c
	}
	if Final(e.State) || e.State == journal.StateRetrying {
		a.Ended = e.Time
	}
}

// Outcome returns the outcome of job, if the journal named it.
func (f *Folder) Outcome(job string) (Outcome, bool) {
	if f == nil {
		return Outcome{}, false
	}
	o, ok := f.jobs[job]
	if !ok {
		return Outcome{}, false
	}
	return *o, true
}

// SetProgress records the latest progress of a running job.
func (f *Folder) SetProgress(job string, p jobspec.Progress) {
	if o, ok := f.jobs[job]; ok && Active(o.State) {
		o.Progress = &p
	}
}

// Outcomes returns every job's outcome, sorted by job id.
func (f *Folder) Outcomes() []Outcome {
	out := make([]Outcome, 0, len(f.jobs))
	for _, id := range f.order {
		out = append(out, *f.jobs[id])
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Job < out[b].Job })
	return out
}

// Attempts returns every attempt in the order they started.
func (f *Folder) Attempts() []Attempt {
	out := make([]Attempt, 0, len(f.aorder))
	for _, k := range f.aorder {
		out = append(out, *f.attempts[k])
	}
	return out
}

// Counts returns how many jobs are in each state.
func Counts(outcomes []Outcome) map[string]int {
	c := map[string]int{}
	for _, o := range outcomes {
		c[o.State]++
	}
	return c
}
