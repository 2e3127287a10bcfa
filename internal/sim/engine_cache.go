package sim

import (
	"sync/atomic"
	"time"
)

// cacheStats are the engine's prefix-cache counters, published for
// /metrics and Stats (in tokens unless named blocks).
type cacheStats struct {
	queries, hits                     atomic.Int64 // prompt tokens looked up, found on the GPU
	extQueries, extHits               atomic.Int64 // the same for the CPU tier (only when there is one)
	srcLocalHit, srcExternal, srcComp atomic.Int64 // prompt tokens by source (vLLM's prompt_tokens_by_source)
	gpuBlocks, cpuBlocks              atomic.Int64 // GPU blocks in use by running sequences; CPU blocks filled
	offloaded, loaded                 atomic.Int64 // blocks copied GPU->CPU, CPU->GPU
	loadNanos                         atomic.Int64 // modelled time of CPU->GPU loads (time-scaled)
}

// countPrompt files an admitted sequence's prompt tokens by where their KV
// came from: a decode's pulled KV counts as an external transfer, as vLLM's
// connector metrics do.
func (e *engine) countPrompt(s *seq, pulled bool, gpuHit, cpuHit int) {
	if pulled {
		e.cs.srcExternal.Add(int64(s.promptLen))
		return
	}
	e.cs.srcLocalHit.Add(int64(gpuHit))
	e.cs.srcExternal.Add(int64(cpuHit))
	e.cs.srcComp.Add(int64(s.promptLen - gpuHit - cpuHit))
}

// cacheAdmit gives s its blocks, reporting false when they do not fit. A
// prompt found cached skips the computation of its cached tokens; blocks
// found only on the CPU tier are loaded first, over a CPU-to-GPU link that
// carries one load at a time: bytes/KVH2DBandwidth, plus KVLoadLatency,
// from when the link is free. The sequence waits for its loads (and for
// loads of blocks it shares that are still in flight) before it prefills
// the rest.
func (e *engine) cacheAdmit(s *seq, now time.Time) bool {
	c := e.cache
	pulled := s.computed >= s.promptLen // a decode's prompt KV came over the link
	var keys []uint64
	if !pulled {
		// At least the last prompt token is always computed: its logits
		// give the first output token.
		keys = s.keys[:min(len(s.keys), (s.promptLen-1)/c.size)]
	}
	a, ok := c.admit(keys, s.promptLen+s.outLen)
	if !ok {
		return false
	}
	s.kv = a
	gpuHit, cpuHit := a.hitGPU*c.size, a.hitCPU*c.size
	if pulled {
		c.register(a, s.keys)
		e.countPrompt(s, true, 0, 0)
		e.publishCache()
		return true
	}
	s.computed = gpuHit + cpuHit
	s.cached.Store(int64(gpuHit + cpuHit))
	e.cs.queries.Add(int64(s.promptLen))
	e.cs.hits.Add(int64(gpuHit))
	if c.cpuCap > 0 {
		e.cs.extQueries.Add(int64(s.promptLen))
		e.cs.extHits.Add(int64(cpuHit))
	}
	e.countPrompt(s, false, gpuHit, cpuHit)

	ready := now.UnixNano()
	for _, b := range a.pinned[:a.hitGPU] {
		ready = max(ready, b.readyAt)
	}
	if a.hitCPU > 0 {
		cfg := e.cfg
		bytes := float64(cpuHit) * float64(cfg.KVBytesPerToken)
		busy := cfg.scaled(time.Duration(bytes / cfg.KVH2DBandwidth * 1e9))
		start := now
		if e.h2dFree.After(start) {
			start = e.h2dFree
		}
		e.h2dFree = start.Add(busy)
		done := e.h2dFree.Add(cfg.scaled(cfg.KVLoadLatency))
		for _, b := range a.pinned[a.hitGPU:] {
			b.readyAt = done.UnixNano()
		}
		ready = max(ready, done.UnixNano())
		e.cs.loaded.Add(int64(a.hitCPU))
		e.cs.loadNanos.Add(int64(done.Sub(now)))
	}
	if ready > now.UnixNano() {
		s.loadUntil = time.Unix(0, ready)
	}
	e.publishCache()
	return true
}

// cacheRelease gives back s's blocks (they stay cached).
func (e *engine) cacheRelease(s *seq) {
	if s.kv == nil {
		return
	}
	e.cache.release(s.kv)
	s.kv = nil
	e.publishCache()
}

func (e *engine) publishCache() {
	c := e.cache
	e.cs.gpuBlocks.Store(int64(c.inUse()))
	e.cs.cpuBlocks.Store(int64(c.cpuUsed))
	e.cs.offloaded.Store(c.offloaded)
}

// nextLoad is when the first CPU-tier load of a running sequence lands.
func (e *engine) nextLoad() (time.Time, bool) {
	var first time.Time
	for _, s := range e.running {
		if !s.loadUntil.IsZero() && (first.IsZero() || s.loadUntil.Before(first)) {
			first = s.loadUntil
		}
	}
	return first, !first.IsZero()
}

// attnWork is the attention work of prefilling n tokens after computed
// ones: each new token attends to every token before it, so the sum of
// their contexts, about n x (computed + n/2).
func attnWork(computed, n int) float64 {
	return float64(n) * (float64(computed) + float64(n+1)/2)
}
