package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/plan"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/target"
)

func canaryOn() config.Canary {
	c := config.DefaultCanary()
	c.Enabled = true
	return c
}

// gpuJobs are n jobs placed on the GPU type h200, as plan.Place leaves them.
func gpuJobs(n int, candidates ...string) []*plan.Job {
	jobs := jobsFor(n, candidates...)
	for _, j := range jobs {
		j.GPU = "h200"
	}
	return jobs
}

// isCanary reports whether a node-side job id (a directory name) is a
// canary's.
func isCanary(jobDirName string) bool { return strings.HasSuffix(jobDirName, "_canary") }

// outcomes maps each job of a summary to its outcome.
func outcomes(s *run.Summary) map[string]run.Outcome {
	m := map[string]run.Outcome{}
	for _, o := range s.Jobs {
		m[o.Job] = o
	}
	return m
}

func TestAFailingCanaryStartsNothingElse(t *testing.T) {
	tests := []struct {
		name     string
		behave   func(string, int) (target.Exit, error)
		attempts int
	}{
		{"the server never gets healthy", func(id string, _ int) (target.Exit, error) {
			if isCanary(id) {
				return target.Exit{Code: 11}, nil
			}
			return target.Exit{}, nil
		}, 1},
		{"a transient failure, again after its retry", func(id string, _ int) (target.Exit, error) {
			if isCanary(id) {
				return target.Exit{}, target.Transient(errors.New("connection lost"))
			}
			return target.Exit{}, nil
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newScripted("a", tt.behave)
			jobs := gpuJobs(3, "a")
			sum, err := newEngine(t, t.TempDir(), Options{Canary: canaryOn(), Retries: 1}, a).Run(context.Background(), jobs)
			var stop *StopError
			if !errors.As(err, &stop) || !strings.Contains(stop.Reason, "canary h200/sim failed") {
				t.Fatalf("err = %v, want a StopError naming the canary's group", err)
			}
			for _, s := range a.started {
				if !isCanary(strings.Split(s, "#")[0]) {
					t.Errorf("job %s started after its canary failed", s)
				}
			}
			out := outcomes(sum)
			c := out[jobs[0].ID+CanarySuffix]
			if c.State != journal.StateFailed || c.Attempts != tt.attempts {
				t.Errorf("canary ended %s after %d attempts, want failed after %d", c.State, c.Attempts, tt.attempts)
			}
			for _, j := range jobs {
				o := out[j.ID]
				if o.State != journal.StateCancelled || !strings.Contains(o.Reason, "not started: canary h200/sim failed: ") {
					t.Errorf("%s: %s %q, want cancelled, not started, naming the canary", j.ID, o.State, o.Reason)
				}
			}
		})
	}
}

// orderTarget records the order in which jobs start and end, and holds a
// canary until every canary has started: canaries that did not run side
// by side never get past it.
type orderTarget struct {
	*scriptedTarget
	log *eventLog
}

type eventLog struct {
	mu       sync.Mutex
	events   []string
	canaries int // canaries started so far
	want     int // canaries that must run side by side
	all      chan struct{}
}

func (l *eventLog) add(ev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	if strings.HasPrefix(ev, "start ") && isCanary(ev) {
		if l.canaries++; l.canaries == l.want {
			close(l.all)
		}
	}
}

func (o *orderTarget) Start(ctx context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	h, err := o.scriptedTarget.Start(ctx, spec, h)
	if err == nil {
		o.log.add("start " + spec.JobID)
	}
	return h, err
}

func (o *orderTarget) Wait(ctx context.Context, h target.Handle) (target.Exit, error) {
	if isCanary(h.JobID) {
		select {
		case <-o.log.all:
		case <-time.After(10 * time.Second):
			o.log.add("alone " + h.JobID)
		}
	}
	ex, err := o.scriptedTarget.Wait(ctx, h)
	o.log.add("end " + h.JobID)
	return ex, err
}

func TestCanariesRunOncePerGroupSideBySideThenTheSweepRuns(t *testing.T) {
	log := &eventLog{want: 2, all: make(chan struct{})}
	a, b := newScripted("a", ok), newScripted("b", ok)
	e := newEngine(t, t.TempDir(), Options{Canary: canaryOn()}, a, b)
	e.machines[0].Target = &orderTarget{a, log}
	e.machines[1].Target = &orderTarget{b, log}
	// Two groups: the same GPU type and framework, two images.
	jobs := gpuJobs(5, "a", "b")
	for _, j := range jobs[3:] {
		j.Image = "img:2"
	}
	sum, err := e.Run(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	var canaries []string
	lastCanaryEnd, firstJobStart := -1, len(log.events)
	for i, ev := range log.events {
		switch {
		case strings.HasPrefix(ev, "alone "):
			t.Errorf("%s: the canaries did not run side by side", ev)
		case strings.HasPrefix(ev, "start ") && isCanary(ev):
			canaries = append(canaries, strings.TrimPrefix(ev, "start "))
		case strings.HasPrefix(ev, "end ") && isCanary(ev):
			lastCanaryEnd = i
		case strings.HasPrefix(ev, "start "):
			firstJobStart = min(firstJobStart, i)
		}
	}
	want := []string{run.JobDirName(jobs[0].ID + CanarySuffix), run.JobDirName(jobs[3].ID + CanarySuffix)}
	if len(canaries) != 2 || !(canaries[0] == want[0] && canaries[1] == want[1] || canaries[0] == want[1] && canaries[1] == want[0]) {
		t.Fatalf("canaries started: %v, want the first job of each group once: %v", canaries, want)
	}
	if lastCanaryEnd > firstJobStart {
		t.Errorf("a job started before every canary ended: %v", log.events)
	}
	// The canaries are listed as done, and bring no row.
	out := outcomes(sum)
	if len(sum.Rows) != 5 || sum.Failed != 0 {
		t.Fatalf("rows %d failed %d, want the 5 jobs' rows only", len(sum.Rows), sum.Failed)
	}
	for _, r := range sum.Rows {
		if strings.HasSuffix(r.JobID, CanarySuffix) {
			t.Errorf("canary row %s in the summary", r.JobID)
		}
	}
	for _, id := range []string{jobs[0].ID + CanarySuffix, jobs[3].ID + CanarySuffix} {
		if o := out[id]; o.State != journal.StateDone || o.Result != "" {
			t.Errorf("canary %s: %s result %q, want done with no result", id, o.State, o.Result)
		}
		if _, err := os.Stat(filepath.Join(e.opts.Run.JobDir(id), CanaryRowFile)); err != nil {
			t.Errorf("canary %s kept no row aside: %v", id, err)
		}
	}
}

func TestCanaryJobIsCutDown(t *testing.T) {
	e := New(nil, Options{Canary: config.Canary{Enabled: true, Prompts: 3, Conc: 2}})
	j := jobsFor(2, "a")[1] // conc 8
	j.ConcList = []int{8, 16}
	c := e.canaryJob(j)
	if c.ID != j.ID+"~canary" || c.NumPrompts != 3 || c.NumWarmups != 0 || c.Conc != 2 || c.ConcList != nil {
		t.Errorf("canary %+v", c)
	}
	if j.NumPrompts != 40 || j.Conc != 8 || len(j.ConcList) != 2 {
		t.Errorf("cutting the canary changed its job: %+v", j)
	}
	low := &plan.Job{ID: "x", Conc: 1}
	if c := e.canaryJob(low); c.Conc != 1 {
		t.Errorf("canary of a conc-1 job runs conc %d", c.Conc)
	}
}

func TestFailFastCancelsRunningJobsAndLeavesTheRestUnstarted(t *testing.T) {
	bad := newScripted("bad", func(string, int) (target.Exit, error) { return target.Exit{Code: 11}, nil })
	slow := newScripted("slow", ok)
	slow.delay = time.Hour
	jobs := jobsFor(4, "slow")
	first := jobs[0] // conc 4: the longest, dispatched first
	first.Candidates = []string{"bad"}
	sum, err := newEngine(t, t.TempDir(), Options{FailFast: true, Retries: 2}, bad, slow).Run(context.Background(), jobs)
	var stop *StopError
	if !errors.As(err, &stop) || !strings.Contains(stop.Reason, "fail-fast: job "+first.ID+" failed: ") {
		t.Fatalf("err = %v, want a fail-fast StopError naming %s", err, first.ID)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("a fail-fast stop reads as a cancel: %v", err)
	}
	if len(slow.started) != 1 || slow.cancels != 1 {
		t.Fatalf("slow machine started %v and cancelled %d, want its one running job cancelled", slow.started, slow.cancels)
	}
	var running, unstarted int
	for _, o := range outcomes(sum) {
		switch {
		case o.Job == first.ID:
			if o.State != journal.StateFailed || o.Attempts != 1 {
				t.Errorf("failing job: %s after %d attempts", o.State, o.Attempts)
			}
		case o.State == journal.StateCancelled && strings.HasPrefix(o.Reason, "cancelled: fail-fast: job "+first.ID):
			running++
		case o.State == journal.StateCancelled && strings.HasPrefix(o.Reason, "not started: fail-fast: job "+first.ID):
			unstarted++
		default:
			t.Errorf("%s: %s %q", o.Job, o.State, o.Reason)
		}
	}
	if running != 1 || unstarted != 2 {
		t.Errorf("%d cancelled while running, %d not started; want 1 and 2", running, unstarted)
	}
}

func TestWithoutFailFastAFailureStopsNothing(t *testing.T) {
	a := newScripted("a", func(id string, _ int) (target.Exit, error) {
		if id == "cfg_1k1k_tp8_conc4" {
			return target.Exit{Code: 11}, nil
		}
		return target.Exit{}, nil
	})
	sum, err := newEngine(t, t.TempDir(), Options{}, a).Run(context.Background(), jobsFor(3, "a"))
	if err != nil || sum.Failed != 1 || sum.Done != 2 {
		t.Fatalf("err %v failed %d done %d, want the other jobs done", err, sum.Failed, sum.Done)
	}
}

func TestOnResumeTheCanaryStandsForTheJobsLeft(t *testing.T) {
	dir := t.TempDir()
	first := newScripted("a", func(id string, _ int) (target.Exit, error) {
		if id == "cfg_1k1k_tp8_conc16" {
			return target.Exit{Code: 13}, nil
		}
		return target.Exit{}, nil
	})
	e := newEngine(t, dir, Options{}, first)
	if _, err := e.Run(context.Background(), gpuJobs(3, "a")); err != nil {
		t.Fatal(err)
	}
	e.opts.Run.Close()
	second := newScripted("a", ok)
	sum, err := newEngine(t, dir, Options{Resume: true, Canary: canaryOn()}, second).Run(context.Background(), gpuJobs(3, "a"))
	if err != nil {
		t.Fatal(err)
	}
	// The done jobs need no canary: the one left does, cut from it.
	if got := strings.Join(second.started, " "); got != "cfg_1k1k_tp8_conc16_canary#1 cfg_1k1k_tp8_conc16#2" {
		t.Errorf("resume started %s, want the left job's canary, then the job", got)
	}
	if sum.Failed != 0 || len(sum.Rows) != 3 {
		t.Errorf("after resume failed=%d rows=%d, want 0 and 3", sum.Failed, len(sum.Rows))
	}
}
