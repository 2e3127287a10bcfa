package sim

import (
	"context"
	"testing"
	"time"
)

// turnsResult is what a multi-turn run on the engine gave.
type turnsResult struct {
	ttft            []time.Duration // per turn, in the order played
	prompt, cached  int             // prompt tokens, of which found cached (GPU or CPU)
	gpuHits, cpuHit int64
	loadedBlocks    int64
}

func (r turnsResult) total() time.Duration {
	var d time.Duration
	for _, x := range r.ttft {
		d += x
	}
	return d
}

func (r turnsResult) hitRate() float64 { return float64(r.cached) / float64(r.prompt) }

// runTurns plays convs conversations of turns turns each on the engine,
// one request at a time, round robin over the conversations: turn k of a
// conversation resends its first base+k*tail tokens (its whole context so
// far plus a new tail), as an agent does.
func runTurns(t *testing.T, cfg Config, convs, turns, base, tail int) turnsResult {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	clk := &virtualClock{now: time.Unix(0, 0)}
	e := newEngine(&cfg, clk)
	var r turnsResult
	for k := range turns {
		for c := range convs {
			n := base + k*tail
			toks := make([]uint64, n)
			for i := range toks {
				toks[i] = uint64(c)<<32 | uint64(i)
			}
			s := &seq{promptLen: n, outLen: 8, notify: make(chan struct{}, 1)}
			if cfg.PrefixCaching {
				s.keys = blockKeys(toks, cfg.KVBlockSize)
			}
			submitted := clk.now
			e.submit(s)
			first := time.Duration(-1)
			for steps := 0; e.step(context.Background()); steps++ {
				if steps > 100_000 {
					t.Fatal("engine did not finish")
				}
				if first < 0 && s.produced.Load() >= 1 {
					first = clk.now.Sub(submitted)
				}
			}
			if int(s.produced.Load()) != s.outLen {
				t.Fatalf("conversation %d turn %d produced %d tokens", c, k, s.produced.Load())
			}
			r.ttft = append(r.ttft, first)
			r.prompt += n
			r.cached += int(s.cached.Load())
		}
	}
	r.gpuHits, r.cpuHit, r.loadedBlocks = e.cs.hits.Load(), e.cs.extHits.Load(), e.cs.loaded.Load()
	return r
}

func cacheCosts() Config {
	cfg := flatCosts() // 10 ms a step, 1 ms a sequence, 10 us a prompt token
	cfg.MaxNumBatchedTokens = 2048
	return cfg
}

func TestPrefixCacheCutsTTFTOfMultiTurnConversations(t *testing.T) {
	off := runTurns(t, cacheCosts(), 1, 8, 4000, 500)
	cfg := cacheCosts()
	cfg.PrefixCaching = true
	on := runTurns(t, cfg, 1, 8, 4000, 500)

	if off.cached != 0 {
		t.Errorf("without prefix caching %d tokens were reported cached", off.cached)
	}
	// Every turn after the first finds its whole previous context: the
	// hit rate is close to the trace's (7 turns of 4500..7500 tokens
	// reusing 4000..7000).
	if hr := on.hitRate(); hr < 0.7 {
		t.Errorf("hit rate %.2f, want most of the resent context (about 0.83)", hr)
	}
	for k := 1; k < 8; k++ {
		if on.ttft[k] >= off.ttft[k]/2 {
			t.Errorf("turn %d: TTFT %v with the cache, %v without: want well under half", k, on.ttft[k], off.ttft[k])
		}
	}
	if on.ttft[0] != off.ttft[0] {
		t.Errorf("first turn: TTFT %v with the cache, %v without: a cold cache should change nothing", on.ttft[0], off.ttft[0])
	}
}

func TestPrefixCacheSmallerThanTheWorkingSetLosesHits(t *testing.T) {
	play := func(gpuTokens, cpuTokens int) turnsResult {
		cfg := cacheCosts()
		cfg.PrefixCaching = true
		cfg.KVCacheTokens, cfg.KVCPUCacheTokens = gpuTokens, cpuTokens
		cfg.KVBytesPerToken = 100_000 // loads at 25 GB/s: 4 us a token, under the 10 us of prefill
		return runTurns(t, cfg, 4, 6, 2000, 500)
	}
	// Four conversations of up to 4500 tokens, played round robin: the
	// working set is about 18000 tokens.
	large := play(0, 0)
	small := play(6000, 0)
	offload := play(6000, 40000)

	if large.hitRate() < 0.6 {
		t.Fatalf("unlimited cache: hit rate %.2f, want most of the context (about 0.73)", large.hitRate())
	}
	if small.hitRate() > large.hitRate()/2 {
		t.Errorf("cache of 6000 tokens for a working set of 18000: hit rate %.2f, want well under the unlimited %.2f", small.hitRate(), large.hitRate())
	}
	if small.total() <= large.total()*5/4 {
		t.Errorf("total TTFT %v with the small cache, %v unlimited: want it clearly higher", small.total(), large.total())
	}
	// The CPU tier gets the hits back, as external ones.
	if offload.cpuHit == 0 || offload.loadedBlocks == 0 {
		t.Errorf("with a CPU tier: %d external hit tokens, %d blocks loaded; want both positive", offload.cpuHit, offload.loadedBlocks)
	}
	if offload.hitRate() < 0.9*large.hitRate() {
		t.Errorf("with a CPU tier: hit rate %.2f, want close to the unlimited %.2f", offload.hitRate(), large.hitRate())
	}
	if offload.cpuHit <= offload.gpuHits {
		t.Errorf("with a CPU tier: %d external vs %d GPU hit tokens, want most hits external (the GPU holds about one conversation)", offload.cpuHit, offload.gpuHits)
	}
	if offload.total() >= small.total() {
		t.Errorf("total TTFT %v with the CPU tier, %v without: loading at 4 us a token should beat recomputing at 10 us", offload.total(), small.total())
	}
}

func TestCPUTierLoadsCostBandwidthAndLatency(t *testing.T) {
	cfg := cacheCosts()
	cfg.PrefixCaching = true
	cfg.KVCacheTokens, cfg.KVCPUCacheTokens = 4096, 16384
	cfg.KVBytesPerToken, cfg.KVH2DBandwidth, cfg.KVLoadLatency = 1_000_000, 1e9, 50*time.Millisecond // 1 ms a token
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	clk := &virtualClock{now: time.Unix(0, 0)}
	e := newEngine(&cfg, clk)
	play := func(conv uint64, n int) (*seq, time.Duration) {
		toks := make([]uint64, n)
		for i := range toks {
			toks[i] = conv<<32 | uint64(i)
		}
		s := &seq{promptLen: n, outLen: 1, keys: blockKeys(toks, 16), notify: make(chan struct{}, 1)}
		start := clk.now
		e.submit(s)
		for e.step(context.Background()) {
		}
		return s, clk.now.Sub(start)
	}
	play(1, 1000)
	play(2, 4090) // fills the GPU: conversation 1 goes to the CPU
	s, ttft := play(1, 1100)
	// 1000 tokens: 62 full blocks, but a hit leaves the last prompt token
	// to compute, so 62 blocks = 992 tokens at 1 ms each, plus 50 ms.
	if got := s.cached.Load(); got != 992 {
		t.Fatalf("cached %d tokens, want 992 loaded from the CPU", got)
	}
	load := 992*time.Millisecond + 50*time.Millisecond
	rest := 10*time.Millisecond + time.Millisecond + 108*10*time.Microsecond // one step prefilling 108 tokens
	if ttft != load+rest {
		t.Errorf("TTFT %v, want the load %v then one prefill step %v", ttft, load, rest)
	}
	if got := e.cs.loadNanos.Load(); time.Duration(got) != load {
		t.Errorf("load time counted %v, want %v", time.Duration(got), load)
	}
}

func TestPrefillAttentionGrowsWithContext(t *testing.T) {
	cfg := flatCosts()
	cfg.MaxNumBatchedTokens = 1000
	cfg.PrefillPerKContext = time.Microsecond
	run := runEngine(t, cfg, []int{2000}, []int{1})
	if len(run.steps) != 2 {
		t.Fatalf("%d steps, want two prefill chunks", len(run.steps))
	}
	// Each chunk of 1000 tokens: 10 ms + 1 ms + 10 ms of tokens, plus
	// 1 us per token per 1000 tokens of context before it: the second
	// chunk attends to 1000 more tokens each, 1 ms more in all.
	if d := run.steps[1].Duration - run.steps[0].Duration; d != time.Millisecond {
		t.Errorf("second chunk costs %v more than the first, want 1ms of attention to the first", d)
	}
	if want := 21*time.Millisecond + 500500*time.Nanosecond; run.steps[0].Duration != want {
		t.Errorf("first chunk %v, want %v", run.steps[0].Duration, want)
	}
}
