package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/fleetbench/fleet/internal/interrupt"
	"github.com/fleetbench/fleet/internal/target"
	"github.com/fleetbench/fleet/internal/target/shelltarget"
)

// Node leases (shelltarget's lease.go has the protocol). Another
// controller does not see this one's jobs, so before a job starts on a
// node, the attempt takes a lease there: on the GPUs its slot packs, or
// on the whole node. A lease someone else holds makes the attempt wait
// for it, asking again every leaseRetry, in turn with other controllers
// waiting there (first asked, first served); it never shares GPUs. While the
// attempt lasts its lease is renewed, and once the job has started it
// records the job's process group, so a lease whose controller died lives
// exactly as long as its job. On Slurm there is no lease: the scheduler
// arbitrates.
const (
	leaseTTL   = 2 * time.Minute
	leaseRenew = 30 * time.Second
	leaseRetry = 2 * time.Second
)

// leaseHolder is a target that keeps leases (*shelltarget.Target).
type leaseHolder interface {
	Name() string
	AcquireLease(ctx context.Context, l *shelltarget.Lease, ttl time.Duration) ([]shelltarget.Lease, error)
	RenewLease(ctx context.Context, l *shelltarget.Lease, ttl time.Duration) error
	ReleaseLease(ctx context.Context, l *shelltarget.Lease) (kept bool, err error)
}

// heldLease is one lease of an attempt, on one machine.
type heldLease struct {
	t leaseHolder
	l *shelltarget.Lease
}

// attemptLeases are the leases one attempt holds, renewed until released.
type attemptLeases struct {
	mu   sync.Mutex // guards the leases' fields (started vs renewals)
	held []heldLease
	stop context.CancelFunc
	done sync.WaitGroup
}

// acquireLeases takes a lease on every machine the attempt holds that
// keeps leases, waiting while another controller holds one; nil when
// they are held (or none is needed), else how the attempt ended.
func (t *try) acquireLeases(ctx context.Context) *attemptResult {
	var want []heldLease
	for _, h := range t.res.holds {
		if lh, ok := h.ms.m.Target.(leaseHolder); ok {
			want = append(want, heldLease{lh, t.e.newLease(t.js.job.ID, h.slot.devices)})
		}
	}
	if len(want) == 0 {
		return nil
	}
	// One ticket for every try and node of this attempt: its place in
	// the nodes' queues.
	ticket := time.Now().UnixMilli()
	for _, h := range want {
		h.l.Ticket = ticket
	}
	said := ""
	for {
		err := t.tryLeases(ctx, want)
		if err == nil {
			break
		}
		var busy *shelltarget.BusyError
		if !errors.As(err, &busy) {
			r := t.fail(ctx, target.IsTransient(err), true, "lease: "+err.Error())
			return &r
		}
		if msg := busy.Error(); msg != said {
			said = msg
			if busy.Queued {
				t.lg.Info("waiting in turn: another controller asked for the node first", "node", busy.Node, "waiting", busy.Holder.Holder())
			} else {
				t.lg.Info("waiting for another controller's job to end", "node", busy.Node, "held_by", busy.Holder.Holder())
			}
		}
		select {
		case <-ctx.Done():
			r := t.fail(ctx, false, false, "waiting for a lease: "+busy.Error())
			return &r
		case <-time.After(leaseRetry):
		}
	}
	t.leases = t.renewLeases(ctx, want)
	return nil
}

// tryLeases takes every lease of want or none.
func (t *try) tryLeases(ctx context.Context, want []heldLease) error {
	for i, h := range want {
		taken, err := h.t.AcquireLease(ctx, h.l, leaseTTL)
		for _, old := range taken {
			if old.Run == h.l.Run && old.Job == h.l.Job {
				t.lg.Info("lease of this job taken back", "node", h.t.Name(), "was", old.Holder())
			} else {
				t.lg.Warn("stale lease taken over: its holder's job is gone", "node", h.t.Name(), "was", old.Holder())
			}
		}
		if err != nil {
			rctx, cancel := interrupt.Cleanup(ctx, time.Minute)
			for _, got := range want[:i] {
				if _, rerr := got.t.ReleaseLease(rctx, got.l); rerr != nil {
					t.lg.Warn("lease not released", "node", got.t.Name(), "err", rerr)
				}
			}
			cancel()
			return err
		}
	}
	return nil
}

// renewLeases renews held until the attempt releases them.
func (t *try) renewLeases(ctx context.Context, held []heldLease) *attemptLeases {
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	al := &attemptLeases{held: held, stop: stop}
	al.done.Add(1)
	go func() {
		defer al.done.Done()
		tick := time.NewTicker(leaseRenew)
		defer tick.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-tick.C:
				al.renew(rctx, t)
			}
		}
	}()
	return al
}

// renew pushes every lease's expiry ahead, recording what is known of
// the job.
func (al *attemptLeases) renew(ctx context.Context, t *try) {
	for _, h := range al.held {
		al.mu.Lock()
		l := *h.l
		al.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := h.t.RenewLease(cctx, &l, leaseTTL)
		cancel()
		if err != nil && ctx.Err() == nil {
			t.lg.Warn("lease not renewed", "node", h.t.Name(), "err", err)
		}
	}
}

// leaseStarted records the job's process group in the lease of the
// machine it runs on (a group's members keep theirs by expiry alone).
func (t *try) leaseStarted(ctx context.Context, h target.Handle) {
	al := t.leases
	if al == nil {
		return
	}
	mine, _ := t.m.Target.(leaseHolder)
	for _, hl := range al.held {
		if hl.t == mine {
			al.mu.Lock()
			hl.l.PGID, hl.l.Start, hl.l.Boot = h.Ref, h.Start, h.Boot
			al.mu.Unlock()
			al.renew(ctx, t)
		}
	}
}

// releaseLeases stops renewing and removes the attempt's leases; one
// whose job still runs (its cancel failed) stays until the job ends.
func (t *try) releaseLeases(ctx context.Context) {
	al := t.leases
	if al == nil {
		return
	}
	t.leases = nil
	al.stop()
	al.done.Wait()
	cctx, cancel := interrupt.Cleanup(ctx, time.Minute)
	defer cancel()
	for _, h := range al.held {
		kept, err := h.t.ReleaseLease(cctx, h.l)
		switch {
		case err != nil:
			t.lg.Warn("lease not released: it lapses after its expiry", "node", h.t.Name(), "err", err)
		case kept:
			t.lg.Warn("lease kept: the job's processes still run on the node; it lapses when they end", "node", h.t.Name())
		}
	}
}

// newLease is this controller's claim for job on devices (nil: the
// whole node).
func (e *Engine) newLease(job string, devices []int) *shelltarget.Lease {
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	host, _ := os.Hostname()
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return &shelltarget.Lease{
		Token: hex.EncodeToString(tok[:]), Host: oneLine(host), User: oneLine(name), PID: os.Getpid(),
		Run: e.opts.Run.ID(), Job: job, Devices: append([]int(nil), devices...),
	}
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
