package agentic

import (
	"slices"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/agentic/trace"
)

// starts returns when each (pass, conversation, turn) of the simulation
// was released, keyed "pass/conv/turn".
func byKey(reqs []*sent) map[[3]int]*sent {
	m := map[[3]int]*sent{}
	for _, r := range reqs {
		m[[3]int{r.job.play.pass, r.job.conv, r.job.turn}] = r
	}
	return m
}

func TestTurnsWaitTheirRecordedGapAndTheSystemIdleCap(t *testing.T) {
	// Turn gaps (end to start): 5-(0+2)=3, 20-(5+1)=14, 21-(20+3)<0.
	tr := tree("a", conv("a", -1, 0, -1, 0, 0, tt{0, 2, 4}, tt{5, 1, 4}, tt{20, 3, 4}, tt{21, 1, 4}))
	for _, tc := range []struct {
		name   string
		sysCap time.Duration
		want   []float64 // start of turns 0..3, then of the next play
	}{
		{"no cap", 0, []float64{0, 4, 19, 20, 21}},
		// Idle from 5 (nothing in flight or due): the 14 s gap is cut to 10.
		{"10 s cap", 10 * time.Second, []float64{0, 4, 15, 16, 17}},
		// A cap longer than every gap changes nothing.
		{"20 s cap", 20 * time.Second, []float64{0, 4, 19, 20, 21}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(1, 100*time.Second)
			cfg.SystemIdleCap = tc.sysCap
			reqs, _ := simulate(t, cfg, []*trace.Tree{tr}, fixed(time.Second))
			m := byKey(reqs)
			for k, want := range tc.want[:4] {
				if r := m[[3]int{0, 0, k}]; r == nil || r.start != sec(want) {
					t.Errorf("turn %d: released %v, want at %vs", k, r, want)
				}
			}
			// The drained tree's lane starts the next play at once, at turn 0,
			// with a new cache-bust marker.
			next := m[[3]int{1, 0, 0}]
			if next == nil || next.start != sec(tc.want[4]) {
				t.Fatalf("next play: %v, want turn 0 at %vs", next, tc.want[4])
			}
			if next.job.play.marker == m[[3]int{0, 0, 0}].job.play.marker {
				t.Errorf("recycled play kept the marker %s", next.job.play.marker)
			}
			// Strictly sequential: no turn starts before the previous ended.
			for k := 1; k < 4; k++ {
				if m[[3]int{0, 0, k}].start < m[[3]int{0, 0, k - 1}].end {
					t.Errorf("turn %d started before turn %d ended", k, k-1)
				}
			}
		})
	}
}

func TestTreeIdleCapAdvancesAnIdleTreeWhileOthersRun(t *testing.T) {
	gappy := linear("gappy", 2, 1000) // turn 1 is due 1000 s after turn 0 ends
	busy := linear("busy", 3000, 0)   // always a request in flight
	for _, tc := range []struct {
		name            string
		treeCap, sysCap time.Duration
		want            float64
	}{
		{"no caps", 0, 0, 1001},
		// The busy tree keeps the system from being idle: only the tree cap helps.
		{"system cap only", 0, 10 * time.Second, 1001},
		{"tree cap", 300 * time.Second, 10 * time.Second, 301},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(2, 1500*time.Second)
			cfg.TreeIdleCap, cfg.SystemIdleCap = tc.treeCap, tc.sysCap
			reqs, _ := simulate(t, cfg, []*trace.Tree{gappy, busy}, fixed(time.Second))
			var got *sent
			for _, r := range reqs {
				if r.job.play.tree == gappy && r.job.play.pass == 0 && r.job.turn == 1 {
					got = r
				}
			}
			if got == nil || got.start != sec(tc.want) {
				t.Fatalf("gappy turn 1: %v, want at %vs", got, tc.want)
			}
		})
	}
}

func TestSubagentsFanOutJoinAndRunInTheBackground(t *testing.T) {
	tr := tree("fan",
		conv("fan", -1, 0, -1, 0, 0, tt{0, 1, 4}, tt{2, 1, 4}, tt{10, 1, 4}),
		// Two children after root turn 0 that root turn 2 waits for.
		conv("fan::sa:1", 0, 0, 2, 0.5, 100, tt{0, 1, 4}, tt{3, 1, 4}),
		conv("fan::sa:2", 0, 0, 2, 0, 200, tt{0, 1, 4}),
		// A background child after root turn 1: nobody waits for it.
		conv("fan::sa:3", 0, 1, -1, 0, 300, tt{0, 1, 4}, tt{51, 1, 4}),
		// A grandchild of sa:1, joined by sa:1's turn 1.
		conv("fan::sa:4", 1, 0, 1, 0, 400, tt{0, 1, 4}),
	)
	cfg := baseConfig(1, 60*time.Second)
	reqs, _ := simulate(t, cfg, []*trace.Tree{tr}, func(j *job) (time.Duration, outcome) {
		if j.conv == 2 {
			return 20 * time.Second, outcome{ok: true}
		}
		return time.Second, outcome{ok: true}
	})
	m := byKey(reqs)
	want := map[[2]int]float64{
		{0, 0}: 0, {2, 0}: 1, {1, 0}: 1.5, {0, 1}: 2, // fan-out after root turn 0, offsets kept
		{4, 0}: 2.5, {3, 0}: 3, // grandchild after sa:1's turn 0; background child after root turn 1
		{1, 1}: 4.5, // its own 2 s gap; its join (sa:4, ended 3.5) is no later
		{0, 2}: 21,  // due at 10, but joins sa:2, which ends at 21
		{3, 1}: 54,  // the background child outlives the root
	}
	for k, at := range want {
		if r := m[[3]int{0, k[0], k[1]}]; r == nil || r.start != sec(at) {
			t.Errorf("conversation %d turn %d: %v, want at %vs", k[0], k[1], r, at)
		}
	}
	// The lane holds the tree until its background child is done.
	if r := m[[3]int{1, 0, 0}]; r == nil || r.start != sec(55) {
		t.Errorf("next play: %v, want at 55s when the background child ended", r)
	}
	// In-flight requests exceed the one lane during the fan-out.
	if n := maxInFlight(reqs); n < 3 {
		t.Errorf("at most %d requests in flight, want 3 during the fan-out", n)
	}
}

func maxInFlight(reqs []*sent) int {
	best := 0
	for _, a := range reqs {
		n := 0
		for _, b := range reqs {
			if b.start <= a.start && a.start < b.end {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

func TestLanesHoldOneTreeEachAndRecycleWithNewMarkers(t *testing.T) {
	trees := []*trace.Tree{
		linear("a", 3, 0.5),
		linear("b", 5, 0),
		tree("c", conv("c", -1, 0, -1, 0, 0, tt{0, 1, 4}, tt{1, 1, 4}), conv("c::sa:1", 0, 0, -1, 2, 50, tt{0, 1, 4}, tt{4, 1, 4})),
		linear("d", 1, 0),
		linear("e", 7, 2),
	}
	const lanes = 3
	reqs, _ := simulate(t, baseConfig(lanes, 200*time.Second), trees, fixed(time.Second))
	type span struct{ first, last time.Duration }
	plays := map[[2]int]*span{}
	markers := map[string][2]int{}
	for _, r := range reqs {
		p := r.job.play
		if p.lane < 0 || p.lane >= lanes {
			t.Fatalf("lane %d of %d", p.lane, lanes)
		}
		k := [2]int{p.lane, p.pass}
		if s := plays[k]; s == nil {
			plays[k] = &span{r.start, r.end}
		} else {
			s.first, s.last = min(s.first, r.start), max(s.last, r.end)
		}
		if other, ok := markers[p.marker]; ok && other != k {
			t.Fatalf("plays %v and %v share the marker %s", other, k, p.marker)
		}
		markers[p.marker] = k
	}
	for k, s := range plays {
		if k[1] == 0 {
			continue
		}
		prev := plays[[2]int{k[0], k[1] - 1}]
		if prev == nil {
			t.Fatalf("lane %d has pass %d without pass %d", k[0], k[1], k[1]-1)
		}
		if s.first < prev.last {
			t.Errorf("lane %d: pass %d started at %v before pass %d drained at %v", k[0], k[1], s.first, k[1]-1, prev.last)
		}
	}
	if len(plays) < 2*lanes {
		t.Errorf("%d plays in 200 s: want the lanes to recycle", len(plays))
	}
}

func TestNoRequestAfterTheDurationButInFlightOnesFinish(t *testing.T) {
	reqs, s := simulate(t, baseConfig(2, 10*time.Second), []*trace.Tree{linear("a", 100, 0)}, fixed(3*time.Second))
	lastEnd := time.Duration(0)
	for _, r := range reqs {
		if r.start >= s.deadline {
			t.Errorf("%v released at or after the deadline %v", r, s.deadline)
		}
		lastEnd = max(lastEnd, r.end)
	}
	if lastEnd <= s.deadline {
		t.Errorf("last request ended at %v: want the one in flight at the deadline %v to finish", lastEnd, s.deadline)
	}
	if len(reqs) != 8 { // 0, 3, 6, 9 on each lane
		t.Errorf("%d requests, want 8", len(reqs))
	}
}

func TestWarmupStartsAtTStarAndIsNotProfiled(t *testing.T) {
	root := conv("w", -1, 0, -1, 0, 0, tt{0, 1, 7}, tt{2, 1, 7}, tt{4, 1, 7}, tt{6, 1, 7}, tt{8, 1, 7},
		tt{10, 1, 7}, tt{12, 1, 7}, tt{14, 1, 7}, tt{16, 1, 7}, tt{18, 1, 7})
	tr := tree("w", root,
		conv("w::sa:early", 0, 3, 5, 0, 100, tt{0, 1, 4}), // spawned before t*: skipped, not waited for
		conv("w::sa:late", 0, 7, -1, 0, 200, tt{0, 1, 4}), // spawned while profiling
	)
	slow := linear("slow", 10, 0)
	cfg := baseConfig(2, 30*time.Second)
	cfg.StartMinRatio, cfg.StartMaxRatio, cfg.WarmupRequestsPerLane = 0.5, 0.5, 2
	reqs, s := simulate(t, cfg, []*trace.Tree{tr, slow}, func(j *job) (time.Duration, outcome) {
		if j.play.tree == slow && j.warmup {
			return 5 * time.Second, outcome{ok: true}
		}
		return time.Second, outcome{ok: true}
	})
	var warm []int
	var firstProfiled *sent
	warmEnd := time.Duration(0)
	for _, r := range reqs {
		if r.job.warmup {
			warmEnd = max(warmEnd, r.end)
			if r.job.play.tree == tr {
				warm = append(warm, r.job.turn, r.job.maxTokens)
			}
			continue
		}
		if r.start < warmEnd {
			t.Errorf("%v profiled before the warmups ended at %v", r, warmEnd)
		}
		if r.job.play.tree == tr && r.job.play.pass == 0 && firstProfiled == nil {
			firstProfiled = r
		}
		if r.job.play.tree == tr && r.job.play.pass == 0 && r.job.conv == 1 {
			t.Errorf("subagent spawned before t* replayed: %v", r)
		}
	}
	// t* = turn 5: the turn before it with its recorded output, then two
	// one-token requests.
	if want := []int{4, 7, 5, 1, 6, 1}; !slices.Equal(warm, want) {
		t.Errorf("warmup (turn, max tokens): %v, want %v", warm, want)
	}
	if s.profStart != warmEnd {
		t.Errorf("profiling started at %v, want when the slowest lane's warmup ended (%v)", s.profStart, warmEnd)
	}
	if firstProfiled == nil || firstProfiled.job.turn != 7 || firstProfiled.start != s.profStart {
		t.Fatalf("first profiled request %v: want turn 7 at %v", firstProfiled, s.profStart)
	}
	// Turn 7 holds blocks 0..7; the warmup sent 0..6.
	if firstProfiled.job.hit != 7 || firstProfiled.job.blocks != 8 {
		t.Errorf("turn 7 theoretical hit %d/%d, want 7/8", firstProfiled.job.hit, firstProfiled.job.blocks)
	}
	late := false
	for _, r := range reqs {
		late = late || (r.job.play.tree == tr && r.job.conv == 2)
	}
	if !late {
		t.Error("subagent spawned after t* not replayed")
	}
}

func TestARecordedEmptyAnswerStillAsksForOneToken(t *testing.T) {
	tr := linear("a", 1, 0)
	tr.Convs[0].Turns[0].Out = 0
	reqs, _ := simulate(t, baseConfig(1, time.Second), []*trace.Tree{tr}, fixed(time.Second))
	if reqs[0].job.maxTokens != 1 {
		t.Errorf("max tokens %d for a recorded answer of 0 tokens, want 1", reqs[0].job.maxTokens)
	}
}

func TestStartPointLeavesATurnOnEitherSide(t *testing.T) {
	tr := linear("a", 4, 0)
	for seed := range int64(50) {
		cfg := baseConfig(1, time.Second)
		cfg.Seed, cfg.StartMinRatio, cfg.StartMaxRatio, cfg.RunID = seed, 0.25, 0.75, "x"
		p := newScheduler(&cfg, []*trace.Tree{tr}, 0).lanes[0]
		// t* in [1, 3]: one warmup turn before it, one turn after it at least.
		if len(p.warm) != 1 || p.start < 1 || p.start > 3 || p.warm[0].turn != p.start-1 {
			t.Fatalf("seed %d: warm %v, start %d", seed, p.warm, p.start)
		}
	}
}

func TestFailureThresholdStopsTheRun(t *testing.T) {
	for _, tc := range []struct {
		threshold float64
		stops     bool
	}{{0.10, true}, {0.6, false}, {0, false}} {
		cfg := baseConfig(1, 500*time.Second)
		cfg.FailedRequestThreshold = tc.threshold
		n := 0
		reqs, s := simulate(t, cfg, []*trace.Tree{linear("a", 1000, 0)}, func(*job) (time.Duration, outcome) {
			n++
			return time.Second, outcome{ok: n%2 == 0} // half fail
		})
		if s.overThreshold != tc.stops {
			t.Errorf("threshold %v: stopped %v, want %v", tc.threshold, s.overThreshold, tc.stops)
		}
		if tc.stops && len(reqs) != minThresholdSample {
			t.Errorf("threshold %v: %d requests, want the run stopped after %d", tc.threshold, len(reqs), minThresholdSample)
		}
		if !tc.stops && len(reqs) != 500 {
			t.Errorf("threshold %v: %d requests, want 500 (errors do not end a session)", tc.threshold, len(reqs))
		}
	}
}

func TestContextOverflowEndsTheConversation(t *testing.T) {
	tr := tree("o", conv("o", -1, 0, -1, 0, 0, tt{0, 1, 4}, tt{2, 1, 4}, tt{4, 1, 4}, tt{6, 1, 4}),
		conv("o::sa:1", 0, 2, -1, 0, 100, tt{0, 1, 4}))
	reqs, s := simulate(t, baseConfig(1, 20*time.Second), []*trace.Tree{tr}, func(j *job) (time.Duration, outcome) {
		if j.conv == 0 && j.turn == 1 {
			return time.Second, outcome{overflow: true}
		}
		return time.Second, outcome{ok: true}
	})
	m := byKey(reqs)
	if m[[3]int{0, 0, 2}] != nil || m[[3]int{0, 1, 0}] != nil {
		t.Error("the overflowed conversation went on")
	}
	// The session ended at the overflow (2 s to 3 s): the lane moves on.
	if r := m[[3]int{1, 0, 0}]; r == nil || r.start != sec(3) {
		t.Errorf("next play %v, want at 3s", r)
	}
	if s.failed == 0 {
		t.Error("overflow not counted as a failure")
	}
}

func TestFailedRootWarmupAbortsTheRun(t *testing.T) {
	cfg := baseConfig(2, 20*time.Second)
	cfg.WarmupRequestsPerLane = 1
	reqs, s := simulate(t, cfg, []*trace.Tree{linear("a", 5, 0)}, func(j *job) (time.Duration, outcome) {
		return time.Second, outcome{ok: !j.warmup || j.play.lane != 1}
	})
	if s.warmupFailed == nil {
		t.Fatal("warmup failure not noted")
	}
	for _, r := range reqs {
		if !r.job.warmup {
			t.Errorf("profiled %v after a failed warmup", r)
		}
	}
}
