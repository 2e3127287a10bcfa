package engine

import (
	"context"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleetbench/fleet/internal/agentbin"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/machine"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// nodeLeases is the lease directory of one node, in memory: what the
// shell target keeps in <workdir>/.leases (its own tests cover that).
type nodeLeases struct {
	mu      sync.Mutex
	held    map[string]shelltarget.Lease // by token
	refused int
	waiting chan struct{} // closed at the first refusal
	pgids   []string      // recorded by renewals
}

func newNodeLeases() *nodeLeases {
	return &nodeLeases{held: map[string]shelltarget.Lease{}, waiting: make(chan struct{})}
}

// leasingTarget is a scripted machine whose node keeps leases.
type leasingTarget struct {
	*scriptedTarget
	node *nodeLeases
}

func overlap(a, b []int) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func (l *leasingTarget) AcquireLease(_ context.Context, want *shelltarget.Lease, _ time.Duration) ([]shelltarget.Lease, error) {
	n := l.node
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, h := range n.held {
		if overlap(h.Devices, want.Devices) {
			if n.refused == 0 {
				close(n.waiting)
			}
			n.refused++
			return nil, &shelltarget.BusyError{Node: l.name, Holder: h}
		}
	}
	want.Name = shelltarget.LeaseName(want.Devices)
	n.held[want.Token] = *want
	return nil, nil
}

func (l *leasingTarget) RenewLease(_ context.Context, want *shelltarget.Lease, _ time.Duration) error {
	n := l.node
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.held[want.Token]; !ok {
		return shelltarget.ErrLeaseLost
	}
	n.held[want.Token] = *want
	if want.PGID != "" {
		n.pgids = append(n.pgids, want.PGID)
	}
	return nil
}

func (l *leasingTarget) ReleaseLease(_ context.Context, want *shelltarget.Lease) (bool, error) {
	l.node.mu.Lock()
	defer l.node.mu.Unlock()
	delete(l.node.held, want.Token)
	return false, nil
}

// controller is one engine over the node, with a run of its own.
func controller(t *testing.T, node *leasingTarget) *Engine {
	t.Helper()
	opts := Options{Run: runDir(t, t.TempDir(), false), Binaries: &agentbin.Finder{Self: os.Args[0]}, Logger: log.New(io.Discard), Backoff: time.Millisecond}
	return New([]*machine.Machine{{Name: node.name, GPU: "h200", GPUs: 8, Target: node}}, opts)
}

// Two controllers driving one node: each job holds the node's lease while
// it runs, so the other's waits, and never do two run at once.
func TestTwoControllersNeverShareANode(t *testing.T) {
	s := newScripted("n1", ok)
	s.delay = 200 * time.Millisecond
	node := newNodeLeases()
	var wg sync.WaitGroup
	for range 2 {
		e := controller(t, &leasingTarget{s, node})
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := e.Run(context.Background(), jobsFor(2, "n1"))
			if err != nil || sum.Failed != 0 || len(sum.Rows) != 2 {
				t.Errorf("run: %v, failed %d, rows %d", err, sum.Failed, len(sum.Rows))
			}
		}()
	}
	wg.Wait()
	if s.peak != 1 || len(s.started) != 4 {
		t.Fatalf("the node ran %d jobs at once (%d started), want 1 at a time", s.peak, len(s.started))
	}
	if node.refused == 0 || len(node.held) != 0 {
		t.Fatalf("refused %d acquisitions, %d leases left; want waits and every lease released", node.refused, len(node.held))
	}
	if len(node.pgids) != 4 {
		t.Fatalf("renewals recorded process groups %v, want each job's", node.pgids)
	}
}

// A job waiting for another controller's lease is cancelled with its run
// and never starts.
func TestJobWaitingForALeaseEndsWithItsRun(t *testing.T) {
	s := newScripted("n1", ok)
	node := newNodeLeases()
	node.held["other"] = shelltarget.Lease{Token: "other", Run: "theirs", Job: "j", User: "bob"}
	e := controller(t, &leasingTarget{s, node})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-node.waiting; cancel() }()
	sum, err := e.Run(ctx, jobsFor(1, "n1"))
	if err == nil || len(s.started) != 0 {
		t.Fatalf("run: %v, started %v; want cancelled before any start", err, s.started)
	}
	if got := states(sum); got["cfg/1k1k/tp8/conc4"] != journal.StateCancelled {
		t.Fatalf("states %v, want the job cancelled", got)
	}
}
