package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SpecDecode models speculative decoding: each decode step of a
// sequence drafts Tokens tokens, the target model accepts a prefix of
// them, and the step emits that prefix plus one token of its own, all in
// one streamed chunk (several tokens per chunk). The step lasts a little
// longer than a plain one (DraftCost). The prefill's first token is
// never drafted. The zero value (Method "" or "none") is off.
type SpecDecode struct {
	// Method is a label (mtp, eagle3, draft_model): every method drafts
	// the same way here.
	Method string
	// Tokens is the draft length k; at least 1 when on.
	Tokens int
	// Acceptance is the chance that draft position i is accepted given
	// that the ones before it were, one value per position; a single
	// value applies to every position. Positions are tried in order and
	// the first rejection ends the accepted prefix. Ignored when
	// AcceptLength is set.
	Acceptance []float64
	// AcceptLength, when positive, is the golden mode of InferenceX's
	// synthetic acceptance: every sequence emits exactly this many tokens
	// per decode step on average, deterministically (a fractional length
	// alternates floor and ceiling so that the running mean never strays
	// by a token). Between 1 and Tokens+1.
	AcceptLength float64
	// DraftCost is how much longer a step is per draft token, relative to
	// the plain step (0.05: three draft tokens make a step 15% longer). 0
	// means 0.05.
	DraftCost float64
}

// On reports whether speculative decoding is modelled.
func (c SpecDecode) On() bool { return c.Method != "" && c.Method != "none" }

// defaultDraftCost is DraftCost's default.
const defaultDraftCost = 0.05

// ParseAcceptance reads --spec-acceptance: one probability, or one per
// draft position separated by commas ("0.8,0.6,0.4").
func ParseAcceptance(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		var p float64
		if _, err := fmt.Sscan(strings.TrimSpace(f), &p); err != nil {
			return nil, fmt.Errorf("spec acceptance %q: want probabilities such as 0.7 or 0.8,0.6,0.4", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// withDefaults fills DraftCost and checks the rest.
func (c SpecDecode) withDefaults() (SpecDecode, error) {
	if !c.On() {
		return c, nil
	}
	switch c.Method {
	case "mtp", "eagle", "eagle3", "draft_model", "ngram":
	default:
		return c, fmt.Errorf("spec method %q: want mtp, eagle3 or draft_model", c.Method)
	}
	if c.DraftCost == 0 {
		c.DraftCost = defaultDraftCost
	}
	var errs []error
	if c.Tokens < 1 {
		errs = append(errs, fmt.Errorf("spec tokens must be at least 1 with method %s, got %d", c.Method, c.Tokens))
	}
	if c.DraftCost < 0 {
		errs = append(errs, fmt.Errorf("spec draft cost must not be negative, got %v", c.DraftCost))
	}
	if c.AcceptLength != 0 {
		if !(c.AcceptLength >= 1 && c.AcceptLength <= float64(c.Tokens+1)) {
			errs = append(errs, fmt.Errorf("spec accept length %v: want 1 to spec tokens + 1 = %d", c.AcceptLength, c.Tokens+1))
		}
	} else {
		switch n := len(c.Acceptance); {
		case n == 0:
			errs = append(errs, errors.New("speculative decoding needs an acceptance (a probability, or one per draft position) or a fixed accept length"))
		case n != 1 && n != c.Tokens:
			errs = append(errs, fmt.Errorf("spec acceptance has %d values for %d draft tokens: give one, or one per position", n, c.Tokens))
		}
		for _, p := range c.Acceptance {
			if !(p >= 0 && p <= 1) {
				errs = append(errs, fmt.Errorf("spec acceptance %v: want a probability in [0, 1]", p))
			}
		}
	}
	return c, errors.Join(errs...)
}

// MeanAcceptLength is the expected number of tokens a decode step emits:
// AcceptLength in the golden mode, else 1 plus the sum over positions of
// the chance that every position up to it is accepted.
func (c SpecDecode) MeanAcceptLength() float64 {
	if !c.On() {
		return 1
	}
	if c.AcceptLength > 0 {
		return c.AcceptLength
	}
	mean, reach := 1.0, 1.0
	for i := range c.Tokens {
		reach *= c.accept(i)
		mean += reach
	}
	return mean
}

// accept is the acceptance chance of draft position i.
func (c SpecDecode) accept(i int) float64 {
	if len(c.Acceptance) == 1 {
		return c.Acceptance[0]
	}
	return c.Acceptance[i]
}

// drafter draws each decode step's accepted drafts and counts them as
// vLLM's spec-decode metrics do. The engine's scheduler and, with fixed
// timing, every request's handler draw from it.
type drafter struct {
	cfg SpecDecode

	mu  sync.Mutex
	rng *rand.Rand

	drafts, draftTokens, accepted atomic.Int64
	perPos                        []atomic.Int64 // accepted tokens by draft position
}

// newDrafter is nil when speculative decoding is off.
func newDrafter(cfg SpecDecode, seed int64) *drafter {
	if !cfg.On() {
		return nil
	}
	return &drafter{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(seed), 0x5bec_dec0)), perPos: make([]atomic.Int64, cfg.Tokens)}
}

// step is one decode step of s: the tokens it emits (1 + accepted
// drafts), counted in the metrics. carry is the sequence's running
// fraction in the golden mode.
func (d *drafter) step(carry *float64) int {
	k := d.cfg.Tokens
	accepted := 0
	if L := d.cfg.AcceptLength; L > 0 {
		next := *carry + L
		accepted = int(math.Floor(next+1e-9)-math.Floor(*carry+1e-9)) - 1
		*carry = next - math.Floor(next+1e-9)
		accepted = min(max(accepted, 0), k)
	} else {
		d.mu.Lock()
		for accepted < k && d.rng.Float64() < d.cfg.accept(accepted) {
			accepted++
		}
		d.mu.Unlock()
	}
	d.drafts.Add(1)
	d.draftTokens.Add(int64(k))
	d.accepted.Add(int64(accepted))
	for i := range accepted {
		d.perPos[i].Add(1)
	}
	return 1 + accepted
}

// stepCost lengthens a step that has decoding sequences by the drafts'
// cost.
func (d *drafter) stepCost(dur float64, decodes int) float64 {
	if d == nil || decodes == 0 {
		return dur
	}
	return dur * (1 + d.cfg.DraftCost*float64(d.cfg.Tokens))
}

// decodeStep advances a sequence by one step: one token, or when it
// decodes with speculative decoding the step's emitted tokens (never past
// the sequence's end; a prefill's first token is never drafted). It
// returns the new produced count.
func (e *engine) decodeStep(s *seq, prefilled bool) int64 {
	if e.spec == nil || prefilled {
		return s.produced.Add(1)
	}
	n := int64(e.spec.step(&s.specCarry))
	return s.produced.Add(min(n, int64(s.outLen)-s.produced.Load()))
}

// specRelease is fixed timing's release of one step with speculative
// decoding: the first tick releases the first token, each later tick one
// drafted step of every choice.
func (g *generation) specRelease() {
	for i := range g.choices {
		c := &g.choices[i]
		p := c.produced.Load()
		switch {
		case g.tick == 0:
			p = 1
		case p < int64(c.outLen):
			p += int64(g.s.spec.step(&c.specCarry))
		}
		c.produced.Store(min(p, int64(c.outLen)))
	}
}

// specChunkEnd is where a chunk ends with speculative decoding: every
// token produced and not yet sent goes out in one chunk (the first token
// alone, as without).
func specChunkEnd(sent, outLen, produced int) int {
	if sent == 0 {
		return 1
	}
	return min(max(produced, sent+1), outLen)
}

// specMetrics writes vLLM's spec-decode counters (their _total samples,
// labelled as the other families) when speculative decoding is on.
func (d *drafter) specMetrics(b *strings.Builder, labels string) {
	if d == nil {
		return
	}
	counter := func(name, help string, v int64) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s counter\n%s_total%s %d\n", name, help, name, name, labels, v)
	}
	counter("vllm:spec_decode_num_drafts", "Number of spec decoding drafts.", d.drafts.Load())
	counter("vllm:spec_decode_num_draft_tokens", "Number of draft tokens.", d.draftTokens.Load())
	counter("vllm:spec_decode_num_accepted_tokens", "Number of accepted tokens.", d.accepted.Load())
	name := "vllm:spec_decode_num_accepted_tokens_per_pos"
	fmt.Fprintf(b, "# HELP %s Accepted tokens per draft position.\n# TYPE %s counter\n", name, name)
	inner := strings.TrimSuffix(labels, "}")
	for i := range d.perPos {
		fmt.Fprintf(b, "%s_total%s,position=\"%d\"} %d\n", name, inner, i, d.perPos[i].Load())
	}
}

// SpecStats are the drafter's counters (zero when speculative decoding is
// off): what /metrics reports under vLLM's names.
type SpecStats struct {
	Drafts, DraftTokens, AcceptedTokens int64
}

// SpecStats returns the server's speculative decoding counters.
func (s *Server) SpecStats() SpecStats {
	if s.spec == nil {
		return SpecStats{}
	}
	return SpecStats{Drafts: s.spec.drafts.Load(), DraftTokens: s.spec.draftTokens.Load(), AcceptedTokens: s.spec.accepted.Load()}
}

// stepITL is fixed timing's gap between steps: ITL, lengthened by the
// drafts' cost with speculative decoding.
func (g *generation) stepITL() time.Duration {
	itl := g.s.cfg.scaled(g.s.cfg.ITL)
	if g.s.spec == nil {
		return itl
	}
	return time.Duration(g.s.spec.stepCost(float64(itl), 1))
}
