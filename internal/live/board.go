// Package live draws a sweep's progress on a terminal: counts of jobs by
// state, what each machine is doing, and an estimate of the time left.
package live

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/jobspec"
	"github.com/fleetbench/fleet/internal/journal"
	"github.com/fleetbench/fleet/internal/run"
	"github.com/fleetbench/fleet/internal/termtext"
)

// Bounds of what the board shows from a node, in bytes. A board line must
// stay one terminal line for the redraw to erase it, so its parts are
// short; a note above the board is printed once and may be longer.
const (
	maxCell = 96
	maxNote = 1024
)

// cell makes a state, job id, machine name or progress (the phase comes
// from the job's output) safe for one line of the board.
func cell(s string) string { return termtext.Line(s, maxCell) }

// Board keeps the latest state of every job and machine and renders it.
type Board struct {
	mu       sync.Mutex
	total    int
	start    time.Time
	now      func() time.Time
	fold     run.Folder             // job states, folded as status folds them
	machines map[string]run.Outcome // the latest outcome of the job on each machine
	started  map[string]time.Time   // job -> when its current attempt began
	durs     []time.Duration        // durations of finished attempts
	notes    []string               // failures to print above the board
	lines    int                    // lines drawn last time, to erase
	slots    int                    // machines that run in parallel
}

// New returns a board for a run of total jobs on slots parallel machines.
func New(total, slots int, now func() time.Time) *Board {
	if now == nil {
		now = time.Now
	}
	return &Board{total: total, slots: max(slots, 1), start: now(), now: now,
		machines: map[string]run.Outcome{}, started: map[string]time.Time{}}
}

// Observe records an engine event; it is safe for concurrent use.
func (b *Board) Observe(e journal.Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.fold.Apply(e)
	switch e.State {
	case journal.StatePreparing:
		b.started[e.Job] = b.now()
	case journal.StateDone, journal.StateFailed, journal.StateRetrying, journal.StateCancelled:
		if t, ok := b.started[e.Job]; ok {
			b.durs = append(b.durs, b.now().Sub(t))
			delete(b.started, e.Job)
		}
		if e.State == journal.StateFailed || e.State == journal.StateRetrying {
			// A reason quotes the node: one sanitised line.
			b.notes = append(b.notes, termtext.Line(fmt.Sprintf("%s %s on %s: %s", e.State, e.Job, e.Node, e.Reason), maxNote))
		}
	}
	if e.Node != "" {
		b.machines[e.Node] = o
	}
}

// ObserveProgress records a running job's latest progress; it is safe
// for concurrent use.
func (b *Board) ObserveProgress(job string, p jobspec.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fold.SetProgress(job, p)
}

// counts returns jobs by state: done, running (preparing, running,
// fetching), queued (queued, retrying, not seen yet) and failed. The
// caller holds b.mu.
func (b *Board) counts() (done, running, queued, failed int) {
	outcomes := b.fold.Outcomes()
	for _, o := range outcomes {
		switch {
		case o.State == journal.StateDone:
			done++
		case run.Active(o.State):
			running++
		case run.Final(o.State):
			failed++
		default:
			queued++
		}
	}
	queued += max(b.total-len(outcomes), 0)
	return
}

// eta estimates the time left from the mean duration of finished
// attempts. The caller holds b.mu.
func (b *Board) eta() (time.Duration, bool) {
	if len(b.durs) == 0 {
		return 0, false
	}
	var sum time.Duration
	for _, d := range b.durs {
		sum += d
	}
	mean := sum / time.Duration(len(b.durs))
	_, running, queued, _ := b.counts()
	// Running jobs are half done on average; queued ones share the machines.
	left := time.Duration(float64(mean) * (float64(queued) + float64(running)/2) / float64(b.slots))
	return left, true
}

// Render redraws the board on w (a terminal): it moves the cursor up over
// the previous drawing and clears it first.
func (b *Board) Render(w io.Writer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	if b.lines > 0 {
		fmt.Fprintf(&sb, "\x1b[%dA\x1b[J", b.lines)
	}
	for _, n := range b.notes {
		sb.WriteString(n + "\n")
	}
	b.notes = nil
	done, running, queued, failed := b.counts()
	eta := "ETA -"
	if d, ok := b.eta(); ok {
		eta = "ETA " + d.Round(time.Second).String()
	}
	elapsed := b.now().Sub(b.start).Round(time.Second)
	body := []string{fmt.Sprintf("jobs %d/%d done, %d running, %d queued, %d failed   elapsed %s   %s",
		done, b.total, running, queued, failed, elapsed, eta)}
	names := make([]string, 0, len(b.machines))
	for n := range b.machines {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		o := b.machines[n]
		if cur, ok := b.fold.Outcome(o.Job); ok && cur.Node == n {
			o = cur // with the latest progress
		}
		what := "idle"
		if run.Active(o.State) {
			since := ""
			if t, ok := b.started[o.Job]; ok {
				since = " " + b.now().Sub(t).Round(time.Second).String()
			}
			what = fmt.Sprintf("%-9s %s%s", cell(o.State), cell(o.Job), since)
			if o.Progress != nil {
				what += "  " + cell(o.Progress.String())
			}
		}
		body = append(body, fmt.Sprintf("  %-16s %s", cell(n), what))
	}
	for _, l := range body {
		sb.WriteString(l + "\n")
	}
	b.lines = len(body)
	io.WriteString(w, sb.String())
}
