package agentic

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/fleetbench/fleet/internal/agentic/trace"
)

// The scheduler is the replay's state machine, free of I/O and of clocks:
// the run loop tells it the time and what finished, it answers with the
// requests to send now and when to ask again. Times are durations since
// the run's start.

// job is one request the scheduler releases.
type job struct {
	play   *play
	conv   int
	turn   int
	warmup bool
	// maxTokens is max_completion_tokens: the turn's recorded output, or 1
	// for the one-token warmup requests.
	maxTokens int
	at        time.Duration // when it was released
	seq       int64         // release order over the run, from 1
	// hit and blocks are the theoretical prefix-cache hit: the leading run
	// of the turn's hash ids that the play had already sent, of all of them.
	hit, blocks int
}

// outcome is what the scheduler needs to know of a finished request.
type outcome struct {
	ok       bool
	overflow bool // the context-length error: the conversation ends
}

type convStatus uint8

const (
	convWaiting convStatus = iota // not spawned (yet)
	convPending                   // its next turn waits for readyAt (and its joins)
	convRunning                   // a request in flight
	convDone
)

type convState struct {
	status  convStatus
	skip    bool // spawned before the play's start point: never replayed
	next    int  // the next turn to send
	readyAt time.Duration
}

// play is one run of a session tree on a lane.
type play struct {
	lane, pass int
	tree       *trace.Tree
	marker     string
	sent       map[int64]bool
	convs      []convState
	kids       [][]int // children of each conversation
	inflight   int     // requests in flight
	live       int     // conversations spawned and not done
	idleSince  time.Duration
	warm       []warmTurn // root turns still to send as warmup
	start      int        // the first profiled root turn
}

type warmTurn struct{ turn, maxTokens int }

type phase uint8

const (
	phaseWarmup phase = iota
	phaseProfiling
)

type scheduler struct {
	cfg       *Config
	trees     []*trace.Tree
	rng       *rand.Rand
	order     []int // the sampler's current permutation of trees
	cursor    int
	lanes     []*play
	phase     phase
	profStart time.Duration
	deadline  time.Duration
	stopped   bool // no new requests
	inflight  int
	idleSince time.Duration // when nothing was last in flight anywhere
	seq       int64

	completed, failed int // profiling requests
	overThreshold     bool
	warmupFailed      *job // a root warmup request that failed
}

// minThresholdSample is how many profiling requests must have finished
// before the failure ratio can cancel the run: one early error out of two
// is noise, not a broken server.
const minThresholdSample = 20

func newScheduler(cfg *Config, trees []*trace.Tree, now time.Duration) *scheduler {
	s := &scheduler{cfg: cfg, trees: trees, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x61676e74))}
	warm := cfg.StartMaxRatio > 0 || cfg.WarmupRequestsPerLane > 0
	s.lanes = make([]*play, cfg.Concurrency)
	for lane := range s.lanes {
		s.lanes[lane] = s.newPlay(lane, 0, s.nextTree(), now, warm)
	}
	s.idleSince = now
	if !warm {
		s.beginProfiling(now)
	}
	return s
}

// nextTree draws the next trace: a seeded permutation of the pool, taken
// in order and drawn anew when used up, so lanes spread over the pool.
func (s *scheduler) nextTree() *trace.Tree {
	if s.cursor == len(s.order) {
		s.order = s.rng.Perm(len(s.trees))
		s.cursor = 0
	}
	t := s.trees[s.order[s.cursor]]
	s.cursor++
	return t
}

// newPlay starts tree on lane. An initial lane (warm) starts at a point
// t* drawn in the configured window of the root's turns and first sends
// the turn before t* and the one-token warmup turns; a recycled play
// starts at turn 0.
func (s *scheduler) newPlay(lane, pass int, t *trace.Tree, now time.Duration, warm bool) *play {
	p := &play{lane: lane, pass: pass, tree: t, sent: map[int64]bool{}, idleSince: now,
		convs: make([]convState, len(t.Convs)), kids: make([][]int, len(t.Convs))}
	p.marker = trace.BustMarker(s.cfg.RunID, lane, pass, t.ID)
	for i, c := range t.Convs {
		if c.Parent >= 0 && c.Parent < i {
			p.kids[c.Parent] = append(p.kids[c.Parent], i)
		}
	}
	n := len(t.Convs[0].Turns)
	if warm {
		kstar := 0
		if s.cfg.StartMaxRatio > 0 && n >= 2 {
			u := s.cfg.StartMinRatio + s.rng.Float64()*(s.cfg.StartMaxRatio-s.cfg.StartMinRatio)
			kstar = min(max(int(math.Floor(u*float64(n))), 1), n-1)
			p.warm = append(p.warm, warmTurn{kstar - 1, max(t.Convs[0].Turns[kstar-1].Out, 1)})
		}
		// One-token requests advance the lane, leaving one turn at least
		// to profile.
		for k := kstar; k < kstar+s.cfg.WarmupRequestsPerLane && k <= n-2; k++ {
			p.warm = append(p.warm, warmTurn{k, 1})
		}
		p.start = kstar
		if len(p.warm) > 0 {
			p.start = p.warm[len(p.warm)-1].turn + 1
		}
	}
	// Subagents spawned before the start point were part of the skipped
	// past: they are not replayed, and nothing waits for them.
	for i, c := range t.Convs[1:] {
		i++
		if p.convs[max(c.Parent, 0)].skip || (c.Parent == 0 && c.SpawnAfter < p.start) {
			p.convs[i].skip = true
		}
	}
	root := &p.convs[0]
	root.status, root.readyAt, root.next = convPending, now, p.start
	if len(p.warm) > 0 {
		root.next = p.warm[0].turn
	}
	p.live = 1
	if n == 0 {
		root.status, p.live = convDone, 0
	}
	return p
}

func (s *scheduler) beginProfiling(now time.Duration) {
	s.phase = phaseProfiling
	s.profStart, s.deadline = now, now+s.cfg.Duration
	s.idleSince = now
	for _, p := range s.lanes {
		p.idleSince = now
		if r := &p.convs[0]; r.status == convPending {
			r.readyAt, r.next = now, p.start
		}
	}
}

// poll returns the requests to send at now, the next time anything
// becomes due (-1: only a finishing request can change anything), and
// whether the run is over.
func (s *scheduler) poll(now time.Duration) (jobs []job, wake time.Duration, over bool) {
	if s.warmupFailed != nil {
		return nil, -1, s.inflight == 0
	}
	if s.phase == phaseWarmup {
		left := false
		for _, p := range s.lanes {
			if len(p.warm) == 0 {
				continue
			}
			left = true
			if r := &p.convs[0]; r.status == convPending {
				w := p.warm[0]
				p.warm = p.warm[1:]
				r.next = w.turn
				jobs = append(jobs, s.release(p, 0, now, true, w.maxTokens))
			}
		}
		if left || s.inflight > 0 {
			return jobs, -1, false
		}
		s.beginProfiling(now)
	}
	if s.overThreshold || now >= s.deadline {
		s.stopped = true
	}
	if s.stopped {
		return nil, -1, s.inflight == 0
	}
	s.applyIdleCaps(now)
	wake = s.deadline
	for _, p := range s.lanes {
		for i := range p.convs {
			c := &p.convs[i]
			if c.status != convPending || !s.joined(p, i) {
				continue
			}
			if c.readyAt <= now {
				// A recorded answer of no tokens still asks for one: servers
				// reject max_tokens 0.
				jobs = append(jobs, s.release(p, i, now, false, max(p.tree.Convs[i].Turns[c.next].Out, 1)))
			} else {
				wake = min(wake, c.readyAt)
			}
		}
	}
	return jobs, wake, false
}

// joined reports whether every child the conversation's next turn waits
// for has finished.
func (s *scheduler) joined(p *play, conv int) bool {
	next := p.convs[conv].next
	for _, k := range p.kids[conv] {
		if !p.convs[k].skip && p.tree.Convs[k].JoinBefore == next && p.convs[k].status != convDone {
			return false
		}
	}
	return true
}

func (s *scheduler) release(p *play, conv int, now time.Duration, warmup bool, maxTokens int) job {
	c := &p.convs[conv]
	ids := p.tree.Convs[conv].Turns[c.next].HashIDs
	hit := trace.HitBlocks(p.sent, ids)
	for _, id := range ids[hit:] {
		p.sent[id] = true
	}
	c.status = convRunning
	p.inflight++
	s.inflight++
	s.seq++
	return job{play: p, conv: conv, turn: c.next, warmup: warmup, maxTokens: maxTokens, at: now, seq: s.seq, hit: hit, blocks: len(ids)}
}

// earliest returns the earliest timer of p's pending conversations that
// nothing but time holds back, and whether one is due already.
func (s *scheduler) earliest(p *play, now time.Duration) (time.Duration, bool) {
	e := time.Duration(math.MaxInt64)
	for i := range p.convs {
		c := &p.convs[i]
		if c.status != convPending || !s.joined(p, i) {
			continue
		}
		if c.readyAt <= now {
			return now, true
		}
		e = min(e, c.readyAt)
	}
	return e, false
}

// shift moves all of p's pending timers d earlier, keeping their order
// and spacing.
func shift(p *play, d time.Duration) {
	for i := range p.convs {
		if p.convs[i].status == convPending {
			p.convs[i].readyAt -= d
		}
	}
}

// applyIdleCaps enforces the two idle guards: a tree with nothing in
// flight fires its next timer at most TreeIdleCap after it went idle, and
// the whole run with nothing in flight or due fires its next timer at
// most SystemIdleCap after it went idle.
func (s *scheduler) applyIdleCaps(now time.Duration) {
	const never = time.Duration(math.MaxInt64)
	sysEarliest, sysReady := never, false
	for _, p := range s.lanes {
		e, ready := s.earliest(p, now)
		if p.inflight == 0 && !ready && e != never && s.cfg.TreeIdleCap > 0 {
			if over := e - (p.idleSince + s.cfg.TreeIdleCap); over > 0 {
				shift(p, over)
				e -= over
				ready = e <= now
			}
		}
		sysReady = sysReady || ready
		sysEarliest = min(sysEarliest, e)
	}
	if s.inflight == 0 && !sysReady && sysEarliest != never && s.cfg.SystemIdleCap > 0 {
		if over := sysEarliest - (s.idleSince + s.cfg.SystemIdleCap); over > 0 {
			for _, p := range s.lanes {
				shift(p, over)
			}
		}
	}
}

// done takes a finished request: it schedules what follows it in its
// conversation and tree, and recycles the lane when the tree drained.
func (s *scheduler) done(j *job, now time.Duration, out outcome) {
	p := j.play
	c := &p.convs[j.conv]
	p.inflight--
	s.inflight--
	if p.inflight == 0 {
		p.idleSince = now
	}
	if s.inflight == 0 {
		s.idleSince = now
	}
	if j.warmup {
		if !out.ok && s.warmupFailed == nil {
			s.warmupFailed = j
		}
		c.status, c.next, c.readyAt = convPending, j.turn+1, now
		return
	}
	s.completed++
	if !out.ok {
		s.failed++
	}
	if th := s.cfg.FailedRequestThreshold; th > 0 && s.completed >= minThresholdSample &&
		float64(s.failed)/float64(s.completed) > th {
		s.overThreshold = true
	}
	conv := &p.tree.Convs[j.conv]
	if out.overflow {
		s.finish(p, j.conv)
	} else {
		for _, k := range p.kids[j.conv] {
			kc := &p.tree.Convs[k]
			if !p.convs[k].skip && kc.SpawnAfter == j.turn && len(kc.Turns) > 0 {
				p.convs[k] = convState{status: convPending, readyAt: now + seconds(kc.Offset)}
				p.live++
			}
		}
		if next := j.turn + 1; next < len(conv.Turns) {
			prev, t := conv.Turns[j.turn], conv.Turns[next]
			c.status, c.next = convPending, next
			c.readyAt = now + seconds(max(0, t.T-(prev.T+prev.APITime)))
		} else {
			s.finish(p, j.conv)
		}
	}
	if p.live == 0 && !s.stopped && !s.overThreshold && now < s.deadline {
		np := s.newPlay(p.lane, p.pass+1, s.nextTree(), now, false)
		s.lanes[p.lane] = np
	}
}

func (s *scheduler) finish(p *play, conv int) {
	p.convs[conv].status = convDone
	p.live--
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
