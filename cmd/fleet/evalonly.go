package main

import "github.com/fleetbench/fleet/internal/config"

// evalOnlyBlocks turns every eval block of the sweep to eval only
// (fleet sweep --evals-only), and says whether the sweep has one.
func evalOnlyBlocks(sw *config.Sweep) bool {
	found := false
	if sw.Eval != nil {
		sw.Eval.Only, found = true, true
	}
	for _, c := range sw.Configs {
		if c.Eval != nil {
			c.Eval.Only, found = true, true
		}
	}
	return found
}
