package slurm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/target"
)

// pollJob is one watched job as a state query sees it.
type pollJob struct {
	Ref     jobRef
	WorkDir string
}

// outcome is what one query learned about one job.
type outcome struct {
	Done bool        // the job ended for good
	Exit target.Exit // how, when Done
	// Missing: neither the controller nor accounting knows the job, and
	// its work directory holds no exit status.
	Missing bool
}

// queryFunc asks Slurm about many jobs at once; outcomes are keyed by
// jobRef.String().
type queryFunc func(ctx context.Context, jobs []pollJob) (map[string]outcome, error)

// result is what a watcher receives once.
type result struct {
	exit target.Exit
	err  error
}

// lostAfter is how many polls in a row a job may be unknown to Slurm
// before it counts as lost (the controller forgot it, or it never was).
const lostAfter = 3

// firstPoll is the pause before the poll that follows a newly watched
// job. Slurm has no event to block on, so the poller adapts: the pause
// doubles after each poll, up to the target's interval. A job that ends
// within seconds is seen within about its own run time, a long one costs
// one query per interval as before; each job started costs at most
// log2(interval/firstPoll)+1 extra queries (5 at the default 5s), shared
// by every job started at about the same time.
const firstPoll = 250 * time.Millisecond

// poller follows all watched jobs of a target with one query per
// interval, however many jobs and watchers there are: one Slurm command
// per job per poll is what overloads controllers.
type poller struct {
	query  queryFunc
	every  time.Duration
	giveUp time.Duration
	// kick wakes the loop early: a job was watched.
	kick chan struct{}

	mu      sync.Mutex
	jobs    map[string]*watched // by jobRef.String()
	seq     int                 // numbers watchers
	running bool
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the loop exits
}

type watched struct {
	job     pollJob
	subs    map[int]chan result
	missing int
}

func newPoller(q queryFunc, every, giveUp time.Duration) *poller {
	ctx, cancel := context.WithCancel(context.Background())
	return &poller{query: q, every: every, giveUp: giveUp, kick: make(chan struct{}, 1), jobs: map[string]*watched{}, ctx: ctx, cancel: cancel}
}

// watch registers interest in a job. The channel receives one result when
// the job ends (or polling gives up); stop unregisters.
func (p *poller) watch(ref jobRef, workDir string) (<-chan result, func()) {
	ch := make(chan result, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		ch <- result{err: fmt.Errorf("target closed")}
		return ch, func() {}
	}
	key := ref.String()
	w := p.jobs[key]
	if w == nil {
		w = &watched{job: pollJob{Ref: ref, WorkDir: workDir}, subs: map[int]chan result{}}
		p.jobs[key] = w
	}
	if w.job.WorkDir == "" {
		w.job.WorkDir = workDir
	}
	p.seq++
	id := p.seq
	w.subs[id] = ch
	if !p.running {
		p.running = true
		p.done = make(chan struct{})
		go p.loop(p.done)
	} else {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	return ch, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if w := p.jobs[key]; w != nil {
			delete(w.subs, id)
			if len(w.subs) == 0 {
				delete(p.jobs, key)
			}
		}
	}
}

// loop polls until no job is watched any more.
func (p *poller) loop(done chan struct{}) {
	defer close(done)
	lastOK := time.Now()
	var lastErr error
	timer := time.NewTimer(0) // the first poll at once: a job may have ended already
	defer timer.Stop()
	pause := min(firstPoll, p.every)
	for {
		select {
		case <-p.ctx.Done():
			p.finishAll(result{err: fmt.Errorf("target closed")})
			return
		case <-p.kick:
			// A new job: poll soon, then back off again.
			pause = min(firstPoll, p.every)
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(pause)
			pause = min(2*pause, p.every)
			continue
		case <-timer.C:
		}
		p.mu.Lock()
		if len(p.jobs) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		jobs := make([]pollJob, 0, len(p.jobs))
		for _, w := range p.jobs {
			jobs = append(jobs, w.job)
		}
		p.mu.Unlock()

		ctx, cancel := context.WithTimeout(p.ctx, max(2*p.every, time.Minute))
		got, err := p.query(ctx, jobs)
		cancel()
		if err != nil {
			lastErr = err
			if time.Since(lastOK) > p.giveUp {
				p.finishAll(result{err: target.Transient(fmt.Errorf("no job state from Slurm for %s: %w", p.giveUp, lastErr))})
			}
		} else {
			lastOK = time.Now()
			p.deliver(got)
		}
		timer.Reset(pause)
		pause = min(2*pause, p.every)
	}
}

func (p *poller) deliver(got map[string]outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, w := range p.jobs {
		o, ok := got[key]
		if !ok {
			continue
		}
		if o.Missing {
			w.missing++
			if w.missing < lostAfter {
				continue
			}
			o = outcome{Done: true, Exit: target.Exit{Code: -1, State: "LOST"}}
		} else {
			w.missing = 0
		}
		if !o.Done {
			continue
		}
		for _, ch := range w.subs {
			ch <- result{exit: o.Exit}
		}
		delete(p.jobs, key)
	}
}

func (p *poller) finishAll(r result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, w := range p.jobs {
		for _, ch := range w.subs {
			ch <- r
		}
		delete(p.jobs, key)
	}
}

// close stops the loop; watchers get an error.
func (p *poller) close() {
	p.mu.Lock()
	p.closed = true
	done := p.done
	running := p.running
	p.mu.Unlock()
	p.cancel()
	if running && done != nil {
		<-done
	}
}
