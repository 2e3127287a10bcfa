package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/target"
)

// fetchGate is a scripted machine whose first job's outputs come back
// only once a second job has started there: a scheduler that waits for
// the fetch before the machine takes the next job never gets there.
type fetchGate struct {
	*scriptedTarget
	once          sync.Once
	second        chan struct{}
	mu            sync.Mutex
	starts        int
	startedInside bool // the second job started while the first was fetched
}

func (g *fetchGate) Start(ctx context.Context, spec *target.Spec, h target.Handle) (target.Handle, error) {
	g.mu.Lock()
	g.starts++
	if g.starts == 2 {
		close(g.second)
	}
	g.mu.Unlock()
	return g.scriptedTarget.Start(ctx, spec, h)
}

func (g *fetchGate) Fetch(ctx context.Context, h target.Handle, paths []string, dir string) ([]string, error) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		select {
		case <-g.second:
			g.mu.Lock()
			g.startedInside = true
			g.mu.Unlock()
		case <-time.After(10 * time.Second):
			return nil, errors.New("the next job did not start while this one's outputs were fetched")
		}
	}
	return g.scriptedTarget.Fetch(ctx, h, paths, dir)
}

// TestNextJobStartsWhileTheLastOneIsFetched: a machine that takes one
// job at a time starts the next as soon as the last one has ended on it,
// while that one's outputs are still on their way back.
func TestNextJobStartsWhileTheLastOneIsFetched(t *testing.T) {
	s := newScripted("a", ok)
	g := &fetchGate{scriptedTarget: s, second: make(chan struct{})}
	e := newEngine(t, t.TempDir(), Options{}, s)
	e.machines[0].Target = g
	sum, err := e.Run(context.Background(), jobsFor(2, "a"))
	if err != nil {
		t.Fatal(err)
	}
	for job, st := range states(sum) {
		if st != "done" {
			t.Errorf("%s ended %s", job, st)
		}
	}
	if !g.startedInside {
		t.Error("the second job did not start while the first one's outputs were fetched")
	}
}
