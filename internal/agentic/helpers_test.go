package agentic

import (
	"fmt"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/agentic/trace"
)

// tt is a turn: recorded start and API time in seconds, output tokens.
type tt struct {
	T, API float64
	Out    int
}

// conv builds a conversation whose turn k holds blocks 0..k (each turn
// appends one block: a clean append), ids offset by base.
func conv(id string, parent, spawnAfter, joinBefore int, offset float64, base int64, turns ...tt) trace.Conv {
	c := trace.Conv{ID: id, Parent: parent, SpawnAfter: spawnAfter, JoinBefore: joinBefore, Offset: offset}
	for k, t := range turns {
		ids := make([]int64, k+1)
		for i := range ids {
			ids[i] = base + int64(i)
		}
		role := "user"
		if k%2 == 1 {
			role = "assistant"
		}
		add := []trace.Message{{Role: role, Blocks: []trace.Block{{ID: base + int64(k), Tokens: 8}}}}
		if k == 0 {
			add = []trace.Message{{Role: "system", Blocks: []trace.Block{{ID: 1 << 40, Tokens: 4}}}, {Role: "user", Blocks: []trace.Block{{ID: base, Tokens: 8}}}}
		}
		out := t.Out
		if out == 0 {
			out = 4
		}
		c.Turns = append(c.Turns, trace.Turn{T: t.T, APITime: t.API, In: 8 * (k + 1), Out: out, HashIDs: ids, Add: add})
	}
	return c
}

func tree(id string, convs ...trace.Conv) *trace.Tree {
	return &trace.Tree{ID: id, BlockSize: 8, Convs: convs}
}

// linear is a root-only tree of n turns with the given gap between one
// turn's recorded end and the next one's start.
func linear(id string, n int, gap float64) *trace.Tree {
	var ts []tt
	for k := range n {
		ts = append(ts, tt{T: float64(k) * (1 + gap), API: 1})
	}
	return tree(id, conv(id, -1, 0, -1, 0, 0, ts...))
}

// sent is one request of a simulated run.
type sent struct {
	job        job
	start, end time.Duration
	out        outcome
}

func (s sent) String() string {
	return fmt.Sprintf("lane %d pass %d %s turn %d [%v, %v]", s.job.play.lane, s.job.play.pass, s.job.play.tree.Convs[s.job.conv].ID, s.job.turn, s.start, s.end)
}

// simulate drives a scheduler in virtual time: each request takes
// service(job) and ends with its outcome. It returns the requests in the
// order they were released, and the scheduler.
func simulate(t *testing.T, cfg Config, trees []*trace.Tree, service func(j *job) (time.Duration, outcome)) ([]*sent, *scheduler) {
	t.Helper()
	if cfg.RunID == "" {
		cfg.RunID = "test"
	}
	s := newScheduler(&cfg, trees, 0)
	var all, inflight []*sent
	now := time.Duration(0)
	for step := 0; ; step++ {
		if step > 100000 {
			t.Fatal("simulation does not end")
		}
		jobs, wake, over := s.poll(now)
		if over {
			if len(inflight) > 0 {
				t.Fatalf("run over with %d requests in flight", len(inflight))
			}
			return all, s
		}
		for _, j := range jobs {
			d, out := service(&j)
			r := &sent{job: j, start: now, end: now + d, out: out}
			all = append(all, r)
			inflight = append(inflight, r)
		}
		next := wake
		for _, r := range inflight {
			if next < 0 || r.end < next {
				next = r.end
			}
		}
		if next < 0 {
			t.Fatalf("at %v: nothing in flight and nothing due: the run is stuck", now)
		}
		if next < now {
			t.Fatalf("time goes back from %v to %v", now, next)
		}
		now = next
		// Finish what ends now, in release order.
		rest := inflight[:0]
		for _, r := range inflight {
			if r.end <= now {
				s.done(&r.job, r.end, r.out)
			} else {
				rest = append(rest, r)
			}
		}
		inflight = rest
	}
}

func fixed(d time.Duration) func(*job) (time.Duration, outcome) {
	return func(*job) (time.Duration, outcome) { return d, outcome{ok: true} }
}

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// baseConfig has no warmup and no idle caps; tests turn on what they test.
func baseConfig(lanes int, d time.Duration) Config {
	return Config{BaseURL: "http://x", Model: "m", Endpoint: "/v1/chat/completions", Concurrency: lanes, Duration: d, Seed: 1}
}
