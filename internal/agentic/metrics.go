package agentic

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/bench"
)

// Result is a replay's records and what they add up to.
type Result struct {
	Model       string
	URL         string
	Concurrency int
	// Prompts says how prompts were synthesized: "text" (chat messages of
	// text blocks) or "token-ids" (a completions prompt of token ids).
	Prompts string
	// DurationSetting is the profiling time asked for; ProfileStart is
	// when profiling began (after the warmup), since the run's start.
	DurationSetting time.Duration
	ProfileStart    time.Duration
	StartTime       time.Time // the run's start, wall clock
	Cancelled       bool      // the failure threshold stopped the run
	Records         []Record  // every request, warmup ones included, in finishing order
	// Server, when the caller scraped the server's /metrics over the
	// profiling window, is what it said.
	Server *ServerMetrics
	Stats  Stats
}

// Stats are the aggregates over the profiling records.
type Stats struct {
	RecordsTotal    int // every record, warmup included
	Warmup          int // warmup records (never measured)
	Profiled        int // profiling records, failed ones included
	Successful      int // profiling records that succeeded: every metric comes from these
	Errors          int
	ContextOverflow int
	ErrorCategories map[string]int

	// Duration is the last successful response's end minus the first
	// one's start, in seconds; throughputs are over it.
	Duration                  float64
	InputTokens, OutputTokens int64
	OutputExpected            int64 // max_completion_tokens asked for
	CachedTokens              int64 // usage.prompt_tokens_details.cached_tokens, summed
	CachedReported            int   // requests whose usage said it
	HitBlocks, Blocks         int64 // theoretical prefix-cache hit over successful requests
	RequestThroughput         float64
	InputThroughput           float64
	OutputThroughput          float64
	TotalThroughput           float64
	Plays, Conversations      int // distinct session plays and conversation plays profiled
	TurnsPerConversation      Dist
	// Latencies in seconds; E2ENorm is E2EL/OSL per request.
	TTFT, E2EL, ITL, FullITL, E2ENorm Dist
	// The same per request, inverted (tokens/s per user): 1/ITL, OSL/E2EL,
	// 1/full-response ITL.
	Intvty, E2ENormIntvty, FullIntvty Dist
	QPS                               Dist // completions per 1-s window
	QPSWindows                        int
	// Coverage is the share of the profiling phase that successful
	// responses' last tokens reach into (a stalled server stops early).
	Coverage        float64
	SubmissionValid bool
	InvalidReasons  []string
}

// Dist summarizes one metric's values.
type Dist struct {
	Count                             int
	Mean, Std                         float64 // population std
	P50, P75, P90, P95, P99, Min, Max float64
	values                            []float64 // sorted
}

func newDist(xs []float64) Dist {
	d := Dist{Count: len(xs), values: xs}
	if len(xs) == 0 {
		return d
	}
	slices.Sort(xs)
	d.Mean, d.Std = bench.MeanStd(xs)
	d.P50, d.P75, d.P90 = bench.Quantile(xs, 50), bench.Quantile(xs, 75), bench.Quantile(xs, 90)
	d.P95, d.P99 = bench.Quantile(xs, 95), bench.Quantile(xs, 99)
	d.Min, d.Max = xs[0], xs[len(xs)-1]
	return d
}

// Validity limits, as AIPerf's agentic scenario applies them.
const (
	maxOverflowRate = 0.01
	minCoverage     = 0.98
)

// ITL is (latency - TTFT)/(OSL - 1) in seconds; false without two tokens.
func (r *Record) ITL() (float64, bool) {
	if r.OSL < 2 || r.TTFT <= 0 {
		return 0, false
	}
	return (r.Last - r.TTFT).Seconds() / float64(r.OSL-1), true
}

// FullITL is (response end - TTFT)/(OSL - 1): it includes the time after
// the last content chunk.
func (r *Record) FullITL() (float64, bool) {
	if r.OSL < 2 || r.TTFT <= 0 {
		return 0, false
	}
	return (r.End - r.Start - r.TTFT).Seconds() / float64(r.OSL-1), true
}

// errorCategory groups a failure for request_accounting.
func errorCategory(r *Record) string {
	switch {
	case r.Overflow:
		return "context_overflow"
	case strings.HasPrefix(r.Err, "HTTP "):
		if code, _, ok := strings.Cut(strings.TrimPrefix(r.Err, "HTTP "), ":"); ok {
			return "http_" + code
		}
	case strings.HasSuffix(r.Err, "timed out"):
		return "timeout"
	case strings.HasSuffix(r.Err, "cancelled"):
		return "cancelled"
	case strings.HasPrefix(r.Err, "server error"):
		return "server_error"
	}
	return "other"
}

func newResult(cfg *Config, recs []Record, profStart, deadline time.Duration) *Result {
	res := &Result{Model: cfg.Model, URL: strings.TrimRight(cfg.BaseURL, "/") + cfg.Endpoint, Concurrency: cfg.Concurrency,
		Prompts: "token-ids", DurationSetting: cfg.Duration, ProfileStart: profStart, Records: recs}
	if cfg.Chat() {
		res.Prompts = "text"
	}
	res.Stats = computeStats(recs, profStart, deadline)
	return res
}

// computeStats aggregates the profiling records as AIPerf and
// InferenceX's aggregation do: metrics over successful profiling
// requests, latencies kept only when finite and positive.
func computeStats(recs []Record, profStart, deadline time.Duration) Stats {
	st := Stats{RecordsTotal: len(recs), ErrorCategories: map[string]int{}}
	var ttft, e2el, itl, full, intv, e2en, e2enIntv, fullIntv, ends []float64
	first, last := time.Duration(math.MaxInt64), time.Duration(math.MinInt64)
	lastObs := time.Duration(0)
	plays := map[[2]int]bool{}
	turns := map[string]int{}
	for i := range recs {
		r := &recs[i]
		if r.Warmup {
			st.Warmup++
			continue
		}
		st.Profiled++
		if !r.OK() {
			st.Errors++
			st.ErrorCategories[errorCategory(r)]++
			if r.Overflow {
				st.ContextOverflow++
			}
			continue
		}
		st.Successful++
		plays[[2]int{r.Lane, r.Pass}] = true
		turns[r.CorrelationID]++
		st.InputTokens += int64(r.ISL)
		st.OutputTokens += int64(r.OSL)
		st.OutputExpected += int64(r.OSLExpected)
		if r.CachedTokens >= 0 {
			st.CachedTokens += int64(r.CachedTokens)
			st.CachedReported++
		}
		st.HitBlocks += int64(r.HitBlocks)
		st.Blocks += int64(r.Blocks)
		first, last = min(first, r.Start), max(last, r.End)
		ends = append(ends, r.End.Seconds())
		lastObs = max(lastObs, r.Start+r.Last)
		keep := func(dst []float64, v float64) []float64 {
			if v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
				dst = append(dst, v)
			}
			return dst
		}
		ttft = keep(ttft, r.TTFT.Seconds())
		e2el = keep(e2el, r.Last.Seconds())
		if r.OSL > 0 && r.Last > 0 {
			e2en = keep(e2en, r.Last.Seconds()/float64(r.OSL))
			e2enIntv = keep(e2enIntv, float64(r.OSL)/r.Last.Seconds())
		}
		if v, ok := r.ITL(); ok {
			itl = keep(itl, v)
			if v > 0 {
				intv = keep(intv, 1/v)
			}
		}
		if v, ok := r.FullITL(); ok {
			full = keep(full, v)
			if v > 0 {
				fullIntv = keep(fullIntv, 1/v)
			}
		}
	}
	st.Plays, st.Conversations = len(plays), len(turns)
	perConv := make([]float64, 0, len(turns))
	for _, n := range turns {
		perConv = append(perConv, float64(n))
	}
	st.TurnsPerConversation = newDist(perConv)
	st.TTFT, st.E2EL, st.ITL, st.FullITL, st.E2ENorm = newDist(ttft), newDist(e2el), newDist(itl), newDist(full), newDist(e2en)
	st.Intvty, st.E2ENormIntvty, st.FullIntvty = newDist(intv), newDist(e2enIntv), newDist(fullIntv)
	if st.Successful > 0 {
		st.Duration = (last - first).Seconds()
	}
	if st.Duration > 0 {
		st.RequestThroughput = float64(st.Successful) / st.Duration
		st.InputThroughput = float64(st.InputTokens) / st.Duration
		st.OutputThroughput = float64(st.OutputTokens) / st.Duration
		st.TotalThroughput = float64(st.InputTokens+st.OutputTokens) / st.Duration
	}
	st.QPS, st.QPSWindows = qps(ends)
	if phase := deadline - profStart; phase > 0 && st.Successful > 0 {
		st.Coverage = min(1, max(0, float64(lastObs-profStart)/float64(phase)))
	}
	st.SubmissionValid = true
	if st.Profiled > 0 && float64(st.ContextOverflow)/float64(st.Profiled) > maxOverflowRate {
		st.SubmissionValid = false
		st.InvalidReasons = append(st.InvalidReasons, "context_overflow_rate_exceeded")
	}
	if st.Coverage < minCoverage {
		st.SubmissionValid = false
		st.InvalidReasons = append(st.InvalidReasons, "insufficient_profile_metric_coverage")
	}
	return st
}

// qps counts completions in consecutive one-second windows from the first
// completion to the last.
func qps(ends []float64) (Dist, int) {
	if len(ends) == 0 {
		return Dist{}, 0
	}
	sort.Float64s(ends)
	n := int(math.Floor(ends[len(ends)-1]-ends[0])) + 1
	counts := make([]float64, n)
	for _, e := range ends {
		counts[min(int(math.Floor(e-ends[0])), n-1)]++
	}
	return newDist(counts), n
}

// TheoreticalHitRate is the infinite-cache prefix hit rate: hit blocks of
// all blocks over successful profiling requests, a fraction.
func (s *Stats) TheoreticalHitRate() float64 {
	if s.Blocks == 0 {
		return 0
	}
	return float64(s.HitBlocks) / float64(s.Blocks)
}

// ServerHitRate is the server-reported cached tokens over the prompt
// tokens of the requests that reported them; false when none did.
func (r *Result) ServerHitRate() (float64, bool) {
	var cached, prompt int64
	for i := range r.Records {
		rec := &r.Records[i]
		if rec.Warmup || !rec.OK() || rec.CachedTokens < 0 {
			continue
		}
		cached += int64(rec.CachedTokens)
		if rec.ServerISL >= 0 {
			prompt += int64(rec.ServerISL)
		} else {
			prompt += int64(rec.ISL)
		}
	}
	if prompt == 0 {
		return 0, false
	}
	return float64(cached) / float64(prompt), true
}
