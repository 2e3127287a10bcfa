package sim

import (
	"context"
	"testing"
	"time"
)

// virtualClock makes the scheduler run as fast as the CPU allows: sleeping
// just moves the time forward. With every sequence submitted before the
// steps run, a schedule is fully deterministic.
type virtualClock struct{ now time.Time }

func (c *virtualClock) Now() time.Time { return c.now }

func (c *virtualClock) SleepUntil(ctx context.Context, t time.Time) error {
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

type engineRun struct {
	steps     []Step
	firstAt   []time.Duration // per sequence: virtual time of its first token
	doneAt    []time.Duration // per sequence: virtual time of its last token
	peakBatch int64
	peakWait  int64
}

// runEngine submits sequences of the given prompt and output lengths and
// steps the engine on a virtual clock until all are done.
func runEngine(t *testing.T, cfg Config, prompts, outs []int) engineRun {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	var run engineRun
	cfg.Trace = func(s Step) { run.steps = append(run.steps, s) }
	clk := &virtualClock{now: time.Unix(0, 0)}
	e := newEngine(&cfg, clk)
	seqs := make([]*seq, len(prompts))
	for i := range prompts {
		seqs[i] = &seq{promptLen: prompts[i], outLen: outs[i], notify: make(chan struct{}, 1)}
	}
	e.submit(seqs...)
	run.firstAt = make([]time.Duration, len(seqs))
	run.doneAt = make([]time.Duration, len(seqs))
	for steps := 0; e.step(context.Background()); steps++ {
		if steps > 1_000_000 {
			t.Fatal("engine did not finish")
		}
		elapsed := clk.now.Sub(time.Unix(0, 0))
		for i, s := range seqs {
			p := int(s.produced.Load())
			if p >= 1 && run.firstAt[i] == 0 {
				run.firstAt[i] = elapsed
			}
			if p == s.outLen && run.doneAt[i] == 0 {
				run.doneAt[i] = elapsed
			}
		}
	}
	for i, s := range seqs {
		if got := int(s.produced.Load()); got != s.outLen {
			t.Fatalf("sequence %d produced %d tokens, want %d", i, got, s.outLen)
		}
	}
	run.peakBatch, run.peakWait = e.peakBatch.Load(), e.peakWaiting.Load()
	return run
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func flatCosts() Config {
	return Config{
		Timing: TimingEngine, StepBase: 10 * time.Millisecond, StepPerSeq: time.Millisecond,
		PrefillPerToken: 10 * time.Microsecond,
	}
}

func TestEngineQueuesBeyondMaxNumSeqs(t *testing.T) {
	cfg := flatCosts()
	cfg.MaxNumSeqs = 4
	run := runEngine(t, cfg, repeat(100, 10), repeat(20, 10))
	if run.peakBatch != 4 {
		t.Errorf("peak batch = %d, want max-num-seqs 4", run.peakBatch)
	}
	if run.peakWait != 6 {
		t.Errorf("peak waiting = %d, want the 6 requests beyond max-num-seqs", run.peakWait)
	}
	for _, s := range run.steps {
		if s.Seqs > 4 {
			t.Fatalf("a step ran %d sequences, more than max-num-seqs 4", s.Seqs)
		}
	}
	// The fifth sequence cannot start before one of the first four is done.
	firstDone := run.doneAt[0]
	for _, d := range run.doneAt[:4] {
		firstDone = min(firstDone, d)
	}
	if run.firstAt[4] <= firstDone {
		t.Errorf("queued sequence got its first token at %v, before any running one finished (%v)", run.firstAt[4], firstDone)
	}
	if run.firstAt[9] <= run.firstAt[4] {
		t.Errorf("queue is not served in arrival order: seq 9 first token %v, seq 4 %v", run.firstAt[9], run.firstAt[4])
	}
}

func TestEngineStepTimeGrowsWithBatch(t *testing.T) {
	decodeStep := func(batch int) time.Duration {
		// Decode-only steps: take the median of the steps that ran the
		// whole batch with no prefill.
		run := runEngine(t, flatCosts(), repeat(10, batch), repeat(50, batch))
		var durs []time.Duration
		for _, s := range run.steps {
			if s.PrefillTokens == 0 && s.Seqs == batch {
				durs = append(durs, s.Duration)
			}
		}
		if len(durs) == 0 {
			t.Fatalf("batch %d: no decode-only steps", batch)
		}
		return durs[len(durs)/2]
	}
	prev := time.Duration(0)
	for _, batch := range []int{1, 8, 64, 256} {
		got := decodeStep(batch)
		want := 10*time.Millisecond + time.Duration(batch)*time.Millisecond
		if got != want {
			t.Errorf("batch %d: decode step %v, want base + batch x per-seq = %v", batch, got, want)
		}
		if got <= prev {
			t.Errorf("batch %d: decode step %v did not grow from %v", batch, got, prev)
		}
		prev = got
	}
}

func TestEngineStepTime(t *testing.T) {
	cfg := Config{
		StepBase: 5 * time.Millisecond, StepPerSeq: 100 * time.Microsecond,
		PrefillPerToken: 20 * time.Microsecond, DecodePerKToken: 10 * time.Microsecond, TimeScale: 1,
	}
	tests := []struct {
		name                  string
		seqs, prefill, ctxTok int
		scale                 float64
		want                  time.Duration
	}{
		{"an empty step costs the base", 0, 0, 0, 1, 5 * time.Millisecond},
		{"each sequence adds its slope", 10, 0, 0, 1, 6 * time.Millisecond},
		{"prefill tokens add their cost", 1, 1000, 0, 1, 25100 * time.Microsecond},
		{"context adds per thousand tokens", 1, 0, 100_000, 1, 6100 * time.Microsecond},
		{"the time scale multiplies it all", 10, 0, 0, 0.5, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.TimeScale = tt.scale
			e := newEngine(&c, &virtualClock{})
			if got := e.stepTime(tt.seqs, tt.prefill, tt.ctxTok); got != tt.want {
				t.Errorf("stepTime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEngineChunkedPrefill(t *testing.T) {
	cfg := flatCosts()
	cfg.MaxNumBatchedTokens = 1000
	run := runEngine(t, cfg, []int{2500}, []int{3})
	// 2500 prompt tokens under a budget of 1000: three prefill steps, the
	// last of which samples the first token, then two decode steps.
	var prefills []int
	for _, s := range run.steps {
		prefills = append(prefills, s.PrefillTokens)
	}
	want := []int{1000, 1000, 500, 0, 0}
	if len(prefills) != len(want) {
		t.Fatalf("prefill tokens per step = %v, want %v", prefills, want)
	}
	for i := range want {
		if prefills[i] != want[i] {
			t.Fatalf("prefill tokens per step = %v, want %v", prefills, want)
		}
	}
	wantTTFT := 3*(10*time.Millisecond+time.Millisecond) + 2500*10*time.Microsecond
	if run.firstAt[0] != wantTTFT {
		t.Errorf("first token at %v, want after three prefill steps (%v)", run.firstAt[0], wantTTFT)
	}
}

func TestEngineJitterIsSeeded(t *testing.T) {
	durations := func(seed int64) []time.Duration {
		cfg := flatCosts()
		cfg.Jitter, cfg.Seed = 0.1, seed
		var out []time.Duration
		for _, s := range runEngine(t, cfg, repeat(10, 4), repeat(30, 4)).steps {
			out = append(out, s.Duration)
		}
		return out
	}
	a, b, c := durations(1), durations(1), durations(2)
	same := func(x, y []time.Duration) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("the same seed gave different step times")
	}
	if same(a, c) {
		t.Error("different seeds gave identical step times")
	}
	varied := false
	for _, d := range a[1:] {
		varied = varied || d != a[0]
	}
	if !varied {
		t.Error("jitter 0.1 left every step the same length")
	}
}

func TestEngineDropsAbortedSequences(t *testing.T) {
	cfg, _ := flatCosts().withDefaults()
	e := newEngine(&cfg, &virtualClock{now: time.Unix(0, 0)})
	a := &seq{promptLen: 10, outLen: 1000, notify: make(chan struct{}, 1)}
	b := &seq{promptLen: 10, outLen: 5, notify: make(chan struct{}, 1)}
	e.submit(a, b)
	e.step(context.Background())
	a.aborted.Store(true)
	for e.step(context.Background()) {
	}
	if got := b.produced.Load(); got != 5 {
		t.Errorf("surviving sequence produced %d tokens, want 5", got)
	}
	if got := a.produced.Load(); got > 2 {
		t.Errorf("aborted sequence kept decoding: %d tokens", got)
	}
	if len(e.running) != 0 || len(e.waiting) != 0 {
		t.Errorf("engine still holds %d running, %d waiting", len(e.running), len(e.waiting))
	}
}

func TestEngineDecodesTransferredPromptsWithoutPrefill(t *testing.T) {
	cfg, err := flatCosts().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	var steps []Step
	cfg.Trace = func(s Step) { steps = append(steps, s) }
	e := newEngine(&cfg, &virtualClock{now: time.Unix(0, 0)})
	s := &seq{promptLen: 5000, outLen: 3, computed: 5000, notify: make(chan struct{}, 1)}
	e.submit(s)
	if !e.step(context.Background()) || s.produced.Load() != 1 {
		t.Fatalf("after one step the KV-ready sequence has %d tokens, want its first", s.produced.Load())
	}
	for e.step(context.Background()) {
	}
	if len(steps) != 3 {
		t.Errorf("%d steps for 3 tokens, want 3", len(steps))
	}
	for _, st := range steps {
		if st.PrefillTokens != 0 || st.Decodes != 1 {
			t.Errorf("step %+v: want one decode and no prefill", st)
		}
	}
}

func TestEngineAdmitsOnlyWhatFitsTheKVCapacity(t *testing.T) {
	cfg := flatCosts()
	cfg.KVCapacityTokens = 150 // room for one 100-token prompt with its 20 outputs
	run := runEngine(t, cfg, repeat(100, 3), repeat(20, 3))
	if run.peakBatch != 1 {
		t.Errorf("peak batch %d, want 1: the KV holds one sequence at a time", run.peakBatch)
	}
	if run.firstAt[1] <= run.doneAt[0] || run.firstAt[2] <= run.doneAt[1] {
		t.Errorf("a sequence started before the one holding the KV finished: first %v, done %v", run.firstAt, run.doneAt)
	}
}
