package jobrun

import (
	"syscall"
	"time"
)

// firstProbe is the pause after the first health probe that failed. A
// server that is up within milliseconds (a simulator, a cached model) is
// seen within milliseconds; the pause doubles from there up to
// Options.HealthPoll, so a server that loads a model for minutes is still
// asked only every HealthPoll. A fixed 1s poll cost every job up to a
// second of idle GPUs.
const firstProbe = 20 * time.Millisecond

// backoff spaces the probes of one wait: firstProbe, doubling, at most max.
type backoff struct{ next, max time.Duration }

func newBackoff(max time.Duration) *backoff {
	return &backoff{next: min(firstProbe, max), max: max}
}

// pause returns the pause before the next probe and doubles the one after.
func (b *backoff) pause() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.max)
	return d
}

// serving says whether the server that answered on the job's port is
// this job's: with no container runtime between them, the listening
// socket must belong to a process of fleet job's own process group (the
// launcher and the server stay in it). Another job's server that took
// the port first (two jobs racing for one free port where nodes share a
// network namespace) answers /health before this job's server has even
// tried to bind; without this check, quick probes took it for ours. When
// /proc cannot tell, or a container runtime holds the server, the answer
// counts, and the server log's "address already in use" still catches a
// clash.
func (r *runner) serving() bool {
	if rt := r.j.Runtime; rt != "" && rt != "none" {
		return true
	}
	ours, known := portHolder(r.port, syscall.Getpgrp())
	return ours || !known
}
