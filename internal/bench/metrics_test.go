package bench

import (
	"math"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestQuantileInterpolatesLinearlyBetweenClosestRanks(t *testing.T) {
	tests := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, 99, 3.97}, // rank 2.97
		{[]float64{1, 2, 3, 4}, 50, 2.5},  // numpy's median of an even count
		{[]float64{1, 2, 3, 4}, 0, 1},
		{[]float64{1, 2, 3, 4}, 100, 4},
		{[]float64{1, 2, 3, 4}, 25, 1.75},
		{[]float64{10, 20}, 99.9, 19.99},
		{[]float64{5}, 99, 5},
		{[]float64{3, 1, 2}, 50, 2},
		{nil, 99, 0},
	}
	for _, tt := range tests {
		xs := append([]float64(nil), tt.xs...)
		m := summarize("x", xs, []float64{tt.p})
		if got := m.Percentiles[0].Value / 1000; !near(got, tt.want) {
			t.Errorf("percentile %v of %v = %v, want %v", tt.p, tt.xs, got, tt.want)
		}
	}
}

func TestSummarizeUsesPopulationStd(t *testing.T) {
	m := summarize("x", []float64{1, 2, 3, 4}, nil)
	if !near(m.Mean, 2500) || !near(m.Median, 2500) || !near(m.Std, 1000*math.Sqrt(1.25)) {
		t.Errorf("mean %v median %v std %v; want 2500, 2500, %v", m.Mean, m.Median, m.Std, 1000*math.Sqrt(1.25))
	}
	empty := summarize("x", nil, []float64{99})
	if empty.Mean != 0 || empty.Std != 0 || empty.Median != 0 || empty.Percentiles[0].Value != 0 {
		t.Errorf("empty series: %+v, want zeros as bench_serving's np.mean(0)", empty)
	}
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// threeRequests: A streams 3 tokens, B one token, C fails.
func threeRequests() []RequestResult {
	return []RequestResult{
		{InputLen: 10, OutputLen: 3, OK: true, Start: 0, End: ms(260), TTFT: ms(100), Latency: ms(250),
			ChunkAt: []time.Duration{ms(100), ms(150), ms(250)}, ChunkTokens: []int32{1, 1, 1}, OutputTokens: 3},
		{InputLen: 20, OutputLen: 3, OK: true, Start: ms(10), End: ms(220), TTFT: ms(200), Latency: ms(200),
			ChunkAt: []time.Duration{ms(200)}, ChunkTokens: []int32{1}, OutputTokens: 1},
		{InputLen: 30, OutputLen: 3, Start: ms(20), End: ms(30), Err: "HTTP 500: boom"},
	}
}

func TestComputeResultMatchesHandComputedValues(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Model = "m"
	cfg.PercentileMetrics = []string{"e2el", "itl", "tpot", "ttft"} // written in bench_serving's order anyway
	cfg.MetricPercentiles = []float64{99}
	res := computeResult(&cfg, threeRequests(), 0)

	dur := 0.26
	checks := []struct {
		name      string
		got, want float64
	}{
		{"duration", res.Duration, dur},
		{"completed", float64(res.Completed), 2},
		{"failed", float64(res.Failed), 1},
		{"total input (successes only)", float64(res.TotalInputTokens), 30},
		{"total output", float64(res.TotalOutputTokens), 4},
		{"request throughput", res.RequestThroughput, 2 / dur},
		{"output throughput", res.OutputThroughput, 4 / dur},
		{"total token throughput", res.TotalTokenThroughput, 34 / dur},
		{"peak concurrency", float64(res.PeakConcurrentRequests), 3},
		{"peak output tokens/s", res.PeakOutputThroughput, 4},
	}
	want := map[string][4]float64{ // mean, median, std, p99 in ms
		"ttft": {150, 150, 50, 199},
		"tpot": {75, 75, 0, 75}, // only A: (250-100)/(3-1); B has one token
		"itl":  {75, 75, 25, 99.5},
		"e2el": {225, 225, 25, 249.5},
	}
	for name, w := range want {
		m, ok := res.Metric(name)
		if !ok {
			t.Fatalf("no %s stats", name)
		}
		checks = append(checks,
			struct {
				name      string
				got, want float64
			}{name + " mean", m.Mean, w[0]},
			struct {
				name      string
				got, want float64
			}{name + " median", m.Median, w[1]},
			struct {
				name      string
				got, want float64
			}{name + " std", m.Std, w[2]},
			struct {
				name      string
				got, want float64
			}{name + " p99", m.Percentiles[0].Value, w[3]})
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var order []string
	for _, m := range res.Metrics {
		order = append(order, m.Name)
	}
	if len(order) != 4 || order[0] != "ttft" || order[1] != "tpot" || order[2] != "itl" || order[3] != "e2el" {
		t.Errorf("metric order %v, want bench_serving's ttft, tpot, itl, e2el", order)
	}
	if res.RequestGoodput != nil {
		t.Errorf("goodput %v without SLOs, want nil (null)", *res.RequestGoodput)
	}
	if len(res.FailedReasons) != 1 || res.FailedReasons[0].Reason != "HTTP 500: boom" {
		t.Errorf("failed reasons %+v", res.FailedReasons)
	}
}

func TestGoodputCountsRequestsWithinEverySLO(t *testing.T) {
	tests := []struct {
		name string
		slos []SLO
		good int
	}{
		{"ttft 150 ms: only A", []SLO{{"ttft", 150}}, 1},
		{"tpot 50 ms: only B, whose single token counts as tpot 0", []SLO{{"tpot", 50}}, 1},
		{"e2el 300 ms: both", []SLO{{"e2el", 300}}, 2},
		{"ttft 150 and tpot 50: none", []SLO{{"ttft", 150}, {"tpot", 50}}, 0},
		{"an SLO equal to the value passes", []SLO{{"ttft", 200}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Goodput = tt.slos
			res := computeResult(&cfg, threeRequests(), 0)
			if res.RequestGoodput == nil || !near(*res.RequestGoodput, float64(tt.good)/0.26) {
				t.Fatalf("goodput %v, want %v", res.RequestGoodput, float64(tt.good)/0.26)
			}
		})
	}
}

func TestITLPerTokenDividesChunkGapsOverTheirTokens(t *testing.T) {
	tests := []struct {
		name  string
		req   RequestResult
		want  []float64 // ms, sorted
		itlMS []float64
	}{
		{"one token per chunk: same as ITL",
			RequestResult{OK: true, ChunkAt: []time.Duration{ms(100), ms(110), ms(130)}, ChunkTokens: []int32{1, 1, 1}, OutputTokens: 3},
			[]float64{10, 20}, []float64{10, 20}},
		{"token_ids say 1, 4, 4",
			RequestResult{OK: true, CountsExact: true, ChunkAt: []time.Duration{ms(100), ms(140), ms(180)}, ChunkTokens: []int32{1, 4, 4}, OutputTokens: 9},
			[]float64{10, 10}, []float64{40, 40}},
		{"usage says 9 over 3 guessed chunks: spread evenly",
			RequestResult{OK: true, ChunkAt: []time.Duration{ms(100), ms(130), ms(160)}, ChunkTokens: []int32{1, 1, 1}, OutputTokens: 9},
			[]float64{10, 10}, []float64{30, 30}},
		{"an empty finish chunk carries no token and its gap is not a token's",
			RequestResult{OK: true, ChunkAt: []time.Duration{ms(100), ms(110), ms(150)}, ChunkTokens: []int32{1, 1, 0}, OutputTokens: 2},
			[]float64{10}, []float64{10, 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MetricPercentiles = []float64{0, 100}
			tt.req.End = tt.req.ChunkAt[len(tt.req.ChunkAt)-1]
			tt.req.TTFT, tt.req.Latency = tt.req.ChunkAt[0], tt.req.ChunkAt[len(tt.req.ChunkAt)-1]
			res := computeResult(&cfg, []RequestResult{tt.req}, 0)
			pt := res.PerTokenITL
			if lo, hi := pt.Percentiles[0].Value, pt.Percentiles[1].Value; !near(lo, tt.want[0]) || !near(hi, tt.want[len(tt.want)-1]) {
				t.Errorf("per-token ITL range [%v, %v] ms, want [%v, %v]", lo, hi, tt.want[0], tt.want[len(tt.want)-1])
			}
			itl, _ := res.Metric("itl")
			if lo, hi := itl.Percentiles[0].Value, itl.Percentiles[1].Value; !near(lo, tt.itlMS[0]) || !near(hi, tt.itlMS[len(tt.itlMS)-1]) {
				t.Errorf("per-chunk ITL range [%v, %v] ms, want %v (bench_serving's, unchanged)", lo, hi, tt.itlMS)
			}
		})
	}
}

func TestFailureReasonsAreGroupedWhenOnlyNumbersDiffer(t *testing.T) {
	reqs := []RequestResult{
		{Err: "HTTP 400: You passed 9000 input tokens"},
		{Err: "HTTP 400: You passed 12000 input tokens"},
		{Err: "HTTP 500: boom"},
		{OK: true},
		{Err: "stream ended without [DONE] after 3 chunks"},
		{Err: "HTTP 400: You passed 9001 input tokens"},
	}
	got := groupFailures(reqs)
	want := []FailureReason{
		{"HTTP 400: You passed N input tokens", 3, "HTTP 400: You passed 9000 input tokens"},
		{"HTTP 500: boom", 1, "HTTP 500: boom"},
		{"stream ended without [DONE] after N chunks", 1, "stream ended without [DONE] after 3 chunks"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("group %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPeakConcurrencyDoesNotCountTouchingIntervals(t *testing.T) {
	reqs := []RequestResult{
		{Start: 0, End: ms(10)}, {Start: ms(10), End: ms(20)}, {Start: ms(20), End: ms(30)},
		{Start: ms(5), End: ms(25)},
	}
	if got := peakConcurrency(reqs); got != 2 {
		t.Errorf("peak %d, want 2", got)
	}
}
