package bench

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestRandomDatasetFollowsTheReferenceDrawOrderAndFormula(t *testing.T) {
	cfg := RandomConfig{InputLen: 50, OutputLen: 20, RangeRatio: 0.8, PrefixLen: 7, VocabSize: 1000}
	const n, seed, rate, burst = 40, 42, 5.0, 0.5
	d, err := NewRandomDataset(cfg, n, seed, rate, burst)
	if err != nil {
		t.Fatal(err)
	}
	// Redraw independently in the documented order: prefix ids, input
	// lengths, output lengths, offsets, then the arrival intervals.
	rng := NewRNG(seed)
	prefix := make([]int, cfg.PrefixLen)
	for i := range prefix {
		prefix[i] = rng.IntN(cfg.VocabSize)
	}
	in, out, off := make([]int, n), make([]int, n), make([]int, n)
	for i := range in {
		in[i] = 40 + rng.IntN(11) // [floor(50*0.8), 50]
	}
	for i := range out {
		out[i] = 16 + rng.IntN(5)
	}
	for i := range off {
		off[i] = rng.IntN(cfg.VocabSize)
	}
	scale := 1 / (rate * burst)
	for i := range n {
		req := d.Request(i)
		if req.InputLen != cfg.PrefixLen+in[i] || req.OutputLen != out[i] {
			t.Fatalf("request %d: lengths %d/%d, want %d/%d", i, req.InputLen, req.OutputLen, cfg.PrefixLen+in[i], out[i])
		}
		ids := d.TokenIDs(i)
		want := append([]int(nil), prefix...)
		for j := range in[i] {
			want = append(want, (off[i]+i+j)%cfg.VocabSize)
		}
		if !reflect.DeepEqual(ids, want) {
			t.Fatalf("request %d: ids %v, want %v", i, ids, want)
		}
		var sent []int
		if err := json.Unmarshal(req.Prompt.AppendCompletionPrompt(nil), &sent); err != nil || !reflect.DeepEqual(sent, want) {
			t.Fatalf("request %d: prompt JSON %v (%v), want the ids", i, sent, err)
		}
	}
	for i := range n {
		if want := Gamma(rng, burst) * scale; d.Intervals[i] != want {
			t.Fatalf("interval %d: %v, want %v (drawn after the offsets)", i, d.Intervals[i], want)
		}
	}
}

func TestRandomLengthsCoverTheInclusiveRange(t *testing.T) {
	tests := []struct {
		l      int
		ratio  float64
		lo, hi int
	}{
		{10, 0.5, 5, 10},
		{1024, 0.8, 819, 1024}, // floor(819.2)
		{8, 1, 8, 8},
		{7, 0, 0, 7},
	}
	for _, tt := range tests {
		d, err := NewRandomDataset(RandomConfig{InputLen: tt.l, OutputLen: tt.l + 1, RangeRatio: tt.ratio, PrefixLen: 1}, 4000, 1, math.Inf(1), 1)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for i := range d.Len() {
			l := d.Request(i).InputLen - 1
			if l < tt.lo || l > tt.hi {
				t.Fatalf("L=%d ratio=%v: length %d outside [%d, %d]", tt.l, tt.ratio, l, tt.lo, tt.hi)
			}
			seen[l] = true
		}
		if tt.hi-tt.lo < 20 && len(seen) != tt.hi-tt.lo+1 {
			t.Errorf("L=%d ratio=%v: saw %d distinct lengths, want all %d (both ends inclusive)", tt.l, tt.ratio, len(seen), tt.hi-tt.lo+1)
		}
		if !seen[tt.lo] || !seen[tt.hi] {
			t.Errorf("L=%d ratio=%v: ends %d and %d not both drawn", tt.l, tt.ratio, tt.lo, tt.hi)
		}
	}
}

func TestRandomDatasetIsDeterministicPerSeed(t *testing.T) {
	cfg := RandomConfig{InputLen: 30, OutputLen: 5, RangeRatio: 0.5}
	a, _ := NewRandomDataset(cfg, 10, 3, 2, 1)
	b, _ := NewRandomDataset(cfg, 10, 3, 2, 1)
	c, _ := NewRandomDataset(cfg, 10, 4, 2, 1)
	if !reflect.DeepEqual(a.TokenIDs(5), b.TokenIDs(5)) || !reflect.DeepEqual(a.Intervals, b.Intervals) {
		t.Error("same seed, different draws")
	}
	if reflect.DeepEqual(a.TokenIDs(5), c.TokenIDs(5)) {
		t.Error("different seeds, same ids")
	}
	for _, id := range a.TokenIDs(5) {
		if id < 0 || id >= DefaultVocabSize {
			t.Fatalf("id %d outside the default vocabulary", id)
		}
	}
}

func TestGammaGapsHaveTheConfiguredMeanAndShape(t *testing.T) {
	const n = 200000
	for _, tt := range []struct{ rate, burstiness float64 }{{10, 1}, {10, 0.5}, {4, 4}, {100, 0.2}} {
		gaps, err := GammaIntervals(NewRNG(7), n, tt.rate, tt.burstiness)
		if err != nil {
			t.Fatal(err)
		}
		mu := mean(gaps)
		sd := stdPopulation(gaps)
		wantMean := 1 / tt.rate
		// Gamma(k, theta): variance k*theta^2 = 1/(rate^2 k); cv = 1/sqrt(k).
		wantSD := wantMean / math.Sqrt(tt.burstiness)
		se := wantSD / math.Sqrt(n) // standard error of the mean
		if math.Abs(mu-wantMean) > 5*se {
			t.Errorf("rate %v burstiness %v: mean gap %v, want %v within %v", tt.rate, tt.burstiness, mu, wantMean, 5*se)
		}
		if math.Abs(sd-wantSD)/wantSD > 0.03 {
			t.Errorf("rate %v burstiness %v: sd %v, want %v within 3%%", tt.rate, tt.burstiness, sd, wantSD)
		}
		for _, g := range gaps {
			if !(g >= 0) {
				t.Fatalf("negative or NaN gap %v", g)
			}
		}
	}
}

func TestRequestsAreNeverReleasedBeforeTheirArrivalTime(t *testing.T) {
	srv := newReplayServer(t, loadTranscript(t, "vllm-0.11-completions.sse"), nil)
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.NumPrompts = 20
	cfg.MaxConcurrency = 0
	cfg.RequestRate = 400
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewRandomDataset(cfg.Random, cfg.NumPrompts, cfg.Seed, cfg.RequestRate, cfg.Burstiness)
	// Every request starts at or after its release time, counted from
	// when the first was released; how late is the machine's business.
	var due time.Duration
	for i, r := range res.Requests {
		if i > 0 {
			due += time.Duration(d.Intervals[i-1] * float64(time.Second))
		}
		if r.Start-res.runStart < due {
			t.Errorf("request %d started %v after the run's release, due at %v", i, r.Start-res.runStart, due)
		}
	}
	if res.Completed != 20 {
		t.Errorf("completed %d", res.Completed)
	}
}

func TestConcurrencyNeverExceedsTheLimit(t *testing.T) {
	srv := newReplayServer(t, loadTranscript(t, "vllm-0.11-completions.sse"), nil)
	cfg := smallConfig(srv.URL, BackendVLLM)
	cfg.NumPrompts = 60
	cfg.MaxConcurrency = 3
	cfg.NumWarmups = 6
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.PeakConcurrentRequests > 3 || res.PeakConcurrentRequests < 1 {
		t.Errorf("peak concurrency %d with a limit of 3", res.PeakConcurrentRequests)
	}
	if got := len(srv.requestBodies()); got != 66 {
		t.Errorf("server got %d requests, want 60 + 6 warmups", got)
	}
	if res.NumPrompts != 60 || res.Completed != 60 {
		t.Errorf("warmups counted: %d prompts, %d completed", res.NumPrompts, res.Completed)
	}
}
