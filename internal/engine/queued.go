package engine

import (
	"time"

	"github.com/fleetbench/fleet/internal/journal"
)

// recordAll journals entries as record does, with one sync for all: the
// queued entries of a run's jobs, written before any job may start.
func (e *Engine) recordAll(entries []journal.Entry) {
	now := time.Now().UTC()
	for i := range entries {
		if entries[i].Time.IsZero() {
			entries[i].Time = now
		}
		entries[i].Reason = reasonText(entries[i].Reason)
	}
	if err := e.journal.AppendAll(entries); err != nil {
		e.log.Error("journal write failed", "err", err)
	}
	if e.opts.OnEvent != nil {
		for _, en := range entries {
			e.opts.OnEvent(en)
		}
	}
}
