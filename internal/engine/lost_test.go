package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/target"
)

// unreachable is a machine whose connection drops while its job runs: its
// wait fails with a transient error, and its cancel and fetch hang until
// the machine answers again (back is closed), as connects to a node
// behind a cut link do.
type unreachable struct {
	*scriptedTarget
	back chan struct{}

	mu        sync.Mutex
	cancelled bool
}

func (u *unreachable) Wait(context.Context, target.Handle) (target.Exit, error) {
	return target.Exit{Code: -1}, target.Transient(errors.New("connection lost"))
}

func (u *unreachable) Cancel(ctx context.Context, h target.Handle) error {
	<-u.back
	u.mu.Lock()
	u.cancelled = true
	u.mu.Unlock()
	return u.scriptedTarget.Cancel(ctx, h)
}

func (u *unreachable) Fetch(_ context.Context, h target.Handle, paths []string, dir string) ([]string, error) {
	<-u.back
	p := filepath.Join(dir, "job.log")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return []string{"job.log"}, os.WriteFile(p, []byte("the lost attempt's log\n"), 0o644)
}

// answersAfterRetry is the other machine: when the retry starts on it,
// it notes whether the lost job's cancel had returned, then lets the lost
// machine answer again. (Under the old order, cancel before retry, the run
// never ends: the test times out.)
type answersAfterRetry struct {
	*scriptedTarget
	lost *unreachable
	once sync.Once

	mu            sync.Mutex
	lostCancelled bool // whether the lost job's cancel had returned when the retry started
}

func (a *answersAfterRetry) Start(ctx context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	a.lost.mu.Lock()
	c := a.lost.cancelled
	a.lost.mu.Unlock()
	a.mu.Lock()
	a.lostCancelled = c
	a.mu.Unlock()
	a.once.Do(func() { close(a.lost.back) })
	return a.scriptedTarget.Start(ctx, spec, h)
}

func TestALostMachinesJobIsRetriedBeforeItsCancelAndFetchReturn(t *testing.T) {
	dir := t.TempDir()
	lostS, goodS := newScripted("lost", ok), newScripted("good", ok)
	lost := &unreachable{scriptedTarget: lostS, back: make(chan struct{})}
	good := &answersAfterRetry{scriptedTarget: goodS, lost: lost}
	e := newEngine(t, dir, Options{Retries: 1}, lostS, goodS)
	e.machines[0].Target, e.machines[1].Target = lost, good
	// The job lands on the first machine, the lost one.
	sum, err := e.Run(context.Background(), jobsFor(1, "lost", "good"))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 0 || len(sum.Rows) != 1 {
		t.Fatalf("failed=%d rows=%d, want the job done on the retry", sum.Failed, len(sum.Rows))
	}
	if len(lostS.started) != 1 || len(goodS.started) != 1 {
		t.Fatalf("starts lost=%v good=%v, want one on each", lostS.started, goodS.started)
	}
	if good.lostCancelled {
		t.Error("the retry started only after the lost job's cancel returned; want it started while the cancel still waited on the machine")
	}
	// The cancel still happened, in the background, before Run returned.
	if !lost.cancelled || lostS.cancels != 1 || len(e.Orphans()) != 0 {
		t.Errorf("cancelled=%v cancels=%d orphans=%v, want the lost job cancelled once the machine answered", lost.cancelled, lostS.cancels, e.Orphans())
	}
	if b, err := os.ReadFile(filepath.Join(e.opts.Run.JobDir("cfg/1k1k/tp8/conc4"), "attempts", "1", "fetched", "job.log")); err != nil || len(b) == 0 {
		t.Errorf("the lost attempt's log was not kept beside its other outputs: %v", err)
	}
	entries, err := e.opts.Run.Entries()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range entries {
		if en.Job != "" && en.State != journal.StateQueued {
			got = append(got, en.Node+":"+en.State)
		}
	}
	want := []string{"lost:" + journal.StatePreparing, "lost:" + journal.StateRunning, "lost:" + journal.StateFailed, "lost:" + journal.StateRetrying,
		"good:" + journal.StatePreparing, "good:" + journal.StateRunning, "good:" + journal.StateFetching, "good:" + journal.StateDone}
	if len(got) != len(want) {
		t.Fatalf("journal %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("journal %v, want %v", got, want)
		}
	}
}
