package agentic

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// SessionStats aggregates one conversation's profiling requests within
// one play (a subagent is a conversation of its own).
type SessionStats struct {
	TraceID        string        `json:"trace_id"`
	ConversationID string        `json:"conversation_id"`
	CorrelationID  string        `json:"x_correlation_id"`
	Lane           int           `json:"lane"`
	Pass           int           `json:"pass"`
	Requests       int           `json:"requests"`
	Errors         int           `json:"errors"`
	Overflowed     bool          `json:"context_overflow"`
	InputTokens    int64         `json:"input_tokens"`
	OutputTokens   int64         `json:"output_tokens"`
	FirstStart     time.Duration `json:"first_start_ns"`
	LastEnd        time.Duration `json:"last_end_ns"`
	MeanTTFT       float64       `json:"mean_ttft_s"`
	// TheoreticalHitRate is over the conversation's successful requests.
	TheoreticalHitRate float64 `json:"theoretical_cache_hit_rate"`
}

// TurnStats aggregates the profiling requests of one turn index over all
// conversations: how latency and the cache's share grow with the context.
type TurnStats struct {
	Turn               int     `json:"turn_index"`
	Requests           int     `json:"requests"`
	Errors             int     `json:"errors"`
	MeanISL            float64 `json:"mean_input_tokens"`
	MeanTTFT           float64 `json:"mean_ttft_s"`
	MeanITL            float64 `json:"mean_itl_s"`
	TheoreticalHitRate float64 `json:"theoretical_cache_hit_rate"`
}

// Sessions returns per-conversation aggregates, in order of first request.
func (r *Result) Sessions() []SessionStats {
	type acc struct {
		s          SessionStats
		ttft       float64
		ttftN      int
		hit, total int64
	}
	by := map[string]*acc{}
	var order []string
	for i := range r.Records {
		rec := &r.Records[i]
		if rec.Warmup {
			continue
		}
		a := by[rec.CorrelationID]
		if a == nil {
			a = &acc{s: SessionStats{TraceID: rec.TraceID, ConversationID: rec.ConversationID, CorrelationID: rec.CorrelationID,
				Lane: rec.Lane, Pass: rec.Pass, FirstStart: rec.Start, LastEnd: rec.End}}
			by[rec.CorrelationID] = a
			order = append(order, rec.CorrelationID)
		}
		s := &a.s
		s.Requests++
		s.FirstStart, s.LastEnd = min(s.FirstStart, rec.Start), max(s.LastEnd, rec.End)
		if !rec.OK() {
			s.Errors++
			s.Overflowed = s.Overflowed || rec.Overflow
			continue
		}
		s.InputTokens += int64(rec.ISL)
		s.OutputTokens += int64(rec.OSL)
		if rec.TTFT > 0 {
			a.ttft += rec.TTFT.Seconds()
			a.ttftN++
		}
		a.hit += int64(rec.HitBlocks)
		a.total += int64(rec.Blocks)
	}
	out := make([]SessionStats, 0, len(order))
	for _, id := range order {
		a := by[id]
		if a.ttftN > 0 {
			a.s.MeanTTFT = a.ttft / float64(a.ttftN)
		}
		if a.total > 0 {
			a.s.TheoreticalHitRate = float64(a.hit) / float64(a.total)
		}
		out = append(out, a.s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FirstStart < out[j].FirstStart })
	return out
}

// Turns returns per-turn-index aggregates, by turn index.
func (r *Result) Turns() []TurnStats {
	type acc struct {
		t              TurnStats
		isl, ttft, itl float64
		ttftN, itlN    int
		hit, total     int64
	}
	by := map[int]*acc{}
	for i := range r.Records {
		rec := &r.Records[i]
		if rec.Warmup {
			continue
		}
		a := by[rec.Turn]
		if a == nil {
			a = &acc{t: TurnStats{Turn: rec.Turn}}
			by[rec.Turn] = a
		}
		a.t.Requests++
		if !rec.OK() {
			a.t.Errors++
			continue
		}
		a.isl += float64(rec.ISL)
		if rec.TTFT > 0 {
			a.ttft += rec.TTFT.Seconds()
			a.ttftN++
		}
		if v, ok := rec.ITL(); ok {
			a.itl += v
			a.itlN++
		}
		a.hit += int64(rec.HitBlocks)
		a.total += int64(rec.Blocks)
	}
	out := make([]TurnStats, 0, len(by))
	for _, a := range by {
		if ok := a.t.Requests - a.t.Errors; ok > 0 {
			a.t.MeanISL = a.isl / float64(ok)
		}
		if a.ttftN > 0 {
			a.t.MeanTTFT = a.ttft / float64(a.ttftN)
		}
		if a.itlN > 0 {
			a.t.MeanITL = a.itl / float64(a.itlN)
		}
		if a.total > 0 {
			a.t.TheoreticalHitRate = float64(a.hit) / float64(a.total)
		}
		out = append(out, a.t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Turn < out[j].Turn })
	return out
}

// WriteDetail writes the per-session and per-turn aggregates as one JSON
// object {"sessions": [...], "turns": [...]}.
func (r *Result) WriteDetail(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Prompts  string         `json:"prompt_format"`
		Sessions []SessionStats `json:"sessions"`
		Turns    []TurnStats    `json:"turns"`
	}{r.Prompts, r.Sessions(), r.Turns()}); err != nil {
		return fmt.Errorf("write detail: %w", err)
	}
	return nil
}
