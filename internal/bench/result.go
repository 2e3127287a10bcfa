package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/atomicfile"
	"github.com/fleetbench/fleet/internal/pyjson"
)

// Result is one benchmark's outcome. Its JSON form has bench_serving's keys
// in bench_serving's order and types, then fleet's own keys after them.
type Result struct {
	// runStart is when the first request was released, on the clock the
	// requests' Start is read on (tests check releases against it).
	runStart time.Duration

	Date           string // YYYYmmdd-HHMMSS, local time
	Backend        string
	ModelID        string
	TokenizerID    string
	BestOf         int
	NumPrompts     int
	Metadata       []KV    // written between num_prompts and request_rate
	RequestRate    float64 // +Inf for "inf"
	Burstiness     float64
	MaxConcurrency int // 0: none (null)

	Duration             float64 // seconds, first dispatch to last finish
	Completed            int
	TotalInputTokens     int
	TotalOutputTokens    int
	RequestThroughput    float64
	RequestGoodput       *float64 // nil without SLOs
	OutputThroughput     float64
	TotalTokenThroughput float64
	Detail               *Detail       // per-request arrays; nil unless asked for
	Metrics              []MetricStats // in bench_serving's order

	// fleet's additions.
	Failed                 int
	FailedReasons          []FailureReason
	PeakConcurrentRequests int
	PeakOutputThroughput   float64 // tokens in the busiest 1 s
	OutputTokensEstimated  int     // requests without usage: tokens counted from chunks
	PerTokenITL            *MetricStats
	NumWarmups             int
	BenchmarkStartTimeUnix float64
	BenchmarkEndTimeUnix   float64
	FleetVersion           string

	// Extra holds keys read from a file that fleet does not know, in order.
	Extra []RawKV
	// Requests are the measured requests (in memory only).
	Requests []RequestResult
	// ProfileErrors says why a --profile call to the server failed (in
	// memory only; the run goes on without the profile, as the Python
	// client's does).
	ProfileErrors []string
}

// Detail is bench_serving's per-request arrays.
type Detail struct {
	InputLens      []int
	OutputLens     []int
	TTFTs          []float64   // seconds
	ITLs           [][]float64 // seconds, per chunk
	GeneratedTexts []string
	Errors         []string
}

// RawKV is a key with its JSON value.
type RawKV struct {
	Key   string
	Value json.RawMessage
}

// Metric returns the stats of a metric (ttft, tpot, itl, e2el).
func (r *Result) Metric(name string) (MetricStats, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return MetricStats{}, false
}

// FailureRatio is the share of prompts that failed.
func (r *Result) FailureRatio() float64 {
	total := r.Completed + r.Failed
	if total == 0 {
		return 0
	}
	return float64(r.Failed) / float64(total)
}

// pyFloatString renders a float as Python's str() does (used in file names).
func pyFloatString(f float64) string {
	if math.IsInf(f, 1) {
		return "inf"
	}
	return string(pyjson.AppendFloat(nil, f))
}

// DefaultFilename is bench_serving's result file name:
// {backend}-{rate}qps[-concurrency{C}]-{model basename}-{date}.json.
func (r *Result) DefaultFilename() string {
	conc := ""
	if r.MaxConcurrency > 0 {
		conc = fmt.Sprintf("-concurrency%d", r.MaxConcurrency)
	}
	model := r.ModelID[strings.LastIndex(r.ModelID, "/")+1:]
	return fmt.Sprintf("%s-%sqps%s-%s-%s.json", r.Backend, pyFloatString(r.RequestRate), conc, model, r.Date)
}

// WriteJSON writes the result as bench_serving writes it (Python's
// json.dump: one line, ", " and ": " separators, non-ASCII escaped).
func (r *Result) WriteJSON(w io.Writer) error {
	var j pyJSON
	j.open()
	j.key("date").str(r.Date)
	j.key("backend").str(r.Backend)
	j.key("model_id").str(r.ModelID)
	j.key("tokenizer_id").str(r.TokenizerID)
	j.key("best_of").int(r.BestOf)
	j.key("num_prompts").int(r.NumPrompts)
	for _, kv := range r.Metadata {
		j.key(kv.Key).str(kv.Value)
	}
	if math.IsInf(r.RequestRate, 1) {
		j.key("request_rate").str("inf")
	} else {
		j.key("request_rate").float(r.RequestRate)
	}
	j.key("burstiness").float(r.Burstiness)
	if r.MaxConcurrency > 0 {
		j.key("max_concurrency").int(r.MaxConcurrency)
	} else {
		j.key("max_concurrency").null()
	}
	j.key("duration").float(r.Duration)
	j.key("completed").int(r.Completed)
	j.key("total_input_tokens").int(r.TotalInputTokens)
	j.key("total_output_tokens").int(r.TotalOutputTokens)
	j.key("request_throughput").float(r.RequestThroughput)
	if r.RequestGoodput != nil {
		j.key("request_goodput:").float(*r.RequestGoodput)
	} else {
		j.key("request_goodput:").null()
	}
	j.key("output_throughput").float(r.OutputThroughput)
	j.key("total_token_throughput").float(r.TotalTokenThroughput)
	if d := r.Detail; d != nil {
		j.key("input_lens").ints(d.InputLens)
		j.key("output_lens").ints(d.OutputLens)
		j.key("ttfts").floats(d.TTFTs)
		j.key("itls").raw('[')
		for i, l := range d.ITLs {
			if i > 0 {
				j.raw(',', ' ')
			}
			j.floats(l)
		}
		j.raw(']')
		j.key("generated_texts").strs(d.GeneratedTexts)
		j.key("errors").strs(d.Errors)
	}
	for _, m := range r.Metrics {
		j.stats(m, "", "_"+m.Name+"_ms")
	}
	j.key("failed").int(r.Failed)
	j.key("failed_reasons").raw('[')
	for i, f := range r.FailedReasons {
		if i > 0 {
			j.raw(',', ' ')
		}
		var o pyJSON
		o.buf = j.buf
		o.open()
		o.key("reason").str(f.Reason)
		o.key("count").int(f.Count)
		o.key("example").str(f.Example)
		o.close()
		j.buf = o.buf
	}
	j.raw(']')
	j.key("peak_concurrent_requests").int(r.PeakConcurrentRequests)
	j.key("peak_output_throughput").float(r.PeakOutputThroughput)
	j.key("output_tokens_estimated").int(r.OutputTokensEstimated)
	if r.PerTokenITL != nil {
		// Nested, so that no new top-level key ends in "ms": InferenceMAX's
		// aggregation converts every such key.
		j.key("itl_per_token")
		var o pyJSON
		o.buf = j.buf
		o.open()
		o.stats(*r.PerTokenITL, "", "_ms")
		o.close()
		j.buf = o.buf
	}
	j.key("num_warmups").int(r.NumWarmups)
	j.key("benchmark_start_time_unix").float(r.BenchmarkStartTimeUnix)
	j.key("benchmark_end_time_unix").float(r.BenchmarkEndTimeUnix)
	j.key("fleet_version").str(r.FleetVersion)
	for _, kv := range r.Extra {
		j.key(kv.Key).raw(kv.Value...)
	}
	j.close()
	_, err := w.Write(j.buf)
	return err
}

// SaveJSON writes the result to path atomically (a temporary file in the
// same directory, then a rename), creating the directory.
func (r *Result) SaveJSON(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save result: %w", err)
	}
	if err := atomicfile.Write(path, 0o644, r.WriteJSON); err != nil {
		return fmt.Errorf("save result: %w", err)
	}
	return nil
}

var metricKey = regexp.MustCompile(`^(mean|median|std|p[0-9]+(?:\.[0-9]+)?)_([a-z0-9_]+)_ms$`)

// ReadResult reads a result file written by fleet or by bench_serving.
func ReadResult(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	defer f.Close()
	r, err := DecodeResult(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read result %s: %w", path, err)
	}
	return r, nil
}

// DecodeResult reads a result in bench_serving's format. Keys between
// num_prompts and request_rate are metadata; unknown keys elsewhere are kept
// in Extra.
func DecodeResult(rd io.Reader) (*Result, error) {
	dec := json.NewDecoder(rd)
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("want a JSON object (%v)", err)
	}
	r := &Result{}
	var d Detail
	hasDetail := false
	inMetadata := false
	stats := map[string]int{} // metric name -> index in r.Metrics
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		into := func(v any) error {
			if err := json.Unmarshal(raw, v); err != nil {
				return fmt.Errorf("key %q: %w", key, err)
			}
			return nil
		}
		if key != "num_prompts" && key != "request_rate" && inMetadata {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				s = string(raw)
			}
			r.Metadata = append(r.Metadata, KV{key, s})
			continue
		}
		switch key {
		case "date":
			err = into(&r.Date)
		case "backend":
			err = into(&r.Backend)
		case "model_id":
			err = into(&r.ModelID)
		case "tokenizer_id":
			err = into(&r.TokenizerID)
		case "best_of":
			err = into(&r.BestOf)
		case "num_prompts":
			err = into(&r.NumPrompts)
			inMetadata = true
		case "request_rate":
			inMetadata = false
			var s string
			if json.Unmarshal(raw, &s) == nil {
				r.RequestRate, err = strconv.ParseFloat(s, 64)
			} else {
				err = into(&r.RequestRate)
			}
		case "burstiness":
			err = into(&r.Burstiness)
		case "max_concurrency":
			var c *int
			err = into(&c)
			if c != nil {
				r.MaxConcurrency = *c
			}
		case "duration":
			err = into(&r.Duration)
		case "completed":
			err = into(&r.Completed)
		case "total_input_tokens":
			err = into(&r.TotalInputTokens)
		case "total_output_tokens":
			err = into(&r.TotalOutputTokens)
		case "request_throughput":
			err = into(&r.RequestThroughput)
		case "request_goodput:", "request_goodput":
			err = into(&r.RequestGoodput)
		case "output_throughput":
			err = into(&r.OutputThroughput)
		case "total_token_throughput":
			err = into(&r.TotalTokenThroughput)
		case "input_lens":
			hasDetail, err = true, into(&d.InputLens)
		case "output_lens":
			hasDetail, err = true, into(&d.OutputLens)
		case "ttfts":
			hasDetail, err = true, into(&d.TTFTs)
		case "itls":
			hasDetail, err = true, into(&d.ITLs)
		case "generated_texts":
			hasDetail, err = true, into(&d.GeneratedTexts)
		case "errors":
			hasDetail, err = true, into(&d.Errors)
		case "failed":
			err = into(&r.Failed)
		case "failed_reasons":
			var fr []struct {
				Reason  string `json:"reason"`
				Count   int    `json:"count"`
				Example string `json:"example"`
			}
			err = into(&fr)
			for _, f := range fr {
				r.FailedReasons = append(r.FailedReasons, FailureReason(f))
			}
		case "peak_concurrent_requests":
			err = into(&r.PeakConcurrentRequests)
		case "peak_output_throughput":
			err = into(&r.PeakOutputThroughput)
		case "output_tokens_estimated":
			err = into(&r.OutputTokensEstimated)
		case "itl_per_token":
			var m map[string]float64
			if err = into(&m); err == nil {
				pt := MetricStats{Name: "itl_per_token"}
				for k, v := range m {
					addStat(&pt, strings.TrimSuffix(k, "_ms"), v)
				}
				sortPercentiles(&pt)
				r.PerTokenITL = &pt
			}
		case "num_warmups":
			err = into(&r.NumWarmups)
		case "benchmark_start_time_unix":
			err = into(&r.BenchmarkStartTimeUnix)
		case "benchmark_end_time_unix":
			err = into(&r.BenchmarkEndTimeUnix)
		case "fleet_version":
			err = into(&r.FleetVersion)
		default:
			if m := metricKey.FindStringSubmatch(key); m != nil {
				var v float64
				if err = into(&v); err == nil {
					i, ok := stats[m[2]]
					if !ok {
						i = len(r.Metrics)
						stats[m[2]] = i
						r.Metrics = append(r.Metrics, MetricStats{Name: m[2]})
					}
					addStat(&r.Metrics[i], m[1], v)
				}
				break
			}
			r.Extra = append(r.Extra, RawKV{key, raw})
		}
		if err != nil {
			return nil, err
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errors.New("unterminated JSON object")
	}
	if hasDetail {
		r.Detail = &d
	}
	if r.Failed == 0 && r.Detail != nil {
		// bench_serving writes no failure count; its errors array has one.
		for _, e := range r.Detail.Errors {
			if e != "" {
				r.Failed++
			}
		}
	}
	return r, nil
}

func addStat(m *MetricStats, kind string, v float64) {
	switch kind {
	case "mean":
		m.Mean = v
	case "median":
		m.Median = v
	case "std":
		m.Std = v
	default:
		if p, err := strconv.ParseFloat(strings.TrimPrefix(kind, "p"), 64); err == nil {
			m.Percentiles = append(m.Percentiles, Percentile{P: p, Value: v})
		}
	}
}

func sortPercentiles(m *MetricStats) {
	ps := m.Percentiles
	for i := 1; i < len(ps); i++ {
		for k := i; k > 0 && ps[k].P < ps[k-1].P; k-- {
			ps[k], ps[k-1] = ps[k-1], ps[k]
		}
	}
}

// percentileWord names a percentile as bench_serving does: 99 -> "99",
// 99.9 -> "99.9".
func percentileWord(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64)
}

var metricTitles = map[string][2]string{
	"ttft": {"TTFT", "Time to First Token"},
	"tpot": {"TPOT", "Time per Output Token (excl. 1st token)"},
	"itl":  {"ITL", "Inter-token Latency"},
	"e2el": {"E2EL", "End-to-end Latency"},
}

// WriteSummary prints bench_serving's result block, with fleet's failure,
// peak and per-token lines added.
func (r *Result) WriteSummary(w io.Writer) error {
	var b bytes.Buffer
	line := func(label string, v any) {
		switch v := v.(type) {
		case float64:
			fmt.Fprintf(&b, "%-40s %-10.2f\n", label, v)
		default:
			fmt.Fprintf(&b, "%-40s %-10v\n", label, v)
		}
	}
	center := func(s string, c byte) {
		pad := 50 - len(s)
		if pad < 0 {
			pad = 0
		}
		left := pad / 2
		fmt.Fprintf(&b, "%s%s%s\n", strings.Repeat(string(c), left), s, strings.Repeat(string(c), pad-left))
	}
	center(" Serving Benchmark Result ", '=')
	line("Successful requests:", r.Completed)
	line("Failed requests:", r.Failed)
	line("Benchmark duration (s):", r.Duration)
	line("Total input tokens:", r.TotalInputTokens)
	line("Total generated tokens:", r.TotalOutputTokens)
	if r.OutputTokensEstimated > 0 {
		line("Requests without usage (estimated):", r.OutputTokensEstimated)
	}
	line("Request throughput (req/s):", r.RequestThroughput)
	if r.RequestGoodput != nil {
		line("Request goodput (req/s):", *r.RequestGoodput)
	}
	line("Output token throughput (tok/s):", r.OutputThroughput)
	line("Peak output token throughput (tok/s):", r.PeakOutputThroughput)
	line("Peak concurrent requests:", r.PeakConcurrentRequests)
	line("Total Token throughput (tok/s):", r.TotalTokenThroughput)
	for _, m := range r.Metrics {
		t := metricTitles[m.Name]
		center(t[1], '-')
		line("Mean "+t[0]+" (ms):", m.Mean)
		line("Median "+t[0]+" (ms):", m.Median)
		for _, p := range m.Percentiles {
			line("P"+percentileWord(p.P)+" "+t[0]+" (ms):", p.Value)
		}
	}
	if pt := r.PerTokenITL; pt != nil {
		if itl, ok := r.Metric("itl"); ok && math.Abs(itl.Mean-pt.Mean) > 1e-9*math.Max(1, itl.Mean) {
			center("Inter-token Latency per token", '-')
			line("Mean ITL per token (ms):", pt.Mean)
			line("Median ITL per token (ms):", pt.Median)
			for _, p := range pt.Percentiles {
				line("P"+percentileWord(p.P)+" ITL per token (ms):", p.Value)
			}
		}
	}
	r.writeSpecSummary(&b)
	if len(r.FailedReasons) > 0 {
		center("Failures", '-')
		for _, f := range r.FailedReasons {
			fmt.Fprintf(&b, "%6d  %s\n", f.Count, clip([]byte(f.Example), 200))
		}
	}
	b.WriteString(strings.Repeat("=", 50) + "\n")
	_, err := w.Write(b.Bytes())
	return err
}

// formatDate is bench_serving's date format.
func formatDate(t time.Time) string { return t.Format("20060102-150405") }
