package bench

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// MetricStats summarizes one metric in milliseconds, as bench_serving does.
type MetricStats struct {
	Name        string // ttft, tpot, itl, e2el
	Mean        float64
	Median      float64
	Std         float64 // population standard deviation
	Percentiles []Percentile
}

// Percentile is one requested percentile of a metric, in milliseconds.
type Percentile struct {
	P     float64 // 99, 99.9 ...
	Value float64
}

// Percentile returns the p-th percentile of m, and whether it was computed.
func (m MetricStats) Percentile(p float64) (float64, bool) {
	for _, q := range m.Percentiles {
		if q.P == p {
			return q.Value, true
		}
	}
	return 0, false
}

// summarize computes mean, median, population std and percentiles of xs
// (seconds) in milliseconds. Like bench_serving (numpy on `xs or 0`), an
// empty list yields zeros. xs is sorted in place.
func summarize(name string, xs []float64, percentiles []float64) MetricStats {
	m := MetricStats{Name: name, Percentiles: make([]Percentile, len(percentiles))}
	for i, p := range percentiles {
		m.Percentiles[i].P = p
	}
	if len(xs) == 0 {
		return m
	}
	slices.Sort(xs)
	m.Mean = mean(xs) * 1000
	m.Std = stdPopulation(xs) * 1000
	m.Median = quantileSorted(xs, 50) * 1000
	for i, p := range percentiles {
		m.Percentiles[i].Value = quantileSorted(xs, p) * 1000
	}
	return m
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// stdPopulation is numpy's default std (ddof=0), computed in two passes
// for accuracy.
func stdPopulation(xs []float64) float64 {
	mu := mean(xs)
	s := 0.0
	for _, x := range xs {
		d := x - mu
		s += d * d
	}
	return math.Sqrt(s / float64(len(xs)))
}

// quantileSorted is numpy's default percentile ("linear"): the rank
// p/100*(n-1), interpolated between the two closest ranks.
func quantileSorted(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	rank := p / 100 * float64(len(xs)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	if lo < 0 {
		lo = 0
	}
	if hi >= len(xs) {
		hi = len(xs) - 1
	}
	if lo == hi {
		return xs[lo]
	}
	frac := rank - float64(lo)
	return xs[lo] + (xs[hi]-xs[lo])*frac
}

// FailureReason is one group of failed requests.
type FailureReason struct {
	Reason  string // the reason with varying numbers replaced by N
	Count   int
	Example string // the first reason of the group, verbatim
}

// groupReason makes reasons that differ only in numbers (token counts,
// chunk counts, ports) fall in one group; an HTTP status stays as it is.
func groupReason(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < '0' || c > '9' {
			b.WriteByte(c)
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if strings.HasSuffix(s[:i], "HTTP ") {
			b.WriteString(s[i:j])
		} else {
			b.WriteByte('N')
		}
		i = j
	}
	return b.String()
}

func groupFailures(reqs []RequestResult) []FailureReason {
	idx := map[string]int{}
	var out []FailureReason
	for i := range reqs {
		if reqs[i].OK {
			continue
		}
		g := groupReason(reqs[i].Err)
		if k, ok := idx[g]; ok {
			out[k].Count++
			continue
		}
		idx[g] = len(out)
		out = append(out, FailureReason{Reason: g, Count: 1, Example: reqs[i].Err})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// chunkTokens returns how many tokens each chunk of a successful request
// carried. When the counts were guessed (1 per non-empty chunk) but the
// server reported a different total, the total is spread over the chunks in
// proportion, which is exact when the server packs a fixed number of tokens
// per chunk (its stream interval).
func chunkTokens(r *RequestResult) []float64 {
	out := make([]float64, len(r.ChunkTokens))
	sum := 0
	for i, n := range r.ChunkTokens {
		out[i] = float64(n)
		sum += int(n)
	}
	if r.CountsExact || r.Estimated || sum == r.OutputTokens {
		return out
	}
	if sum == 0 {
		for i := range out {
			out[i] = float64(r.OutputTokens) / float64(len(out))
		}
		return out
	}
	scale := float64(r.OutputTokens) / float64(sum)
	for i := range out {
		out[i] *= scale
	}
	return out
}

// computeResult turns the requests of a run into its metrics. runStart is
// the first dispatch; the duration runs to the last request's end.
func computeResult(cfg *Config, reqs []RequestResult, runStart time.Duration) *Result {
	res := &Result{
		runStart:    runStart,
		Backend:     string(cfg.Backend),
		ModelID:     cfg.Model,
		TokenizerID: cfg.Tokenizer,
		BestOf:      1,
		NumPrompts:  len(reqs),
		Metadata:    cfg.Metadata,
		RequestRate: cfg.RequestRate,
		Burstiness:  cfg.Burstiness,

		MaxConcurrency: cfg.MaxConcurrency,
		NumWarmups:     cfg.NumWarmups,
		FleetVersion:   cfg.Version,
		Requests:       reqs,
	}
	if res.TokenizerID == "" {
		res.TokenizerID = cfg.Model
	}
	end := runStart
	for i := range reqs {
		end = max(end, reqs[i].End)
	}
	dur := (end - runStart).Seconds()
	res.Duration = dur

	var ttfts, tpots, allTPOTs, itls, e2els, perToken []float64
	buckets := make([]float64, int(dur)+2)
	for i := range reqs {
		r := &reqs[i]
		if !r.OK {
			res.Failed++
			continue
		}
		res.Completed++
		res.TotalInputTokens += r.InputLen
		res.TotalOutputTokens += r.OutputTokens
		if r.Estimated {
			res.OutputTokensEstimated++
		}
		ttft, lat := r.TTFT.Seconds(), r.Latency.Seconds()
		ttfts = append(ttfts, ttft)
		e2els = append(e2els, lat)
		tpot := 0.0 // bench_serving counts 0 for goodput when out <= 1
		if r.OutputTokens > 1 {
			tpot = (lat - ttft) / float64(r.OutputTokens-1)
			tpots = append(tpots, tpot)
		}
		allTPOTs = append(allTPOTs, tpot)
		for k := 1; k < len(r.ChunkAt); k++ {
			itls = append(itls, (r.ChunkAt[k] - r.ChunkAt[k-1]).Seconds())
		}
		tokens := chunkTokens(r)
		prev := time.Duration(0)
		for k, at := range r.ChunkAt {
			if b := int((r.Start + at - runStart) / time.Second); b >= 0 && b < len(buckets) {
				buckets[b] += tokens[k]
			}
			if k == 0 {
				prev = at
				continue
			}
			if tokens[k] > 0 {
				perToken = append(perToken, (at-prev).Seconds()/tokens[k])
				prev = at
			}
		}
	}
	if dur > 0 {
		res.RequestThroughput = float64(res.Completed) / dur
		res.OutputThroughput = float64(res.TotalOutputTokens) / dur
		res.TotalTokenThroughput = float64(res.TotalInputTokens+res.TotalOutputTokens) / dur
	}
	if len(cfg.Goodput) > 0 {
		good := 0
		for i := range ttfts {
			ok := true
			for _, s := range cfg.Goodput {
				v := e2els[i]
				switch s.Metric {
				case "ttft":
					v = ttfts[i]
				case "tpot":
					v = allTPOTs[i]
				}
				if v > s.MS/1000 {
					ok = false
				}
			}
			if ok {
				good++
			}
		}
		g := 0.0
		if dur > 0 {
			g = float64(good) / dur
		}
		res.RequestGoodput = &g
	}
	series := map[string][]float64{"ttft": ttfts, "tpot": tpots, "itl": itls, "e2el": e2els}
	for _, name := range metricNames {
		if slices.Contains(cfg.PercentileMetrics, name) {
			res.Metrics = append(res.Metrics, summarize(name, series[name], cfg.MetricPercentiles))
		}
	}
	pt := summarize("itl_per_token", perToken, cfg.MetricPercentiles)
	res.PerTokenITL = &pt
	res.FailedReasons = groupFailures(reqs)
	res.PeakConcurrentRequests = peakConcurrency(reqs)
	for _, b := range buckets {
		res.PeakOutputThroughput = max(res.PeakOutputThroughput, b)
	}
	if cfg.SaveDetailed {
		res.Detail = detail(reqs)
	}
	return res
}

// peakConcurrency is the most requests in flight at once (after the
// semaphore, failed ones included).
func peakConcurrency(reqs []RequestResult) int {
	type ev struct {
		at    time.Duration
		delta int
	}
	evs := make([]ev, 0, 2*len(reqs))
	for i := range reqs {
		evs = append(evs, ev{reqs[i].Start, 1}, ev{reqs[i].End, -1})
	}
	// At equal times an end comes first: a request that ends as another
	// starts did not overlap it.
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].at != evs[j].at {
			return evs[i].at < evs[j].at
		}
		return evs[i].delta < evs[j].delta
	})
	cur, peak := 0, 0
	for _, e := range evs {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}

// detail builds bench_serving's per-request arrays. As the Python client
// records them, failed requests keep their input length and show 0 output
// tokens, TTFT 0, no ITLs and an empty text.
func detail(reqs []RequestResult) *Detail {
	d := &Detail{
		InputLens:      make([]int, len(reqs)),
		OutputLens:     make([]int, len(reqs)),
		TTFTs:          make([]float64, len(reqs)),
		ITLs:           make([][]float64, len(reqs)),
		GeneratedTexts: make([]string, len(reqs)),
		Errors:         make([]string, len(reqs)),
	}
	for i := range reqs {
		r := &reqs[i]
		d.InputLens[i] = r.InputLen
		d.ITLs[i] = []float64{}
		d.Errors[i] = r.Err
		if !r.OK {
			continue
		}
		d.OutputLens[i] = r.OutputTokens
		d.TTFTs[i] = r.TTFT.Seconds()
		d.GeneratedTexts[i] = string(r.Text)
		for k := 1; k < len(r.ChunkAt); k++ {
			d.ITLs[i] = append(d.ITLs[i], (r.ChunkAt[k] - r.ChunkAt[k-1]).Seconds())
		}
	}
	return d
}
