package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fleetbench/fleet/internal/promtext"
)

// Speculative decoding: a server that drafts emits several tokens per
// step, in one chunk. TPOT needs nothing new (it divides by
// usage.completion_tokens); ITL stays bench_serving's, per chunk, and the
// per-token ITL divides each chunk's gap by the tokens it carried
// (computeResult). What the client adds is the acceptance length, read
// from the server's own counters on GET /metrics just before and just
// after the measured requests, so that warmups do not count.

// SpecDecodeStats are a server's speculative decoding counters over the
// measured requests.
type SpecDecodeStats struct {
	Source         string // the counters' family: "vllm" or "sglang"
	Drafts         float64
	DraftTokens    float64
	AcceptedTokens float64
	// Reported is the acceptance length the server itself reports where
	// it keeps no counters: SGLang's sglang:spec_accept_length gauge (its
	// recent average), read after the measured requests and averaged over
	// the ranks reporting it; 0 otherwise.
	Reported float64
}

// AcceptLength is the mean tokens a decode step emitted: 1 + accepted /
// drafts (vLLM's mean acceptance length), or the server's reported one.
// NaN without either.
func (s SpecDecodeStats) AcceptLength() float64 {
	if s.Drafts <= 0 {
		if s.Reported > 0 {
			return s.Reported
		}
		return math.NaN()
	}
	return 1 + s.AcceptedTokens/s.Drafts
}

// AcceptRate is accepted / draft tokens. NaN without drafts.
func (s SpecDecodeStats) AcceptRate() float64 {
	if s.DraftTokens <= 0 {
		return math.NaN()
	}
	return s.AcceptedTokens / s.DraftTokens
}

// specFamily names one server's spec-decode counters (Prometheus
// families; the _total sample suffix is optional).
type specFamily struct {
	source                      string
	drafts, draftTokens, accept string
}

// specFamilies are the servers whose counters fleet reads: vLLM's v1
// spec-decode metrics.
var specFamilies = []specFamily{
	{source: "vllm", drafts: "vllm:spec_decode_num_drafts", draftTokens: "vllm:spec_decode_num_draft_tokens", accept: "vllm:spec_decode_num_accepted_tokens"},
}

// maxMetricsBody bounds a /metrics answer read for the counters.
const maxMetricsBody = 8 << 20

// specScrapeTimeout bounds one /metrics request: a server without the
// endpoint must not hold up the benchmark.
const specScrapeTimeout = 5 * time.Second

// scrapeSpec reads the spec-decode counters from base/metrics; ok is
// false when the server has no such endpoint or no such counters.
func scrapeSpec(ctx context.Context, client *http.Client, base string) (SpecDecodeStats, bool) {
	ctx, cancel := context.WithTimeout(ctx, specScrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return SpecDecodeStats{}, false
	}
	resp, err := client.Do(req)
	if err != nil {
		return SpecDecodeStats{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return SpecDecodeStats{}, false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetricsBody))
	if err != nil {
		return SpecDecodeStats{}, false
	}
	return ParseSpecMetrics(body)
}

// sglangAcceptLength is SGLang's acceptance length gauge.
const sglangAcceptLength = "sglang:spec_accept_length"

// ParseSpecMetrics finds the spec-decode counters in a Prometheus text
// exposition, summing a family's samples over their labels (one per
// engine or model), or else SGLang's acceptance length gauge, averaged
// over its ranks' positive samples (a rank that has not drafted yet
// reports 0); ok is false when neither is there. A malformed exposition
// counts for what was read before the fault.
func ParseSpecMetrics(body []byte) (SpecDecodeStats, bool) {
	m, _ := promtext.Parse(bytes.NewReader(body))
	for _, f := range specFamilies {
		drafts, a := m.Sum(f.drafts)
		draftTokens, b := m.Sum(f.draftTokens)
		accepted, c := m.Sum(f.accept)
		if a || b || c {
			return SpecDecodeStats{Source: f.source, Drafts: drafts, DraftTokens: draftTokens, AcceptedTokens: accepted}, true
		}
	}
	var sum float64
	n := 0
	for _, x := range m.Family(sglangAcceptLength) {
		if x.Value > 0 && !math.IsInf(x.Value, 0) {
			sum += x.Value
			n++
		}
	}
	if n == 0 {
		return SpecDecodeStats{}, false
	}
	return SpecDecodeStats{Source: "sglang", Reported: sum / float64(n)}, true
}

// specDelta is the counters' growth between two scrapes; ok is false when
// a counter went backwards (the server restarted) or nothing was drafted.
func specDelta(before, after SpecDecodeStats) (SpecDecodeStats, bool) {
	if after.Reported > 0 {
		// A gauge: its value after the run is the server's own figure.
		return after, true
	}
	d := SpecDecodeStats{
		Source:         after.Source,
		Drafts:         after.Drafts - before.Drafts,
		DraftTokens:    after.DraftTokens - before.DraftTokens,
		AcceptedTokens: after.AcceptedTokens - before.AcceptedTokens,
	}
	if d.Drafts <= 0 || d.DraftTokens < 0 || d.AcceptedTokens < 0 {
		return SpecDecodeStats{}, false
	}
	return d, true
}

// Result keys of the acceptance length (a top-level number, which fleet's
// rows carry as spec_accept_length) and of the counters behind it.
const (
	KeySpecAcceptLength = "spec_accept_length"
	KeySpecDecode       = "spec_decode"
)

// setSpec records the run's speculative decoding in the result's extra
// keys, after fleet's own.
func (r *Result) setSpec(s SpecDecodeStats) {
	detail, _ := json.Marshal(struct {
		Source         string  `json:"source"`
		Drafts         float64 `json:"num_drafts"`
		DraftTokens    float64 `json:"num_draft_tokens"`
		AcceptedTokens float64 `json:"num_accepted_tokens"`
		AcceptRate     float64 `json:"acceptance_rate"`
		Reported       float64 `json:"reported_accept_length,omitempty"`
	}{s.Source, s.Drafts, s.DraftTokens, s.AcceptedTokens, finiteOr0(s.AcceptRate()), s.Reported})
	r.Extra = append(r.Extra,
		RawKV{KeySpecAcceptLength, json.RawMessage(strconv.FormatFloat(s.AcceptLength(), 'g', -1, 64))},
		RawKV{KeySpecDecode, detail})
}

func finiteOr0(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// SpecDecode returns the speculative decoding counters the run measured,
// if the server exposed them (also for a result read back from a file).
func (r *Result) SpecDecode() (SpecDecodeStats, bool) {
	for _, kv := range r.Extra {
		if kv.Key != KeySpecDecode {
			continue
		}
		var v struct {
			Source         string  `json:"source"`
			Drafts         float64 `json:"num_drafts"`
			DraftTokens    float64 `json:"num_draft_tokens"`
			AcceptedTokens float64 `json:"num_accepted_tokens"`
			Reported       float64 `json:"reported_accept_length"`
		}
		if json.Unmarshal(kv.Value, &v) != nil || v.Drafts <= 0 && v.Reported <= 0 {
			return SpecDecodeStats{}, false
		}
		return SpecDecodeStats{Source: v.Source, Drafts: v.Drafts, DraftTokens: v.DraftTokens, AcceptedTokens: v.AcceptedTokens, Reported: v.Reported}, true
	}
	return SpecDecodeStats{}, false
}

// writeSpecSummary adds the acceptance lines to the summary block.
func (r *Result) writeSpecSummary(b *bytes.Buffer) {
	s, ok := r.SpecDecode()
	if !ok {
		return
	}
	const title = "Speculative Decoding"
	pad := 50 - len(title) - 2
	fmt.Fprintf(b, "%s %s %s\n", strings.Repeat("-", pad/2), title, strings.Repeat("-", pad-pad/2))
	fmt.Fprintf(b, "%-40s %-10.2f\n", "Acceptance length:", s.AcceptLength())
	if s.Drafts <= 0 {
		fmt.Fprintf(b, "%-40s %-10s\n", "Reported by:", s.Source+" (its recent average; no counters)")
		return
	}
	fmt.Fprintf(b, "%-40s %-10.2f\n", "Acceptance rate (%):", 100*finiteOr0(s.AcceptRate()))
	fmt.Fprintf(b, "%-40s %-10v\n", "Drafts:", int64(s.Drafts))
	fmt.Fprintf(b, "%-40s %-10v\n", "Draft tokens:", int64(s.DraftTokens))
	fmt.Fprintf(b, "%-40s %-10v\n", "Accepted tokens:", int64(s.AcceptedTokens))
}

// startSpec reads the counters before the measured requests when on is
// set; the function it returns reads them again after and records the
// difference in res.
func startSpec(ctx context.Context, on bool, client *http.Client, base string) func(res *Result) {
	if !on {
		return func(*Result) {}
	}
	before, _ := scrapeSpec(ctx, client, base)
	return func(res *Result) {
		after, ok := scrapeSpec(ctx, client, base)
		if !ok {
			return
		}
		if d, ok := specDelta(before, after); ok {
			res.setSpec(d)
		}
	}
}
