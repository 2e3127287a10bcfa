package slurm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/target"
)

// fakeSlurm answers the poller's queries from a script of outcomes per
// job and records every query, so the tests can check batching.
type fakeSlurm struct {
	mu      sync.Mutex
	answers map[string][]outcome // consumed one per query; the last repeats
	fail    bool
	queries [][]string
}

func (f *fakeSlurm) query(_ context.Context, jobs []pollJob) (map[string]outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.Ref.String())
	}
	f.queries = append(f.queries, ids)
	if f.fail {
		return nil, errors.New("slurmctld unreachable")
	}
	out := map[string]outcome{}
	for _, id := range ids {
		a := f.answers[id]
		if len(a) == 0 {
			continue
		}
		out[id] = a[0]
		if len(a) > 1 {
			f.answers[id] = a[1:]
		}
	}
	return out, nil
}

func TestPollerDeliversEachJobsEndingFromSharedQueries(t *testing.T) {
	running := outcome{}
	f := &fakeSlurm{answers: map[string][]outcome{
		"1": {running, {Done: true, Exit: target.Exit{Code: 0}}},
		"2": {running, running, {Done: true, Exit: target.Exit{Code: 3}}},
		"3": {{Missing: true}},
		"4": {{Missing: true}, running, {Missing: true}, {Missing: true}, running, {Done: true, Exit: target.Exit{State: "TIMEOUT"}}},
	}}
	p := newPoller(f.query, time.Millisecond, time.Hour)
	defer p.close()
	want := map[string]target.Exit{
		"1": {Code: 0},
		"2": {Code: 3},
		"3": {Code: -1, State: "LOST"}, // unknown to Slurm poll after poll
		"4": {State: "TIMEOUT"},        // unknown now and then, never 3 times in a row
	}
	// Two watchers of job 2 (Wait and Logs) share its query.
	type got struct {
		id string
		r  result
	}
	ch := make(chan got, 8)
	n := 0
	for _, id := range []string{"1", "2", "2", "3", "4"} {
		ref, _ := parseRef(id)
		c, stop := p.watch(ref, "/w/"+id)
		defer stop()
		n++
		go func() { ch <- got{id, <-c} }()
	}
	for i := 0; i < n; i++ {
		select {
		case g := <-ch:
			if g.r.err != nil || g.r.exit != want[g.id] {
				t.Errorf("job %s: %+v, %v; want %+v", g.id, g.r.exit, g.r.err, want[g.id])
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a watcher got nothing")
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.queries {
		seen := map[string]bool{}
		for _, id := range q {
			if seen[id] {
				t.Fatalf("query %v names a job twice", q)
			}
			seen[id] = true
		}
	}
}

func TestPollerGivesUpWithATransientError(t *testing.T) {
	f := &fakeSlurm{fail: true}
	p := newPoller(f.query, time.Millisecond, 20*time.Millisecond)
	defer p.close()
	c, stop := p.watch(jobRef{ID: "9"}, "")
	defer stop()
	select {
	case r := <-c:
		if r.err == nil || !target.IsTransient(r.err) {
			t.Fatalf("got %+v, want a transient error", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("polling never gave up")
	}
}

func TestPollerStopsWhenNothingIsWatchedAndClosesCleanly(t *testing.T) {
	f := &fakeSlurm{answers: map[string][]outcome{"5": {{}}}}
	p := newPoller(f.query, time.Millisecond, time.Hour)
	c, stop := p.watch(jobRef{ID: "5"}, "")
	stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		running := p.running
		p.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the poll loop kept running with no watcher")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case r := <-c:
		t.Fatalf("an unwatched job got %+v", r)
	default:
	}
	c2, _ := p.watch(jobRef{ID: "5"}, "")
	p.close()
	if r := <-c2; r.err == nil {
		t.Fatal("a watcher of a closed target got no error")
	}
	if r := <-func() <-chan result { c, _ := p.watch(jobRef{ID: "6"}, ""); return c }(); r.err == nil {
		t.Fatal("watching on a closed target succeeded")
	}
}
