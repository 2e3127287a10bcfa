package jobrun

import "time"

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
