package engine

// Scheduling policy: which waiting job starts next, on which machine.
//
// The queue is in longest-processing-time-first order (LPT): jobs the
// engine expects to run longest start first, so the end of the run is
// filled with short jobs that even out the machines instead of one long
// job running alone at the end. Among jobs of equal length the wider goes
// first.
//
// A job that fits now goes to the machine it fits tightest (best fit):
// the candidate whose free GPUs (free job places on a node that is not
// packed) it leaves fewest of. That keeps whole nodes free for the wide
// jobs still to come instead of spreading tp=1 jobs one per node.
//
// The first job in the queue that does not fit anywhere now gets a
// reservation (EASY backfilling, as Slurm's backfill scheduler does): the
// earliest time some candidate machine will have room for it, counting
// the running jobs' expected ends there (the shadow time), and how many
// of that machine's units it will not need then (the extra). A later job
// may still start on the reserved machine, but only if it is expected to
// end by the shadow time, or if it fits in the extra: either way it does
// not delay the reserved job. Jobs placed on other machines are free to
// go. The reservation's time is recomputed at every scheduling pass from
// what runs, so it follows jobs that end early; a job that overruns its
// estimate is counted as ending now, which closes backfilling by time
// on its machine until it ends. The machine stays the same while the
// same job waits and the machine can still take it.
//
// Estimates can be wrong, so backfilling by time is also capped in job
// count: once maxBypass jobs have started on the reserved machine under
// the shadow-time rule while the same job holds the reservation, only the
// extra remains open. Once a wide job is the first that cannot start (the
// jobs before it in the queue, all longer, have started), it waits at
// most for the jobs then running on its machine and maxBypass more,
// whatever the estimates: it cannot starve behind a stream of narrow
// jobs.
//
// Multi-node jobs keep their all-or-nothing holds (multinode.go): a group
// on nodes reserves the whole nodes it will need, a job on a Slurm
// cluster the cluster's node slots.

import (
	"slices"
	"sort"
	"time"

	"github.com/fleetbench/fleet/internal/plan"
)

// maxBypass is how many jobs may start on a reserved machine by the
// shadow-time rule while one job holds the reservation.
const maxBypass = 16

// expected is how long the engine expects j to run. The engine knows a
// job's shape (prompts, concurrency, sequence lengths, GPUs, GPU type),
// from which plan.Estimate models the server's start, the prefill and the
// decode rounds: the same estimate fleet plan prints. It is a relative
// measure more than a forecast, which is all ordering and backfilling
// need; the job-count cap above covers it being wrong.
func expected(j *plan.Job) time.Duration {
	return plan.Estimate(j)
}

// sortLPT orders a queue longest expected job first, wider first among
// equals, and otherwise as given.
func sortLPT(pending []*jobState) {
	est := make(map[*jobState]time.Duration, len(pending))
	for _, js := range pending {
		est[js] = expected(js.job)
	}
	sort.SliceStable(pending, func(a, b int) bool {
		ea, eb := est[pending[a]], est[pending[b]]
		if ea != eb {
			return ea > eb
		}
		return pending[a].job.GPUs() > pending[b].job.GPUs()
	})
}

// A machine's units are what jobs take of it: GPUs on a packed node, job
// places (slots) otherwise.

// freeUnits is how many units of ms no job holds.
func freeUnits(ms *machineState) int {
	places := ms.m.Capacity() - ms.running
	if ms.m.Packing {
		return min(ms.m.GPUs-len(ms.usedGPUs), places)
	}
	return places
}

// needUnits is how many units of ms a job of one machine takes there.
func needUnits(ms *machineState, j *plan.Job) int {
	if ms.m.Packing {
		return max(j.GPUs(), 1)
	}
	return 1
}

// heldUnits is how many units of ms a slot holds.
func heldUnits(ms *machineState, s slot) int {
	if ms.m.Packing {
		return max(len(s.devices), s.weight)
	}
	return s.weight
}

// busy is a running attempt as the policy sees it.
type busy struct {
	holds []hold
	end   time.Time // expected
}

// packer is the policy's memory between scheduling passes.
type packer struct {
	busy map[*jobState]busy
	// head is the job that held the last reservation, on the machines on,
	// and bypassed how many jobs started under its shadow-time rule since
	// it got it.
	head     *jobState
	on       []*machineState
	bypassed int
	// est caches expected: every pass weighs every waiting job.
	est map[*jobState]time.Duration
}

// expected is expected(js.job), worked out once per job.
func (p *packer) expected(js *jobState) time.Duration {
	d, ok := p.est[js]
	if !ok {
		if p.est == nil {
			p.est = map[*jobState]time.Duration{}
		}
		d = expected(js.job)
		p.est[js] = d
	}
	return d
}

// started books js's placement, expected to end after expected(js).
func (p *packer) started(js *jobState, pl *placement, now time.Time) {
	if p.busy == nil {
		p.busy = map[*jobState]busy{}
	}
	p.busy[js] = busy{holds: pl.holds, end: now.Add(p.expected(js))}
}

// ended forgets js's placement.
func (p *packer) ended(js *jobState) { delete(p.busy, js) }

// reservation is the place kept for the first job that cannot start.
type reservation struct {
	js *jobState
	at time.Time // the shadow time
	// extra is, per reserved machine, the units the job will leave free
	// at the shadow time.
	extra map[*machineState]int
	// early: the shadow-time rule is still open (maxBypass not reached).
	early bool
}

// allows reports whether a job expected to run for d may take units of
// ms now without delaying the reservation.
func (r *reservation) allows(ms *machineState, units int, now time.Time, d time.Duration) bool {
	if r == nil {
		return true
	}
	extra, reserved := r.extra[ms]
	if !reserved {
		return true
	}
	return (r.early && !now.Add(d).After(r.at)) || units <= extra
}

// take books a placement allowed by allows against the reservation.
func (r *reservation) take(p *packer, pl *placement, now time.Time, d time.Duration) {
	if r == nil {
		return
	}
	early := false
	for _, h := range pl.holds {
		if _, reserved := r.extra[h.ms]; !reserved {
			continue
		}
		if r.early && !now.Add(d).After(r.at) {
			early = true
			continue
		}
		r.extra[h.ms] -= heldUnits(h.ms, h.slot)
	}
	if early {
		p.bypassed++
		r.early = p.bypassed < maxBypass
	}
}

// releases lists, for ms, the units its running jobs free and when,
// soonest first; a job past its expected end is counted as ending now.
func (s *scheduler) releases(ms *machineState, now time.Time) []busyEnd {
	var out []busyEnd
	for _, b := range s.pack.busy {
		for _, h := range b.holds {
			if h.ms == ms {
				out = append(out, busyEnd{at: later(b.end, now), units: heldUnits(ms, h.slot)})
			}
		}
	}
	slices.SortFunc(out, func(a, b busyEnd) int { return a.at.Compare(b.at) })
	return out
}

type busyEnd struct {
	at    time.Time
	units int
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// readyAt is when ms will have need units free, and how many more than
// need it will have free then; ok is false if it never will.
func (s *scheduler) readyAt(ms *machineState, need int, now time.Time) (at time.Time, extra int, ok bool) {
	free := freeUnits(ms)
	at = now
	ends := s.releases(ms, now)
	for i := 0; free < need; i++ {
		if i == len(ends) {
			return time.Time{}, 0, false
		}
		free += ends[i].units
		at = ends[i].at
		// Everything ending at the same moment is free then too.
		for i+1 < len(ends) && !ends[i+1].at.After(at) {
			i++
			free += ends[i].units
		}
	}
	return at, free - need, true
}

// reserve makes the reservation for js, which fits nowhere now; nil when
// it cannot have one (a job re-attached to where it runs, or one no
// machine can ever take).
func (s *scheduler) reserve(js *jobState, now time.Time) *reservation {
	if js.reattach != nil {
		return nil
	}
	// A job keeps the machines it was given while they can still take
	// it: were it to move to another machine that looks sooner (its
	// jobs overran their estimates too), the jobs started on the first
	// one meanwhile, which nothing held back, could delay it again.
	if js == s.pack.head {
		if r := s.reserveOn(js, s.pack.on, now); r != nil {
			return r
		}
	}
	r := s.reserveFresh(js, now)
	s.pack.on = nil
	if r != nil {
		for ms := range r.extra {
			s.pack.on = append(s.pack.on, ms)
		}
	}
	return r
}

// reserveOn is js's reservation on mss (one machine, or the nodes of a
// group); nil when they cannot take it.
func (s *scheduler) reserveOn(js *jobState, mss []*machineState, now time.Time) *reservation {
	if len(mss) == 0 {
		return nil
	}
	r := &reservation{js: js, extra: map[*machineState]int{}}
	for _, ms := range mss {
		if ms == nil || ms.aside {
			return nil
		}
		need := needUnits(ms, js.job)
		if js.job.Multi != nil {
			// A node of a group is taken whole; a cluster gives node slots.
			need = ms.m.Capacity()
			if ms.m.Cluster {
				l, err := layout(js.job, ms.m.GPUs)
				if err != nil {
					return nil
				}
				need = l.NodeCount()
			}
		} else if ms.m.Packing && ms.m.GPUs < js.job.GPUs() {
			return nil
		}
		at, extra, ok := s.readyAt(ms, need, now)
		if !ok {
			return nil
		}
		r.at, r.extra[ms] = later(r.at, at), extra
	}
	return r
}

// reserveFresh chooses where js will start soonest.
func (s *scheduler) reserveFresh(js *jobState, now time.Time) *reservation {
	var r *reservation
	spare := 0 // r's extra units, all machines together
	consider := func(at time.Time, extra map[*machineState]int) {
		n := 0
		for _, e := range extra {
			n += e
		}
		// The soonest; among as soon, the tightest, which leaves the
		// others' room to backfill.
		if r == nil || at.Before(r.at) || (at.Equal(r.at) && n < spare) {
			r, spare = &reservation{js: js, at: at, extra: extra}, n
		}
	}
	if js.job.Multi != nil {
		// A cluster's node slots, or a group of whole nodes of one GPU
		// count: the soonest.
		byGPUs := map[int][]time.Time{}
		var counts []int
		for _, name := range s.e.candidates(js) {
			ms := s.machines[name]
			if ms == nil || ms.aside {
				continue
			}
			l, err := layout(js.job, ms.m.GPUs)
			if err != nil {
				continue
			}
			if ms.m.Cluster {
				if at, extra, ok := s.readyAt(ms, l.NodeCount(), now); ok {
					consider(at, map[*machineState]int{ms: extra})
				}
				continue
			}
			at, _, ok := s.readyAt(ms, ms.m.Capacity(), now)
			if !ok {
				continue
			}
			if _, seen := byGPUs[ms.m.GPUs]; !seen {
				counts = append(counts, ms.m.GPUs)
			}
			byGPUs[ms.m.GPUs] = append(byGPUs[ms.m.GPUs], at)
		}
		for _, g := range counts {
			l, _ := layout(js.job, g)
			n := l.NodeCount()
			idle := byGPUs[g]
			if len(idle) < n {
				continue
			}
			// The n nodes idle soonest; a node of a group is whole.
			var names []*machineState
			for _, name := range s.e.candidates(js) {
				if ms := s.machines[name]; ms != nil && !ms.aside && !ms.m.Cluster && ms.m.GPUs == g {
					names = append(names, ms)
				}
			}
			at := make(map[*machineState]time.Time, len(names))
			for _, ms := range names {
				at[ms], _, _ = s.readyAt(ms, ms.m.Capacity(), now)
			}
			slices.SortStableFunc(names, func(a, b *machineState) int { return at[a].Compare(at[b]) })
			extra := map[*machineState]int{}
			for _, ms := range names[:n] {
				extra[ms] = 0
			}
			consider(at[names[n-1]], extra)
		}
		return r
	}
	for _, name := range s.e.candidates(js) {
		ms := s.machines[name]
		if ms == nil || ms.aside || (ms.m.Packing && ms.m.GPUs < js.job.GPUs()) {
			continue
		}
		if at, extra, ok := s.readyAt(ms, needUnits(ms, js.job), now); ok {
			consider(at, map[*machineState]int{ms: extra})
		}
	}
	return r
}

// choose starts, through start, every pending job that may start at now
// under the policy above, keeps the others pending in order, and returns
// when the soonest job held back by a retry delay may start (zero if
// none is).
func (s *scheduler) choose(now time.Time, start func(*jobState, *placement)) (next time.Time) {
	var r *reservation
	kept := s.pending[:0]
	for _, js := range s.pending {
		if s.held(js) {
			kept = append(kept, js)
			continue
		}
		if js.notBefore.After(now) {
			if next.IsZero() || js.notBefore.Before(next) {
				next = js.notBefore
			}
			kept = append(kept, js)
			continue
		}
		d := s.pack.expected(js)
		pl := s.e.place(s.machines, js, func(ms *machineState, units int) bool { return r.allows(ms, units, now, d) })
		if pl == nil {
			if r == nil {
				if r = s.reserve(js, now); r != nil {
					if s.pack.head != js {
						s.pack.head, s.pack.bypassed = js, 0
					}
					r.early = s.pack.bypassed < maxBypass
				}
			}
			kept = append(kept, js)
			continue
		}
		r.take(&s.pack, pl, now, d)
		s.pack.started(js, pl, now)
		start(js, pl)
	}
	s.pending = kept
	return next
}

// pickFit chooses a machine for a job of one machine among its
// candidates that allow it: the one it fits tightest, the first of
// equals, and where it last failed only when nothing else fits.
func (e *Engine) pickFit(machines map[string]*machineState, js *jobState, allow func(*machineState, int) bool) *machineState {
	if js.reattach != nil {
		if ms := machines[js.reattach.Target]; ms != nil && ms.fits(js.job) {
			return ms
		}
		return nil
	}
	var best, fallback *machineState
	bestLeft := 0
	for _, name := range e.candidates(js) {
		ms := machines[name]
		if ms == nil || !ms.fits(js.job) || !allow(ms, needUnits(ms, js.job)) {
			continue
		}
		if name == js.lastNode {
			fallback = ms
			continue
		}
		left := freeUnits(ms) - needUnits(ms, js.job)
		if best == nil || left < bestLeft {
			best, bestLeft = ms, left
		}
	}
	if best == nil {
		return fallback
	}
	return best
}

// placeAllowed is pl, a multi-node job's placement, or nil, pl given
// back, when one of its holds is not allowed.
func placeAllowed(pl *placement, allow func(*machineState, int) bool) *placement {
	if pl == nil {
		return nil
	}
	for _, h := range pl.holds {
		if !allow(h.ms, heldUnits(h.ms, h.slot)) {
			for _, h := range pl.holds {
				h.ms.release(h.slot)
			}
			return nil
		}
	}
	return pl
}
