package sim

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSpecDecodeConfigIsChecked(t *testing.T) {
	tests := []struct {
		name string
		spec SpecDecode
		want string // in the error; "" when valid
	}{
		{"off", SpecDecode{}, ""},
		{"one acceptance for every position", SpecDecode{Method: "mtp", Tokens: 3, Acceptance: []float64{0.7}}, ""},
		{"golden length", SpecDecode{Method: "eagle3", Tokens: 3, AcceptLength: 4}, ""},
		{"no acceptance", SpecDecode{Method: "mtp", Tokens: 3}, "needs an acceptance"},
		{"a list of the wrong length", SpecDecode{Method: "mtp", Tokens: 3, Acceptance: []float64{0.7, 0.5}}, "2 values for 3 draft tokens"},
		{"a probability over 1", SpecDecode{Method: "mtp", Tokens: 1, Acceptance: []float64{1.5}}, "want a probability in [0, 1]"},
		{"a golden length above k+1", SpecDecode{Method: "mtp", Tokens: 2, AcceptLength: 3.5}, "want 1 to spec tokens + 1 = 3"},
		{"no draft tokens", SpecDecode{Method: "mtp", Acceptance: []float64{0.5}}, "spec tokens must be at least 1"},
		{"an unknown method", SpecDecode{Method: "medusa", Tokens: 1, Acceptance: []float64{0.5}}, `spec method "medusa"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fixedConfig()
			cfg.Spec = tt.spec
			_, err := New(cfg)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("New() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestGoldenAcceptanceAlternates checks the golden mode's arithmetic: 2.5
// tokens a step is 2, 3, 2, 3...
func TestGoldenAcceptanceAlternates(t *testing.T) {
	d := newDrafter(SpecDecode{Method: "mtp", Tokens: 3, AcceptLength: 2.5}, 1)
	var carry float64
	var got []int
	for range 6 {
		got = append(got, d.step(&carry))
	}
	if want := []int{2, 3, 2, 3, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("tokens per step %v, want %v", got, want)
	}
	if d.drafts.Load() != 6 || d.draftTokens.Load() != 18 || d.accepted.Load() != 9 {
		t.Errorf("counters %d drafts, %d draft tokens, %d accepted; want 6, 18, 9", d.drafts.Load(), d.draftTokens.Load(), d.accepted.Load())
	}
}

// TestEngineStepsEmitSeveralTokensPerChunk runs the engine with a golden
// length of 3 (2 drafts, both accepted): after the first token, every
// chunk carries 3 tokens, and each decode step's modelled duration is the
// plain step's times 1 + 2 x the draft cost.
func TestEngineStepsEmitSeveralTokensPerChunk(t *testing.T) {
	var mu sync.Mutex
	var steps []Step
	cfg := DefaultConfig()
	cfg.Jitter = 0
	cfg.TimeScale = 1 // steps of about 8 ms: the handler sends each step's tokens before the next
	cfg.Spec = SpecDecode{Method: "mtp", Tokens: 2, AcceptLength: 3, DraftCost: 0.1}
	cfg.Trace = func(s Step) {
		mu.Lock()
		steps = append(steps, s)
		mu.Unlock()
	}
	_, url := startServer(t, cfg)
	res := readStream(t, url, `{"prompt":[1,2,3,4],"max_tokens":10,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}`)
	// 1, then 3, 3, 3: one chunk per step, fewer only if the handler fell
	// a whole step behind (it then sends what is there in one chunk, as
	// vLLM's output collector merges a slow consumer's outputs).
	if res.chunks < 2 || res.chunks > 4 || res.tokensText != 10 || res.usage == nil || res.usage.CompletionTokens != 10 {
		t.Fatalf("%d chunks carrying %d tokens (usage %+v), want 4 chunks of 10 tokens", res.chunks, res.tokensText, res.usage)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(steps) != 4 {
		t.Fatalf("%d steps, want a prefill and 3 decodes: %+v", len(steps), steps)
	}
	for _, s := range steps[1:] {
		if s.Decodes != 1 {
			t.Errorf("step %+v: want one decode", s)
		}
	}
	plain := func(ctx int) time.Duration {
		d := float64(cfg.StepBase) + float64(cfg.StepPerSeq) + float64(cfg.DecodePerKToken)*float64(ctx)/1000
		return time.Duration(d * cfg.TimeScale)
	}
	// Context at each decode step: the prompt and the tokens so far.
	for i, ctx := range []int{4 + 1, 4 + 4, 4 + 7} {
		want := time.Duration(float64(plain(ctx)) * 1.2)
		if got := steps[i+1].Duration; got < want-2 || got > want+2 {
			t.Errorf("decode step %d lasted %v (modelled), want %v", i+1, got, want)
		}
	}
}
