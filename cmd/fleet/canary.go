package main

import (
	"errors"
	"fmt"

	"github.com/fleetbench/fleet/internal/config"
	"github.com/fleetbench/fleet/internal/engine"
	"github.com/fleetbench/fleet/internal/sweep"
)

// applyCanary puts the sweep's canary and fail-fast settings into so,
// with --canary and --fail-fast turning them on over the file's.
func (o *sweepOptions) applyCanary(so *sweep.Options, sw *config.Sweep) {
	so.Canary, so.FailFast = sw.Canary, sw.FailFast || o.failFast
	if o.canary {
		so.Canary.Enabled = true
	}
}

// isStopped reports whether a sweep stopped itself: a canary failed, or
// --fail-fast met a failure.
func isStopped(err error) bool {
	var st *engine.StopError
	return errors.As(err, &st)
}

// stoppedError is how a sweep that stopped itself ends: exit 3 (the work
// ran and failed), not 130 (nobody interrupted it), with the reason.
func stoppedError(err error, runID string) error {
	return withCode(ExitFailed, fmt.Errorf("sweep stopped: %w (after a fix, run the rest with --rerun-failed %s)", err, runID))
}
