package engine

import (
	"context"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fleetbench/fleet/internal/interrupt"
	"github.com/fleetbench/fleet/internal/target"
)

// The after-work of an attempt that no later step needs runs in the
// background, so that the next job (or a retry) starts without waiting
// for it: the removal of a done job's work directory, and everything an
// attempt on a machine that stopped answering still owes it. Run waits
// for all of it (Engine.bg) before it reaps orphans and returns; each
// step is bounded and stops on a second interrupt.

// lostTimeout bounds each step owed to a lost machine (cancel, fetch,
// lease release): a connect to an unreachable node takes its connect
// timeout, and a node that answers again does so within this.
const lostTimeout = 2 * time.Minute

// background runs f off the attempt's path; Run waits for it.
func (e *Engine) background(f func()) {
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		f()
	}()
}

// endLogs ends the job's log stream, letting it drain, unless it was
// ended already or handed to the background.
func (t *try) endLogs() {
	if t.stopLogs != nil {
		t.stopLogs()
		t.stopLogs = nil
	}
}

// cleanupLater removes a done job's work directory in the background: the
// journal already says the job is done and its outputs are here.
func (t *try) cleanupLater(ctx context.Context, h target.Handle) {
	m, lg := t.m, t.lg
	t.e.background(func() {
		cctx, cancel := interrupt.Cleanup(ctx, cleanupTimeout)
		defer cancel()
		if err := m.Target.Cleanup(cctx, h); err != nil {
			lg.Warn("work dir not removed", "err", err)
		}
	})
}

// lost ends an attempt whose machine stopped answering (its wait failed
// with a transient error: the connection dropped). The attempt fails at
// once, so that its retry elsewhere waits only for the retry delay, not
// for connects to a node that is not there. What the attempt still owes
// the machine runs in the background, each step bounded by lostTimeout:
// the cancel (when it fails, the job is an orphan, killed before the next
// job starts on that machine and again when the run ends; a job that is
// never reached ends itself at its health or benchmark timeout), the
// fetch of what the job left, into attempts/<n>/fetched/ (the retry sets
// the attempt's other outputs aside beside it), and the release of the
// attempt's node leases.
func (t *try) lost(ctx context.Context, h target.Handle, werr error) attemptResult {
	res := t.fail(ctx, true, true, "wait: "+werr.Error())
	stopLogs, leases := t.stopLogs, t.leases
	t.stopLogs, t.leases = nil, nil
	late := &try{e: t.e, js: t.js, m: t.m, lg: t.lg, leases: leases,
		jobDir: filepath.Join(t.jobDir, "attempts", strconv.Itoa(t.js.attempts), "fetched")}
	outputs := t.js.outputs(t.m)
	t.lg.Warn("machine lost: the job is cancelled and its logs fetched in the background", "attempt", t.js.attempts, "ref", h.Ref)
	t.e.background(func() {
		cctx, cancel := interrupt.Cleanup(ctx, lostTimeout)
		defer cancel()
		if err := late.m.Target.Cancel(cctx, h); err != nil {
			late.lg.Warn("cancel of the lost job failed; will kill it once its machine answers", "err", err, "ref", h.Ref, "workdir", h.WorkDir)
			late.e.addOrphan(late.m.Name, h)
		} else {
			late.lg.Info("lost job cancelled", "ref", h.Ref)
		}
		if got, err := late.m.Target.Fetch(cctx, h, outputs, late.jobDir); err == nil && len(got) > 0 {
			late.lg.Info("lost job's outputs fetched", "dir", late.jobDir)
		} else if err != nil {
			late.lg.Warn("lost job's outputs not fetched", "err", err)
		}
		if stopLogs != nil {
			stopLogs()
		}
		late.releaseLeases(ctx)
	})
	return res
}
