package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/run"
)

// CanarySuffix ends the id of a canary job: "<first job's id>~canary".
// A canary never counts as the job it was cut from.
const CanarySuffix = "~canary"

// CanaryRowFile is where a passing canary's row goes in its job
// directory: not run.RowFile, so that the run's summary, its table and
// the results store never take a canary's few prompts for a result.
const CanaryRowFile = "canary-row.json"

// StopError is how Run ends when it stopped the run itself: a canary
// failed, or (Options.FailFast) a job failed for good. Running jobs were
// cancelled and the rest journalled as not started, with Reason.
type StopError struct{ Reason string }

func (e *StopError) Error() string { return e.Reason }

// canaryGate is a run's canary state: the canaries not yet ended, by
// job, with their group. Until it is empty no other job starts.
type canaryGate map[*jobState]string

// canaryGroup names the group a job's canary stands for: its GPU type
// (or, unplaced, where it may run), framework and image.
func canaryGroup(j *plan.Job) string {
	gpu := j.GPU
	if gpu == "" {
		gpu = j.Node
	}
	if gpu == "" && len(j.Candidates) > 0 {
		gpu = j.Candidates[0]
	}
	g := gpu + "/" + j.Framework
	if j.Image != "" {
		g += "@" + j.Image
	}
	return g
}

// canaryJob is j cut down to a canary: few prompts, no warmups, a low
// concurrency, a fresh id.
func (e *Engine) canaryJob(j *plan.Job) *plan.Job {
	c := *j
	c.ID = j.ID + CanarySuffix
	c.NumPrompts, c.NumWarmups = e.opts.Canary.Prompts, 0
	if c.Conc > e.opts.Canary.Conc {
		c.Conc = e.opts.Canary.Conc
	}
	// A multi-node job runs its client once per concurrency: once is enough.
	c.ConcList = nil
	// A canary checks that the recipe serves: it benchmarks, never evals.
	c.Eval = nil
	if j.InferenceX != nil {
		row := *j.InferenceX
		row.Conc = []int{c.Conc}
		row.RunEval, row.EvalOnly = nil, nil
		c.InferenceX = &row
	}
	return &c
}

// addCanaries puts one canary per group of the pending jobs ahead of them
// (the group's first job in plan order, cut down), when canaries are on.
func (s *scheduler) addCanaries(jobs []*plan.Job) error {
	if !s.e.opts.Canary.Enabled || len(s.pending) == 0 {
		return nil
	}
	pending := map[*plan.Job]bool{}
	dirs := map[string]bool{}
	for _, js := range s.pending {
		pending[js.job] = true
		dirs[run.JobDirName(js.job.ID)] = true
	}
	var previous *run.Folder
	if s.e.opts.Resume {
		entries, err := s.e.opts.Run.Entries()
		if err != nil {
			return err
		}
		previous = run.Fold(entries)
	}
	s.canaries = canaryGate{}
	s.e.canaryIDs = map[string]bool{}
	seen := map[string]bool{}
	var canaries []*jobState
	for _, j := range jobs {
		g := canaryGroup(j)
		if !pending[j] || seen[g] {
			continue
		}
		seen[g] = true
		cj := s.e.canaryJob(j)
		if dirs[run.JobDirName(cj.ID)] {
			return fmt.Errorf("the canary of group %s would share its directory with job %q: rename that job", g, cj.ID)
		}
		js := &jobState{job: cj}
		// A resumed run's canary runs again, as a later attempt: the
		// earlier one's outputs move aside.
		if prev, ok := previous.Outcome(cj.ID); ok {
			js.attempts = prev.Attempts
		}
		s.canaries[js] = g
		s.e.canaryIDs[cj.ID] = true
		canaries = append(canaries, js)
		s.e.record(journal.Entry{Job: cj.ID, Config: cj.Config, GPU: cj.GPU, State: journal.StateQueued})
		s.e.log.Info("canary queued", "group", g, "job", cj.ID)
	}
	// Jobs an earlier controller left running keep their machines first;
	// then the canaries go, ahead of everything else.
	var reattach, rest []*jobState
	for _, js := range s.pending {
		if js.reattach != nil {
			reattach = append(reattach, js)
		} else {
			rest = append(rest, js)
		}
	}
	s.pending = append(append(reattach, canaries...), rest...)
	return nil
}

// held reports whether js waits for the canaries: every job but a canary
// does while one has not ended, except one that an earlier controller
// left running (resume): holding it would not stop it, only let a canary
// take its machine.
func (s *scheduler) held(js *jobState) bool {
	if len(s.canaries) == 0 || js.reattach != nil {
		return false
	}
	_, canary := s.canaries[js]
	return !canary
}

// ended books a job's final end (done, failed for good, cancelled): a
// canary that did not pass, or with FailFast any job that failed, stops
// the run.
func (s *scheduler) ended(ctx context.Context, js *jobState, state, reason string) {
	group, canary := s.canaries[js]
	delete(s.canaries, js)
	if ctx.Err() != nil || state == journal.StateDone {
		if canary && state == journal.StateDone {
			s.e.log.Info("canary passed", "group", group, "job", js.job.ID)
		}
		return
	}
	switch {
	case canary:
		s.halt(&StopError{Reason: fmt.Sprintf("canary %s failed: %s", group, reason)})
	case s.e.opts.FailFast && state == journal.StateFailed:
		s.halt(&StopError{Reason: fmt.Sprintf("fail-fast: job %s failed: %s", js.job.ID, reason)})
	default:
		return
	}
	s.e.log.Error("stopping the run", "reason", context.Cause(ctx))
}

// stopReason says why ctx ended, for jobs it cut short or never started.
func stopReason(ctx context.Context) string {
	var st *StopError
	if errors.As(context.Cause(ctx), &st) {
		return st.Reason
	}
	return "run cancelled"
}

// runErr is what Run returns for ctx: the StopError when the run stopped
// itself, ctx's error otherwise.
func runErr(ctx context.Context) error {
	var st *StopError
	if errors.As(context.Cause(ctx), &st) {
		return st
	}
	return ctx.Err()
}

// canaryTimeout bounds a canary job as a whole.
func (e *Engine) canaryTimeout(j *plan.Job) (timeout time.Duration, ok bool) {
	if !e.canaryIDs[j.ID] || e.opts.Canary.Timeout <= 0 {
		return 0, false
	}
	return e.opts.Canary.Timeout, true
}

// setCanaryRowAside moves a passing canary's row out of the place the
// run's summary and the results store read rows from (its journal entry
// names no result either).
func setCanaryRowAside(jobDir string) error {
	if err := os.Rename(filepath.Join(jobDir, run.RowFile), filepath.Join(jobDir, CanaryRowFile)); err != nil {
		return fmt.Errorf("keep the canary's row aside: %w", err)
	}
	return nil
}
