package main

import (
	"fmt"

	"github.com/fleetbench/fleet/internal/sim"
	"github.com/spf13/pflag"
)

// simSpecFlags are fleet sim's speculative decoding flags.
type simSpecFlags struct {
	method, acceptance string
	tokens             int
	acceptLength       float64
	draftCost          float64
}

func (sf *simSpecFlags) register(f *pflag.FlagSet) {
	f.StringVar(&sf.method, "spec-method", "none", "speculative decoding: none, mtp, eagle3 or draft_model (all draft alike; the name is a label)")
	f.IntVar(&sf.tokens, "spec-tokens", 3, "speculative decoding: draft tokens per decode step")
	f.StringVar(&sf.acceptance, "spec-acceptance", "0.7", "speculative decoding: chance each draft position is accepted given the ones before were (one value, or one per position: 0.8,0.6,0.4); seeded draws")
	f.Float64Var(&sf.acceptLength, "spec-accept-length", 0, "speculative decoding, golden mode: emit exactly this many tokens per decode step on average (1 to spec-tokens + 1; InferenceX's synthetic acceptance); overrides --spec-acceptance")
	f.Float64Var(&sf.draftCost, "spec-draft-cost", 0.05, "speculative decoding: how much longer a step is per draft token, relative to a plain step")
}

// apply sets cfg.Spec from the flags; speculative decoding stays off
// unless --spec-method names a method.
func (sf *simSpecFlags) apply(cfg *sim.Config) error {
	if sf.method == "" || sf.method == "none" {
		return nil
	}
	acc, err := sim.ParseAcceptance(sf.acceptance)
	if err != nil {
		return usageError{fmt.Errorf("--spec-acceptance: %w", err)}
	}
	cfg.Spec = sim.SpecDecode{Method: sf.method, Tokens: sf.tokens, Acceptance: acc, AcceptLength: sf.acceptLength, DraftCost: sf.draftCost}
	if sf.draftCost == 0 {
		// 0 would mean the default to the library: a free draft is what
		// was asked for.
		cfg.Spec.DraftCost = 1e-12
	}
	return nil
}
