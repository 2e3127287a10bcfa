package sim

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The PD effect: at a fixed decode load, a burst of long prompts raises the
// TTFT of new requests in both set-ups, but it stalls the running streams
// only when prefill and decode share one engine. The engine is
// jitter-free, and every figure is a median of many gaps or a ratio with a
// wide margin, so scheduling noise on a loaded machine cannot flip it.

func effectCosts() Config {
	return Config{
		Timing: TimingEngine, StepBase: 8 * time.Millisecond, StepPerSeq: 100 * time.Microsecond,
		PrefillPerToken: 20 * time.Microsecond, MaxNumBatchedTokens: 2048, MaxNumSeqs: 64, Seed: 5,
		KVBytesPerToken: 1000, LinkBandwidth: 10e9,
	}
}

// arrivals streams a request and records when each chunk came.
type arrivals struct {
	mu    sync.Mutex
	times []time.Time
	err   error
}

func (a *arrivals) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.times)
}

func (a *arrivals) snapshot() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.times)
}

func (a *arrivals) stream(ctx context.Context, url, body string) {
	resp, err := post(ctx, url+"/v1/completions", body)
	if err != nil {
		a.mu.Lock()
		a.err = err
		a.mu.Unlock()
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data: {") && strings.Contains(line, `"text":`) {
			a.mu.Lock()
			a.times = append(a.times, time.Now())
			a.mu.Unlock()
		}
	}
	a.mu.Lock()
	if resp.StatusCode != 200 {
		a.err = fmt.Errorf("status %d", resp.StatusCode)
	} else if a.err == nil {
		a.err = sc.Err()
	}
	a.mu.Unlock()
}

// gapsWithin are the gaps between consecutive chunks that both came within
// [from, to).
func gapsWithin(times []time.Time, from, to time.Time) []time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(times); i++ {
		if !times[i-1].Before(from) && times[i].Before(to) {
			gaps = append(gaps, times[i].Sub(times[i-1]))
		}
	}
	return gaps
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

type effect struct {
	baseITL, burstITL    time.Duration // median gap of the running streams before and during the burst
	probeTTFT, burstTTFT time.Duration // a short request's TTFT before the burst; the burst's median TTFT
}

// measureEffect runs a fixed decode load against url, then a burst of long
// prompts, and reports what the running streams and the new requests saw.
func measureEffect(t *testing.T, url string) effect {
	t.Helper()
	const streams, burst = 6, 6
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := make([]*arrivals, streams)
	var wg sync.WaitGroup
	for i := range running {
		running[i] = &arrivals{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			running[i].stream(ctx, url, `{"prompt":[1,2,3,4,5,6,7,8],"max_tokens":160,"ignore_eos":true,"stream":true}`)
		}()
	}
	all := func(n int) func() bool {
		return func() bool {
			for _, a := range running {
				if a.count() < n {
					return false
				}
			}
			return true
		}
	}
	eventually(t, "the decode load to warm up", all(8))
	baseStart := time.Now()
	probe := &arrivals{}
	probeStart := time.Now()
	probe.stream(ctx, url, `{"prompt":[1,2,3,4,5,6,7,8],"max_tokens":2,"ignore_eos":true,"stream":true}`)
	if probe.err != nil || probe.count() == 0 {
		t.Fatalf("probe: %v", probe.err)
	}
	eventually(t, "a baseline of decode steps", all(40))
	for _, a := range running {
		if a.count() >= 160 {
			t.Fatal("a stream finished before the burst: lengthen the streams")
		}
	}

	burstStart := time.Now()
	long := `{"prompt":` + ids(3000) + `,"max_tokens":2,"ignore_eos":true,"stream":true}`
	bursts := make([]*arrivals, burst)
	var bwg sync.WaitGroup
	for i := range bursts {
		bursts[i] = &arrivals{}
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			bursts[i].stream(ctx, url, long)
		}()
	}
	bwg.Wait()
	var burstEnd time.Time
	var ttfts []time.Duration
	for _, b := range bursts {
		times := b.snapshot()
		if b.err != nil || len(times) == 0 {
			t.Fatalf("burst request: %v", b.err)
		}
		ttfts = append(ttfts, times[0].Sub(burstStart))
		if times[0].After(burstEnd) {
			burstEnd = times[0]
		}
	}
	wg.Wait()
	var base, during []time.Duration
	for _, a := range running {
		if a.err != nil || a.count() != 160 {
			t.Fatalf("running stream: %d chunks, %v", a.count(), a.err)
		}
		times := a.snapshot()
		base = append(base, gapsWithin(times, baseStart, burstStart)...)
		during = append(during, gapsWithin(times, burstStart, burstEnd)...)
	}
	if len(base) < 20 || len(during) < 10 {
		t.Fatalf("too few gaps to judge: %d before, %d during the burst", len(base), len(during))
	}
	return effect{
		baseITL: median(base), burstITL: median(during),
		probeTTFT: probe.snapshot()[0].Sub(probeStart), burstTTFT: median(ttfts),
	}
}

func TestPDKeepsITLFlatUnderPromptLoad(t *testing.T) {
	pd := startPD(t, FormatVLLM, effectCosts(), effectCosts())
	disagg := measureEffect(t, pd.router)
	_, aggURL := startServer(t, effectCosts())
	agg := measureEffect(t, aggURL)
	t.Logf("disaggregated: %+v", disagg)
	t.Logf("aggregated:    %+v", agg)

	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(b) }
	if r := ratio(disagg.burstITL, disagg.baseITL); r >= 1.3 {
		t.Errorf("disaggregated: the running streams' ITL grew %.2fx under the prompt burst, want < 1.3x", r)
	}
	if r := ratio(agg.burstITL, agg.baseITL); r <= 2 {
		t.Errorf("aggregated: the running streams' ITL grew only %.2fx under the prompt burst, want > 2x", r)
	}
	for name, e := range map[string]effect{"disaggregated": disagg, "aggregated": agg} {
		if r := ratio(e.burstTTFT, e.probeTTFT); r <= 2 {
			t.Errorf("%s: the burst's TTFT is %.2fx a short request's before it, want > 2x", name, r)
		}
	}
	if st := pd.decode.Stats(); st.Transfers == 0 || st.TransferBytes == 0 {
		t.Errorf("the decode moved no KV: %+v", st)
	}
}

func TestHalvingLinkBandwidthRaisesTTFTByTheTransferTime(t *testing.T) {
	const prompt, bytesPerToken, bw = 250, 1_000_000, 1e9 // 250 MB at 1 GB/s: 250ms
	ttft := func(bandwidth float64) time.Duration {
		cfg := pdCosts()
		cfg.KVBytesPerToken = bytesPerToken
		dcfg := cfg
		dcfg.LinkBandwidth = bandwidth
		pd := startPD(t, FormatVLLM, cfg, dcfg)
		best := time.Duration(1<<63 - 1)
		for range 3 {
			a := &arrivals{}
			start := time.Now()
			a.stream(context.Background(), pd.router, `{"prompt":`+ids(prompt)+`,"max_tokens":1,"stream":true}`)
			if a.err != nil || a.count() == 0 {
				t.Fatalf("request: %v", a.err)
			}
			best = min(best, a.snapshot()[0].Sub(start))
		}
		if st := pd.decode.Stats(); st.TransferBytes != 3*prompt*bytesPerToken {
			t.Fatalf("decode moved %d bytes, want %d", st.TransferBytes, 3*prompt*bytesPerToken)
		}
		return best
	}
	full, half := ttft(bw), ttft(bw/2)
	want := time.Duration(float64(prompt*bytesPerToken) / bw * float64(time.Second))
	rise := half - full
	t.Logf("TTFT %v at full bandwidth, %v at half: +%v (bytes/bw = %v)", full, half, rise, want)
	if rise < want*6/10 || rise > want*16/10 {
		t.Errorf("halving the link bandwidth raised TTFT by %v, want about bytes/bw = %v", rise, want)
	}
}
