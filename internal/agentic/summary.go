package agentic

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteSummary prints a bench_serving-style result block for the replay:
// counts, throughputs, TTFT, ITL and E2EL, the cache hit rates and the
// validity verdict.
func (r *Result) WriteSummary(w io.Writer) error {
	var b bytes.Buffer
	st := &r.Stats
	line := func(label string, v any) {
		switch v := v.(type) {
		case float64:
			fmt.Fprintf(&b, "%-40s %-10.2f\n", label, v)
		default:
			fmt.Fprintf(&b, "%-40s %-10v\n", label, v)
		}
	}
	center := func(s string, c byte) {
		pad := max(50-len(s), 0)
		fmt.Fprintf(&b, "%s%s%s\n", strings.Repeat(string(c), pad/2), s, strings.Repeat(string(c), pad-pad/2))
	}
	center(" Agentic Replay Result ", '=')
	line("Prompts:", r.Prompts)
	line("Lanes (session trees):", r.Concurrency)
	line("Successful requests:", st.Successful)
	line("Failed requests:", st.Errors)
	line("Context overflows:", st.ContextOverflow)
	line("Warmup requests (not measured):", st.Warmup)
	line("Session plays / conversations:", fmt.Sprintf("%d / %d", st.Plays, st.Conversations))
	line("Mean turns per conversation:", st.TurnsPerConversation.Mean)
	line("Benchmark duration (s):", st.Duration)
	line("Total input tokens:", st.InputTokens)
	line("Total generated tokens:", st.OutputTokens)
	line("Request throughput (req/s):", st.RequestThroughput)
	line("Output token throughput (tok/s):", st.OutputThroughput)
	line("Total Token throughput (tok/s):", st.TotalThroughput)
	dist := func(title, short string, d Dist) {
		center(title, '-')
		line("Mean "+short+" (ms):", 1000*d.Mean)
		line("Median "+short+" (ms):", 1000*d.P50)
		line("P90 "+short+" (ms):", 1000*d.P90)
		line("P99 "+short+" (ms):", 1000*d.P99)
	}
	dist("Time to First Token", "TTFT", st.TTFT)
	dist("Inter-token Latency", "ITL", st.ITL)
	dist("End-to-end Latency", "E2EL", st.E2EL)
	center("Prefix Cache", '-')
	line("Theoretical hit rate (%):", 100*st.TheoreticalHitRate())
	if rate, ok := r.ServerHitRate(); ok {
		line("Server cached tokens (usage):", st.CachedTokens)
		line("Server-reported hit rate (%):", 100*rate)
	} else {
		line("Server-reported hit rate (%):", "n/a")
	}
	if r.Server != nil {
		if gpu, ext, overall, ok := r.Server.CacheHitRates(); ok {
			line("Server /metrics GPU hit rate (%):", 100*gpu)
			line("Server /metrics external hit rate (%):", 100*ext)
			line("Server /metrics overall hit rate (%):", 100*overall)
		}
	}
	if len(st.ErrorCategories) > 0 {
		center("Failures", '-')
		keys := make([]string, 0, len(st.ErrorCategories))
		for k := range st.ErrorCategories {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%6d  %s\n", st.ErrorCategories[k], k)
		}
	}
	if st.SubmissionValid {
		line("Submission valid:", "true")
	} else {
		line("Submission valid:", "false ("+strings.Join(st.InvalidReasons, ", ")+")")
	}
	b.WriteString(strings.Repeat("=", 50) + "\n")
	_, err := w.Write(b.Bytes())
	return err
}
