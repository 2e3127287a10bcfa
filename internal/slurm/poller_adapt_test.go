package slurm

import (
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/target"
)

// A job that ends soon after it is watched is seen by the polls that
// follow a change closely, not after the full interval: with an hour's
// interval, this test would otherwise wait an hour for the second query.
func TestPollerPollsSoonAfterAJobIsWatched(t *testing.T) {
	f := &fakeSlurm{answers: map[string][]outcome{
		"1": {{}, {Done: true, Exit: target.Exit{Code: 0}}},
		"2": {{}, {}, {Done: true, Exit: target.Exit{Code: 4}}},
	}}
	p := newPoller(f.query, time.Hour, time.Hour)
	defer p.close()
	ch1, stop1 := p.watch(jobRef{ID: "1"}, "/w/1")
	defer stop1()
	if r := <-ch1; r.err != nil || r.exit.Code != 0 {
		t.Fatalf("job 1: %+v", r)
	}
	// The loop still runs (job 2 is watched while it polls for job 1, or
	// after): a new job wakes it.
	ch2, stop2 := p.watch(jobRef{ID: "2"}, "/w/2")
	defer stop2()
	if r := <-ch2; r.err != nil || r.exit.Code != 4 {
		t.Fatalf("job 2: %+v", r)
	}
}
