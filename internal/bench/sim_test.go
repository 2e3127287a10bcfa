package bench_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fleetbench/fleet/internal/bench"
	"github.com/fleetbench/fleet/internal/sim"
)

// startSim serves an in-process simulator on a loopback port.
func startSim(t testing.TB, cfg sim.Config) (*sim.Server, string) {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s, "http://" + ln.Addr().String()
}

func fixedSim(ttft, itl time.Duration) sim.Config {
	cfg := sim.DefaultConfig()
	cfg.Model = "sim-model"
	cfg.Timing = sim.TimingFixed
	cfg.TTFT, cfg.ITL = ttft, itl
	return cfg
}

func simBench(url string, conc, prompts, outLen int) bench.Config {
	cfg := bench.DefaultConfig()
	cfg.BaseURL = url
	cfg.Model = "sim-model"
	cfg.NumPrompts = prompts
	cfg.MaxConcurrency = conc
	cfg.NumWarmups = conc // opens the connections before the measured run
	cfg.IgnoreEOS = true
	cfg.Random = bench.RandomConfig{InputLen: 32, OutputLen: outLen, RangeRatio: 1}
	cfg.PercentileMetrics = []string{"ttft", "tpot", "itl", "e2el"}
	cfg.MetricPercentiles = []float64{50, 99}
	return cfg
}

// TestClientRecoversTheSimulatorsFixedTiming is the accuracy check: against
// a server that sends its first chunk exactly TTFT after a request arrives
// and then one chunk every ITL, the client's median TTFT, ITL and TPOT must
// be within 2% of those values at every concurrency. Output lengths vary
// (half to all of maxOut tokens) so that after the first burst requests finish and start
// at different times, as in a real run; the median then reads the steady
// state, and the burst of --request-rate inf is a minority of the samples.
func TestClientRecoversTheSimulatorsFixedTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about ten seconds of traffic")
	}
	// 512 streams are BenchmarkClientAccuracyAt512Streams's: there the
	// shared machine's share of the time, not the client, decides how
	// far the medians move, so it reports the figures instead.
	for _, tt := range []struct {
		conc, prompts int
		ttft, itl     time.Duration
		maxOut        int
	}{
		{1, 3, 300 * time.Millisecond, 40 * time.Millisecond, 16},
		{64, 256, 300 * time.Millisecond, 40 * time.Millisecond, 16},
	} {
		t.Run(fmt.Sprintf("concurrency %d", tt.conc), func(t *testing.T) {
			// A second attempt only when the first misses: the machine that
			// runs the tests is shared, and one burst of other work can move
			// a median; a client that is really off misses twice.
			var errs []string
			for attempt := 1; attempt <= 2; attempt++ {
				errs = checkFixedTiming(t, tt.conc, tt.prompts, tt.maxOut, tt.ttft, tt.itl)
				if len(errs) == 0 {
					return
				}
				t.Logf("attempt %d: %s", attempt, strings.Join(errs, "; "))
			}
			t.Error(strings.Join(errs, "; "))
		})
	}
}

func checkFixedTiming(t *testing.T, conc, prompts, maxOut int, ttft, itl time.Duration) []string {
	_, url := startSim(t, fixedSim(ttft, itl))
	cfg := simBench(url, conc, prompts, maxOut)
	cfg.Random.RangeRatio = 0.5
	res, err := bench.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.Completed != prompts {
		t.Fatalf("completed %d failed %d: %+v", res.Completed, res.Failed, res.FailedReasons)
	}
	var errs []string
	for _, c := range []struct {
		metric string
		want   time.Duration
	}{{"ttft", ttft}, {"itl", itl}, {"tpot", itl}} {
		m, _ := res.Metric(c.metric)
		want := float64(c.want) / float64(time.Millisecond)
		t.Logf("%s median %.3f ms (configured %.0f), p99 %.3f ms", c.metric, m.Median, want, m.Percentiles[1].Value)
		if math.Abs(m.Median-want)/want > 0.02 {
			errs = append(errs, fmt.Sprintf("median %s %.3f ms, want %.0f ms within 2%%", c.metric, m.Median, want))
		}
	}
	if res.PeakConcurrentRequests != conc {
		t.Errorf("peak concurrency %d, want %d", res.PeakConcurrentRequests, conc)
	}
	return errs
}

func TestFailuresInjectedByTheSimulatorAreCountedWithReasons(t *testing.T) {
	cfg := fixedSim(5*time.Millisecond, time.Millisecond)
	cfg.FailRatio, cfg.DropRatio, cfg.Seed = 0.2, 0.2, 3
	s, url := startSim(t, cfg)
	bc := simBench(url, 8, 60, 16)
	bc.NumWarmups = 0
	res, err := bench.Run(context.Background(), bc, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Failed == 0 || st.Dropped == 0 {
		t.Fatalf("the simulator injected %d failures and %d drops; the seed should give both", st.Failed, st.Dropped)
	}
	if int64(res.Failed) != st.Failed+st.Dropped || int64(res.Completed) != st.Completed {
		t.Errorf("client: %d failed, %d completed; server: %d failed + %d dropped, %d completed", res.Failed, res.Completed, st.Failed, st.Dropped, st.Completed)
	}
	var http500, lost int
	for _, f := range res.FailedReasons {
		switch {
		case strings.HasPrefix(f.Reason, "HTTP 500: simulated failure"):
			http500 += f.Count
		case strings.HasPrefix(f.Reason, "read stream after"):
			lost += f.Count
		default:
			t.Errorf("unexpected reason %q", f.Reason)
		}
	}
	if int64(http500) != st.Failed || int64(lost) != st.Dropped {
		t.Errorf("reasons: %d HTTP 500, %d lost streams; server: %d, %d", http500, lost, st.Failed, st.Dropped)
	}
}

func TestReadyTimeoutWaitsForAStartingServer(t *testing.T) {
	cfg := fixedSim(time.Millisecond, time.Millisecond)
	cfg.StartupDelay = 1500 * time.Millisecond // /health answers 503 until then
	_, url := startSim(t, cfg)
	bc := simBench(url, 2, 4, 4)
	bc.ReadyTimeout = 10 * time.Second
	res, err := bench.Run(context.Background(), bc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 {
		t.Errorf("%d requests failed after the readiness wait: %+v", res.Failed, res.FailedReasons)
	}

	_, url2 := startSim(t, cfg)
	bc = simBench(url2, 2, 4, 4)
	bc.ReadyTimeout = 200 * time.Millisecond
	if _, err := bench.Run(context.Background(), bc, nil); err == nil || !strings.Contains(err.Error(), "not ready after 200ms: GET /health: HTTP 503") {
		t.Errorf("got %v, want a readiness timeout naming the 503", err)
	}
}

// BenchmarkClientAgainstSim measures what the client sustains: each
// iteration is one benchmark run of `concurrency` requests against an
// in-process simulator in fixed timing mode. It reports the streamed tokens
// per second and the latency the client adds over the configured timing
// (median measured minus configured; on a shared machine this includes the
// simulator's own scheduling).
func BenchmarkClientAgainstSim(b *testing.B) {
	const ttft, itl, outLen = 20 * time.Millisecond, 10 * time.Millisecond, 64
	for _, conc := range []int{64, 512, 2048} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			_, url := startSim(b, fixedSim(ttft, itl))
			cfg := simBench(url, conc, conc, outLen)
			cfg.NumWarmups = 0
			// One untimed run opens the connections.
			if _, err := bench.Run(context.Background(), cfg, nil); err != nil {
				b.Fatal(err)
			}
			var tokens, seconds, ttftAdd, itlAdd float64
			var failed int
			for b.Loop() {
				res, err := bench.Run(context.Background(), cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				tokens += float64(res.TotalOutputTokens)
				seconds += res.Duration
				m, _ := res.Metric("ttft")
				ttftAdd += m.Median - float64(ttft)/1e6
				m, _ = res.Metric("itl")
				itlAdd += m.Median - float64(itl)/1e6
				failed += res.Failed
			}
			n := float64(b.N)
			b.ReportMetric(tokens/seconds, "tokens/s")
			b.ReportMetric(ttftAdd/n, "added-ttft-ms")
			b.ReportMetric(itlAdd/n*1000, "added-itl-µs")
			b.ReportMetric(float64(failed)/n, "failed/run")
		})
	}
}

// TestRunReportsProgress: the callback sees the run's numbers grow and a
// last report with every request done.
func TestRunReportsProgress(t *testing.T) {
	_, url := startSim(t, fixedSim(5*time.Millisecond, 2*time.Millisecond))
	cfg := simBench(url, 2, 12, 8)
	cfg.ProgressEvery = 5 * time.Millisecond
	var reports []bench.Progress
	cfg.OnProgress = func(p bench.Progress) { reports = append(reports, p) } // one goroutine calls it
	res, err := bench.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) == 0 {
		t.Fatal("no progress reported")
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Done < reports[i-1].Done || reports[i].OutputTokens < reports[i-1].OutputTokens {
			t.Errorf("progress went back: %+v after %+v", reports[i], reports[i-1])
		}
	}
	last := reports[len(reports)-1]
	if last.Done != 12 || last.Total != 12 || last.Failed != 0 || last.OutputTokens != int64(res.TotalOutputTokens) {
		t.Errorf("last report %+v; want 12/12 done, none failed, %d tokens", last, res.TotalOutputTokens)
	}
}

// BenchmarkClientAccuracyAt512Streams measures how far the client's
// median TTFT and ITL land from a fixed-timing simulator's (500 ms, 100
// ms) with 512 streams: go test -run '^$' -bench ClientAccuracy
// ./internal/bench/ prints the error in percent of each.
func BenchmarkClientAccuracyAt512Streams(b *testing.B) {
	const ttft, itl = 500 * time.Millisecond, 100 * time.Millisecond
	for i := 0; i < b.N; i++ {
		_, url := startSim(b, fixedSim(ttft, itl))
		cfg := simBench(url, 512, 1536, 8)
		cfg.Random.RangeRatio = 0.5
		res, err := bench.Run(context.Background(), cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			metric string
			want   time.Duration
		}{{"ttft", ttft}, {"itl", itl}} {
			m, _ := res.Metric(c.metric)
			want := float64(c.want) / float64(time.Millisecond)
			b.ReportMetric(100*(m.Median-want)/want, c.metric+"-err-%")
		}
	}
}
