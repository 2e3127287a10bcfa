package bench_test

import (
	"bytes"
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/bench"
	"github.com/fleetbench/fleet/internal/sim"
)

// specSim is a fixed-timing simulator that drafts k tokens per step.
func specSim(k int, acceptance []float64, acceptLength float64) sim.Config {
	cfg := fixedSim(2*time.Millisecond, 2*time.Millisecond)
	cfg.Spec = sim.SpecDecode{Method: "mtp", Tokens: k, Acceptance: acceptance, AcceptLength: acceptLength}
	return cfg
}

// TestSpecChunksCarrySeveralTokensAndMetricsCountThem runs the client
// against a simulator whose every decode step emits exactly 3 tokens in
// one chunk (golden acceptance 3 with 2 drafts). ITL stays per chunk (as
// bench_serving's), the per-token ITL divides each gap by the chunk's
// tokens, and TPOT divides by the usage's token count: the figures are
// checked against each other and the recorded chunks, not against a clock.
func TestSpecChunksCarrySeveralTokensAndMetricsCountThem(t *testing.T) {
	const out = 13 // 1 + 4 steps of 3
	for _, tt := range []struct {
		name       string
		extraBody  string
		wantTokens []int32
		exact      bool
	}{
		{"token counts from continuous usage", `{"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`, []int32{1, 3, 3, 3, 3}, true},
		{"no counts in the chunks: one per chunk guessed, TPOT from usage", "", []int32{1, 1, 1, 1, 1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, url := startSim(t, specSim(2, nil, 3))
			cfg := simBench(url, 2, 4, out)
			if tt.extraBody != "" {
				cfg.ExtraBody = []byte(tt.extraBody)
			}
			res, err := bench.Run(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Completed != 4 {
				t.Fatalf("%d of 4 requests completed: %+v", res.Completed, res.FailedReasons)
			}
			var gaps, perToken, tpots []float64
			for _, r := range res.Requests {
				if !reflect.DeepEqual(r.ChunkTokens, tt.wantTokens) || r.CountsExact != tt.exact || r.OutputTokens != out {
					t.Fatalf("request: chunk tokens %v exact %t output %d; want %v %t %d", r.ChunkTokens, r.CountsExact, r.OutputTokens, tt.wantTokens, tt.exact, out)
				}
				for k := 1; k < len(r.ChunkAt); k++ {
					g := (r.ChunkAt[k] - r.ChunkAt[k-1]).Seconds()
					gaps = append(gaps, g)
					perToken = append(perToken, g/3)
				}
				tpots = append(tpots, (r.Latency-r.TTFT).Seconds()/(out-1))
			}
			mean := func(xs []float64) float64 {
				s := 0.0
				for _, x := range xs {
					s += x
				}
				return s / float64(len(xs)) * 1000
			}
			itl, _ := res.Metric("itl")
			tpot, _ := res.Metric("tpot")
			near := func(what string, got, want float64) {
				if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("%s = %v ms, want %v ms", what, got, want)
				}
			}
			near("mean ITL (per chunk)", itl.Mean, mean(gaps))
			near("mean TPOT", tpot.Mean, mean(tpots))
			if tt.exact {
				// Every gap after the first chunk brought 3 tokens.
				near("mean ITL per token", res.PerTokenITL.Mean, mean(perToken))
				// 4 gaps over 12 tokens: TPOT is the per-token ITL.
				near("mean TPOT against per-token ITL", tpot.Mean, mean(perToken))
			}
		})
	}
}

// acceptedMoments are the mean and variance of accepted drafts per step
// when position i is accepted with chance p[i] given the ones before.
func acceptedMoments(p []float64) (mean, variance float64) {
	reach := 1.0
	var probs []float64 // P(accepted = a)
	for _, pi := range p {
		probs = append(probs, reach*(1-pi))
		reach *= pi
	}
	probs = append(probs, reach)
	for a, pa := range probs {
		mean += float64(a) * pa
	}
	for a, pa := range probs {
		variance += (float64(a) - mean) * (float64(a) - mean) * pa
	}
	return mean, variance
}

// TestAcceptanceLengthFromServerMetrics checks the acceptance length the
// client reads from /metrics: within five standard errors of the
// simulator's configured mean (the error computed from the number of
// drafts the run made), equal to the simulator's own counters when no
// warmup ran before, and exactly the golden length's bound otherwise.
func TestAcceptanceLengthFromServerMetrics(t *testing.T) {
	t.Run("seeded draws: the configured mean within the draws' error", func(t *testing.T) {
		p := []float64{0.8, 0.6, 0.4}
		s, url := startSim(t, specSim(3, p, 0))
		cfg := simBench(url, 8, 32, 64)
		cfg.NumWarmups = 0
		cfg.SpecMetrics = true
		res, err := bench.Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := res.SpecDecode()
		if !ok {
			t.Fatal("no speculative decoding counters in the result")
		}
		st := s.SpecStats()
		if got.Drafts != float64(st.Drafts) || got.DraftTokens != float64(st.DraftTokens) || got.AcceptedTokens != float64(st.AcceptedTokens) {
			t.Errorf("client's counters %+v, the simulator's %+v", got, st)
		}
		if got.DraftTokens != 3*got.Drafts {
			t.Errorf("%v draft tokens for %v drafts of 3", got.DraftTokens, got.Drafts)
		}
		mean, variance := acceptedMoments(p)
		want := 1 + mean
		tol := 5 * math.Sqrt(variance/got.Drafts)
		if d := math.Abs(got.AcceptLength() - want); d > tol {
			t.Errorf("acceptance length %.4f, want %.4f ± %.4f (%v drafts)", got.AcceptLength(), want, tol, got.Drafts)
		}
		if want := (sim.SpecDecode{Method: "mtp", Tokens: 3, Acceptance: p}).MeanAcceptLength(); math.Abs(want-(1+mean)) > 1e-12 {
			t.Errorf("the simulator's MeanAcceptLength %v, the test's %v", want, 1+mean)
		}
	})
	t.Run("golden length 2.5: off by at most half a token per sequence", func(t *testing.T) {
		_, url := startSim(t, specSim(3, nil, 2.5))
		cfg := simBench(url, 4, 16, 40)
		cfg.SpecMetrics = true
		res, err := bench.Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := res.SpecDecode()
		if !ok {
			t.Fatal("no speculative decoding counters in the result")
		}
		// Each sequence alternates 2 and 3 tokens per step: its own mean
		// is 2.5 to within half a token over its drafts.
		if tol := 0.5 * float64(res.Completed) / got.Drafts; math.Abs(got.AcceptLength()-2.5) > tol {
			t.Errorf("acceptance length %v, want 2.5 ± %v", got.AcceptLength(), tol)
		}
		var b bytes.Buffer
		if err := res.WriteSummary(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "Acceptance length:") {
			t.Errorf("summary without the acceptance length:\n%s", b.String())
		}
		b.Reset()
		if err := res.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		written := b.String()
		back, err := bench.DecodeResult(&b)
		if err != nil {
			t.Fatal(err)
		}
		if again, ok := back.SpecDecode(); !ok || again != got {
			t.Errorf("read back %+v, %t; wrote %+v", again, ok, got)
		}
		if !strings.Contains(written, `"spec_accept_length": `) {
			t.Errorf("no spec_accept_length key in %s", written)
		}
	})
	t.Run("off unless asked for, and nothing from a server without counters", func(t *testing.T) {
		_, url := startSim(t, specSim(2, []float64{0.5}, 0))
		cfg := simBench(url, 2, 4, 8)
		res, err := bench.Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := res.SpecDecode(); ok {
			t.Error("counters read without --spec-metrics")
		}
		_, plain := startSim(t, fixedSim(time.Millisecond, time.Millisecond))
		cfg = simBench(plain, 2, 4, 8)
		cfg.SpecMetrics = true
		if res, err = bench.Run(context.Background(), cfg, nil); err != nil {
			t.Fatal(err)
		}
		if _, ok := res.SpecDecode(); ok {
			t.Error("counters from a server that does not draft")
		}
	})
}

func TestParseSpecMetrics(t *testing.T) {
	tests := []struct {
		name string
		body string
		want bench.SpecDecodeStats
		ok   bool
	}{
		{name: "vLLM's _total samples, two engines summed, labels with spaces and braces", body: `# HELP vllm:spec_decode_num_drafts Number of spec decoding drafts.
# TYPE vllm:spec_decode_num_drafts counter
vllm:spec_decode_num_drafts_total{engine="0",model_name="a {b} c"} 10.0
vllm:spec_decode_num_drafts_total{engine="1",model_name="a \"q\" c"} 30.0
vllm:spec_decode_num_draft_tokens_total{engine="0"} 120 1700000000000
vllm:spec_decode_num_accepted_tokens_total 60
vllm:spec_decode_num_accepted_tokens_per_pos_total{position="0"} 35
vllm:spec_decode_num_drafts_created{engine="0"} 1.7e9
`, want: bench.SpecDecodeStats{Source: "vllm", Drafts: 40, DraftTokens: 120, AcceptedTokens: 60}, ok: true},
		{name: "names without _total", body: "vllm:spec_decode_num_drafts 4\nvllm:spec_decode_num_draft_tokens 8\nvllm:spec_decode_num_accepted_tokens 2\n",
			want: bench.SpecDecodeStats{Source: "vllm", Drafts: 4, DraftTokens: 8, AcceptedTokens: 2}, ok: true},
		{name: "SGLang's gauge, averaged over the ranks that drafted", body: `# TYPE sglang:spec_accept_length gauge
sglang:spec_accept_length{dp_rank="0",engine_type="unified",model_name="m",tp_rank="0"} 2.5
sglang:spec_accept_length{dp_rank="1",engine_type="unified",model_name="m",tp_rank="0"} 3.5
sglang:spec_accept_length{dp_rank="2",engine_type="unified",model_name="m",tp_rank="0"} 0
sglang:spec_accept_rate{dp_rank="0"} 0.5
`, want: bench.SpecDecodeStats{Source: "sglang", Reported: 3}, ok: true},
		{name: "vLLM's counters win over a gauge", body: "sglang:spec_accept_length 9\nvllm:spec_decode_num_drafts 4\nvllm:spec_decode_num_draft_tokens 8\nvllm:spec_decode_num_accepted_tokens 2\n",
			want: bench.SpecDecodeStats{Source: "vllm", Drafts: 4, DraftTokens: 8, AcceptedTokens: 2}, ok: true},
		{name: "SGLang before any draft", body: "sglang:spec_accept_length{tp_rank=\"0\"} 0\n"},
		{name: "a server that does not draft", body: "vllm:num_requests_running{model_name=\"m\"} 3\n"},
		{name: "garbage", body: "vllm:spec_decode_num_drafts_total{unclosed 3\nvllm:spec_decode_num_drafts_total x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := bench.ParseSpecMetrics([]byte(tt.body))
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v, %t; want %+v, %t", got, ok, tt.want, tt.ok)
			}
		})
	}
	if l := (bench.SpecDecodeStats{Drafts: 40, AcceptedTokens: 60}).AcceptLength(); l != 2.5 {
		t.Errorf("acceptance length %v, want 1 + 60/40 = 2.5", l)
	}
	if l := (bench.SpecDecodeStats{Source: "sglang", Reported: 3.25}).AcceptLength(); l != 3.25 {
		t.Errorf("acceptance length %v, want SGLang's reported 3.25", l)
	}
}
