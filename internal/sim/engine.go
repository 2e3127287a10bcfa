package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// seq is one sequence (one choice of one request) as the engine sees it.
type seq struct {
	promptLen int
	outLen    int // tokens it will generate, the end-of-sequence token included

	computed int // prompt tokens prefilled so far; owned by the scheduler (a decode role sets it to promptLen before submitting: the KV came over the link)

	// holdKV keeps the sequence's KV reserved when it finishes: a prefill
	// role hands it to its holder until a decode pulls it.
	holdKV bool
	// kvTaken is the KV (in tokens) reserved for the sequence under
	// Config.KVCapacityTokens; whoever swaps it to zero frees it.
	kvTaken atomic.Int64

	// Prefix caching (Config.PrefixCaching): keys are the chain keys of
	// the prompt's full blocks (blockKeys), shared read-only by the
	// choices of one prompt; kv and loadUntil are the scheduler's.
	keys      []uint64
	kv        *kvAlloc
	loadUntil time.Time    // a CPU-tier load of its cached blocks ends then
	cached    atomic.Int64 // prompt tokens found cached on admission (usage's cached_tokens)

	produced atomic.Int64 // tokens generated so far, published by the scheduler
	aborted  atomic.Bool  // the client went away: drop it
	notify   chan struct{}

	// specCarry is speculative decoding's running fraction in the golden
	// mode (specdecode.go); the scheduler's, or a fixed-timing handler's.
	specCarry float64
}

// signal wakes the request's handler without ever blocking the scheduler:
// notify has room for one pending wake-up, which is all a handler needs
// since it reads produced afresh.
func (s *seq) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// clock is the scheduler's time source; tests use a virtual one.
type clock interface {
	Now() time.Time
	SleepUntil(ctx context.Context, t time.Time) error
}

type realClock struct{ timer *time.Timer }

func (*realClock) Now() time.Time { return time.Now() }

func (c *realClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		c.timer.Stop()
		return ctx.Err()
	case <-c.timer.C:
		return nil
	}
}

// maxLag bounds how far the scheduler catches up after falling behind its
// modelled schedule (a stalled machine): up to this much it runs steps back
// to back so throughput stays as modelled; beyond it, it starts afresh.
const maxLag = 50 * time.Millisecond

// loadPoll bounds how long the scheduler, idle but for loads from the CPU
// tier, sleeps before it looks for new arrivals.
const loadPoll = time.Millisecond

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// engine is the continuous-batching model: one goroutine runs steps in
// which running sequences decode a token each and new ones prefill under a
// token budget; a step lasts as long as the cost model says.
type engine struct {
	cfg   *Config
	clock clock

	mu       sync.Mutex
	incoming []*seq
	wake     chan struct{}

	// Owned by the scheduler goroutine.
	waiting  []*seq
	running  []*seq
	planned  []planned
	rng      *rand.Rand
	nextStep time.Time
	cache    *prefixCache // nil without prefix caching
	spec     *drafter     // nil without speculative decoding
	h2dFree  time.Time    // the CPU-to-GPU link is busy until then

	nRunning, nWaiting, peakBatch, peakWaiting, steps atomic.Int64
	kvUsed                                            atomic.Int64 // tokens of KV reserved (KVCapacityTokens)
	cs                                                cacheStats
}

type planned struct {
	s       *seq
	prefill int // prompt tokens prefilled in this step; 0 for a decode
}

func newEngine(cfg *Config, c clock) *engine {
	e := &engine{
		cfg:   cfg,
		clock: c,
		wake:  make(chan struct{}, 1),
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed_57e9)),
	}
	if cfg.PrefixCaching {
		e.cache = newPrefixCache(cfg.KVBlockSize, cfg.KVCacheTokens, cfg.KVCPUCacheTokens)
	}
	return e
}

// submit queues sequences for the scheduler.
func (e *engine) submit(seqs ...*seq) {
	e.mu.Lock()
	e.incoming = append(e.incoming, seqs...)
	e.mu.Unlock()
	e.poke()
}

func (e *engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// kvNeed is the KV a sequence reserves on admission: its whole context.
func kvNeed(s *seq) int64 { return int64(s.promptLen + s.outLen) }

// takeKV reserves a sequence's KV if it fits; only the scheduler calls it.
func (e *engine) takeKV(s *seq) bool {
	need := kvNeed(s)
	if e.kvUsed.Load()+need > int64(e.cfg.KVCapacityTokens) {
		return false
	}
	e.kvUsed.Add(need)
	s.kvTaken.Store(need)
	return true
}

// freeKV gives back whatever KV s still holds and lets waiting sequences
// try again.
func (e *engine) freeKV(s *seq) {
	if n := s.kvTaken.Swap(0); n > 0 {
		e.releaseKV(n)
	}
}

func (e *engine) releaseKV(n int64) {
	e.kvUsed.Add(-n)
	e.poke()
}

// run is the scheduler loop; it returns when ctx ends.
func (e *engine) run(ctx context.Context) {
	for ctx.Err() == nil {
		if !e.step(ctx) {
			select {
			case <-ctx.Done():
				return
			case <-e.wake:
			}
		}
	}
}

// step runs one engine step and reports whether there was work.
func (e *engine) step(ctx context.Context) bool {
	e.mu.Lock()
	e.waiting = append(e.waiting, e.incoming...)
	clear(e.incoming)
	e.incoming = e.incoming[:0]
	e.mu.Unlock()
	e.running = e.dropAborted(e.running)
	e.waiting = e.dropAborted(e.waiting)
	if len(e.running) == 0 && len(e.waiting) == 0 {
		e.nRunning.Store(0)
		e.nWaiting.Store(0)
		e.nextStep = time.Time{}
		return false
	}

	// Schedule as vLLM's v1 scheduler does: running sequences first, each
	// taking what it needs (one token to decode, or the rest of its prompt)
	// from the step's token budget; then waiting ones, in arrival order,
	// while there is a free slot and budget left.
	now := e.clock.Now()
	start := e.nextStep
	if start.IsZero() || now.Sub(start) > maxLag {
		start = now
	}
	budget := e.cfg.MaxNumBatchedTokens
	e.planned = e.planned[:0]
	var decodes, prefillTokens, ctxTokens int
	var prefillCtx float64 // sum over prefilled tokens of the context before each
	for _, s := range e.running {
		if budget == 0 {
			break
		}
		if s.loadUntil.After(start) {
			continue // its cached blocks are still coming from the CPU
		}
		s.loadUntil = time.Time{}
		if rest := s.promptLen - s.computed; rest > 0 {
			n := min(rest, budget)
			e.planned = append(e.planned, planned{s, n})
			budget -= n
			prefillTokens += n
			prefillCtx += attnWork(s.computed, n)
			continue
		}
		e.planned = append(e.planned, planned{s, 0})
		budget--
		decodes++
		ctxTokens += s.promptLen + int(s.produced.Load())
	}
	admitted := 0
	for admitted < len(e.waiting) && len(e.running) < e.cfg.MaxNumSeqs && budget > 0 {
		s := e.waiting[admitted]
		if e.cfg.KVCapacityTokens > 0 && e.kvUsed.Load()+kvNeed(s) > int64(e.cfg.KVCapacityTokens) {
			break // first come, first served: the head waits for KV
		}
		if e.cache == nil {
			e.countPrompt(s, s.computed >= s.promptLen, 0, 0)
		} else if !e.cacheAdmit(s, start) {
			break // the same: it waits for cached blocks to be freed
		}
		if e.cfg.KVCapacityTokens > 0 {
			e.takeKV(s) // fits: checked above, and only the scheduler takes
		}
		admitted++
		e.running = append(e.running, s)
		if s.loadUntil.After(start) {
			continue
		}
		if rest := s.promptLen - s.computed; rest > 0 {
			n := min(rest, budget)
			e.planned = append(e.planned, planned{s, n})
			budget -= n
			prefillTokens += n
			prefillCtx += attnWork(s.computed, n)
			continue
		}
		// Its KV came from a prefill: it decodes in its first step.
		e.planned = append(e.planned, planned{s, 0})
		budget--
		decodes++
		ctxTokens += s.promptLen + int(s.produced.Load())
	}
	e.waiting = e.waiting[:copy(e.waiting, e.waiting[admitted:])]
	e.nRunning.Store(int64(len(e.running)))
	e.nWaiting.Store(int64(len(e.waiting)))
	storeMax(&e.peakBatch, int64(len(e.running)))
	storeMax(&e.peakWaiting, int64(len(e.waiting)))
	if len(e.planned) == 0 {
		if t, ok := e.nextLoad(); ok {
			// Only loads from the CPU tier are in flight: wait for the
			// first to land, looking for arrivals every loadPoll.
			e.nextStep = time.Time{}
			_ = e.clock.SleepUntil(ctx, minTime(t, now.Add(loadPoll)))
			return true
		}
		// Everything waits for KV to be freed (releaseKV wakes us).
		e.nextStep = time.Time{}
		return false
	}

	dur := e.stepCost(len(e.planned), prefillTokens, ctxTokens, prefillCtx)
	dur = time.Duration(e.spec.stepCost(float64(dur), decodes))
	end := start.Add(dur)
	if e.clock.SleepUntil(ctx, end) != nil {
		return true
	}
	e.nextStep = end
	e.steps.Add(1)

	// The step's results: a sequence whose prompt is now fully prefilled
	// samples its first token in this same step; a decoding one gets one
	// more token.
	finished := false
	for _, p := range e.planned {
		s := p.s
		if p.prefill > 0 {
			s.computed += p.prefill
			if s.computed < s.promptLen {
				continue
			}
			if s.kv != nil {
				e.cache.register(s.kv, s.keys)
			}
		}
		n := e.decodeStep(s, p.prefill > 0)
		s.signal()
		if int(n) >= s.outLen {
			finished = true
		}
	}
	if finished {
		kept := e.running[:0]
		for _, s := range e.running {
			if int(s.produced.Load()) < s.outLen {
				kept = append(kept, s)
				continue
			}
			e.cacheRelease(s)
			if !s.holdKV {
				e.freeKV(s)
			}
		}
		clear(e.running[len(kept):])
		e.running = kept
	}
	if e.cfg.Trace != nil {
		e.cfg.Trace(Step{
			Start: start, Duration: dur, Seqs: len(e.planned), Decodes: decodes,
			PrefillTokens: prefillTokens, Waiting: len(e.waiting),
		})
	}
	return true
}

// stepTime is the cost model of a step without prefill attention: see
// Config.
func (e *engine) stepTime(seqs, prefillTokens, ctxTokens int) time.Duration {
	return e.stepCost(seqs, prefillTokens, ctxTokens, 0)
}

// stepCost is the cost model: see Config. prefillCtx is the sum, over the
// tokens prefilled, of the context each attends to (attnWork).
func (e *engine) stepCost(seqs, prefillTokens, ctxTokens int, prefillCtx float64) time.Duration {
	c := e.cfg
	d := float64(c.StepBase) + float64(c.StepPerSeq)*float64(seqs) +
		float64(c.PrefillPerToken)*float64(prefillTokens) +
		float64(c.DecodePerKToken)*float64(ctxTokens)/1000 +
		float64(c.PrefillPerKContext)*prefillCtx/1000
	if c.Jitter > 0 {
		z := math.Max(-3, math.Min(3, e.rng.NormFloat64()))
		d *= math.Max(0, 1+c.Jitter*z)
	}
	return time.Duration(d * c.TimeScale)
}

func (e *engine) dropAborted(seqs []*seq) []*seq {
	kept := seqs[:0]
	for _, s := range seqs {
		if !s.aborted.Load() {
			kept = append(kept, s)
		} else {
			e.cacheRelease(s)
			e.freeKV(s)
		}
	}
	clear(seqs[len(kept):])
	return kept
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
